"""The human-readable side: an Evidently DataDriftPreset report configured with the job's own methods and
thresholds (normalised Wasserstein for continuous features, PSI for categorical ones, the job's drift share) so
its column verdicts are the job's verdicts, plus each feature's missing-value share (values breaking the contract
are missing in the job's sample), the drift signal of its own. It runs on bounded samples — the profile's reference
sample and the job's row sample of the window — so it stays fast on any window size."""

from __future__ import annotations

from typing import Any

import pandas as pd

from mlops_workloads.contract import ModelContract
from mlops_workloads.features import FRAUD_CONTRACT
from mlops_workloads.monitoring import storage
from mlops_workloads.monitoring.drift import DriftPolicy

REPORT_FILE = "drift_report.html"


def _definition(contract: ModelContract) -> Any:
    from evidently import DataDefinition

    return DataDefinition(
        numerical_columns=[f.name for f in contract.features if not f.is_categorical],
        categorical_columns=[f.name for f in contract.features if f.is_categorical],
    )


def _features(frame: pd.DataFrame, contract: ModelContract) -> pd.DataFrame:
    return frame[list(contract.feature_names)].astype("float64")


def run_evidently(
    reference: pd.DataFrame, current: pd.DataFrame, policy: DriftPolicy, contract: ModelContract = FRAUD_CONTRACT
) -> Any:
    """Evidently's DataDriftPreset on the ``contract`` features with the job's methods and thresholds (a snapshot)."""
    # Imported here: Evidently takes seconds to import and most uses of this package never render a report.
    from evidently import Dataset, Report
    from evidently.metrics import MissingValueCount
    from evidently.presets import DataDriftPreset

    preset = DataDriftPreset(
        drift_share=policy.drift_share,
        num_method="wasserstein",
        num_threshold=policy.wasserstein_threshold,
        cat_method="psi",
        cat_threshold=policy.psi_threshold,
    )
    report = Report([preset, *(MissingValueCount(column=name) for name in contract.feature_names)])
    definition = _definition(contract)
    return report.run(
        current_data=Dataset.from_pandas(_features(current, contract), data_definition=definition),
        reference_data=Dataset.from_pandas(_features(reference, contract), data_definition=definition),
    )


def evidently_verdicts(snapshot: Any, policy: DriftPolicy) -> dict[str, tuple[float, bool]]:
    """Per column: (Evidently's score, drifted?) from a snapshot of :func:`run_evidently`."""
    thresholds = {"psi": policy.psi_threshold, "wasserstein": policy.wasserstein_threshold}
    verdicts: dict[str, tuple[float, bool]] = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config.get("type", "").endswith(":ValueDrift"):
            value = float(metric["value"])
            verdicts[config["column"]] = (value, value >= thresholds[config["method"]])
    return verdicts


def save_report(snapshot: Any, report_dir: str, run_stamp: str) -> str:
    """Save the HTML report as ``<report_dir>/<run_stamp>/drift_report.html`` (local or bucket); returns its URI."""
    html = snapshot.get_html_str(as_iframe=False)
    return storage.write_bytes(storage.join(report_dir, run_stamp, REPORT_FILE), html.encode(), "text/html")
