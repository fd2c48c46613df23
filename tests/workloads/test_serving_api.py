"""Inference service endpoints: predictions, input validation, batch limits, metrics and the access log."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from mlops_workloads.features import FEATURE_NAMES
from mlops_workloads.serving import METRIC_NAMES, ServingSettings
from mlops_workloads.serving.app import ACCESS_LOGGER
from prometheus_client.parser import text_string_to_metric_families


def samples(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The service's samples by name and labels, without the ``model`` label every one carries (checked here)."""
    text = client.get("/metrics").text
    values = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if family.name.startswith("model_"):
                assert s.labels.get("model") == client.app.state.settings.model_name, (s.name, s.labels)
            labels = tuple(sorted((k, v) for k, v in s.labels.items() if k != "model"))
            values[(s.name, labels)] = s.value
    return values


def test_predict_returns_probability_labelled_with_resolved_version(serving_app: Any, serving_registry: Any) -> None:
    client = serving_app(challenger_weight=0.0)
    row = serving_registry.request_rows(1)[0]

    response = client.post("/predict", json={**row, "transaction_id": "tx-1"}, headers={"X-Request-ID": "req-42"})

    assert response.status_code == 200
    body = response.json()
    assert 0.0 <= body["fraud_probability"] <= 1.0
    assert body["is_fraud"] == (body["fraud_probability"] >= 0.5)
    assert body["model_version"] == serving_registry.versions["good"]
    assert body["variant"] == "champion"
    assert body["runtime"] == "onnx"
    assert body["request_id"] == "req-42"
    assert body["transaction_id"] == "tx-1"
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["models"] == {
        "champion": {"model_version": serving_registry.versions["good"], "runtime": "onnx", "alias": "champion"}
    }


def test_invalid_input_gets_field_level_422_never_500(serving_app: Any, serving_registry: Any) -> None:
    client = serving_app(challenger_weight=0.0)
    row = serving_registry.request_rows(1)[0]
    bad = {**row, "amount": -5.0, "hour_of_day": 31, "merchant_risk_score": "high", "colour": "red"}
    del bad["international"]

    response = client.post("/predict", json=bad)

    assert response.status_code == 422
    by_field = {d["field"]: d for d in response.json()["detail"]}
    assert set(by_field) == {"amount", "hour_of_day", "merchant_risk_score", "colour", "international"}
    assert "greater than or equal to 0" in by_field["amount"]["message"]
    assert "(got -5.0)" in by_field["amount"]["message"]
    assert "within [0, 50000]" in by_field["amount"]["message"]
    assert "less than or equal to 23" in by_field["hour_of_day"]["message"]
    assert by_field["colour"]["type"] == "extra_forbidden"
    assert by_field["international"]["type"] == "missing"
    for body in ([], "text", {"instances": "x"}):
        assert client.post("/predict", json=body).status_code == 422
    assert client.post("/predict").status_code == 415  # no body, no Content-Type
    malformed = client.post("/predict", content=b"{not json", headers={"content-type": "application/json"})
    assert malformed.status_code == 400
    assert malformed.json()["detail"].startswith("the body is not valid JSON")
    errors = samples(client)
    assert errors[("model_request_errors_total", (("endpoint", "/predict"), ("reason", "validation")))] == 4
    assert errors[("model_request_errors_total", (("endpoint", "/predict"), ("reason", "malformed_json")))] == 1


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_feature_values_are_rejected(serving_app: Any, serving_registry: Any, value: float) -> None:
    client = serving_app(challenger_weight=0.0)
    row = serving_registry.request_rows(1)[0]
    body = json.dumps({**row, "amount": value})  # Python's json writes NaN/Infinity literals

    response = client.post("/predict", content=body, headers={"content-type": "application/json"})

    assert response.status_code == 422
    (detail,) = response.json()["detail"]
    assert detail["field"] == "amount"
    assert "finite number" in detail["message"]


def test_batch_scores_in_order_and_matches_single_predictions(serving_app: Any, serving_registry: Any) -> None:
    client = serving_app(challenger_weight=0.0)
    rows = serving_registry.request_rows(6)

    batch = client.post("/predict/batch", json={"instances": rows})

    assert batch.status_code == 200
    predictions = batch.json()["predictions"]
    assert [p["card_id"] for p in predictions] == [r["card_id"] for r in rows]
    singles = [client.post("/predict", json=r).json()["fraud_probability"] for r in rows]
    assert [p["fraud_probability"] for p in predictions] == pytest.approx(singles, abs=1e-9)
    assert {p["model_version"] for p in predictions} == {serving_registry.versions["good"]}


def test_batch_size_is_bounded(serving_app: Any, serving_registry: Any) -> None:
    client = serving_app(challenger_weight=0.0, max_batch_size=4)
    rows = serving_registry.request_rows(5)

    too_many = client.post("/predict/batch", json={"instances": rows})
    empty = client.post("/predict/batch", json={"instances": []})
    huge = client.post("/predict/batch", content=b"x" * 50_000, headers={"content-type": "application/json"})
    single = client.post("/predict", content=b" " * 50_000, headers={"content-type": "application/json"})
    assert single.status_code == 413  # /predict has its own, one-row limit

    assert too_many.status_code == 422
    assert "at most 4 items" in too_many.json()["detail"][0]["message"]
    assert too_many.json()["detail"][0]["field"] == "instances"
    assert empty.status_code == 422
    assert "at least 1 item" in empty.json()["detail"][0]["message"]
    assert huge.status_code == 413
    assert "exceeds" in huge.json()["detail"]
    assert client.post("/predict/batch", json={"instances": rows[:4]}).status_code == 200
    rejected = (("endpoint", "/predict/batch"), ("reason", "payload_too_large"))
    assert samples(client)[("model_request_errors_total", rejected)] == 1


@pytest.mark.parametrize("path", ["/predict", "/predict/batch"])
@pytest.mark.parametrize(
    "body",
    [
        {"content": b"card_id=1", "headers": {"content-type": "text/plain"}},
        {"data": {"card_id": "1"}},
        {"files": {"file": ("row.json", b"{}")}},
        {"content": b'{"card_id": 1}', "headers": {}},
    ],
    ids=["text-plain", "form-urlencoded", "multipart", "no-content-type"],
)
def test_a_body_that_is_not_json_gets_415_never_500(
    serving_app: Any, serving_registry: Any, path: str, body: dict[str, Any]
) -> None:
    client = serving_app(challenger_weight=0.0)

    response = client.post(path, **body)

    assert response.status_code == 415, response.text
    assert "send the request as JSON (Content-Type: application/json)" in response.json()["detail"]
    errors = samples(client)
    assert errors[("model_request_errors_total", (("endpoint", path), ("reason", "unsupported_media_type")))] == 1


def test_a_lone_surrogate_is_refused_before_scoring_with_a_serialisable_422(
    serving_app: Any, serving_registry: Any
) -> None:
    client = serving_app(challenger_weight=0.0)
    row = json.dumps(serving_registry.request_rows(1)[0])[:-1] + ', "transaction_id": "\\ud800"}'
    surrogate_key = json.dumps(serving_registry.request_rows(1)[0])[:-1] + ', "\\udfff": 1}'

    for body in (row, surrogate_key):
        response = client.post("/predict", content=body.encode(), headers={"content-type": "application/json"})
        assert response.status_code == 422, response.text
    (detail,) = client.post("/predict", content=row.encode(), headers={"content-type": "application/json"}).json()[
        "detail"
    ]
    assert detail["field"] == "transaction_id"
    assert "lone surrogate" in detail["message"]
    predictions = [k for (k, _) in samples(client) if k == "model_predictions_total"]
    assert predictions == []  # refused before the model scored it


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("amount", "42.5", "float_type"),
        ("amount", True, "float_type"),
        ("card_present", "yes", "bool_type"),
        ("card_present", 1, "bool_type"),
        ("hour_of_day", "7", "int_type"),
        ("hour_of_day", 7.5, "int_type"),
        ("card_id", 2**70, "less_than_equal"),
        ("card_id", -1, "greater_than_equal"),
    ],
)
def test_types_are_strict_per_field(
    serving_app: Any, serving_registry: Any, field: str, value: Any, error: str
) -> None:
    client = serving_app(challenger_weight=0.0)
    row = serving_registry.request_rows(1)[0]

    response = client.post("/predict", json={**row, field: value})

    assert response.status_code == 422, response.text
    (detail,) = response.json()["detail"]
    assert (detail["field"], detail["type"]) == (field, error)


def test_integral_numbers_and_ints_for_floats_are_accepted(serving_app: Any, serving_registry: Any) -> None:
    client = serving_app(challenger_weight=0.0)
    row = serving_registry.request_rows(1)[0]
    # JSON Schema counts 7.0 as an integer, and an integer is a number.
    response = client.post("/predict", json={**row, "hour_of_day": 7.0, "amount": 42})
    assert response.status_code == 200, response.text


def test_openapi_declares_every_response_with_its_real_body(serving_app: Any) -> None:
    client = serving_app(challenger_weight=0.0)
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    for path in ("/predict", "/predict/batch"):
        responses = document["paths"][path]["post"]["responses"]
        assert set(responses) == {"200", "400", "413", "415", "422", "500", "503"}
        refs = {
            code: r["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1] for code, r in responses.items()
        }
        assert refs["422"] == "ValidationErrorResponse"
        assert {refs[c] for c in ("400", "413", "415", "500", "503")} == {"ErrorResponse"}
    assert "HTTPValidationError" not in schemas  # FastAPI's default 422 body is not what the service sends
    assert set(schemas["FieldError"]["properties"]) == {"field", "message", "type", "input"}
    ready = document["paths"]["/readyz"]["get"]["responses"]
    assert set(ready) == {"200", "503"}
    assert "text/plain" in document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]


def test_metrics_expose_every_declared_metric_with_version_and_variant(serving_app: Any, serving_registry: Any) -> None:
    client = serving_app(challenger_weight=0.0)
    version = serving_registry.versions["good"]
    for row in serving_registry.request_rows(3):
        assert client.post("/predict", json=row).status_code == 200
    client.post("/predict", json={})

    text = client.get("/metrics").text
    values = samples(client)

    for name in METRIC_NAMES:
        assert f"# TYPE {name} " in text, name
    served = sum(v for (n, labels), v in values.items() if n == "model_predictions_total")
    assert served == 3
    assert {dict(labels)["model_version"] for (n, labels) in values if n == "model_predictions_total"} == {version}
    info_labels = (("model_name", serving_registry.model_name), ("model_version", version))
    assert values[("model_info", (*info_labels, ("runtime", "onnx"), ("variant", "champion")))] == 1
    assert values[("model_prediction_latency_seconds_count", (("variant", "champion"),))] == 3
    assert values[("model_batch_size_count", ())] >= 1
    assert values[("model_reloads_total", ())] == 1
    assert values[("model_request_errors_total", (("endpoint", "/predict"), ("reason", "validation")))] == 1


def test_two_app_instances_do_not_share_metrics(serving_app: Any, serving_registry: Any) -> None:
    first = serving_app(challenger_weight=0.0)
    second = serving_app(challenger_weight=0.0)
    first.post("/predict", json=serving_registry.request_rows(1)[0])

    assert sum(v for (n, _), v in samples(first).items() if n == "model_predictions_total") == 1
    assert not [n for (n, _) in samples(second) if n == "model_predictions_total"]


def test_access_log_is_structured_audit_without_payload_by_default(
    serving_app: Any, serving_registry: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = serving_app(challenger_weight=0.0)
    row = serving_registry.request_rows(1)[0]
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        client.post("/predict", json=row, headers={"X-Request-ID": "audit-1"})
        client.post("/predict", json={**row, "amount": -1})

    records = [json.loads(r.getMessage()) for r in caplog.records if r.name == ACCESS_LOGGER]
    ok, invalid = records
    assert ok["request_id"] == "audit-1"
    assert ok["model_version"] == serving_registry.versions["good"]
    assert ok["variant"] == "champion"
    assert ok["outcome"] == "ok"
    assert ok["latency_ms"] > 0
    assert invalid["outcome"] == "invalid_input"
    assert not any("payload" in r or "amount" in json.dumps(r) for r in records)


def test_access_log_includes_payload_only_when_enabled(
    serving_app: Any, serving_registry: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = serving_app(challenger_weight=0.0, log_payloads=True)
    row = serving_registry.request_rows(1)[0]
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        client.post("/predict", json=row)

    (record,) = [json.loads(r.getMessage()) for r in caplog.records if r.name == ACCESS_LOGGER]
    assert record["payload"]["amount"] == row["amount"]


def test_settings_read_environment_and_name_the_bad_variable() -> None:
    env = {
        "MLFLOW_TRACKING_URI": "http://mlflow:5000",
        "SERVING_CHALLENGER_WEIGHT": "0.25",
        "SERVING_MAX_BATCH_SIZE": "64",
        "SERVING_LOG_PAYLOADS": "true",
        "SERVING_FEAST_URL": "http://feast-feature-server.feast.svc.cluster.local:80",
        "SERVING_FEAST_FEATURE_VIEW": "card_features",
    }
    settings = ServingSettings.from_env(env)
    assert settings.tracking_uri == "http://mlflow:5000"
    assert settings.effective_registry_uri == "http://mlflow:5000"
    assert settings.challenger_weight == 0.25
    assert settings.max_batch_size == 64
    assert settings.log_payloads is True
    assert settings.feast_url == "http://feast-feature-server.feast.svc.cluster.local:80"
    assert settings.feast_feature_view == "card_features"

    with pytest.raises(ValueError, match=r"SERVING_CHALLENGER_WEIGHT='1.5': Input should be less than or equal to 1"):
        ServingSettings.from_env({"SERVING_CHALLENGER_WEIGHT": "1.5"})
    with pytest.raises(ValueError, match=r"SERVING_FEAST_URL and SERVING_FEAST_FEATURE_VIEW go together"):
        ServingSettings.from_env({"SERVING_FEAST_URL": "http://feast:80"})


def test_request_schema_is_generated_from_the_feature_contract(serving_app: Any) -> None:
    client = serving_app(challenger_weight=0.0)
    schema = client.get("/openapi.json").json()["components"]["schemas"]["PredictRequest"]

    assert set(FEATURE_NAMES) <= set(schema["properties"])
    assert schema["properties"]["merchant_risk_score"]["maximum"] == 1.0
    assert schema["properties"]["hour_of_day"]["minimum"] == 0
    assert schema["properties"]["card_id"]["maximum"] == 2**53 - 1
    assert set(FEATURE_NAMES) <= set(schema["required"])
