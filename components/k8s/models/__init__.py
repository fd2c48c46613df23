"""One component per model of `mlops:models`: everything a model needs, in its team's namespace.

- `names.py`: the names of its objects, service accounts and bucket paths;
- `identity.py`: its service accounts and cloud identities (exactly its bucket prefixes);
- `serving.py`: the inference Deployment, Service, HPA, PDB and ServiceMonitor;
- `jobs.py`: the batch-scoring, monitoring and recurring training CronJobs and their command lines;
- `model.py`: the component that composes them.
"""

from components.k8s.models.model import Model, ModelArgs
from components.k8s.models.names import ModelNames

__all__ = ["Model", "ModelArgs", "ModelNames"]
