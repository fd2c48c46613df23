"""Resolve a registry alias to a model version and load it for inference (ONNX Runtime or scikit-learn).

Shared by the online service and the batch job so both score with the same code, the same checks and the same
decision threshold.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import sklearn
from mlflow import MlflowClient
from mlflow.artifacts import download_artifacts
from mlflow.exceptions import MlflowException
from mlflow.models import Model

from mlops_workloads.features import FEATURE_NAMES, FEATURES

logger = logging.getLogger(__name__)

Runtime = Literal["onnx", "sklearn"]
RuntimePreference = Literal["auto", "onnx", "sklearn"]
ONNX_ARTIFACT = "onnx/model.onnx"
DECISION_THRESHOLD = 0.5

LoadFailureReason = Literal[
    "registry_unreachable",
    "alias_missing",
    "sklearn_version_mismatch",
    "signature_mismatch",
    "load_failed",
    "smoke_failed",
]


class ModelLoadError(RuntimeError):
    """A model version that cannot serve; ``reason`` is a short, bounded label for metrics."""

    def __init__(self, reason: LoadFailureReason, message: str) -> None:
        super().__init__(message)
        self.reason: LoadFailureReason = reason


@dataclass(frozen=True)
class LoadedModel:
    """One registered model version, ready to score a float matrix whose columns follow ``FEATURE_NAMES``."""

    name: str
    version: str
    run_id: str
    runtime: Runtime
    sklearn_version: str
    _predict: Callable[[np.ndarray], np.ndarray] = field(repr=False, compare=False)

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Fraud probability per row (1-D float64)."""
        if features.ndim != 2 or features.shape[1] != len(FEATURE_NAMES):
            raise ValueError(f"expected a (n, {len(FEATURE_NAMES)}) matrix, got shape {features.shape}")
        return np.asarray(self._predict(features), dtype=np.float64).reshape(-1)


def frame_to_matrix(frame: pd.DataFrame) -> np.ndarray:
    """Contract columns of a DataFrame to a float64 matrix in contract column order."""
    missing = [name for name in FEATURE_NAMES if name not in frame.columns]
    if missing:
        raise KeyError(f"missing feature columns: {', '.join(missing)}")
    return np.asarray(frame.loc[:, list(FEATURE_NAMES)].to_numpy(dtype=np.float64), dtype=np.float64)


def smoke_rows() -> np.ndarray:
    """Two valid rows (contract minima and maxima) every servable model must score to finite probabilities."""
    return np.array(
        [[f.minimum for f in FEATURES], [f.maximum for f in FEATURES]],
        dtype=np.float64,
    )


def smoke_test(model: LoadedModel) -> None:
    try:
        probabilities = model.predict_proba(smoke_rows())
    except Exception as exc:
        raise ModelLoadError(
            "smoke_failed", f"{model.name} v{model.version} failed the smoke prediction: {exc}"
        ) from exc
    if probabilities.shape != (2,) or not np.all(np.isfinite(probabilities)):
        raise ModelLoadError(
            "smoke_failed", f"{model.name} v{model.version} returned {probabilities!r} for two smoke rows"
        )
    if np.any((probabilities < 0) | (probabilities > 1)):
        raise ModelLoadError(
            "smoke_failed", f"{model.name} v{model.version} returned probabilities outside [0, 1]: {probabilities}"
        )


class ModelSource:
    """The MLflow registry the models come from; no process-global MLflow state is read or written."""

    def __init__(self, tracking_uri: str, registry_uri: str | None = None) -> None:
        self.tracking_uri = tracking_uri
        self.registry_uri = registry_uri or tracking_uri
        self.client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.registry_uri)

    def resolve(self, name: str, alias: str) -> tuple[str, str]:
        """``(version, run_id)`` the alias points to now."""
        try:
            version = self.client.get_model_version_by_alias(name, alias)
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                raise ModelLoadError("alias_missing", f"models:/{name}@{alias} does not exist: {exc.message}") from exc
            raise ModelLoadError("registry_unreachable", f"cannot reach the MLflow registry: {exc}") from exc
        except Exception as exc:  # connection errors surface as requests/OSError subclasses
            raise ModelLoadError("registry_unreachable", f"cannot reach the MLflow registry: {exc}") from exc
        return str(version.version), str(version.run_id or "")

    def load(self, name: str, version: str, run_id: str, runtime: RuntimePreference = "auto") -> LoadedModel:
        """Download, check and load one version; raises :class:`ModelLoadError` with a precise reason."""
        with tempfile.TemporaryDirectory(prefix=f"model-{version}-") as tmp:
            workdir = Path(tmp)  # artifacts are only needed until the estimator/session is in memory
            try:
                model_uri = self.client.get_model_version_download_uri(name, version)
                local = Path(
                    download_artifacts(
                        artifact_uri=model_uri,
                        dst_path=str(workdir / "model"),
                        tracking_uri=self.tracking_uri,
                        registry_uri=self.registry_uri,
                    )
                )
            except Exception as exc:
                raise ModelLoadError("load_failed", f"cannot download {name} v{version}: {exc}") from exc
            trained_with = _check_mlmodel(local, name, version)
            onnx_path = self._onnx_artifact(run_id, workdir) if runtime != "sklearn" else None
            if runtime == "onnx" and onnx_path is None:
                raise ModelLoadError("load_failed", f"{name} v{version}: run {run_id} has no {ONNX_ARTIFACT}")
            try:
                if onnx_path is not None:
                    predict, chosen = _onnx_predictor(onnx_path), "onnx"
                else:
                    predict, chosen = _sklearn_predictor(local), "sklearn"
            except ModelLoadError:
                raise
            except Exception as exc:
                raise ModelLoadError("load_failed", f"cannot load {name} v{version}: {exc}") from exc
        loaded = LoadedModel(name, version, run_id, chosen, trained_with, predict)  # type: ignore[arg-type]
        smoke_test(loaded)
        return loaded

    def load_alias(self, name: str, alias: str, runtime: RuntimePreference = "auto") -> LoadedModel:
        version, run_id = self.resolve(name, alias)
        return self.load(name, version, run_id, runtime)

    def _onnx_artifact(self, run_id: str, workdir: Path) -> Path | None:
        if not run_id:
            return None
        folder, filename = ONNX_ARTIFACT.split("/")
        try:
            listed = {Path(info.path).name for info in self.client.list_artifacts(run_id, folder)}
        except Exception as exc:
            raise ModelLoadError("registry_unreachable", f"cannot list artifacts of run {run_id}: {exc}") from exc
        if filename not in listed:
            return None
        try:
            path = download_artifacts(
                run_id=run_id,
                artifact_path=ONNX_ARTIFACT,
                dst_path=str(workdir / "onnx"),
                tracking_uri=self.tracking_uri,
            )
        except Exception as exc:
            raise ModelLoadError("load_failed", f"cannot download {ONNX_ARTIFACT} of run {run_id}: {exc}") from exc
        return Path(path)


def _check_mlmodel(local: Path, name: str, version: str) -> str:
    """Refuse a version the service cannot serve correctly, whatever its width: trained with another scikit-learn,
    or logged with a signature whose inputs are not the serving contract's (names, order, types). Returns the
    scikit-learn version it was trained with."""
    from mlops_workloads.serving.schemas import signature_problems

    try:
        mlmodel = Model.load(str(local / "MLmodel"))
    except Exception as exc:
        raise ModelLoadError("load_failed", f"{name} v{version} has no readable MLmodel file: {exc}") from exc
    trained_with = str(mlmodel.flavors.get("sklearn", {}).get("sklearn_version", ""))
    if not trained_with:
        raise ModelLoadError(
            "load_failed", f"{name} v{version} has no sklearn flavor with a sklearn_version in its MLmodel file"
        )
    if trained_with != sklearn.__version__:
        raise ModelLoadError(
            "sklearn_version_mismatch",
            f"refusing {name} v{version}: trained with scikit-learn {trained_with} but this runtime has "
            f"{sklearn.__version__}; retrain it with scikit-learn {sklearn.__version__} or serve it from an image "
            f"built with scikit-learn=={trained_with}",
        )
    signature = mlmodel.signature
    if signature is None or signature.inputs is None or not hasattr(signature.inputs, "inputs"):
        raise ModelLoadError(
            "signature_mismatch",
            f"refusing {name} v{version}: it was logged without a column signature, so its inputs cannot be checked "
            "against the serving contract; log it with training.register_model (which infers one)",
        )
    columns = [(spec.name, getattr(spec.type, "name", str(spec.type))) for spec in signature.inputs.inputs]
    problems = signature_problems(columns)
    if problems:
        raise ModelLoadError("signature_mismatch", f"refusing {name} v{version}: " + "; ".join(problems))
    return trained_with


def _sklearn_predictor(local: Path) -> Callable[[np.ndarray], np.ndarray]:
    import mlflow.sklearn

    estimator = mlflow.sklearn.load_model(str(local))
    if hasattr(estimator, "n_jobs"):
        estimator.n_jobs = 1  # parallel trees triple single-row latency
    classes = list(getattr(estimator, "classes_", [0, 1]))
    positive = classes.index(1) if 1 in classes else len(classes) - 1
    columns = list(FEATURE_NAMES)

    def predict(matrix: np.ndarray) -> np.ndarray:
        frame = pd.DataFrame(matrix, columns=columns)
        for feature in FEATURES:  # the estimator was fitted on contract dtypes
            frame[feature.name] = frame[feature.name].astype(feature.pandas_dtype)
        return np.asarray(estimator.predict_proba(frame))[:, positive]

    return predict


def _onnx_predictor(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # the service scales with processes/threads, not with op parallelism
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    inputs = session.get_inputs()
    outputs = [o.name for o in session.get_outputs()]
    probability_output = next((o for o in outputs if "prob" in o.lower()), outputs[-1])

    def dtype_of(onnx_type: str) -> type[np.generic]:
        return {"tensor(double)": np.float64, "tensor(int64)": np.int64, "tensor(bool)": np.bool_}.get(
            onnx_type, np.float32
        )

    if len(inputs) == 1:
        only = inputs[0]
        only_dtype = dtype_of(only.type)

        def feed(matrix: np.ndarray) -> dict[str, np.ndarray]:
            return {only.name: matrix.astype(only_dtype, copy=False)}
    else:
        unknown = [i.name for i in inputs if i.name not in FEATURE_NAMES]
        if unknown:
            raise ModelLoadError("load_failed", f"ONNX inputs {unknown} are not contract features")
        index = {name: FEATURE_NAMES.index(name) for name in (i.name for i in inputs)}
        dtypes = {i.name: dtype_of(i.type) for i in inputs}

        def feed(matrix: np.ndarray) -> dict[str, np.ndarray]:
            return {name: matrix[:, [col]].astype(dtypes[name]) for name, col in index.items()}

    def predict(matrix: np.ndarray) -> np.ndarray:
        result = session.run([probability_output], feed(matrix))[0]
        if isinstance(result, list):  # ZipMap output: one {class: probability} dict per row
            return np.array([row.get(1, row.get("1", 0.0)) for row in result], dtype=np.float64)
        array = np.asarray(result, dtype=np.float64)
        return array[:, -1] if array.ndim == 2 else array

    return predict
