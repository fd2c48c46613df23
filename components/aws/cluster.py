"""The EKS control plane: raw `aws.eks` resources (never the `pulumi_eks` package, which hides its children).

Private endpoint always on; the public endpoint exists only for the listed admin CIDRs. Control-plane logs go to a
KMS-encrypted log group with the spec's retention, Kubernetes secrets are envelope-encrypted with the platform key.
Authentication is the EKS access-entry API only (no aws-auth ConfigMap): each principal in `cluster.access` maps to
the Kubernetes group of its platform role, which the in-cluster RBAC binds; platform admins also get the
AmazonEKSClusterAdminPolicy. The identity running Pulumi keeps bootstrap admin rights so it can manage the cluster.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws import catalog
from components.aws.common import AccountContext, assume_role_policy, child, policy_json, protected
from components.aws.identity import OidcIssuer, irsa_role
from components.aws.kms import KEY_USE_ACTIONS
from components.aws.nodegroups import PLACEMENT_SELECTORS
from components.spec import PLATFORM_ROLES, PlatformRole, PlatformSpec
from components.versions import EKS_ADDON_VERSIONS

CONTROL_PLANE_LOGS = ["api", "audit", "authenticator"]
EARLY_ADDONS = ("vpc-cni", "kube-proxy")  # nodes need them to become Ready
LATE_ADDONS = ("coredns", "aws-ebs-csi-driver")  # their pods need nodes to schedule on


def rbac_group(role: PlatformRole) -> str:
    """The Kubernetes group a platform role's principals belong to (bound by the in-cluster RBAC)."""
    return f"mlops:{role}"


@dataclass(frozen=True)
class ClusterArgs:
    spec: PlatformSpec
    cluster_name: str
    account: AccountContext
    key_arn: pulumi.Output[str]
    private_subnet_ids: list[pulumi.Output[str]]


class EksCluster(pulumi.ComponentResource):
    cluster: aws.eks.Cluster
    issuer: OidcIssuer
    security_group_id: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    addon_roles: dict[str, aws.iam.Role]

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:aws:EksCluster", name, None, opts)
        self._prefix = name
        spec, cluster_name = args.spec, args.cluster_name
        role, prerequisites = self._control_plane_role(name, args)
        public_cidrs = [str(c) for c in spec.cluster.public_access_cidrs]
        self.cluster = aws.eks.Cluster(
            f"{name}-cluster",
            name=cluster_name,
            version=spec.cluster.kubernetes_version,
            role_arn=role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=args.private_subnet_ids,
                endpoint_private_access=True,
                endpoint_public_access=bool(public_cidrs),
                public_access_cidrs=public_cidrs or None,
            ),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API", bootstrap_cluster_creator_admin_permissions=True
            ),
            enabled_cluster_log_types=CONTROL_PLANE_LOGS,
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=args.key_arn), resources=["secrets"]
            ),
            bootstrap_self_managed_addons=False,  # the managed add-ons below replace them
            deletion_protection=spec.deletion_protection,
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type="STANDARD"),
            tags={"Name": cluster_name},
            opts=child(
                self,
                protected(spec.deletion_protection),
                pulumi.ResourceOptions(depends_on=prerequisites),
            ),
        )
        self.security_group_id = self.cluster.vpc_config.apply(lambda c: str(c.cluster_security_group_id))
        issuer_url = self.cluster.identities.apply(_issuer_url)
        oidc = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc",
            url=issuer_url,
            client_id_lists=["sts.amazonaws.com"],
            thumbprint_lists=[catalog.EKS_OIDC_ROOT_CA_THUMBPRINT],
            tags={"Name": f"{cluster_name}-irsa"},
            opts=child(self),
        )
        self.issuer = OidcIssuer(provider_arn=oidc.arn, host=issuer_url.apply(lambda u: u.removeprefix("https://")))
        self._access_entries(name, args)
        self.addon_roles = self._addon_roles(name, args)
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(self.cluster.endpoint, self.cluster.certificate_authority.data).apply(
                lambda values: kubeconfig(cluster_name, args.account.region, values[0], values[1])
            )
        )
        self.register_outputs({"name": self.cluster.name, "endpoint": self.cluster.endpoint})

    def _control_plane_role(self, name: str, args: ClusterArgs) -> tuple[aws.iam.Role, list[pulumi.Resource]]:
        """The cluster's IAM role, with what must exist before the cluster: the role's policies and the log group."""
        spec, cluster_name = args.spec, args.cluster_name
        role = aws.iam.Role(
            f"{name}-control-plane",
            name=f"{cluster_name}-control-plane"[:64],
            assume_role_policy=assume_role_policy("eks.amazonaws.com"),
            tags={"Name": f"{cluster_name}-control-plane"},
            opts=child(self),
        )
        policy = aws.iam.RolePolicyAttachment(
            f"{name}-control-plane",
            role=role.name,
            policy_arn=catalog.MANAGED_POLICIES["eks-cluster"],
            opts=child(self),
        )
        # Envelope encryption: EKS uses the key through the cluster role.
        key_access = aws.iam.RolePolicy(
            f"{name}-secrets-key",
            role=role.id,
            policy=args.key_arn.apply(
                lambda arn: policy_json(
                    [
                        {
                            "Sid": "SecretsEnvelopeEncryption",
                            "Effect": "Allow",
                            "Resource": arn,
                            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"],
                        }
                    ]
                )
            ),
            opts=child(self),
        )
        # Must exist before the cluster, or EKS creates it unencrypted with infinite retention.
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane",
            name=f"/aws/eks/{cluster_name}/cluster",
            retention_in_days=spec.cluster.log_retention_days,
            kms_key_id=args.key_arn,
            tags={"Name": cluster_name},
            # Audit logs are data: prod keeps them through a destroy. The cluster depends on the group, so a destroy
            # deletes the cluster (and its log writer) first and EKS cannot recreate the group behind Pulumi's back.
            opts=child(self, protected(spec.deletion_protection)),
        )
        return role, [policy, key_access, log_group]

    def _access_entries(self, name: str, args: ClusterArgs) -> None:
        for entry in args.spec.cluster.access:
            principal_name = entry.principal.rsplit("/", 1)[-1]
            access = aws.eks.AccessEntry(
                f"{name}-access-{principal_name}",
                cluster_name=self.cluster.name,
                principal_arn=entry.principal,
                type="STANDARD",
                kubernetes_groups=[rbac_group(entry.role)],
                tags={"PlatformRole": entry.role},
                opts=child(self),
            )
            if entry.role == "platform-admins":
                aws.eks.AccessPolicyAssociation(
                    f"{name}-access-{principal_name}-admin",
                    cluster_name=self.cluster.name,
                    principal_arn=access.principal_arn,
                    policy_arn=catalog.EKS_CLUSTER_ADMIN_POLICY,
                    access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                    opts=child(self),
                )

    def _addon_roles(self, name: str, args: ClusterArgs) -> dict[str, aws.iam.Role]:
        """The VPC CNI and the EBS CSI driver get their own IRSA roles instead of node-role permissions."""
        cluster_name = args.cluster_name
        cni = irsa_role(
            f"{name}-vpc-cni", f"{cluster_name}-vpc-cni", self.issuer, "kube-system", "aws-node", child(self)
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-vpc-cni", role=cni.name, policy_arn=catalog.MANAGED_POLICIES["vpc-cni"], opts=child(self)
        )
        ebs = irsa_role(
            f"{name}-ebs-csi",
            f"{cluster_name}-ebs-csi",
            self.issuer,
            "kube-system",
            "ebs-csi-controller-sa",
            child(self),
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-ebs-csi", role=ebs.name, policy_arn=catalog.MANAGED_POLICIES["ebs-csi"], opts=child(self)
        )
        # Volumes are encrypted with the platform key: the driver creates grants for EC2, nothing else.
        aws.iam.RolePolicy(
            f"{name}-ebs-csi-key",
            role=ebs.id,
            policy=args.key_arn.apply(
                lambda arn: policy_json(
                    [
                        {"Sid": "EncryptVolumes", "Effect": "Allow", "Action": KEY_USE_ACTIONS, "Resource": arn},
                        {
                            "Sid": "GrantsForEc2",
                            "Effect": "Allow",
                            "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
                            "Resource": arn,
                            "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
                        },
                    ]
                )
            ),
            opts=child(self),
        )
        return {"vpc-cni": cni, "aws-ebs-csi-driver": ebs}

    def addons(self, names: tuple[str, ...], spec: PlatformSpec, opts: pulumi.ResourceOptions) -> list[aws.eks.Addon]:
        """Managed add-ons at the versions pinned for the cluster's Kubernetes minor."""
        pinned = EKS_ADDON_VERSIONS[spec.cluster.kubernetes_version]
        created = []
        for addon in names:
            role = self.addon_roles.get(addon)
            created.append(
                aws.eks.Addon(
                    f"{self._prefix}-{addon}",
                    cluster_name=self.cluster.name,
                    addon_name=addon,
                    addon_version=pinned[addon],
                    service_account_role_arn=role.arn if role is not None else None,
                    resolve_conflicts_on_create="OVERWRITE",
                    resolve_conflicts_on_update="OVERWRITE",
                    configuration_values=addon_configuration(addon),
                    opts=pulumi.ResourceOptions.merge(child(self), opts),
                )
            )
        return created


def addon_configuration(addon: str) -> str | None:
    """CoreDNS and the EBS CSI controller run on the on-demand system pool, never on reclaimable spot nodes; the VPC
    CNI enforces NetworkPolicies (off by default: aws/amazon-vpc-cni-k8s v1.23.0 charts/aws-vpc-cni/values.yaml line
    126 `enableNetworkPolicy: "false"`, templates/daemonset.yaml line 151 `--enable-network-policy`); without it every
    NetworkPolicy of the platform would be accepted and ignored."""
    system = dict(PLACEMENT_SELECTORS["system"])
    if addon == "vpc-cni":
        return json.dumps({"enableNetworkPolicy": "true"}, sort_keys=True)
    if addon == "coredns":
        return json.dumps({"nodeSelector": system}, sort_keys=True)
    if addon == "aws-ebs-csi-driver":
        return json.dumps({"controller": {"nodeSelector": system}}, sort_keys=True)
    return None


def kubeconfig(cluster_name: str, region: str, endpoint: str, ca_data: str) -> str:
    """A kubeconfig that authenticates with `aws eks get-token` (short-lived tokens, no static credentials)."""
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region, "--output", "json"],
            "interactiveMode": "Never",
        }
    }
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}
            ],
            "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
            "current-context": cluster_name,
            "users": [{"name": cluster_name, "user": user}],
        },
        indent=2,
    )


def _issuer_url(identities: Sequence[aws.eks.outputs.ClusterIdentity] | None) -> str:
    oidcs = identities[0].oidcs if identities else None
    if not oidcs:
        raise ValueError("the EKS cluster reported no OIDC issuer; IRSA needs it")
    return str(oidcs[0].issuer)


def role_groups() -> dict[PlatformRole, str]:
    return {role: rbac_group(role) for role in PLATFORM_ROLES}
