"""The serving contract in one place: the input fields a request may carry, their strict types and ranges, the
request and response models generated from them, and the check that a model's signature matches them.

The fields come from the served model version's :class:`~mlops_workloads.contract.ModelContract` (read from MLflow
with the version): :func:`contract_fields` gives its inputs, :func:`build_api_models` the request and response models
the service validates and documents, :func:`signature_problems` why a signature cannot feed them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, create_model

from mlops_workloads.contract import FeatureKind as Kind
from mlops_workloads.contract import ModelContract

_PYTHON_TYPES: dict[Kind, Any] = {"float": float, "int": None, "bool": bool}  # int: Integer, below
# MLflow column types (mlflow.types.DataType names) each contract kind may be logged as.
_SIGNATURE_TYPES: dict[Kind, frozenset[str]] = {
    "float": frozenset({"double", "float"}),
    "int": frozenset({"long", "integer"}),
    "bool": frozenset({"boolean"}),
}
# Largest integer every JSON parser holds exactly (RFC 8259 section 6: IEEE 754 doubles); a larger entity id would
# be silently rounded by some client or validator on the way, so the contract refuses it.
MAX_JSON_INTEGER = 2**53 - 1
# Strict by default: a number must be a JSON number (an int is a valid float, a bool is not), an integer a JSON
# number without a fractional part, a boolean true/false; no string is coerced; NaN/Infinity literals and unknown
# fields are refused.
_STRICT_INPUT = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)
_OUTPUT = ConfigDict(protected_namespaces=())


@dataclass(frozen=True)
class InputField:
    """One model input as the API accepts it."""

    name: str
    kind: Kind
    minimum: float
    maximum: float
    description: str


def contract_fields(contract: ModelContract) -> tuple[InputField, ...]:
    """A model's inputs, from its contract."""
    return tuple(InputField(f.name, f.kind, f.minimum, f.maximum, f.description) for f in contract.features)


def serving_identity(contract: ModelContract) -> tuple[object, ...]:
    """What the published API depends on: two versions with the same identity are served by the same schema."""
    return (contract.task, contract.label, contract.id_column, contract.entity_column, contract_fields(contract))


def probability_field(contract: ModelContract) -> str:
    """A classifier's probability field: label ``is_fraud`` gives ``fraud_probability``, ``churned``
    ``churned_probability``."""
    return contract.label.removeprefix("is_") + "_probability"


def _unicode_text(value: str) -> str:
    """Refuse lone surrogates (valid in JSON escapes, not in UTF-8): they could never be echoed back."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (it holds a lone surrogate such as \\ud800)") from None
    return value


UnicodeText = Annotated[str, AfterValidator(_unicode_text)]


def _integral(value: Any) -> Any:
    """JSON Schema counts 42.0 as an integer: accept a float with no fractional part, nothing else."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


Integer = Annotated[int, BeforeValidator(_integral)]


def _field(spec: InputField, *, optional: bool) -> tuple[Any, Any]:
    python_type = _PYTHON_TYPES[spec.kind] or Integer
    bounds: dict[str, Any] = {} if spec.kind == "bool" else {"ge": spec.minimum, "le": spec.maximum}
    if spec.kind == "int":
        bounds = {"ge": int(spec.minimum), "le": int(spec.maximum)}
    if optional:
        return python_type | None, Field(None, description=spec.description, **bounds)
    return python_type, Field(..., description=spec.description, **bounds)


@dataclass(frozen=True)
class ApiModels:
    """The request and response models of one served contract."""

    predict_request: type[BaseModel]
    batch_request: type[BaseModel]
    predict_response: type[BaseModel]
    batch_response: type[BaseModel]


def build_api_models(contract: ModelContract, max_batch_size: int, *, features_optional: bool) -> ApiModels:
    """Request models (one row, and at most ``max_batch_size`` rows) and response models of ``contract``.

    With an online feature store (and an entity column), features may be omitted and are then read from the store
    by the entity key. A classifier answers its positive-class probability and the decision, a regressor the
    predicted value under the label's name.
    """
    keys: dict[str, Any] = {}
    echoed: dict[str, Any] = {}
    if contract.entity_column:
        keys[contract.entity_column] = (
            Integer,
            Field(..., ge=0, le=MAX_JSON_INTEGER, description="Entity identifier; also the A/B split key"),
        )
        echoed[contract.entity_column] = (int, ...)
    keys[contract.id_column] = (
        UnicodeText | None,
        Field(None, max_length=128, description="Caller's row id, echoed"),
    )
    echoed[contract.id_column] = (str | None, ...)
    inputs = {f.name: _field(f, optional=features_optional) for f in contract_fields(contract)}
    request_fields: dict[str, Any] = {**keys, **inputs}
    predict_request = create_model("PredictRequest", __config__=_STRICT_INPUT, **request_fields)
    batch_request = create_model(
        "PredictBatchRequest",
        __config__=_STRICT_INPUT,
        instances=(
            list[predict_request],  # type: ignore[valid-type]
            Field(..., min_length=1, max_length=max_batch_size, description="Rows to score"),
        ),
    )
    if contract.task == "classification":
        outputs: dict[str, Any] = {
            probability_field(contract): (float, Field(..., description="Probability of the positive class")),
            contract.label: (bool, Field(..., description="The decision at the model's threshold")),
        }
    else:
        outputs = {contract.label: (float, Field(..., description="The predicted value"))}
    served = {"model_name": (str, ...), "model_version": (str, ...), "variant": (str, ...), "runtime": (str, ...)}
    response_fields: dict[str, Any] = {**echoed, **outputs, **served}
    prediction = create_model("Prediction", __config__=_OUTPUT, **response_fields)
    predict_response = create_model("PredictResponse", __base__=prediction, request_id=(str, ...))
    batch_response = create_model(
        "PredictBatchResponse",
        request_id=(str, ...),
        predictions=(list[prediction], ...),  # type: ignore[valid-type]
    )
    return ApiModels(predict_request, batch_request, predict_response, batch_response)


def signature_problems(inputs: Sequence[tuple[str | None, str]], fields: Sequence[InputField]) -> list[str]:
    """Why a model whose signature has ``inputs`` (column name, MLflow type) cannot serve ``fields``: names, order
    and types must match, since the service feeds the model positionally."""
    expected = list(fields)
    names = [name for name, _ in inputs]
    if names != [f.name for f in expected]:
        missing = [f.name for f in expected if f.name not in names]
        unknown = [n for n in names if n not in {f.name for f in expected}]
        detail = f"missing {missing}, unexpected {unknown}" if missing or unknown else "same names in another order"
        return [
            f"its signature's inputs {names} are not the serving contract's {[f.name for f in expected]} ({detail})"
        ]
    return [
        f"input {f.name!r} is {kind!r} in the signature; the contract needs {' or '.join(sorted(allowed))}"
        for f, (_, kind) in zip(expected, inputs, strict=True)
        if kind not in (allowed := _SIGNATURE_TYPES[f.kind])
    ]


# --- Every other response the service gives, as it gives it (documented in the OpenAPI document) ---------------


class ErrorResponse(BaseModel):
    detail: str = Field(..., description="What went wrong and how to fix the request")


class FieldError(BaseModel):
    field: str = Field(..., description="Dotted path of the offending field ('body' for the whole body)")
    message: str
    type: str = Field(..., description="Pydantic error type, e.g. float_type, less_than_equal, extra_forbidden")
    input: Any = Field(None, description="The offending value when it is a scalar")


class ValidationErrorResponse(BaseModel):
    detail: list[FieldError]


class ServedModel(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    model_version: str
    runtime: str
    alias: str = Field(..., description="Registry alias the variant's version is served from")


class RefusedVersion(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    model_version: str
    reason: str = Field(..., description="Bounded reason, also the label of model_reload_failures_total")
    message: str
    attempts: int
    retry_in_seconds: float = Field(..., description="Back-off before the version is tried again")


class ReadyResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    status: Literal["ready"]
    model_name: str
    models: dict[str, ServedModel]
    refused: dict[str, RefusedVersion] = Field(
        default_factory=dict, description="Variants whose alias points at a version the service refused to load"
    )


class NotReadyResponse(BaseModel):
    status: Literal["loading", "refused"]
    detail: str
    refused: dict[str, RefusedVersion] = Field(default_factory=dict)


class HealthResponse(BaseModel):
    status: Literal["ok"]
