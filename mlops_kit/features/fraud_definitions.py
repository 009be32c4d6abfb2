"""The fraud use case's feature groups, with no dependency beyond the definitions (no numpy, no pandas).

The ingestion Lambda imports its registry from here (its layer carries pyarrow only); everything else should
import them from :mod:`mlops_kit.features.fraud`, which re-exports them with the rest of the contract.
"""

from __future__ import annotations

import datetime as dt

from mlops_kit.features.definitions import EntityKey, Feature, FeatureGroup, ValueType

ENTITY = EntityKey("customer_id", ValueType.STRING)
LABEL = "is_fraud"
LABEL_TIME_COLUMN = "event_timestamp"

CUSTOMER_PROFILE = FeatureGroup(
    name="customer_profile",
    entity_keys=(ENTITY,),
    features=(
        Feature("age", ValueType.INT64, "age in years"),
        Feature("tenure_days", ValueType.INT64, "days since the account was opened"),
        Feature("country", ValueType.STRING, "ISO 3166 country of residence"),
    ),
    event_time_column="event_timestamp",
    created_time_column="created_timestamp",
    ttl=None,
    description="Slowly changing customer attributes from the account system.",
    owner="fraud-ml@example.com",
)
CUSTOMER_ACTIVITY = FeatureGroup(
    name="customer_activity",
    entity_keys=(ENTITY,),
    features=(
        Feature("txn_count_7d", ValueType.INT64, "card transactions in the 7 days before the snapshot"),
        Feature("avg_amount_7d", ValueType.FLOAT64, "mean transaction amount over those 7 days"),
        Feature("max_amount_7d", ValueType.FLOAT64, "largest transaction amount over those 7 days"),
    ),
    event_time_column="event_timestamp",
    ttl=dt.timedelta(days=30),
    description="Rolling 7-day spending aggregates, recomputed every few days by the streaming job.",
    owner="fraud-ml@example.com",
)
FEATURE_GROUPS: tuple[FeatureGroup, ...] = (CUSTOMER_PROFILE, CUSTOMER_ACTIVITY)
