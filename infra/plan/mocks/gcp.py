"""Mocked outputs for pulumi-gcp resources and invokes: the shapes the GCP layer's apply chains read."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from infra.plan.mocks.common import MockContext, short_hash

PROJECT_NUMBER = "123456789012"
MOCK_CA_CERTIFICATE = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMOCK\n-----END CERTIFICATE-----\n").decode()


def _project(inputs: Mapping[str, Any], ctx: MockContext) -> str:
    return str(inputs.get("project") or ctx.gcp_project)


def _region(inputs: Mapping[str, Any], ctx: MockContext) -> str:
    return str(inputs.get("region") or inputs.get("location") or ctx.gcp_region)


def _private_ip(name: str, ctx: MockContext) -> str:
    digest = int(short_hash(ctx.stack, name), 16)
    return f"10.{200 + digest % 50}.{digest // 50 % 256}.{digest // 12800 % 250 + 2}"


def default_outputs(name: str, inputs: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    project = _project(inputs, ctx)
    return {"selfLink": f"https://www.googleapis.com/mock/v1/projects/{project}/{name}", "project": project}


def network(name: str, inputs: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    project, vpc = _project(inputs, ctx), inputs.get("name", name)
    return {
        "id": f"projects/{project}/global/networks/{vpc}",
        "name": vpc,
        "selfLink": f"https://www.googleapis.com/compute/v1/projects/{project}/global/networks/{vpc}",
    }


def subnetwork(name: str, inputs: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    project, region, subnet = _project(inputs, ctx), _region(inputs, ctx), inputs.get("name", name)
    return {"id": f"projects/{project}/regions/{region}/subnetworks/{subnet}", "name": subnet}


def cluster(name: str, inputs: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    project, location, cluster_name = _project(inputs, ctx), _region(inputs, ctx), inputs.get("name", name)
    return {
        "id": f"projects/{project}/locations/{location}/clusters/{cluster_name}",
        "name": cluster_name,
        "location": location,
        "endpoint": _private_ip(name, ctx) if inputs.get("privateClusterConfig", {}).get("enablePrivateEndpoint")
        else f"34.{int(short_hash(name), 16) % 200}.10.20",
        "masterAuth": {"clusterCaCertificate": MOCK_CA_CERTIFICATE},
        "selfLink": f"https://container.googleapis.com/v1/projects/{project}/locations/{location}/clusters/{cluster_name}",
    }  # fmt: skip


def node_pool(name: str, inputs: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    return {"name": inputs.get("name", name), "instanceGroupUrls": []}


def service_account(name: str, inputs: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    project = _project(inputs, ctx)
    email = f"{inputs['accountId']}@{project}.iam.gserviceaccount.com"
    return {
        "id": f"projects/{project}/serviceAccounts/{email}",
        "name": f"projects/{project}/serviceAccounts/{email}",
        "email": email,
        "member": f"serviceAccount:{email}",
        "uniqueId": str(int(short_hash(email, length=12), 16)),
    }


def service_identity(name: str, inputs: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    agents = {"sqladmin.googleapis.com": "gcp-sa-cloud-sql"}
    domain = agents.get(str(inputs.get("service")), "gcp-sa-mock")
    email = f"service-{PROJECT_NUMBER}@{domain}.iam.gserviceaccount.com"
    return {"email": email, "member": f"serviceAccount:{email}"}


def key_ring(name: str, inputs: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    return {"id": f"projects/{_project(inputs, ctx)}/locations/{inputs['location']}/keyRings/{inputs['name']}"}


def crypto_key(name: str, inputs: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    return {"id": f"{inputs['keyRing']}/cryptoKeys/{inputs['name']}", "primary": [{"name": "1", "state": "ENABLED"}]}


def bucket(name: str, inputs: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    bucket_name = inputs.get("name", name)
    return {"id": bucket_name, "name": bucket_name, "url": f"gs://{bucket_name}",
            "selfLink": f"https://www.googleapis.com/storage/v1/b/{bucket_name}"}  # fmt: skip


def sql_instance(name: str, inputs: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    project, instance = _project(inputs, ctx), inputs.get("name", name)
    private_ip = _private_ip(name, ctx)
    return {
        "name": instance,
        "connectionName": f"{project}:{_region(inputs, ctx)}:{instance}",
        "privateIpAddress": private_ip,
        "publicIpAddress": "",
        "ipAddresses": [{"ipAddress": private_ip, "type": "PRIVATE"}],
        "serverCaCerts": [{"cert": MOCK_CA_CERTIFICATE, "commonName": "mock-ca"}],
    }


def redis_instance(name: str, inputs: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    tls = inputs.get("transitEncryptionMode") == "SERVER_AUTHENTICATION"
    return {
        "host": _private_ip(name, ctx),
        "port": 6378 if tls else 6379,
        "authString": f"mock-auth-{short_hash(ctx.stack, name, length=24)}" if inputs.get("authEnabled") else "",
        "serverCaCerts": [{"cert": "-----BEGIN CERTIFICATE-----\nMOCK-REDIS-CA\n-----END CERTIFICATE-----\n"}],
        "currentLocationId": f"{_region(inputs, ctx)}-a",
    }


def hmac_key(name: str, inputs: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    """An HMAC key for GCS's S3-compatible API: a GOOG1-prefixed access id and a 40-character secret."""
    access_id = f"GOOG1E{short_hash(ctx.stack, name, 'id', length=54).upper()}"[:61]
    return {"accessId": access_id, "secret": short_hash(ctx.stack, name, "secret", length=40), "state": "ACTIVE"}


def repository(name: str, inputs: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    project, location, repo = _project(inputs, ctx), _region(inputs, ctx), inputs["repositoryId"]
    return {"id": f"projects/{project}/locations/{location}/repositories/{repo}", "name": repo}


def global_address(name: str, inputs: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    return {"name": inputs.get("name", name), "address": inputs.get("address", "10.255.0.0")}


def notification_channel(name: str, inputs: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    channel = int(short_hash(ctx.stack, name, length=12), 16)
    return {"name": f"projects/{_project(inputs, ctx)}/notificationChannels/{channel}"}


def budget(name: str, inputs: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    return {"name": f"billingAccounts/{inputs['billingAccount']}/budgets/{short_hash(ctx.stack, name)}"}


RESOURCE_OUTPUTS: dict[str, Any] = {
    "gcp:compute/network:Network": network,
    "gcp:compute/subnetwork:Subnetwork": subnetwork,
    "gcp:compute/globalAddress:GlobalAddress": global_address,
    "gcp:container/cluster:Cluster": cluster,
    "gcp:container/nodePool:NodePool": node_pool,
    "gcp:serviceaccount/account:Account": service_account,
    "gcp:projects/serviceIdentity:ServiceIdentity": service_identity,
    "gcp:kms/keyRing:KeyRing": key_ring,
    "gcp:kms/cryptoKey:CryptoKey": crypto_key,
    "gcp:storage/bucket:Bucket": bucket,
    "gcp:storage/hmacKey:HmacKey": hmac_key,
    "gcp:sql/databaseInstance:DatabaseInstance": sql_instance,
    "gcp:redis/instance:Instance": redis_instance,
    "gcp:artifactregistry/repository:Repository": repository,
    "gcp:monitoring/notificationChannel:NotificationChannel": notification_channel,
    "gcp:billing/budget:Budget": budget,
}


def get_project(args: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    project = str(args.get("projectId") or ctx.gcp_project)
    return {"id": f"projects/{project}", "projectId": project, "number": PROJECT_NUMBER, "name": project}


def get_storage_service_account(args: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    email = f"service-{PROJECT_NUMBER}@gs-project-accounts.iam.gserviceaccount.com"
    return {"id": email, "emailAddress": email, "member": f"serviceAccount:{email}",
            "project": args.get("project") or ctx.gcp_project}  # fmt: skip


def get_client_config(args: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    token = f"ya29.mock-{short_hash(ctx.stack, 'access-token', length=40)}"
    return {"accessToken": token, "project": ctx.gcp_project, "region": ctx.gcp_region, "id": ctx.gcp_project}


def get_docker_image(args: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    project, location, repo = str(args.get("project") or ctx.gcp_project), args["location"], args["repositoryId"]
    image_name = str(args["imageName"])
    digest = "sha256:" + short_hash(ctx.stack, repo, image_name, length=64)
    image = image_name.split(":", 1)[0].split("@", 1)[0]
    return {
        "name": f"projects/{project}/locations/{location}/repositories/{repo}/dockerImages/{image}@{digest}",
        "selfLink": f"{location}-docker.pkg.dev/{project}/{repo}/{image}@{digest}",
        "imageName": image_name,
        "location": location,
        "repositoryId": repo,
        "project": project,
        "tags": [image_name.split(":", 1)[1]] if ":" in image_name else [],
        "id": f"projects/{project}/locations/{location}/repositories/{repo}/dockerImages/{image}@{digest}",
    }


INVOKES: dict[str, Any] = {
    "gcp:organizations/getClientConfig:getClientConfig": get_client_config,
    "gcp:artifactregistry/getDockerImage:getDockerImage": get_docker_image,
    "gcp:organizations/getProject:getProject": get_project,
    "gcp:storage/getProjectServiceAccount:getProjectServiceAccount": get_storage_service_account,
}
