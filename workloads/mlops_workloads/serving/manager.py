"""Which model versions are served, and keeping them current without a restart.

The served models live in one immutable :class:`ServingState`; a reload builds a new state and swaps it in with a
single reference assignment, so an in-flight request keeps the model it started with and never sees half a swap.

The first champion loaded fixes the served contract (the request schema the service validates and publishes); a
later version whose contract or signature differs from it is refused (roll the Deployment to serve a new schema).
A version that fails to load (corrupt, incompatible, wrong signature) is *refused* too: the refusal (version,
reason, message) is reported by ``/readyz`` and the ``model_refused_version`` metric, and the version is not
downloaded again on every poll but retried with exponential back-off, until the alias moves or the retry succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from mlops_workloads.contract import ModelContract
from mlops_workloads.serving.metrics import ServingMetrics
from mlops_workloads.serving.model import LoadedModel, ModelLoadError, ModelSource
from mlops_workloads.serving.routing import CHALLENGER_VARIANT, CHAMPION_VARIANT, Variant, choose_variant
from mlops_workloads.serving.schemas import serving_identity
from mlops_workloads.serving.settings import ServingSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServingState:
    champion: LoadedModel | None = None
    challenger: LoadedModel | None = None

    def model_for(self, variant: Variant) -> LoadedModel | None:
        return self.champion if variant == CHAMPION_VARIANT else self.challenger


@dataclass(frozen=True)
class Refusal:
    """A version an alias points at that the service refused to load, and when it will be tried again."""

    version: str
    reason: str
    message: str
    attempts: int
    retry_at: float  # on the manager's clock


class ModelManager:
    """Loads the champion alias's version (and the challenger alias's when it gets traffic) and polls the aliases
    for changes. The aliases are the model's registry names (settings); the variants are the roles they serve."""

    def __init__(
        self,
        settings: ServingSettings,
        metrics: ServingMetrics,
        source: ModelSource | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.source = source or ModelSource(settings.tracking_uri, settings.effective_registry_uri)
        self.state = ServingState()
        self.refused: dict[Variant, Refusal] = {}
        self.contract: ModelContract | None = None  # fixed by the first champion, for the service's lifetime
        self._sleep = sleep
        self._clock = clock
        aliases = settings.aliases
        self._alias_of: dict[Variant, str] = {
            CHAMPION_VARIANT: aliases.champion,
            CHALLENGER_VARIANT: aliases.challenger,
        }

    @property
    def ready(self) -> bool:
        return self.state.champion is not None

    def route(self, key: str) -> tuple[Variant, LoadedModel] | None:
        """The variant and model that serve ``key`` now; the champion whenever no challenger is loaded."""
        state = self.state  # one read: the pair stays consistent even if a swap happens meanwhile
        if state.champion is None:
            return None
        if state.challenger is not None and choose_variant(key, self.settings.challenger_weight) == CHALLENGER_VARIANT:
            return CHALLENGER_VARIANT, state.challenger
        return CHAMPION_VARIANT, state.champion

    def refresh(self) -> bool:
        """Bring every variant up to its alias; return True when a champion is being served. Blocking."""
        self._refresh_variant(CHAMPION_VARIANT)
        if self.settings.challenger_weight > 0:
            self._refresh_variant(CHALLENGER_VARIANT)
        return self.ready

    async def run(self) -> None:
        """Start-up with capped exponential backoff until a champion loads, then poll every reload interval."""
        delay = self.settings.startup_backoff_initial_seconds
        while not await asyncio.to_thread(self.refresh):
            logger.warning("no champion model loaded yet; retrying in %.1fs", delay)
            await self._sleep(delay)
            delay = min(delay * 2, self.settings.startup_backoff_max_seconds)
        while True:
            await self._sleep(self.settings.reload_interval_seconds)
            await asyncio.to_thread(self.refresh)

    def _refresh_variant(self, variant: Variant) -> None:
        name, alias = self.settings.model_name, self._alias_of[variant]
        current = self.state.model_for(variant)
        try:
            version, run_id = self.source.resolve(name, alias)
        except ModelLoadError as exc:
            if variant == CHALLENGER_VARIANT and exc.reason == "alias_missing":
                self._clear_refusal(variant)
                if current is not None:  # promoted or withdrawn: all traffic goes back to the champion
                    logger.info("models:/%s@%s is gone; routing all traffic to the champion", name, alias)
                    self._swap(variant, None)
                return
            self._failed(variant, exc)
            return
        if current is not None and current.version == version:
            self._clear_refusal(variant)  # e.g. rolled back to the served version
            return
        refusal = self.refused.get(variant)
        if refusal is not None and refusal.version == version and self._clock() < refusal.retry_at:
            return  # refused before: wait for the back-off instead of downloading it again
        champion = self.state.champion
        if variant == CHALLENGER_VARIANT and champion is not None and champion.version == version:
            loaded = champion  # same version under both aliases: share the loaded model
        else:
            try:
                loaded = self.source.load(name, version, run_id, self.settings.runtime)
                self._check_served_contract(loaded)
            except ModelLoadError as exc:
                self._failed(variant, exc)
                self._refuse(variant, version, exc)
                return
        if self.contract is None:
            self.contract = loaded.contract
        self._clear_refusal(variant)
        self._swap(variant, loaded)
        logger.info(
            "serving %s v%s as %s (runtime %s, previous %s)",
            name,
            version,
            variant,
            loaded.runtime,
            current.version if current else "none",
        )

    def _check_served_contract(self, loaded: LoadedModel) -> None:
        """A version must fit the request schema already published (same inputs, ranges, keys and task)."""
        served = self.contract
        if served is None or serving_identity(loaded.contract) == serving_identity(served):
            return
        raise ModelLoadError(
            "signature_mismatch",
            f"refusing {loaded.name} v{loaded.version}: its contract (task {loaded.contract.task}, inputs "
            f"{list(loaded.contract.feature_names)}) differs from the served one (task {served.task}, inputs "
            f"{list(served.feature_names)}); restart the service (roll the Deployment) to publish the new schema",
        )

    def _swap(self, variant: Variant, model: LoadedModel | None) -> None:
        previous = self.state.model_for(variant)
        self.state = replace(self.state, **{variant: model})  # the atomic swap
        if previous is not None:
            labels = (previous.name, previous.version, variant, previous.runtime)
            with contextlib.suppress(KeyError):  # already removed by a concurrent swap
                self.metrics.model_info.remove(self.metrics.model, *labels)
        if model is not None:
            self.metrics.model_info.labels(self.metrics.model, model.name, model.version, variant, model.runtime).set(1)
            self.metrics.reloads.labels(self.metrics.model).inc()

    def _refuse(self, variant: Variant, version: str, exc: ModelLoadError) -> None:
        previous = self.refused.get(variant)
        attempts = previous.attempts + 1 if previous is not None and previous.version == version else 1
        delay = min(
            self.settings.reload_interval_seconds * 2 ** (attempts - 1), self.settings.refused_backoff_max_seconds
        )
        self._clear_refusal(variant)
        self.refused[variant] = Refusal(version, exc.reason, str(exc), attempts, self._clock() + delay)
        self.metrics.refused_version.labels(self.metrics.model, variant, version, exc.reason).set(1)

    def _clear_refusal(self, variant: Variant) -> None:
        refusal = self.refused.pop(variant, None)
        if refusal is not None:
            with contextlib.suppress(KeyError):
                self.metrics.refused_version.remove(self.metrics.model, variant, refusal.version, refusal.reason)

    def retry_in(self, refusal: Refusal) -> float:
        return max(0.0, refusal.retry_at - self._clock())

    def _failed(self, variant: Variant, exc: ModelLoadError) -> None:
        self.metrics.reload_failures.labels(model=self.metrics.model, variant=variant, reason=exc.reason).inc()
        current = self.state.model_for(variant)
        logger.error(
            "model refresh failed for %s (%s): %s; %s",
            variant,
            exc.reason,
            exc,
            f"still serving v{current.version}" if current else "nothing loaded for this variant",
        )
