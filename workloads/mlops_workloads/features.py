"""The feature contract of the reference use case: card-transaction fraud detection.

Everything that touches model inputs derives from this module — data validation, feature engineering, the Feast
definitions, training, the inference request schema and drift monitoring. Nothing else lists the columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FeatureKind = Literal["float", "int", "bool"]


@dataclass(frozen=True)
class Feature:
    """One model input: its type, its valid closed range and what it means."""

    name: str
    kind: FeatureKind
    minimum: float
    maximum: float
    description: str

    @property
    def pandas_dtype(self) -> str:
        """The column dtype every producer writes and every consumer may rely on."""
        return PANDAS_DTYPES[self.kind]

    @property
    def is_seasonal(self) -> bool:
        """Calendar features: a one-day window always differs from a week-long reference, so their drift is
        reported but never counts towards dataset drift or retraining."""
        return self.name in SEASONAL

    @property
    def is_categorical(self) -> bool:
        """Integer codes and flags: drift is compared on their frequencies, not as a continuum."""
        return self.kind == "bool" or self.name in CATEGORICAL_INTS


PANDAS_DTYPES: dict[FeatureKind, str] = {"float": "float64", "int": "int64", "bool": "bool"}
CATEGORICAL_INTS = frozenset({"merchant_category", "hour_of_day", "day_of_week"})
SEASONAL = frozenset({"day_of_week"})

ENTITY_NAME = "card"
ENTITY_KEY = "card_id"
EVENT_TIMESTAMP = "event_timestamp"
TRANSACTION_ID = "transaction_id"
LABEL = "is_fraud"
FEATURE_SERVICE = "fraud_detection_v1"
MODEL_NAME = "fraud-detection"

FEATURES: tuple[Feature, ...] = (
    Feature("amount", "float", 0.0, 50_000.0, "Transaction amount in USD"),
    Feature("merchant_category", "int", 0, 19, "Merchant category code bucket (0-19)"),
    Feature("hour_of_day", "int", 0, 23, "Local hour of the transaction"),
    Feature("day_of_week", "int", 0, 6, "Day of week, Monday = 0"),
    Feature("days_since_last_transaction", "float", 0.0, 3_650.0, "Days since the card's previous transaction"),
    Feature("avg_transaction_amount_30d", "float", 0.0, 50_000.0, "Mean amount over the card's last 30 days"),
    Feature("transaction_count_30d", "int", 0, 10_000, "Number of transactions in the card's last 30 days"),
    Feature("total_spend_90d", "float", 0.0, 5_000_000.0, "Total spend over the card's last 90 days"),
    Feature("merchant_risk_score", "float", 0.0, 1.0, "Risk score of the merchant, 0 = safe, 1 = risky"),
    Feature("card_present", "bool", 0, 1, "Card physically present at the terminal"),
    Feature("international", "bool", 0, 1, "Merchant country differs from the card's country"),
)

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
FEATURES_BY_NAME: dict[str, Feature] = {f.name: f for f in FEATURES}
