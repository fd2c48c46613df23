"""Models are configuration: each entry of `mlops:models` gets its identities, serving and jobs in its team's
namespace, with exactly its bucket prefixes and its own release policy; a model is added and removed by a stack config
change alone (no code), and nothing else in the plan changes with it."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest

from components.contract import ObjectGrant
from components.k8s.common import placement_fields
from components.k8s.models import ModelNames
from components.spec import ModelSpec, PlatformSpec, ServingAliasesSpec
from components.versions import FEAST_FEATURE_SERVER_CHART
from infra.plan.engine import Plan, RecordedResource, run_program, stack_program
from infra.render.helm import HELM_RELEASE
from infra.render.kustomize import DIRECTORY
from infra.render.renderer import render_plan
from tests.infra.conftest import STACKS, stack_config, stack_spec
from tests.infra.fake_cloud import FakeCloud, fake_cloud_plan, flavour_of, kube_objects

IRSA = "eks.amazonaws.com/role-arn"
# A third model, a second instance of the regression pipeline with its own parameters, gates, schedules and GPU
# training: added to ml-team by configuration alone.
NEW_MODEL = {
    "name": "delivery-time-eu",
    "team": "ml-team",
    "training": {"pipeline": "pipelines.delivery_time", "parameters": {"nEstimators": 50}, "schedule": "0 5 * * 2",
                 "accelerator": "gpu"},
    "qualityGates": {"min": {"r2": 0.8}, "max": {"mae": 4.0}, "championTolerance": 0.02},
    "promotion": "manual",
    "serving": {"minReplicas": 2, "maxReplicas": 5, "challengerWeight": 0.1, "cpu": "250m", "memory": "512Mi",
                "memoryLimit": "1Gi"},
    "batch": {"schedule": "0 1 * * *"},
    "monitoring": {"schedule": "30 * * * *", "driftShare": 0.4, "missingShare": 0.1, "retrainingCooldownHours": 8},
}  # fmt: skip


def _flag(args: list[str], name: str) -> str:
    assert args.count(name) == 1, f"{name} appears {args.count(name)} times in {args}"
    return args[args.index(name) + 1]


def _cron(plan: Plan, namespace: str, name: str) -> dict[str, Any]:
    (cron,) = [c for c in kube_objects(plan, "CronJob", namespace) if c["metadata"]["name"] == name]  # type: ignore[index]
    return cron


def _pod(cron: dict[str, Any]) -> dict[str, Any]:
    return cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def _gates(model: ModelSpec) -> list[str]:
    gates = model.quality_gates
    return sorted([f"{m}>={v}" for m, v in gates.min.items()] + [f"{m}<={v}" for m, v in gates.max.items()])


def _model_entries(stack: str) -> list[dict[str, Any]]:
    config, _ = stack_config(stack)
    return json.loads(config.get("mlops:models", "[]"))  # type: ignore[no-any-return]


@pytest.mark.parametrize("stack", STACKS)
def test_every_model_gets_its_jobs_with_its_own_release_policy_and_paths(stack: str) -> None:
    plan, _ = fake_cloud_plan(stack)
    spec = stack_spec(stack)
    assert spec.models and spec.models[0].name == "fraud-detection"  # the first reference model on every stack
    for model in spec.models:
        names = ModelNames.of(model)
        job = _pod(_cron(plan, model.team, names.monitoring))
        (container,) = job["containers"]
        args = container["args"]
        assert container["command"] == ["python", "-m", "mlops_workloads.monitoring"]
        assert _flag(args, "--model-name") == model.name
        assert sorted(args[i + 1] for i, a in enumerate(args) if a == "--gate") == _gates(model)
        assert _flag(args, "--champion-tolerance") == str(model.quality_gates.champion_tolerance)
        assert _flag(args, "--promotion") == model.promotion
        assert _flag(args, "--pipeline-module") == model.training.pipeline
        assert json.loads(_flag(args, "--pipeline-parameters")) == model.training.parameters
        assert _flag(args, "--drift-share") == str(model.monitoring.drift_share)
        assert _flag(args, "--cooldown-hours") == str(model.monitoring.retraining_cooldown_hours)
        # Every path a job names is under the model's own prefix of the bucket.
        source, current = _flag(args, "--train-source"), _flag(args, "--current")
        assert source.endswith(f"/{model.name}/inputs") and current.endswith(f"/{model.name}/predictions")
        assert _flag(args, "--report-dir").endswith(f"/{model.name}/reports")
        batch = _pod(_cron(plan, model.team, names.batch))["containers"][0]["args"]
        assert _flag(batch, "--data-root") == source and _flag(batch, "--output-root") == current
        assert job["serviceAccountName"] == names.monitoring


def _told_aliases(plan: Plan, model: ModelSpec) -> dict[str, tuple[str, ...]]:
    """The registry aliases each of the model's workloads is told: serving's (champion, challenger) variables, the
    `--alias` of the jobs reading the released version, the release policy's `--champion-alias/--challenger-alias`."""
    names = ModelNames.of(model)
    (deployment,) = [
        d for d in kube_objects(plan, "Deployment", names.namespace) if d["metadata"]["name"] == names.serving
    ]  # type: ignore[index]
    env = {e["name"]: e["value"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}  # type: ignore[index]
    told = {"serving": (env["SERVING_CHAMPION_ALIAS"], env["SERVING_CHALLENGER_ALIAS"])}
    release = ("--champion-alias", "--challenger-alias")
    jobs = {"batch": (names.batch, ("--alias",)), "monitoring": (names.monitoring, ("--alias", *release))}
    if model.training.schedule is not None:
        jobs["training"] = (names.training, release)
    for kind, (name, flags) in jobs.items():
        args = _pod(_cron(plan, names.namespace, name))["containers"][0]["args"]
        told[kind] = tuple(_flag(args, flag) for flag in flags)
    return told


def _expected_aliases(model: ModelSpec) -> dict[str, tuple[str, ...]]:
    champion, challenger = model.serving.aliases.champion, model.serving.aliases.challenger
    expected = {"serving": (champion, challenger), "batch": (champion,), "monitoring": (champion, champion, challenger)}
    return expected | ({"training": (champion, challenger)} if model.training.schedule is not None else {})


@pytest.mark.parametrize("stack", STACKS)
def test_every_workload_of_a_model_names_the_models_own_registry_aliases(stack: str) -> None:
    """Serving, batch scoring, monitoring (and its retraining) and the scheduled training run all name the aliases of
    the model's serving.aliases; renaming them in the stack renames them everywhere at once."""
    plan, _ = fake_cloud_plan(stack)
    spec = stack_spec(stack)
    for model in spec.models:
        assert _told_aliases(plan, model) == _expected_aliases(model), model.name

    document = _model_entries(stack)
    for i, entry in enumerate(document):
        entry.setdefault("serving", {})["aliases"] = {"champion": f"production-{i}", "challenger": f"candidate-{i}"}
    renamed_plan, _ = fake_cloud_plan(stack, overrides=(("mlops:models", json.dumps(document)),))
    for i, model in enumerate(spec.models):
        aliases = ServingAliasesSpec(champion=f"production-{i}", challenger=f"candidate-{i}")
        renamed = model.model_copy(update={"serving": model.serving.model_copy(update={"aliases": aliases})})
        told = _told_aliases(renamed_plan, renamed)
        assert told == _expected_aliases(renamed), model.name
        assert set(told) == set(_told_aliases(plan, model))  # the same workloads, every one renamed


def test_two_models_on_one_stack_share_nothing_but_the_namespace() -> None:
    plan, granted = fake_cloud_plan("dev")
    models = stack_spec("dev").models
    assert len(models) == 2 and models[0].training.pipeline != models[1].training.pipeline
    by_account = {r.service_account: r for r in granted}
    for model in models:
        names = ModelNames.of(model)
        batch, monitoring = by_account[names.batch], by_account[names.monitoring]
        assert batch.grants() == (
            ObjectGrant("data", "read", f"{model.name}/inputs/"),
            ObjectGrant("data", "readwrite", f"{model.name}/predictions/"),
        )
        assert monitoring.grants() == (
            ObjectGrant("data", "read", f"{model.name}/"),
            ObjectGrant("monitoring", "readwrite", f"{model.name}/"),
        )
        assert names.serving not in by_account  # serving reads artifacts through the MLflow proxy
    deployments = {d["metadata"]["name"]: d for d in kube_objects(plan, "Deployment", "ml-team")}
    envs = {
        name: {e["name"]: e["value"] for e in d["spec"]["template"]["spec"]["containers"][0]["env"]}  # type: ignore[index]
        for name, d in deployments.items()
    }
    assert {env["SERVING_MODEL_NAME"] for env in envs.values()} == {m.name for m in models}


@pytest.mark.parametrize("stack", ["dev", "gcp-dev"])
def test_a_gpu_model_hands_its_pipeline_the_gpu_pools_placement_and_a_cpu_model_none(stack: str) -> None:
    document = _model_entries(stack)
    document[1]["training"]["accelerator"] = "gpu"
    plan, _ = fake_cloud_plan(stack, overrides=(("mlops:models", json.dumps(document)),))
    spec = stack_spec(stack)
    gpu = placement_fields(FakeCloud(flavour_of(stack), spec).placements["gpu"])
    assert gpu["tolerations"] and gpu["nodeSelector"]
    gpu_model, cpu_model = ModelNames.of(spec.models[1]), ModelNames.of(spec.models[0])
    for cron in (gpu_model.monitoring, gpu_model.training):
        args = _pod(_cron(plan, gpu_model.namespace, cron))["containers"][0]["args"]
        assert _flag(args, "--accelerator") == "gpu"
        assert json.loads(_flag(args, "--gpu-placement")) == gpu
    args = _pod(_cron(plan, cpu_model.namespace, cpu_model.monitoring))["containers"][0]["args"]
    assert _flag(args, "--accelerator") == "cpu" and "--gpu-placement" not in args


# --- onboarding by configuration alone -------------------------------------------------------------------------------


def _plan_with_models(stack: str, models: list[dict[str, Any]]) -> Plan:
    config, secret_keys = stack_config(stack)
    config = {**config, "mlops:models": json.dumps(models)}
    return run_program(stack_program(), project="mlops", stack=stack, config=config, secret_keys=secret_keys)


def _kube(resource: RecordedResource) -> tuple[str, str, str]:
    kind = resource.inputs.get("kind") or resource.type.rsplit(":", 1)[-1]
    meta = resource.inputs.get("metadata") or {}
    return kind, meta.get("namespace", ""), meta.get("name", "")


def _by_urn(plan: Plan) -> dict[str, RecordedResource]:
    return {r.urn: r for r in plan.resources}


def _irsa_policy(plan: Plan, role_arn: str) -> dict[str, Any]:
    (role,) = [r for r in plan.of_type("aws:iam/role:Role") if r.outputs.get("arn") == role_arn]
    (policy,) = [p for p in plan.of_type("aws:iam/rolePolicy:RolePolicy") if p.parent == role.parent
                 and p.name == role.name]  # fmt: skip
    return json.loads(policy.inputs["policy"])  # type: ignore[no-any-return]


def _object_resources(policy: dict[str, Any]) -> dict[str, set[str]]:
    """Object ARNs by what the policy lets the role do there: read only, or write too."""
    found: dict[str, set[str]] = {"read": set(), "write": set()}
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if "s3:GetObject" in actions:
            found["write" if "s3:PutObject" in actions else "read"].add(statement["Resource"])
    return found


def _accounts(plan: Plan) -> dict[tuple[str, str], dict[str, Any]]:
    return {(a["metadata"]["namespace"], a["metadata"]["name"]): a for a in kube_objects(plan, "ServiceAccount")}  # type: ignore[index]


def test_a_model_is_onboarded_and_removed_by_configuration_alone(stack_plan: Any) -> None:
    base = stack_plan("dev")
    spec: PlatformSpec = stack_spec("dev")
    added = _plan_with_models("dev", [*_model_entries("dev"), NEW_MODEL])
    before, after = _by_urn(base), _by_urn(added)
    new = [after[urn] for urn in sorted(set(after) - set(before))]
    assert set(before) <= set(after)  # adding a model removes nothing

    # The complete set of objects the model gets, all in its team's namespace.
    names = ModelNames("delivery-time-eu", "ml-team")
    kube = sorted(_kube(r) for r in new if r.type.startswith("kubernetes:"))
    assert kube == sorted(
        [(kind, "ml-team", names.serving) for kind in ("Deployment", "Service", "HorizontalPodAutoscaler",
                                                      "PodDisruptionBudget", "ServiceMonitor", "ServiceAccount")]
        + [("CronJob", "ml-team", n) for n in (names.batch, names.monitoring, names.training)]
        + [("ServiceAccount", "ml-team", n) for n in (names.batch, names.monitoring, names.training)]
    )  # fmt: skip
    cloud = sorted(r.type for r in new if r.type.startswith("aws:"))
    assert cloud == ["aws:iam/role:Role"] * 3 + ["aws:iam/rolePolicy:RolePolicy"] * 3  # batch, monitoring, training

    # Relations: the ServiceMonitor selects the Service, the Service and PDB the Deployment's pods, the HPA targets it.
    objects = {_kube(r): r.inputs for r in new if r.type.startswith("kubernetes:")}
    deployment = objects[("Deployment", "ml-team", names.serving)]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = objects[("Service", "ml-team", names.serving)]
    monitor = objects[("ServiceMonitor", "ml-team", names.serving)]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert objects[("PodDisruptionBudget", "ml-team", names.serving)]["spec"]["selector"]["matchLabels"].items() <= (
        pod_labels.items()
    )
    port = {p["name"] for p in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]}
    assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]} & port
    target = objects[("HorizontalPodAutoscaler", "ml-team", names.serving)]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert (objects[("HorizontalPodAutoscaler", "ml-team", names.serving)]["spec"]["maxReplicas"]) == 5

    # Each CronJob's service account is bound to an identity granted exactly the model's prefixes, nothing else.
    bucket = added.outputs["buckets"]["data"]
    monitoring_bucket = added.outputs["buckets"]["monitoring"]
    expected = {
        names.batch: {"read": {f"arn:aws:s3:::{bucket}/delivery-time-eu/inputs/*"},
                      "write": {f"arn:aws:s3:::{bucket}/delivery-time-eu/predictions/*"}},
        names.monitoring: {"read": {f"arn:aws:s3:::{bucket}/delivery-time-eu/*"},
                           "write": {f"arn:aws:s3:::{monitoring_bucket}/delivery-time-eu/*"}},
        names.training: {"read": {f"arn:aws:s3:::{bucket}/delivery-time-eu/inputs/*"}, "write": set()},
    }  # fmt: skip
    accounts = _accounts(added)
    for cron_name, grants in expected.items():
        account = _pod(objects[("CronJob", "ml-team", cron_name)])["serviceAccountName"]
        role_arn = accounts[("ml-team", account)]["metadata"]["annotations"][IRSA]
        assert _object_resources(_irsa_policy(added, role_arn)) == grants, cron_name
    assert accounts[("ml-team", names.serving)]["metadata"]["annotations"] == {}
    assert objects[("Deployment", "ml-team", names.serving)]["spec"]["template"]["spec"]["serviceAccountName"] == (
        names.serving
    )

    # Nothing else changes, but the model's own alert rules and drift threshold line.
    changed = sorted(_kube(after[urn]) for urn in before if before[urn].inputs != after[urn].inputs)
    assert changed == [
        ("ConfigMap", "monitoring", "dashboard-model-drift"),
        ("PrometheusRule", "monitoring", "mlops-alerts"),
    ], changed
    groups = next(r for r in added.resources if _kube(r) == changed[1]).inputs["spec"]["groups"]
    (own,) = [g for g in groups if g["name"] == "model-delivery-time-eu"]
    assert {rule["labels"]["model"] for rule in own["rules"]} == {"delivery-time-eu"}
    assert any(rule["expr"].endswith("> 0.4") for rule in own["rules"])  # its own monitoring.driftShare
    assert any(f'deployment="{names.serving}"' in rule["expr"] for rule in own["rules"])

    # Removing the entry removes every one of them: the plan is the base plan again.
    removed = _plan_with_models("dev", _model_entries("dev"))
    assert {r.urn: r.inputs for r in removed.resources} == {r.urn: r.inputs for r in base.resources}
    assert len(spec.models) == 2


# --- online features: serving calls the feature server the Feast release renders -------------------------------------


def _rendered_feast_server(plan: Plan, stack: str) -> tuple[str, str, set[int]]:
    """(Service name, namespace, Service ports) of what the feast-feature-server release renders, keeping only the
    ports that reach the port the rendered server container listens on (`feast serve -p`)."""
    release = next(r for r in plan.of_type(HELM_RELEASE) if r.inputs["chart"] == FEAST_FEATURE_SERVER_CHART.name)
    alone = [r for r in plan.resources if r.type not in (HELM_RELEASE, DIRECTORY) or r is release]
    rendering = render_plan(Plan(plan.project, plan.stack, alone), stack_spec(stack).cluster.kubernetes_version)
    (service,) = [o for o in rendering.objects if o.kind == "Service"]
    selector = service.manifest["spec"]["selector"]
    (server,) = [
        o
        for o in rendering.objects
        if o.kind == "Deployment" and selector.items() <= o.manifest["spec"]["template"]["metadata"]["labels"].items()
    ]
    (container,) = server.manifest["spec"]["template"]["spec"]["containers"]
    argv = [*(container.get("command") or []), *(container.get("args") or [])]
    listens = int(argv[argv.index("-p") + 1])
    named = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    ports = {
        p["port"] for p in service.manifest["spec"]["ports"] if named.get(p["targetPort"], p["targetPort"]) == listens
    }
    return service.name, service.namespace, ports


@pytest.mark.parametrize("stack", STACKS)
def test_a_model_with_a_feature_source_calls_the_rendered_feast_service_for_its_view(stack: str) -> None:
    plan, _ = fake_cloud_plan(stack)
    spec = stack_spec(stack)
    name, namespace, ports = _rendered_feast_server(plan, stack)
    assert ports, "the rendered Feast Service reaches no port the feature server listens on"
    assert any(model.features for model in spec.models)
    for model in spec.models:
        names = ModelNames.of(model)
        (deployment,) = [
            d for d in kube_objects(plan, "Deployment", names.namespace) if d["metadata"]["name"] == names.serving
        ]  # type: ignore[index]
        env = {e["name"]: e["value"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}  # type: ignore[index]
        if model.features is None:
            assert not {"SERVING_FEAST_URL", "SERVING_FEAST_FEATURE_VIEW"} & env.keys(), model.name
            continue
        url = urllib.parse.urlsplit(env["SERVING_FEAST_URL"])
        assert url.scheme == "http" and url.path in ("", "/")
        assert (url.hostname, url.port) in {(f"{name}.{namespace}.svc.cluster.local", port) for port in ports}
        assert env["SERVING_FEAST_FEATURE_VIEW"] == model.features.feature_view
