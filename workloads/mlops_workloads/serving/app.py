"""The FastAPI inference service: /predict, /predict/batch, /healthz, /readyz, /metrics.

The request and response models come from the served model's contract, known once the first champion loads:
the prediction routes validate against them (strictly, as FastAPI would) and the OpenAPI document publishes them
from then on.
"""

import asyncio
import contextlib
import json
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlops_workloads.contract import Feature, ModelContract
from mlops_workloads.serving.batcher import MicroBatcher
from mlops_workloads.serving.manager import ModelManager
from mlops_workloads.serving.metrics import ServingMetrics
from mlops_workloads.serving.model import DECISION_THRESHOLD, LoadedModel, ModelSource
from mlops_workloads.serving.online_features import FeastFeatureServer, FeatureLookup, FeatureStoreError
from mlops_workloads.serving.routing import Variant
from mlops_workloads.serving.schemas import (
    ApiModels,
    ErrorResponse,
    HealthResponse,
    NotReadyResponse,
    ReadyResponse,
    ValidationErrorResponse,
    build_api_models,
    probability_field,
)
from mlops_workloads.serving.settings import ServingSettings

ACCESS_LOGGER = "mlops_workloads.serving.access"
REQUEST_ID_HEADER = "x-request-id"
# A generous per-row allowance: a contract row is ~400 bytes of JSON (~2 KB with a 128-character id of escapes).
_BYTES_PER_ROW = 4096
_ENVELOPE_BYTES = 4096
_INPUT_CHARS = 200  # longest offending value echoed in a 422
_JSON_TYPES = (b"application/json",)

access_log = logging.getLogger(ACCESS_LOGGER)
logger = logging.getLogger(__name__)


class ServingError(Exception):
    """An expected failure with an HTTP status and a bounded metric reason."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


class _RequestGuard:
    """Pure ASGI in front of the JSON endpoints: refuses a body that is not JSON (415) and enforces the body limit
    while reading, whatever the framing (Content-Length or chunked), answering 413 without reading the rest; the
    body read is then replayed to the app. Requests to other paths pass through untouched."""

    def __init__(self, app: ASGIApp, *, limits: Mapping[str, int], on_reject: Callable[[str, str], None]) -> None:
        self.app, self.limits, self.on_reject = app, dict(limits), on_reject

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: int, reason: str, detail: str) -> None:
        self.on_reject(scope["path"], reason)
        await JSONResponse({"detail": detail}, status_code=status)(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limits.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if limit is None:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        media_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if media_type not in _JSON_TYPES and not media_type.endswith(b"+json"):
            shown = media_type.decode("latin-1") or "none"
            detail = (
                f"Content-Type {shown!r} is not supported: send the request as JSON (Content-Type: application/json)"
            )
            await self._refuse(scope, receive, send, 415, "unsupported_media_type", detail)
            return
        too_large = f"request body exceeds {limit} bytes; send fewer rows per request"
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await self._refuse(scope, receive, send, 413, "payload_too_large", too_large)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                await self._refuse(scope, receive, send, 413, "payload_too_large", too_large)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)


def _printable(text: str) -> str:
    """Text that always encodes: lone surrogates become visible escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _json_scalar(value: Any) -> Any:
    """An offending input as the 422 may echo it, or None when it is not a JSON scalar (bytes, objects...)."""
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return _printable(value[:_INPUT_CHARS])
    return None


def _describe_validation_errors(errors: Sequence[Any], features: Mapping[str, Feature]) -> list[dict[str, Any]]:
    described = []
    for error in errors:
        loc = [_printable(str(part)) for part in error.get("loc", ()) if part != "body"]
        field = ".".join(loc) or "body"
        message = f"{field}: {_printable(str(error.get('msg')))}"
        entry: dict[str, Any] = {"field": field, "type": str(error.get("type"))}
        echoed = _json_scalar(error.get("input"))
        if echoed is not None:
            message += f" (got {echoed!r})"
            entry["input"] = echoed
        feature = features.get(loc[-1]) if loc else None
        if feature is not None:
            message += (
                f"; send a {feature.kind} within [{feature.minimum:g}, {feature.maximum:g}]: {feature.description}"
            )
        entry["message"] = message
        described.append(entry)
    return described


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "The body is not valid JSON (or not UTF-8)"},
    413: {"model": ErrorResponse, "description": "The body exceeds the size limit (checked while reading)"},
    415: {"model": ErrorResponse, "description": "The body is not sent as application/json"},
    422: {"model": ValidationErrorResponse, "description": "A field breaks the contract (type, range, unknown)"},
    500: {"model": ErrorResponse, "description": "The model failed to score valid input"},
    503: {"model": ErrorResponse, "description": "No model loaded yet, or the online feature store is unavailable"},
}


def _endpoint(request: Request) -> str:
    """The matched route template: a bounded metric label, whatever path the client sent."""
    route = request.scope.get("route")
    return str(getattr(route, "path", "other"))


@dataclass
class _Service:
    """One service instance: its settings, metrics registry, model manager, inference pool and the request-side
    helpers every endpoint shares (audit log, request id, online completion, A/B routing, response rows)."""

    settings: ServingSettings
    metrics: ServingMetrics
    manager: ModelManager
    executor: ThreadPoolExecutor
    batcher: MicroBatcher
    feature_lookup: FeatureLookup | None
    _api: tuple[ModelContract, ApiModels] | None = None

    @classmethod
    def create(
        cls, settings: ServingSettings, source: ModelSource | None, feature_lookup: FeatureLookup | None
    ) -> "_Service":
        metrics = ServingMetrics(settings.model_name)
        if feature_lookup is None and settings.feast_url and settings.feast_feature_view:
            feature_lookup = FeastFeatureServer(
                settings.feast_url, settings.feast_feature_view, timeout_seconds=settings.feast_timeout_seconds
            )
        executor = ThreadPoolExecutor(max_workers=settings.inference_threads, thread_name_prefix="inference")
        batcher = MicroBatcher(
            executor,
            max_batch=max(settings.max_batch_size, 1),
            window_seconds=settings.micro_batch_window_ms / 1000.0,
            workers=settings.inference_threads,
            on_batch=metrics.batch_size.labels(metrics.model).observe,
        )
        return cls(settings, metrics, ModelManager(settings, metrics, source), executor, batcher, feature_lookup)

    @asynccontextmanager
    async def lifespan(self, _: FastAPI) -> AsyncIterator[None]:
        await self.batcher.start()
        reloader = asyncio.create_task(self.manager.run(), name="model-reloader")
        try:
            yield
        finally:
            reloader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reloader
            await self.batcher.stop()
            self.executor.shutdown(wait=False, cancel_futures=True)
            if self.feature_lookup is not None:
                self.feature_lookup.close()

    def audit(
        self,
        request: Request,
        endpoint: str,
        model: LoadedModel | None,
        variant: str | None,
        latency_s: float,
        outcome: str,
        rows: int,
        payload: Any = None,
    ) -> None:
        if not access_log.isEnabledFor(logging.INFO):
            return
        record: dict[str, Any] = {
            "event": "prediction",
            "request_id": self.request_id(request),
            "endpoint": endpoint,
            "model_name": self.settings.model_name,
            "model_version": model.version if model else None,
            "variant": variant,
            "runtime": model.runtime if model else None,
            "latency_ms": round(latency_s * 1000.0, 3),
            "outcome": outcome,
            "rows": rows,
        }
        if self.settings.log_payloads and payload is not None:
            record["payload"] = payload
        access_log.info(json.dumps(record, default=str))

    @staticmethod
    def request_id(request: Request) -> str:
        rid = getattr(request.state, "request_id", None)
        if rid is None:
            header = request.headers.get(REQUEST_ID_HEADER, "")
            rid = header[:128] if header else uuid.uuid4().hex
            request.state.request_id = rid
        return str(rid)

    def api(self) -> tuple[ModelContract, ApiModels] | None:
        """The served contract and its request/response models; None until the first champion has loaded."""
        contract = self.manager.contract
        if contract is None:
            return None
        if self._api is None or self._api[0] is not contract:
            optional = self.feature_lookup is not None and contract.entity_column is not None
            self._api = contract, build_api_models(contract, self.settings.max_batch_size, features_optional=optional)
        return self._api

    @property
    def champion_uri(self) -> str:
        return f"models:/{self.settings.model_name}@{self.settings.champion_alias}"

    def served_api(self) -> tuple[ModelContract, ApiModels]:
        api = self.api()
        if api is None:
            raise ServingError(503, "model_not_loaded", f"no model loaded yet from {self.champion_uri}")
        return api

    async def complete(self, contract: ModelContract, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Fill features the caller left out from the online store (only when one is configured)."""
        names = contract.feature_names
        incomplete = [i for i, row in enumerate(rows) if any(row.get(n) is None for n in names)]
        if not incomplete:
            return rows
        entity = contract.entity_column
        if self.feature_lookup is None or entity is None:  # unreachable: the request models require every feature
            raise ServingError(422, "missing_features", "every contract feature is required")
        ids = [rows[i][entity] for i in incomplete]
        lacking = [n for n in names if any(rows[i].get(n) is None for i in incomplete)]
        try:
            found = await asyncio.to_thread(self.feature_lookup, contract, ids, lacking)
        except Exception as exc:
            # A store that is down or misconfigured says why in one line; anything else keeps its traceback.
            logger.error("online feature lookup failed: %s", exc, exc_info=not isinstance(exc, FeatureStoreError))
            raise ServingError(503, "feature_store", f"online feature store unavailable: {exc}") from exc
        for i, online in zip(incomplete, found, strict=True):
            given = {k: v for k, v in rows[i].items() if v is not None}
            merged = {**{k: v for k, v in online.items() if k in names}, **given}
            absent = [n for n in names if merged.get(n) is None]
            if absent:
                raise ServingError(
                    422,
                    "missing_features",
                    f"{entity} {rows[i][entity]}: no value for {', '.join(absent)} in the request or the "
                    "online store; send them in the request or materialize the feature view",
                )
            rows[i] = {**rows[i], **merged}
        return rows

    def route(self, request: Request, contract: ModelContract, row: Mapping[str, Any]) -> tuple[Variant, LoadedModel]:
        entity = contract.entity_column  # without one, every request is its own split key
        sticky = self.settings.split_key == "entity" and entity is not None
        key = str(row[entity]) if sticky and entity is not None else self.request_id(request)
        routed = self.manager.route(key)
        if routed is None:
            raise ServingError(503, "model_not_loaded", f"no model loaded yet from {self.champion_uri}")
        return routed

    @staticmethod
    def prediction(row: Mapping[str, Any], score: float, variant: str, model: LoadedModel) -> dict[str, Any]:
        contract = model.contract
        keys = {c: row.get(c) for c in (contract.entity_column, contract.id_column) if c}
        if contract.task == "classification":
            outputs: dict[str, Any] = {
                probability_field(contract): score,
                contract.label: score >= DECISION_THRESHOLD,
            }
        else:
            outputs = {contract.label: score}
        served = {"model_name": model.name, "model_version": model.version, "variant": variant}
        return {**keys, **outputs, **served, "runtime": model.runtime}

    def count(self, model: LoadedModel, variant: str, scores: np.ndarray) -> None:
        if model.contract.task != "classification":  # no class to count: a regressor's predictions are values
            self.metrics.predictions.labels(self.metrics.model, model.version, "value", variant).inc(len(scores))
            return
        positives = int(np.count_nonzero(scores >= DECISION_THRESHOLD))
        if positives:
            self.metrics.predictions.labels(self.metrics.model, model.version, "1", variant).inc(positives)
        if len(scores) - positives:
            self.metrics.predictions.labels(self.metrics.model, model.version, "0", variant).inc(
                len(scores) - positives
            )

    async def score_one(self, request: Request, contract: ModelContract, row: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        row = (await self.complete(contract, [row]))[0]
        variant, model = self.route(request, contract, row)
        vector = np.array([float(row[n]) for n in contract.feature_names], dtype=np.float64)
        try:
            score = await self.batcher.predict(model, vector)
        except Exception as exc:
            logger.exception("inference failed on %s v%s", model.name, model.version)
            raise ServingError(500, "inference_error", f"inference failed on model version {model.version}") from exc
        self.count(model, variant, np.array([score]))
        elapsed = time.perf_counter() - started
        self.metrics.latency.labels(self.metrics.model, variant).observe(elapsed)
        self.audit(request, "/predict", model, variant, elapsed, "ok", 1, row)
        return {"request_id": self.request_id(request), **self.prediction(row, score, variant, model)}

    async def score_batch(
        self, request: Request, contract: ModelContract, rows: list[dict[str, Any]]
    ) -> dict[str, Any]:
        started = time.perf_counter()
        rows = await self.complete(contract, rows)
        routed = [self.route(request, contract, row) for row in rows]
        groups: dict[Variant, list[int]] = {}
        for index, (variant, _) in enumerate(routed):
            groups.setdefault(variant, []).append(index)
        results: list[dict[str, Any]] = [{} for _ in rows]
        loop = asyncio.get_running_loop()
        for variant, indexes in groups.items():
            model = routed[indexes[0]][1]
            names = contract.feature_names
            matrix = np.array([[float(rows[i][n]) for n in names] for i in indexes], dtype=np.float64)
            try:
                scores = await loop.run_in_executor(self.executor, model.score, matrix)
            except Exception as exc:
                logger.exception("batch inference failed on %s v%s", model.name, model.version)
                raise ServingError(
                    500, "inference_error", f"inference failed on model version {model.version}"
                ) from exc
            self.metrics.batch_size.labels(self.metrics.model).observe(len(indexes))
            self.count(model, variant, scores)
            for i, score in zip(indexes, scores, strict=True):
                results[i] = self.prediction(rows[i], float(score), variant, model)
        elapsed = time.perf_counter() - started
        for variant, indexes in groups.items():
            self.metrics.latency.labels(self.metrics.model, variant).observe(elapsed)
            model = routed[indexes[0]][1]
            self.audit(
                request, "/predict/batch", model, variant, elapsed, "ok", len(indexes), [rows[i] for i in indexes]
            )
        return {"request_id": self.request_id(request), "predictions": results}

    def refused(self) -> dict[str, dict[str, Any]]:
        return {
            variant: {
                "model_version": r.version,
                "reason": r.reason,
                "message": _printable(r.message),
                "attempts": r.attempts,
                "retry_in_seconds": round(self.manager.retry_in(r), 1),
            }
            for variant, r in self.manager.refused.items()
        }

    def readiness(self) -> Response:
        state = self.manager.state
        refused = self.refused()
        name = self.settings.model_name
        if state.champion is None:
            champion = refused.get("champion")
            if champion is not None:
                detail = (
                    f"{self.champion_uri} points at version {champion['model_version']}, which "
                    f"was refused ({champion['reason']}): {champion['message']}; retrying in "
                    f"{champion['retry_in_seconds']} s"
                )
                return JSONResponse({"status": "refused", "detail": detail, "refused": refused}, status_code=503)
            return JSONResponse(
                {"status": "loading", "detail": f"no model loaded yet from {self.champion_uri}",
                 "refused": refused},
                status_code=503,
            )  # fmt: skip
        aliases = self.settings.aliases
        models = {
            variant: {"model_version": m.version, "runtime": m.runtime, "alias": alias}
            for variant, m, alias in (
                ("champion", state.champion, aliases.champion),
                ("challenger", state.challenger, aliases.challenger),
            )
            if m is not None
        }
        return JSONResponse({"status": "ready", "model_name": name, "models": models, "refused": refused})


def _install_error_handlers(app: FastAPI, service: _Service) -> None:
    """400 (not JSON), 422 (contract), the service's own errors; every one counted and audited."""
    metrics = service.metrics

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        endpoint = _endpoint(request)
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            metrics.request_errors.labels(metrics.model, endpoint, "malformed_json").inc()
            service.audit(request, endpoint, None, None, 0.0, "malformed_json", 0)
            where = next(e for e in errors if e.get("type") == "json_invalid")
            detail = (
                f"the body is not valid JSON ({_printable(str(where.get('ctx', {}).get('error', 'decode error')))})"
            )
            return JSONResponse({"detail": detail}, status_code=400)
        metrics.request_errors.labels(metrics.model, endpoint, "validation").inc()
        service.audit(request, endpoint, None, None, 0.0, "invalid_input", 0)
        api = service.api()
        features = api[0].features_by_name if api is not None else {}
        return JSONResponse({"detail": _describe_validation_errors(errors, features)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400:  # FastAPI's "error parsing the body", e.g. a body that is not UTF-8
            metrics.request_errors.labels(metrics.model, _endpoint(request), "malformed_json").inc()
            return JSONResponse({"detail": "the body is not valid UTF-8 JSON"}, status_code=400)
        return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(ServingError)
    async def _serving_error(request: Request, exc: ServingError) -> JSONResponse:
        endpoint = _endpoint(request)
        metrics.request_errors.labels(metrics.model, endpoint, exc.reason).inc()
        service.audit(request, endpoint, None, None, 0.0, exc.reason, 0)
        return JSONResponse({"detail": exc.message}, status_code=exc.status)


async def _validated(request: Request, model: type[BaseModel]) -> BaseModel:
    """The body parsed and validated as FastAPI would: invalid JSON is a 400, a contract breach a 422."""
    body = await request.body()
    try:
        document = json.loads(body) if body else None
    except UnicodeDecodeError:
        raise StarletteHTTPException(400, "the body is not valid UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        error = {"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error", "input": {}}
        raise RequestValidationError([{**error, "ctx": {"error": exc.msg}}]) from None
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None


def _add_prediction_routes(app: FastAPI, service: _Service) -> None:
    """/predict and /predict/batch, validated against the served contract's models (published by _openapi)."""

    @app.post("/predict", responses=_ERRORS)
    async def predict(request: Request) -> Response:
        contract, models = service.served_api()
        body = await _validated(request, models.predict_request)
        return JSONResponse(await service.score_one(request, contract, body.model_dump()))

    @app.post("/predict/batch", responses=_ERRORS)
    async def predict_batch(request: Request) -> Response:
        contract, models = service.served_api()
        body = await _validated(request, models.batch_request)
        rows = [item.model_dump() for item in body.instances]  # type: ignore[attr-defined]
        return JSONResponse(await service.score_batch(request, contract, rows))


_SCHEMAS_REF = "#/components/schemas/{model}"


def _install_openapi(app: FastAPI, service: _Service) -> None:
    """The OpenAPI document with the served contract's request and response bodies on the prediction routes
    (regenerated when the served contract becomes known)."""
    documents: dict[int, dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        api = service.api()
        key = id(api[0]) if api is not None else 0
        if key in documents:
            return documents[key]
        document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        if api is not None:
            models = api[1]
            pairs = [
                ("/predict", models.predict_request, models.predict_response),
                ("/predict/batch", models.batch_request, models.batch_response),
            ]
            modes: list[tuple[type[BaseModel], Any]] = [(request, "validation") for _, request, _ in pairs]
            modes += [(response, "serialization") for _, _, response in pairs]
            refs, defs = models_json_schema(modes, ref_template=_SCHEMAS_REF)
            document.setdefault("components", {}).setdefault("schemas", {}).update(defs.get("$defs", {}))
            for path, request_model, response_model in pairs:
                operation = document["paths"][path]["post"]
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": refs[(request_model, "validation")]}},
                }
                operation["responses"]["200"]["content"] = {
                    "application/json": {"schema": refs[(response_model, "serialization")]}
                }
        documents.clear()
        documents[key] = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _add_probe_routes(app: FastAPI, service: _Service) -> None:
    """/healthz (liveness), /readyz (a champion is served) and /metrics (Prometheus)."""

    @app.get("/healthz", response_model=HealthResponse)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        response_model=ReadyResponse,
        responses={503: {"model": NotReadyResponse, "description": "No champion served: loading, or refused"}},
    )
    async def readyz() -> Response:
        return service.readiness()

    @app.get(
        "/metrics",
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus"}},
    )
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def create_app(
    settings: ServingSettings | None = None,
    *,
    source: ModelSource | None = None,
    feature_lookup: FeatureLookup | None = None,
) -> FastAPI:
    """Build one service instance with its own metrics registry, model manager and inference thread pool."""
    service = _Service.create(settings or ServingSettings.from_env(), source, feature_lookup)
    title = f"{service.settings.model_name} inference"
    app = FastAPI(title=title, version="1", lifespan=service.lifespan)
    app.state.settings, app.state.metrics, app.state.manager = service.settings, service.metrics, service.manager
    app.add_middleware(
        _RequestGuard,
        limits={
            "/predict": _BYTES_PER_ROW + _ENVELOPE_BYTES,
            "/predict/batch": service.settings.max_batch_size * _BYTES_PER_ROW + _ENVELOPE_BYTES,
        },
        on_reject=lambda path, reason: service.metrics.request_errors.labels(service.metrics.model, path, reason).inc(),
    )
    _install_error_handlers(app, service)
    _add_prediction_routes(app, service)
    _add_probe_routes(app, service)
    _install_openapi(app, service)
    return app
