"""The feature contract of the first reference model: card-transaction fraud detection.

``FRAUD_CONTRACT`` is this model's :class:`~mlops_workloads.contract.ModelContract`; the fraud model's own code
(data generation, validation, feature engineering, the Feast definitions) derives from it and the names below, and
the register step stores it with every fraud model version. The platform's generic jobs (serving, batch scoring,
monitoring) read the contract of the version they use from MLflow instead of importing this module.
"""

from __future__ import annotations

from mlops_workloads.contract import Feature, FeatureKind, ModelContract

__all__ = ["Feature", "FeatureKind"]

ENTITY_NAME = "card"
ENTITY_KEY = "card_id"
EVENT_TIMESTAMP = "event_timestamp"
TRANSACTION_ID = "transaction_id"
LABEL = "is_fraud"
FEATURE_SERVICE = "fraud_detection_v1"
MODEL_NAME = "fraud-detection"

FEATURES: tuple[Feature, ...] = (
    Feature("amount", "float", 0.0, 50_000.0, "Transaction amount in USD"),
    Feature("merchant_category", "int", 0, 19, "Merchant category code bucket (0-19)", categorical=True),
    Feature("hour_of_day", "int", 0, 23, "Local hour of the transaction", categorical=True),
    Feature("day_of_week", "int", 0, 6, "Day of week, Monday = 0", categorical=True, seasonal=True),
    Feature("days_since_last_transaction", "float", 0.0, 3_650.0, "Days since the card's previous transaction"),
    Feature("avg_transaction_amount_30d", "float", 0.0, 50_000.0, "Mean amount over the card's last 30 days"),
    Feature("transaction_count_30d", "int", 0, 10_000, "Number of transactions in the card's last 30 days"),
    Feature("total_spend_90d", "float", 0.0, 5_000_000.0, "Total spend over the card's last 90 days"),
    Feature("merchant_risk_score", "float", 0.0, 1.0, "Risk score of the merchant, 0 = safe, 1 = risky"),
    Feature("card_present", "bool", 0, 1, "Card physically present at the terminal"),
    Feature("international", "bool", 0, 1, "Merchant country differs from the card's country"),
)

FRAUD_CONTRACT = ModelContract(
    task="classification",
    features=FEATURES,
    label=LABEL,
    id_column=TRANSACTION_ID,
    entity_column=ENTITY_KEY,
    timestamp_column=EVENT_TIMESTAMP,
)
FEATURE_NAMES: tuple[str, ...] = FRAUD_CONTRACT.feature_names
FEATURES_BY_NAME = FRAUD_CONTRACT.features_by_name
