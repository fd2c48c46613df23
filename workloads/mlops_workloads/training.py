"""Plain-Python training, evaluation and MLflow registration — the pipeline components call these, and so may tests.

``register_model`` logs one MLflow run holding everything a later consumer needs: the sklearn model (``model``,
signature and input example), its params and metrics, the training-data fingerprint, the drift reference profile
(``reference/``) and an ONNX variant (``onnx/model.onnx``) that was checked to give the same probabilities.
The new version of the registered model gets the ``challenger`` alias; promotion is ``registry.promote_challenger``.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import urlparse

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
)

from mlops_workloads.contract import CONTRACT_ARTIFACT, TASK_TAG, ModelContract
from mlops_workloads.features import FEATURE_NAMES, FRAUD_CONTRACT, MODEL_NAME
from mlops_workloads.reference import ARTIFACT_PATH as REFERENCE_ARTIFACT_PATH
from mlops_workloads.reference import ReferenceProfile
from mlops_workloads.registry import CHALLENGER

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

DEFAULT_PARAMS: Mapping[str, Any] = {
    "n_estimators": 200,
    "max_depth": 15,
    "min_samples_split": 10,
    "min_samples_leaf": 4,
    "class_weight": "balanced",
    "random_state": 42,
}
MODEL_ARTIFACT_PATH = "model"
ONNX_ARTIFACT_PATH = "onnx"
ONNX_FILE = "model.onnx"
ONNX_INPUT = "features"
ONNX_PARITY_TOLERANCE = 1e-4
DEFAULT_EXPERIMENT = "fraud-detection"
FINGERPRINT_TAG = "data_fingerprint"
SKOPS_TRUSTED_TYPES = ["sklearn.tree._tree.Tree"]
# The estimators the reference pipelines train (a forest of trees: skops loads them with the one trusted type above).
Estimator: TypeAlias = RandomForestClassifier | RandomForestRegressor


def save_model(model: Estimator, path: str | Path) -> None:
    """Persist a model between pipeline steps with skops (no pickle: loading cannot run arbitrary code)."""
    import skops.io

    skops.io.dump(model, path)


def load_model(path: str | Path) -> Estimator:
    import skops.io

    model = skops.io.load(path, trusted=SKOPS_TRUSTED_TYPES)
    if not isinstance(model, RandomForestClassifier | RandomForestRegressor):
        raise TypeError(f"{path} holds a {type(model).__name__}, expected a RandomForestClassifier or -Regressor")
    return model


class OnnxParityError(RuntimeError):
    """The ONNX export's probabilities differ from sklearn's: it must not be shipped."""


def feature_matrix(df: pd.DataFrame, names: tuple[str, ...] = FEATURE_NAMES) -> pd.DataFrame:
    """The model input: exactly the contract features, in contract order."""
    missing = [name for name in names if name not in df.columns]
    if missing:
        raise KeyError(f"model input is missing contract features {missing}; the frame has {list(df.columns)}")
    return df.loc[:, list(names)]


def train_model(
    X: pd.DataFrame, y: pd.Series | np.ndarray, params: Mapping[str, Any] | None = None
) -> RandomForestClassifier:
    """Fit a RandomForest on the contract features; ``params`` override ``DEFAULT_PARAMS``.

    Fitting uses every core; the returned model has ``n_jobs=1`` because single-row serving is 3x slower with more.
    """
    merged = {**DEFAULT_PARAMS, **(params or {})}
    unknown = sorted(set(merged) - set(RandomForestClassifier().get_params()))
    if unknown:
        raise ValueError(f"unknown RandomForestClassifier params {unknown}; valid ones: {sorted(DEFAULT_PARAMS)}")
    model = RandomForestClassifier(**{**merged, "n_jobs": -1})
    model.fit(feature_matrix(X), np.asarray(y).astype(int))
    model.set_params(n_jobs=1)
    return model


def evaluate_model(model: RandomForestClassifier, X: pd.DataFrame, y: pd.Series | np.ndarray) -> dict[str, float]:
    """Accuracy, precision, recall, F1 (fraud = positive class) and ROC AUC on a held-out set."""
    truth = np.asarray(y).astype(int)
    if len(np.unique(truth)) < 2:
        raise ValueError("the evaluation set holds only one class; ROC AUC needs frauds and non-frauds")
    features = feature_matrix(X)
    predicted = model.predict(features)
    scores = model.predict_proba(features)[:, 1]
    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "precision": float(precision_score(truth, predicted, zero_division=0)),
        "recall": float(recall_score(truth, predicted, zero_division=0)),
        "f1": float(f1_score(truth, predicted, zero_division=0)),
        "roc_auc": float(roc_auc_score(truth, scores)),
    }


def regression_metrics(model: Estimator, X: pd.DataFrame, y: pd.Series | np.ndarray) -> dict[str, float]:
    """RMSE, MAE (in the label's unit) and R² on a held-out set."""
    truth = np.asarray(y, dtype=np.float64)
    predicted = model.predict(X)
    return {
        "rmse": float(np.sqrt(mean_squared_error(truth, predicted))),
        "mae": float(mean_absolute_error(truth, predicted)),
        "r2": float(r2_score(truth, predicted)),
    }


def holdout_metrics(model: Estimator, frame: pd.DataFrame, contract: ModelContract) -> dict[str, float]:
    """The metrics of ``contract``'s task on a held-out frame (features and label): what the gates judge."""
    features = feature_matrix(frame, contract.feature_names)
    if contract.task == "regression":
        return regression_metrics(model, features, frame[contract.label])
    if not isinstance(model, RandomForestClassifier):
        raise TypeError(f"a classification contract needs a classifier, got {type(model).__name__}")
    return evaluate_model(model, features, frame[contract.label])


def model_outputs(model: Estimator, features: pd.DataFrame, contract: ModelContract) -> np.ndarray:
    """What the model serves per row: the positive-class probability (classification) or the value (regression)."""
    if contract.task == "regression":
        return np.asarray(model.predict(features), dtype=np.float64)
    return np.asarray(model.predict_proba(features)[:, 1], dtype=np.float64)


def data_fingerprint(df: pd.DataFrame) -> str:
    """SHA-256 over the frame's column names and row hashes: same data, same fingerprint, whatever the row order."""
    columns = sorted(df.columns)
    row_hashes = np.sort(pd.util.hash_pandas_object(df[columns], index=False).to_numpy())
    digest = hashlib.sha256("\x1f".join(map(str, columns)).encode())
    digest.update(row_hashes.tobytes())
    return digest.hexdigest()


def to_onnx(model: RandomForestClassifier) -> bytes:
    """Convert to ONNX: one float32 input ``features`` of the contract's width, probabilities as a plain tensor."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    onnx_model = convert_sklearn(
        model,
        initial_types=[(ONNX_INPUT, FloatTensorType([None, len(FEATURE_NAMES)]))],
        options={id(model): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    return bytes(onnx_model.SerializeToString())


def onnx_probabilities(onnx_bytes: bytes, X: pd.DataFrame) -> np.ndarray:
    """Fraud probabilities from an ONNX export (contract features cast to float32 — what sklearn trees use too)."""
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    inputs = {ONNX_INPUT: feature_matrix(X).to_numpy(dtype=np.float32)}
    outputs = session.run(None, inputs)
    return np.asarray(outputs[1])[:, 1]


def check_onnx_parity(model: RandomForestClassifier, onnx_bytes: bytes, X: pd.DataFrame) -> float:
    """Return the max absolute probability difference; raise :class:`OnnxParityError` if it reaches 1e-4."""
    expected = model.predict_proba(feature_matrix(X))[:, 1]
    diff = float(np.max(np.abs(onnx_probabilities(onnx_bytes, X) - expected)))
    if not diff < ONNX_PARITY_TOLERANCE:
        raise OnnxParityError(
            f"ONNX probabilities differ from sklearn by {diff:.2e} (limit {ONNX_PARITY_TOLERANCE:.0e}); refusing to log"
        )
    return diff


def _artifact_location(tracking_uri: str, experiment: str) -> str | None:
    """Keep a sqlite store's artifacts next to its database file (not in the caller's working directory)."""
    parsed = urlparse(tracking_uri)
    if parsed.scheme != "sqlite":
        return None  # a tracking server decides its artifact root
    database = Path(tracking_uri.removeprefix("sqlite:///"))
    return (database.parent / "mlartifacts" / experiment).resolve().as_uri()


def ensure_experiment(tracking_uri: str, name: str = DEFAULT_EXPERIMENT, artifact_location: str | None = None) -> str:
    """Return the id of experiment ``name``, creating it (with a sensible artifact location) if needed."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        return str(existing.experiment_id)
    return str(
        client.create_experiment(name, artifact_location=artifact_location or _artifact_location(tracking_uri, name))
    )


@contextmanager
def _tracking_uri(uri: str) -> Iterator[None]:
    """Point MLflow's fluent API (needed by log_model) at ``uri`` for one block, then restore the caller's setting."""
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    previous = getattr(tracking_utils, "_tracking_uri", None), getattr(registry_utils, "_registry_uri", None)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous[0])  # type: ignore[arg-type]  # None restores MLflow's default
        mlflow.set_registry_uri(previous[1])  # type: ignore[arg-type]


def _pip_requirements() -> list[str]:
    import mlflow
    import sklearn
    import skops

    return [f"scikit-learn=={sklearn.__version__}", f"skops=={skops.__version__}", f"mlflow=={mlflow.__version__}"]


def register_model(
    model: Estimator,
    X_sample: pd.DataFrame,
    metrics: Mapping[str, float],
    params: Mapping[str, Any],
    *,
    data_fingerprint: str,
    reference_dir: str | Path | None = None,
    profile: ReferenceProfile | None = None,
    tracking_uri: str | None = None,
    model_name: str = MODEL_NAME,
    experiment: str = DEFAULT_EXPERIMENT,
    tags: Mapping[str, str] | None = None,
    contract: ModelContract = FRAUD_CONTRACT,
    challenger_alias: str = CHALLENGER,
) -> ModelVersion:
    """Log ``model`` with everything monitoring and serving need, register a new version, give it the challenger
    alias (the model's own name for it: ``challenger_alias``).

    Pass the drift reference either as a saved directory (``reference_dir``) or a ``profile``. ``X_sample``
    (a few rows of contract features) gives the signature, the input example and the ONNX parity check (a
    classifier's probabilities). ``contract`` is stored beside the model (``contract.json``) for serving, batch
    scoring and monitoring.
    Returns the MLflow ``ModelVersion``.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    if (reference_dir is None) == (profile is None):
        raise ValueError("register_model needs exactly one of reference_dir= or profile= (the drift reference)")
    uri = tracking_uri or mlflow.get_tracking_uri()
    sample = feature_matrix(X_sample, contract.feature_names)
    if sample.empty:
        raise ValueError("X_sample is empty: pass a few rows of contract features (signature and ONNX parity)")
    model.set_params(n_jobs=1)
    onnx: tuple[bytes, float] | None = None
    if isinstance(model, RandomForestClassifier):
        onnx_bytes = to_onnx(model)
        onnx = onnx_bytes, check_onnx_parity(model, onnx_bytes, sample)

    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment_id = ensure_experiment(uri, experiment)
    # log_model only exists in the fluent API, and MLflow resolves the version's ``models:/m-…`` source through the
    # process-wide tracking store: both happen while it points at ``uri``.
    with _tracking_uri(uri):
        model_uri, run_id = _log_run(
            model, sample, metrics, params, onnx=onnx, fingerprint=data_fingerprint, contract=contract,
            experiment_id=experiment_id, reference_dir=reference_dir, profile=profile, tags=tags,
        )  # fmt: skip
        try:
            client.get_registered_model(model_name)
        except MlflowException:
            client.create_registered_model(model_name)
        # model_id links the version to the logged model: a tracking *server* refuses a `models:/m-…` source without it.
        version = client.create_model_version(
            model_name,
            model_uri,
            run_id=run_id,
            tags={FINGERPRINT_TAG: data_fingerprint, TASK_TAG: contract.task},
            model_id=model_uri.removeprefix("models:/"),
        )
    client.set_registered_model_alias(model_name, challenger_alias, version.version)
    return client.get_model_version(model_name, version.version)


def _log_run(
    model: Estimator,
    sample: pd.DataFrame,
    metrics: Mapping[str, float],
    params: Mapping[str, Any],
    *,
    onnx: tuple[bytes, float] | None,
    fingerprint: str,
    contract: ModelContract,
    experiment_id: str,
    reference_dir: str | Path | None,
    profile: ReferenceProfile | None,
    tags: Mapping[str, str] | None,
) -> tuple[str, str]:
    """Log one run: params, metrics, fingerprint, sklearn model, contract, ONNX, reference.
    Returns (model URI, run id)."""
    import mlflow
    from mlflow.models import infer_signature

    with tempfile.TemporaryDirectory() as scratch, mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_params({k: str(v) for k, v in params.items()})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        mlflow.set_tags({FINGERPRINT_TAG: fingerprint, **(tags or {})})
        example = sample.head(5)
        info = mlflow.sklearn.log_model(
            model,
            name=MODEL_ARTIFACT_PATH,
            signature=infer_signature(example, model.predict(example)),
            input_example=example,
            pip_requirements=_pip_requirements(),
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
        )
        mlflow.log_text(contract.to_json(), CONTRACT_ARTIFACT)
        if onnx is not None:
            onnx_file = Path(scratch) / ONNX_FILE
            onnx_file.write_bytes(onnx[0])
            mlflow.log_artifact(str(onnx_file), artifact_path=ONNX_ARTIFACT_PATH)
            mlflow.log_metric("onnx_max_abs_diff", onnx[1])
        if profile is not None:
            reference_dir = profile.save(Path(scratch) / REFERENCE_ARTIFACT_PATH)
        mlflow.log_artifacts(str(reference_dir), artifact_path=REFERENCE_ARTIFACT_PATH)
        return str(info.model_uri), str(run.info.run_id)
