"""A/B split between @champion and @challenger: proportions, determinism, labelling of every prediction."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from mlops_workloads.serving.routing import choose_variant


def test_split_sends_the_configured_share_to_the_challenger() -> None:
    variants = [choose_variant(str(card_id), 0.2) for card_id in range(10_000)]

    share = variants.count("challenger") / len(variants)

    assert 0.18 <= share <= 0.22


@pytest.mark.parametrize(("weight", "expected"), [(0.0, {"champion"}), (1.0, {"challenger"})])
def test_extreme_weights_route_everything_one_way(weight: float, expected: set[str]) -> None:
    assert {choose_variant(str(i), weight) for i in range(1_000)} == expected


def test_invalid_weight_is_rejected_with_the_valid_range() -> None:
    with pytest.raises(ValueError, match=r"within \[0, 1\], got 1.5"):
        choose_variant("card-1", 1.5)


def test_split_is_identical_across_processes_and_hash_seeds() -> None:
    program = (
        "from mlops_workloads.serving.routing import choose_variant;"
        "print(''.join('c' if choose_variant(str(i), 0.3) == 'challenger' else '.' for i in range(500)))"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", program],
            env={"PYTHONHASHSEED": seed, "PATH": ""},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    here = "".join("c" if choose_variant(str(i), 0.3) == "challenger" else "." for i in range(500))

    assert runs == {here + "\n"}


def with_challenger(client: Any, wait_for: Any) -> Any:
    wait_for(lambda: "challenger" in client.get("/readyz").json()["models"], "the challenger to be loaded")
    return client


def test_each_prediction_is_served_and_labelled_by_its_cards_variant(
    serving_app: Any, serving_registry: Any, wait_for: Any
) -> None:
    client = with_challenger(serving_app(challenger_weight=0.5), wait_for)
    rows = serving_registry.request_rows(60)
    versions = {"champion": serving_registry.versions["good"], "challenger": serving_registry.versions["other"]}

    predictions = client.post("/predict/batch", json={"instances": rows}).json()["predictions"]
    single = client.post("/predict", json=rows[0]).json()
    again = client.post("/predict", json=rows[0]).json()

    assert {p["variant"] for p in predictions} == {"champion", "challenger"}
    for row, prediction in zip(rows, predictions, strict=True):
        assert prediction["variant"] == choose_variant(str(row["card_id"]), 0.5)
        assert prediction["model_version"] == versions[prediction["variant"]]
    assert (single["variant"], single["model_version"]) == (again["variant"], again["model_version"])
    ready = client.get("/readyz").json()["models"]
    assert {variant: m["model_version"] for variant, m in ready.items()} == versions


def test_split_by_request_id_uses_the_request_header(serving_app: Any, serving_registry: Any, wait_for: Any) -> None:
    client = with_challenger(serving_app(challenger_weight=0.5, split_key="request"), wait_for)
    row = serving_registry.request_rows(1)[0]

    for request_id in ("req-1", "req-2", "req-3", "req-4", "req-5", "req-6"):
        body = client.post("/predict", json=row, headers={"X-Request-ID": request_id}).json()
        assert body["variant"] == choose_variant(request_id, 0.5)


def test_the_service_serves_and_ab_tests_the_models_own_aliases(
    serving_app: Any, serving_registry: Any, wait_for: Any
) -> None:
    """SERVING_CHAMPION_ALIAS=production, SERVING_CHALLENGER_ALIAS=candidate: those versions serve, under the
    champion/challenger variant labels; the default-named aliases (pointing elsewhere) are ignored."""
    name, versions = serving_registry.fresh_name("good", "other")
    client = serving_registry.client()
    client.set_registered_model_alias(name, "production", versions["other"])
    client.set_registered_model_alias(name, "candidate", versions["good"])
    client.set_registered_model_alias(name, "champion", versions["good"])  # decoys: the opposite assignment
    client.set_registered_model_alias(name, "challenger", versions["other"])
    served = {"champion": versions["other"], "challenger": versions["good"]}

    app = with_challenger(
        serving_app(model_name=name, champion_alias="production", challenger_alias="candidate", challenger_weight=0.5),
        wait_for,
    )
    rows = serving_registry.request_rows(40)
    predictions = app.post("/predict/batch", json={"instances": rows}).json()["predictions"]

    assert {p["variant"] for p in predictions} == {"champion", "challenger"}
    for row, prediction in zip(rows, predictions, strict=True):
        assert prediction["variant"] == choose_variant(str(row["card_id"]), 0.5)
        assert prediction["model_version"] == served[prediction["variant"]]
    ready = app.get("/readyz").json()["models"]
    assert {v: (m["alias"], m["model_version"]) for v, m in ready.items()} == {
        "champion": ("production", served["champion"]),
        "challenger": ("candidate", served["challenger"]),
    }


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SERVING_CHAMPION_ALIAS": "live", "SERVING_CHALLENGER_ALIAS": "live"}, "aliases are both 'live'"),
        ({"SERVING_CHALLENGER_ALIAS": "champion"}, "aliases are both 'champion'"),
        ({"SERVING_CHAMPION_ALIAS": "previous-champion"}, "'previous-champion' is the alias rollback keeps"),
    ],
)
def test_aliases_the_service_cannot_tell_apart_are_refused_naming_the_variables(
    env: dict[str, str], message: str
) -> None:
    from mlops_workloads.serving import ServingSettings

    with pytest.raises(ValueError, match="SERVING_CHAMPION_ALIAS and SERVING_CHALLENGER_ALIAS: .*" + message):
        ServingSettings.from_env(env)
