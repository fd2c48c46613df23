"""A model's service accounts and their cloud identities: each workload gets exactly the bucket prefixes it uses.

- serving: none (it loads artifacts through MLflow's artifact proxy);
- batch: reads data `<m>/inputs/`, writes data `<m>/predictions/`;
- monitoring: reads data `<m>/`, reads and writes monitoring `<m>/`;
- training (the submitter): reads data `<m>/inputs/`, the source it names to the pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import pulumi
import pulumi_kubernetes as k8s

from components.contract import CloudPlatform, IdentityRequest
from components.k8s.common import service_account
from components.k8s.models.names import MODEL_LABEL, ModelNames
from components.spec import PlatformSpec

Workload = Literal["serving", "batch", "monitoring", "training"]


def identity_requests(names: ModelNames) -> dict[Workload, IdentityRequest | None]:
    ns = names.namespace
    return {
        "serving": None,
        "batch": IdentityRequest(
            names.batch,
            ns,
            names.batch,
            object_prefixes={"data": {names.inputs_prefix: "read", names.predictions_prefix: "readwrite"}},
        ),
        "monitoring": IdentityRequest(
            names.monitoring,
            ns,
            names.monitoring,
            object_prefixes={"data": {names.model_prefix: "read"}, "monitoring": {names.model_prefix: "readwrite"}},
        ),
        "training": IdentityRequest(
            names.training, ns, names.training, object_prefixes={"data": {names.inputs_prefix: "read"}}
        ),
    }


def model_service_accounts(
    spec: PlatformSpec,
    cloud: CloudPlatform,
    names: ModelNames,
    workloads: tuple[Workload, ...],
    parent: pulumi.Resource,
    opts: pulumi.ResourceOptions,
) -> Mapping[Workload, k8s.core.v1.ServiceAccount]:
    """One service account per workload the model runs, annotated with its cloud identity when it has one."""
    accounts = {}
    for workload, request in identity_requests(names).items():
        if workload not in workloads:
            continue
        annotations: Mapping[str, pulumi.Input[str]] = {}
        if request is not None:
            identity = cloud.grant_workload_identity(request, pulumi.ResourceOptions(parent=parent))
            annotations = identity.service_account_annotations
        account = request.service_account if request else names.serving
        accounts[workload] = service_account(
            account, names.namespace, annotations, spec, opts, extra_labels={MODEL_LABEL: names.model}
        )
    return accounts
