"""A model's contract: its task, its input features (type, valid range, how drift treats them), its label and the
id, entity and timestamp columns of its data.

One :class:`ModelContract` per model kind (the fraud model's is ``mlops_workloads.features.FRAUD_CONTRACT``). The
training pipeline's register step stores it with the model version (``contract.json`` in the version's run, beside
the MLflow signature); serving, batch scoring and monitoring read it back with :func:`load_contract`, so they need
only the model's name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, get_args

Task = Literal["classification", "regression"]
FeatureKind = Literal["float", "int", "bool"]
PANDAS_DTYPES: dict[FeatureKind, str] = {"float": "float64", "int": "int64", "bool": "bool"}
CONTRACT_ARTIFACT = "contract.json"
TASK_TAG = "task"  # on the model version, so a registry listing shows each version's task without a download


class ContractError(ValueError):
    """A contract document that cannot describe a model; the message names the field, the value and the fix."""


@dataclass(frozen=True)
class Feature:
    """One model input: its type, its valid closed range, what it means and how drift monitoring treats it.

    ``categorical``: compared on frequencies, not as a continuum (always true for ``bool``). ``seasonal``: a
    calendar feature whose drift is reported but never counts towards dataset drift or retraining (a one-day window
    always differs from a week-long reference).
    """

    name: str
    kind: FeatureKind
    minimum: float
    maximum: float
    description: str
    categorical: bool = False
    seasonal: bool = False

    @property
    def pandas_dtype(self) -> str:
        """The column dtype every producer writes and every consumer may rely on."""
        return PANDAS_DTYPES[self.kind]

    @property
    def is_categorical(self) -> bool:
        return self.kind == "bool" or self.categorical


@dataclass(frozen=True)
class ModelContract:
    """Everything the platform's generic jobs need to know about a model's data."""

    task: Task
    features: tuple[Feature, ...]
    label: str
    id_column: str
    entity_column: str | None = None
    timestamp_column: str | None = None
    feature_names: tuple[str, ...] = field(init=False, repr=False, compare=False)
    features_by_name: Mapping[str, Feature] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "feature_names", tuple(f.name for f in self.features))
        object.__setattr__(self, "features_by_name", {f.name: f for f in self.features})
        problems = _problems(self)
        if problems:
            raise ContractError("invalid model contract: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "label": self.label,
            "id_column": self.id_column,
            "entity_column": self.entity_column,
            "timestamp_column": self.timestamp_column,
            "features": [asdict(f) for f in self.features],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> ModelContract:
        """The contract of a stored document; a missing or mistyped field is named with the fix."""
        if not isinstance(doc, Mapping):
            raise ContractError(f"a model contract is a JSON object, got {type(doc).__name__}")
        missing = [k for k in ("task", "label", "id_column", "features") if k not in doc]
        if missing:
            raise ContractError(f"model contract is missing {missing}: write it with ModelContract.to_json()")
        raw_features = doc["features"]
        if not isinstance(raw_features, list) or not all(isinstance(f, Mapping) for f in raw_features):
            raise ContractError("model contract 'features' must be a list of objects (name, kind, minimum, ...)")
        try:
            features = tuple(Feature(**dict(f)) for f in raw_features)
        except TypeError as exc:
            raise ContractError(f"model contract feature is malformed ({exc}); fields are {_FEATURE_FIELDS}") from exc
        return cls(
            task=doc["task"],
            features=features,
            label=doc["label"],
            id_column=doc["id_column"],
            entity_column=doc.get("entity_column"),
            timestamp_column=doc.get("timestamp_column"),
        )

    @classmethod
    def from_json(cls, text: str) -> ModelContract:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ContractError(f"model contract is not valid JSON ({exc})") from exc
        return cls.from_dict(doc)


_FEATURE_FIELDS = [f.name for f in fields(Feature)]


def _problems(contract: ModelContract) -> list[str]:
    problems = []
    if contract.task not in get_args(Task):
        problems.append(f"task {contract.task!r} is not one of {list(get_args(Task))}")
    if not contract.features:
        problems.append("features is empty: a model needs at least one input")
    names = [f.name for f in contract.features]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        problems.append(f"feature names {duplicates} appear more than once")
    for feature in contract.features:
        if feature.kind not in get_args(FeatureKind):
            problems.append(
                f"feature {feature.name!r} kind {feature.kind!r} is not one of {list(get_args(FeatureKind))}"
            )
        if not feature.minimum <= feature.maximum:
            problems.append(
                f"feature {feature.name!r} minimum {feature.minimum} is above its maximum {feature.maximum}"
            )
    columns = [c for c in (contract.label, contract.id_column, contract.entity_column, contract.timestamp_column) if c]
    clashes = sorted(set(columns) & set(names))
    if clashes:
        problems.append(f"columns {clashes} are both features and label/id/entity/timestamp columns")
    return problems


def load_contract(client: Any, model_name: str, version: str) -> ModelContract:
    """The contract stored with ``model_name`` version ``version`` (``contract.json`` of the version's run)."""
    import tempfile
    from pathlib import Path

    from mlflow.exceptions import MlflowException

    model_version = client.get_model_version(model_name, version)
    try:
        with tempfile.TemporaryDirectory(prefix="contract-") as scratch:
            path = client.download_artifacts(model_version.run_id, CONTRACT_ARTIFACT, scratch)
            text = Path(path).read_text()
    except (MlflowException, OSError) as exc:
        raise ContractError(
            f"{model_name} version {version} has no {CONTRACT_ARTIFACT} in run {model_version.run_id}: register it "
            "with the training pipeline's register step (training.register_model(contract=...))"
        ) from exc
    return ModelContract.from_json(text)
