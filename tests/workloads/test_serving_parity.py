"""The ONNX runtime serves the same probabilities as the scikit-learn model it was exported from."""

from __future__ import annotations

from typing import Any

import pytest


def test_onnx_and_sklearn_runtimes_serve_the_same_probabilities(serving_app: Any, serving_registry: Any) -> None:
    rows = serving_registry.request_rows(200)
    served = {}
    for runtime in ("onnx", "sklearn"):
        client = serving_app(challenger_weight=0.0, runtime=runtime)
        predictions = client.post("/predict/batch", json={"instances": rows}).json()["predictions"]
        assert {p["runtime"] for p in predictions} == {runtime}
        served[runtime] = [p["fraud_probability"] for p in predictions]

    assert served["onnx"] == pytest.approx(served["sklearn"], abs=1e-4)
    assert len(set(served["onnx"])) > 10  # a real spread of scores, not a constant
