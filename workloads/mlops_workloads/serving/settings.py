"""Service configuration, read from environment variables (12-factor) into a validated, immutable model."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mlops_workloads.features import MODEL_NAME
from mlops_workloads.registry import CHALLENGER, CHAMPION, Aliases

ENV_PREFIX = "SERVING_"
# Standard MLflow variables win over prefixed ones so the same Secret/ConfigMap serves every MLflow client.
_ENV_ALIASES: dict[str, tuple[str, ...]] = {
    "tracking_uri": ("MLFLOW_TRACKING_URI", "SERVING_TRACKING_URI"),
    "registry_uri": ("MLFLOW_REGISTRY_URI", "SERVING_REGISTRY_URI"),
}


class ServingSettings(BaseModel):
    """Everything the inference service can be told; each field reads ``SERVING_<FIELD>`` unless aliased above."""

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    tracking_uri: str = Field("http://127.0.0.1:5000", description="MLflow tracking server URI")
    registry_uri: str | None = Field(None, description="MLflow registry URI; defaults to the tracking URI")
    model_name: str = Field(MODEL_NAME, min_length=1, description="Registered model served by alias")
    champion_alias: str = Field(CHAMPION, min_length=1, description="Registry alias of the version that serves")
    challenger_alias: str = Field(
        CHALLENGER, min_length=1, description="Registry alias of the candidate the challenger share goes to"
    )
    challenger_weight: float = Field(
        0.0, ge=0.0, le=1.0, description="Share of traffic sent to the challenger alias's version"
    )
    split_key: Literal["entity", "request"] = Field(
        "entity", description="Hash the card id (sticky per card) or the request id to pick a variant"
    )
    reload_interval_seconds: float = Field(30.0, gt=0.0, le=3600.0, description="Alias polling period")
    startup_backoff_initial_seconds: float = Field(0.5, gt=0.0, le=60.0)
    startup_backoff_max_seconds: float = Field(30.0, gt=0.0, le=600.0, description="Cap of the start-up backoff")
    refused_backoff_max_seconds: float = Field(
        900.0, gt=0.0, le=86_400.0, description="Cap of the back-off before a refused version is downloaded again"
    )
    max_batch_size: int = Field(256, ge=1, le=10_000, description="Rows accepted by /predict/batch")
    log_payloads: bool = Field(False, description="Put request features in the access log (off: audit only)")
    feast_url: str | None = Field(
        None, description="Feast feature server URL; with feast_feature_view, missing features are read from it"
    )
    feast_feature_view: str | None = Field(None, description="Feature view holding the served contract's features")
    feast_timeout_seconds: float = Field(
        2.0, gt=0.0, le=30.0, description="Timeout of one online feature lookup (a cold server loads its registry)"
    )
    runtime: Literal["auto", "onnx", "sklearn"] = Field(
        "auto", description="auto = ONNX when the run has onnx/model.onnx, scikit-learn otherwise"
    )
    micro_batch_window_ms: float = Field(
        1.0, ge=0.0, le=2.0, description="Wait (under concurrency only) to gather requests into one inference call"
    )
    inference_threads: int = Field(1, ge=1, le=16, description="Threads running model inference")
    host: str = Field("0.0.0.0", description="Bind address of `python -m mlops_workloads.serving`")  # noqa: S104
    port: int = Field(8080, ge=1, le=65535)

    @model_validator(mode="after")
    def _feast_pair(self) -> ServingSettings:
        if (self.feast_url is None) != (self.feast_feature_view is None):
            raise ValueError(
                "SERVING_FEAST_URL and SERVING_FEAST_FEATURE_VIEW go together: set both to complete missing features "
                "from the feature server, or neither"
            )
        return self

    @model_validator(mode="after")
    def _aliases(self) -> ServingSettings:
        try:
            Aliases(self.champion_alias, self.challenger_alias)
        except ValueError as exc:
            raise ValueError(f"SERVING_CHAMPION_ALIAS and SERVING_CHALLENGER_ALIAS: {exc}") from exc
        return self

    @property
    def aliases(self) -> Aliases:
        """The registry aliases of the two variants (the ``variant`` label keeps the role names)."""
        return Aliases(self.champion_alias, self.challenger_alias)

    @property
    def effective_registry_uri(self) -> str:
        return self.registry_uri or self.tracking_uri

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> ServingSettings:
        """Build settings from ``environ`` (default ``os.environ``); a bad value names its variable and the rule."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        sources: dict[str, str] = {}
        for name in cls.model_fields:
            for var in _ENV_ALIASES.get(name, (ENV_PREFIX + name.upper(),)):
                if env.get(var, "") != "":
                    values[name] = env[var]
                    sources[name] = var
                    break
        values.update(overrides)
        try:
            return cls(**values)  # type: ignore[arg-type]
        except ValidationError as exc:
            problems = []
            for error in exc.errors():
                if not error["loc"]:  # a rule across fields names its variables itself
                    problems.append(error["msg"])
                    continue
                field = str(error["loc"][0])
                origin = sources.get(field, field)
                problems.append(f"{origin}={error.get('input')!r}: {error['msg']}")
            raise ValueError("invalid serving configuration: " + "; ".join(problems)) from exc
