"""Feast objects for `feast apply`: all derived from the feature contract in mlops_workloads.features."""

from mlops_workloads.feature_store import feature_definitions

_definitions = feature_definitions()

card = _definitions.entity
card_transactions = _definitions.source
card_features = _definitions.view
fraud_detection_v1 = _definitions.service
