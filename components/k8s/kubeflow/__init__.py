"""Kubeflow Pipelines on the platform.

- `overlay/`: the kustomize overlay Pulumi builds (upstream 2.17.0 without its in-cluster MySQL and SeaweedFS, every
  project change applied at build time);
- `pipelines.py`: the component: cloud identities, the deploy-time objects the overlay reads by name, the Directory;
- `database.py`: the least-privilege MySQL login and how each KFP client connects (TLS or through a connector);
- `connector.py`: the in-cluster database connector a cloud may require (GCP: the Cloud SQL Auth Proxy).
"""

from components.k8s.kubeflow.pipelines import KubeflowArgs, KubeflowPipelines

__all__ = ["KubeflowArgs", "KubeflowPipelines"]
