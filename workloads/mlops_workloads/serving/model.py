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

from mlops_workloads.contract import ContractError, ModelContract, load_contract

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
    "contract_invalid",
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
    """One registered model version and its contract, ready to score a float matrix whose columns follow the
    contract's features."""

    name: str
    version: str
    run_id: str
    runtime: Runtime
    sklearn_version: str
    contract: ModelContract
    _predict: Callable[[np.ndarray], np.ndarray] = field(repr=False, compare=False)

    def score(self, features: np.ndarray) -> np.ndarray:
        """Per row (1-D float64): the positive-class probability of a classifier, the value of a regressor."""
        width = len(self.contract.features)
        if features.ndim != 2 or features.shape[1] != width:
            raise ValueError(f"expected a (n, {width}) matrix, got shape {features.shape}")
        return np.asarray(self._predict(features), dtype=np.float64).reshape(-1)


def smoke_rows(contract: ModelContract) -> np.ndarray:
    """Two valid rows (contract minima and maxima) every servable model must score to finite values."""
    return np.array(
        [[f.minimum for f in contract.features], [f.maximum for f in contract.features]],
        dtype=np.float64,
    )


def smoke_test(model: LoadedModel) -> None:
    try:
        scores = model.score(smoke_rows(model.contract))
    except Exception as exc:
        raise ModelLoadError(
            "smoke_failed", f"{model.name} v{model.version} failed the smoke prediction: {exc}"
        ) from exc
    if scores.shape != (2,) or not np.all(np.isfinite(scores)):
        raise ModelLoadError("smoke_failed", f"{model.name} v{model.version} returned {scores!r} for two smoke rows")
    probabilities = scores
    if model.contract.task == "classification" and np.any((probabilities < 0) | (probabilities > 1)):
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
            try:
                contract = load_contract(self.client, name, version)
            except ContractError as exc:
                raise ModelLoadError("contract_invalid", f"refusing {name} v{version}: {exc}") from exc
            except Exception as exc:
                raise ModelLoadError(
                    "registry_unreachable", f"cannot read the contract of {name} v{version}: {exc}"
                ) from exc
            trained_with = _check_mlmodel(local, name, version, contract)
            onnx_path = self._onnx_artifact(run_id, workdir) if runtime != "sklearn" else None
            if runtime == "onnx" and onnx_path is None:
                raise ModelLoadError("load_failed", f"{name} v{version}: run {run_id} has no {ONNX_ARTIFACT}")
            try:
                if onnx_path is not None:
                    predict, chosen = _onnx_predictor(onnx_path, contract), "onnx"
                else:
                    predict, chosen = _sklearn_predictor(local, contract), "sklearn"
            except ModelLoadError:
                raise
            except Exception as exc:
                raise ModelLoadError("load_failed", f"cannot load {name} v{version}: {exc}") from exc
        loaded = LoadedModel(name, version, run_id, chosen, trained_with, contract, predict)  # type: ignore[arg-type]
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


def _check_mlmodel(local: Path, name: str, version: str, contract: ModelContract) -> str:
    """Refuse a version the service cannot serve correctly, whatever its width: trained with another scikit-learn,
    or logged with a signature whose inputs are not its contract's (names, order, types). Returns the
    scikit-learn version it was trained with."""
    from mlops_workloads.serving.schemas import contract_fields, signature_problems

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
    problems = signature_problems(columns, contract_fields(contract))
    if problems:
        raise ModelLoadError("signature_mismatch", f"refusing {name} v{version}: " + "; ".join(problems))
    return trained_with


def _sklearn_predictor(local: Path, contract: ModelContract) -> Callable[[np.ndarray], np.ndarray]:
    import mlflow.sklearn

    estimator = mlflow.sklearn.load_model(str(local))
    if hasattr(estimator, "n_jobs"):
        estimator.n_jobs = 1  # parallel trees triple single-row latency
    classes = list(getattr(estimator, "classes_", [0, 1]))
    positive = classes.index(1) if 1 in classes else len(classes) - 1
    columns = list(contract.feature_names)
    classifier = contract.task == "classification"

    def predict(matrix: np.ndarray) -> np.ndarray:
        frame = pd.DataFrame(matrix, columns=columns)
        for feature in contract.features:  # the estimator was fitted on contract dtypes
            frame[feature.name] = frame[feature.name].astype(feature.pandas_dtype)
        return np.asarray(estimator.predict_proba(frame))[:, positive] if classifier else estimator.predict(frame)

    return predict


def _onnx_predictor(path: Path, contract: ModelContract) -> Callable[[np.ndarray], np.ndarray]:
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
        names = contract.feature_names
        unknown = [i.name for i in inputs if i.name not in names]
        if unknown:
            raise ModelLoadError("load_failed", f"ONNX inputs {unknown} are not contract features")
        index = {name: names.index(name) for name in (i.name for i in inputs)}
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
