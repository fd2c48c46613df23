"""Serving any registered model: the request schema, validation and response come from the served version's
signature and contract, not from the fraud model's code. Exercised with the second reference model (delivery-time,
a regressor with other features and no entity) through the real app."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from mlops_workloads.delivery_time import DELIVERY_CONTRACT
from mlops_workloads.features import FRAUD_CONTRACT


@pytest.fixture
def delivery_app(delivery_registry: Any, wait_for: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient
    from mlops_workloads.serving import ServingSettings, create_app

    settings = ServingSettings(
        tracking_uri=delivery_registry.tracking_uri,
        model_name=delivery_registry.model_name,
        reload_interval_seconds=0.2,
        startup_backoff_initial_seconds=0.1,
        startup_backoff_max_seconds=0.4,
    )
    with ExitStack() as stack:
        client = stack.enter_context(TestClient(create_app(settings)))
        wait_for(lambda: client.get("/readyz").status_code == 200, "the delivery-time service to become ready")
        yield client


def test_delivery_time_publishes_its_own_request_schema_and_answers_a_predicted_value(
    delivery_app: Any, delivery_registry: Any
) -> None:
    document = delivery_app.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    operation = document["paths"]["/predict"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/PredictRequest")
    request = schemas["PredictRequest"]
    assert set(request["required"]) == set(DELIVERY_CONTRACT.feature_names)
    assert set(request["properties"]) == {DELIVERY_CONTRACT.id_column, *DELIVERY_CONTRACT.feature_names}
    for feature in DELIVERY_CONTRACT.features:  # every published bound is the served contract's
        if feature.kind != "bool":
            published = request["properties"][feature.name]
            assert (published["minimum"], published["maximum"]) == (feature.minimum, feature.maximum), feature.name
    fraud_only = set(FRAUD_CONTRACT.feature_names) - set(DELIVERY_CONTRACT.feature_names)
    assert fraud_only and not fraud_only & set(request["properties"])
    prediction = schemas["PredictResponse"]["properties"]
    assert DELIVERY_CONTRACT.label in prediction and "fraud_probability" not in prediction

    row = delivery_registry.request_rows(1)[0]
    response = delivery_app.post("/predict", json=row)
    assert response.status_code == 200, response.text
    body = response.json()
    minutes = body[DELIVERY_CONTRACT.label]
    assert isinstance(minutes, float) and 5.0 <= minutes <= 200.0  # a delivery time, not a probability or a class
    assert body[DELIVERY_CONTRACT.id_column] == row[DELIVERY_CONTRACT.id_column]
    assert body["model_version"] == delivery_registry.versions["regressor"]
    assert not {"fraud_probability", "is_fraud", "card_id"} & set(body)

    rows = delivery_registry.request_rows(5)
    batch = delivery_app.post("/predict/batch", json={"instances": rows})
    assert batch.status_code == 200, batch.text
    assert [p[DELIVERY_CONTRACT.id_column] for p in batch.json()["predictions"]] == [
        r[DELIVERY_CONTRACT.id_column] for r in rows
    ]
    assert batch.json()["predictions"][0][DELIVERY_CONTRACT.label] == pytest.approx(minutes)


def test_delivery_time_validates_strictly_against_its_own_contract(delivery_app: Any, delivery_registry: Any) -> None:
    row = delivery_registry.request_rows(1)[0]

    as_text = delivery_app.post("/predict", json={**row, "distance_km": "4.5"})
    assert as_text.status_code == 422
    (error,) = as_text.json()["detail"]
    assert error["field"] == "distance_km" and error["type"] == "float_type"
    distance = DELIVERY_CONTRACT.features_by_name["distance_km"]
    assert f"within [{distance.minimum:g}, {distance.maximum:g}]" in error["message"]  # the served contract's range

    fraud_field = delivery_app.post("/predict", json={**row, "amount": 12.5})
    assert fraud_field.status_code == 422
    assert [(e["field"], e["type"]) for e in fraud_field.json()["detail"]] == [("amount", "extra_forbidden")]

    out_of_range = delivery_app.post("/predict", json={**row, "items": 31})
    assert out_of_range.status_code == 422
    assert out_of_range.json()["detail"][0]["field"] == "items"

    missing = {k: v for k, v in row.items() if k != "courier_rating"}
    assert delivery_app.post("/predict", json=missing).status_code == 422


def test_a_version_with_another_contract_is_refused_on_hot_reload(
    delivery_app: Any, delivery_registry: Any, wait_for: Any
) -> None:
    from mlflow import MlflowClient
    from mlops_workloads.registry import CHAMPION

    client = MlflowClient(tracking_uri=delivery_registry.tracking_uri, registry_uri=delivery_registry.tracking_uri)
    name, versions = delivery_registry.model_name, delivery_registry.versions
    client.set_registered_model_alias(name, CHAMPION, versions["fraud"])
    try:
        wait_for(lambda: "champion" in delivery_app.get("/readyz").json().get("refused", {}), "the refusal")
        refused = delivery_app.get("/readyz").json()["refused"]["champion"]
        assert refused["model_version"] == versions["fraud"]
        assert refused["reason"] == "signature_mismatch"
        assert "differs from the served one" in refused["message"]
        served = delivery_app.post("/predict", json=delivery_registry.request_rows(1)[0])
        assert served.status_code == 200
        assert served.json()["model_version"] == versions["regressor"]
    finally:
        client.set_registered_model_alias(name, CHAMPION, versions["regressor"])
