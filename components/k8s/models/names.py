"""The names a model's objects carry, derived from the model name alone, and its paths in the platform's buckets."""

from __future__ import annotations

from dataclasses import dataclass

from components.spec import ModelSpec

MODEL_LABEL = "mlops.io/model"


@dataclass(frozen=True)
class ModelNames:
    model: str
    namespace: str

    @classmethod
    def of(cls, model: ModelSpec) -> ModelNames:
        return cls(model.name, model.team)

    @property
    def serving(self) -> str:
        """Deployment, Service, HPA, PDB, ServiceMonitor and service account of the inference service."""
        return f"{self.model}-serving"

    @property
    def batch(self) -> str:
        return f"{self.model}-batch"

    @property
    def monitoring(self) -> str:
        return f"{self.model}-monitoring"

    @property
    def training(self) -> str:
        return f"{self.model}-training"

    @property
    def serving_selector(self) -> dict[str, str]:
        return {"app.kubernetes.io/name": self.serving, MODEL_LABEL: self.model}

    # Bucket layout (MODELS_INTERFACE.md): data `<m>/inputs/` and `<m>/predictions/`, monitoring `<m>/`.
    @property
    def inputs_prefix(self) -> str:
        return f"{self.model}/inputs/"

    @property
    def predictions_prefix(self) -> str:
        return f"{self.model}/predictions/"

    @property
    def model_prefix(self) -> str:
        return f"{self.model}/"

    def resource(self, kind: str) -> str:
        """Pulumi resource name, unique across the stack (teams may reuse model-independent names)."""
        return f"{self.namespace}-{self.model}-{kind}"
