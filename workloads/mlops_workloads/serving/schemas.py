"""Request and response models, generated from the feature contract so the API can never drift from it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from mlops_workloads.features import ENTITY_KEY, FEATURES, TRANSACTION_ID, Feature

_PYTHON_TYPES: dict[str, type] = {"float": float, "int": int, "bool": bool}
_STRICT_INPUT = ConfigDict(extra="forbid", allow_inf_nan=False)


def _feature_field(feature: Feature, *, optional: bool) -> tuple[Any, Any]:
    python_type = _PYTHON_TYPES[feature.kind]
    bounds: dict[str, Any] = {} if feature.kind == "bool" else {"ge": feature.minimum, "le": feature.maximum}
    if optional:
        return python_type | None, Field(None, description=feature.description, **bounds)
    return python_type, Field(..., description=feature.description, **bounds)


def build_request_models(max_batch_size: int, *, features_optional: bool) -> tuple[type[BaseModel], type[BaseModel]]:
    """``(PredictRequest, PredictBatchRequest)``: one transaction, and at most ``max_batch_size`` of them.

    With an online feature store, features may be omitted and are then read from the store by ``card_id``.
    """
    fields: dict[str, Any] = {
        ENTITY_KEY: (int, Field(..., ge=0, description="Card identifier; also the A/B split key")),
        TRANSACTION_ID: (str | None, Field(None, max_length=128, description="Caller's transaction id, echoed")),
    }
    fields.update({f.name: _feature_field(f, optional=features_optional) for f in FEATURES})
    predict_request = create_model("PredictRequest", __config__=_STRICT_INPUT, **fields)
    batch_request = create_model(
        "PredictBatchRequest",
        __config__=_STRICT_INPUT,
        instances=(
            list[predict_request],  # type: ignore[valid-type]
            Field(..., min_length=1, max_length=max_batch_size, description="Transactions to score"),
        ),
    )
    return predict_request, batch_request


class Prediction(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    card_id: int
    transaction_id: str | None
    fraud_probability: float
    is_fraud: bool
    model_name: str
    model_version: str
    variant: str
    runtime: str


class PredictResponse(Prediction):
    request_id: str


class PredictBatchResponse(BaseModel):
    request_id: str
    predictions: list[Prediction]
