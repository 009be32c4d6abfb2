"""The demo use case: card-fraud detection on synthetic data (the contract training and serving consume).

* Entity ``customer_id`` (string). Feature groups :data:`CUSTOMER_PROFILE` (age, tenure_days, country; no
  TTL; with a created-time column) and :data:`CUSTOMER_ACTIVITY` (txn_count_7d, avg_amount_7d,
  max_amount_7d; TTL 30 days), several versions per customer over time.
* Labelled events: transactions ``transaction_id, customer_id, event_timestamp, amount, merchant_category,
  is_fraud``; :data:`LABEL` is ``"is_fraud"``.
* :data:`FEATURE_REFS` are what a training set and an online lookup ask for; :data:`TRANSFORMATIONS` turn a
  training set (or one request) into :data:`MODEL_FEATURES`, the model's input columns, in that order:
  :func:`build_model_frame` offline, :func:`serving_features` online -- one code path, no skew.
* :func:`generate` makes seeded data where fraud really depends on features and transformations (amount
  against the customer's 7-day average, night hours, merchant and country risk, young accounts), so a
  gradient-boosting model reaches a ROC AUC around 0.9 at a fraud rate of a few percent. ``drift > 0``
  shifts :data:`DRIFTED_FEATURES` (amount up, 7-day transaction count up) for the drift demo.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlops_kit.features.definitions import FeatureRegistry
from mlops_kit.features.fraud_definitions import (
    CUSTOMER_ACTIVITY,
    CUSTOMER_PROFILE,
    ENTITY,
    FEATURE_GROUPS,
    LABEL,
    LABEL_TIME_COLUMN,
)
from mlops_kit.features.transformations import Kind, apply_to_frame, apply_to_record, transformation

__all__ = [
    "CUSTOMER_ACTIVITY",
    "CUSTOMER_PROFILE",
    "DRIFTED_FEATURES",
    "ENTITY",
    "EXPECTATIONS",
    "FEATURE_GROUPS",
    "FEATURE_REFS",
    "FEATURE_REGISTRY",
    "LABEL",
    "LABEL_TIME_COLUMN",
    "MODEL_FEATURES",
    "ONLINE_FEATURES",
    "REGISTRY",
    "REQUEST_FIELDS",
    "TRANSFORMATIONS",
    "FraudData",
    "build_model_frame",
    "generate",
    "serving_features",
]
REGISTRY = FeatureRegistry(FEATURE_GROUPS)
# The ingestion function imports the groups from the module that defines them: it has no numpy.
FEATURE_REGISTRY = "mlops_kit.features.fraud_definitions:FEATURE_GROUPS"
FEATURE_REFS: list[str] = [
    "customer_profile:age",
    "customer_profile:tenure_days",
    "customer_profile:country",
    "customer_activity:txn_count_7d",
    "customer_activity:avg_amount_7d",
    "customer_activity:max_amount_7d",
]
ONLINE_FEATURES: list[str] = [ref.split(":", 1)[1] for ref in FEATURE_REFS]  # names OnlineStore.get returns
REQUEST_FIELDS: dict[str, Kind] = {"amount": "number", "merchant_category": "category", "event_timestamp": "timestamp"}

MERCHANT_RISK: dict[str, float] = {
    "grocery": 0.05,
    "fuel": 0.1,
    "restaurants": 0.1,
    "pharmacy": 0.1,
    "travel": 0.45,
    "electronics": 0.6,
    "jewelry": 0.8,
    "online_gaming": 0.9,
    "crypto": 1.0,
}
MERCHANT_SHARE = (0.28, 0.14, 0.18, 0.08, 0.08, 0.1, 0.04, 0.06, 0.04)
COUNTRY_RISK: dict[str, float] = {
    "DE": 0.1,
    "FR": 0.1,
    "GB": 0.15,
    "US": 0.2,
    "IN": 0.4,
    "BR": 0.5,
    "RU": 0.7,
    "NG": 0.8,
}
COUNTRY_SHARE = (0.25, 0.15, 0.15, 0.25, 0.08, 0.06, 0.03, 0.03)
UNKNOWN_RISK = 0.5  # categories the tables do not know (new merchants, countries)
DRIFTED_FEATURES = ("amount", "txn_count_7d")


def _lookup(table: Mapping[str, float], values: np.ndarray) -> np.ndarray:
    return np.array([table.get(v, UNKNOWN_RISK) if v is not None else np.nan for v in values], dtype=np.float64)


@transformation("log_amount", ["amount"])
def log_amount(amount: np.ndarray) -> np.ndarray:
    """log(1 + amount)."""
    return np.log1p(np.maximum(amount, 0.0))


@transformation("amount_to_avg_ratio", ["amount", "avg_amount_7d"])
def amount_to_avg_ratio(amount: np.ndarray, avg: np.ndarray) -> np.ndarray:
    """The amount against the customer's 7-day average (NaN without history)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(avg > 0, amount / avg, np.nan)


@transformation("amount_to_max_ratio", ["amount", "max_amount_7d"])
def amount_to_max_ratio(amount: np.ndarray, largest: np.ndarray) -> np.ndarray:
    """The amount against the customer's largest amount in 7 days (NaN without history)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(largest > 0, amount / largest, np.nan)


@transformation("hour_of_day", ["event_timestamp"], ["timestamp"])
def hour_of_day(timestamp_us: np.ndarray) -> np.ndarray:
    """Hour of the transaction, UTC."""
    return np.floor(timestamp_us / 3_600_000_000.0) % 24


@transformation("is_night", ["hour_of_day"])
def is_night(hour: np.ndarray) -> np.ndarray:
    """1 between 00:00 and 05:59 UTC."""
    return np.where(np.isnan(hour), np.nan, (hour < 6).astype(np.float64))


@transformation("merchant_risk", ["merchant_category"], ["category"])
def merchant_risk(category: np.ndarray) -> np.ndarray:
    """Risk score of the merchant category (0.5 for unknown categories)."""
    return _lookup(MERCHANT_RISK, category)


@transformation("country_risk", ["country"], ["category"])
def country_risk(country: np.ndarray) -> np.ndarray:
    """Risk score of the customer's country (0.5 for unknown countries)."""
    return _lookup(COUNTRY_RISK, country)


TRANSFORMATIONS = (
    log_amount,
    amount_to_avg_ratio,
    amount_to_max_ratio,
    hour_of_day,
    is_night,
    merchant_risk,
    country_risk,
)
_PASSTHROUGH: dict[str, Kind] = {
    "age": "number",
    "tenure_days": "number",
    "txn_count_7d": "number",
    "avg_amount_7d": "number",
    "max_amount_7d": "number",
}
MODEL_FEATURES: list[str] = [
    "amount",
    "log_amount",
    "amount_to_avg_ratio",
    "amount_to_max_ratio",
    "hour_of_day",
    "is_night",
    "merchant_risk",
    "country_risk",
    "age",
    "tenure_days",
    "txn_count_7d",
    "avg_amount_7d",
    "max_amount_7d",
]


# What the training pipeline's validate step checks on a training set before training (the keys of
# mlops_kit.pipeline.usecase.Expectations; a plain dict so this module does not import the pipeline).
EXPECTATIONS: dict[str, Any] = {
    "min_rows": 1_000,
    "label_rate": (0.005, 0.2),
    "max_null_fraction": 0.02,
    # Activity values expire after 30 days (quiet customers), so some label rows have none.
    "null_fraction": {"txn_count_7d": 0.2, "avg_amount_7d": 0.2, "max_amount_7d": 0.2},
    "ranges": {"amount": (0.0, 1e7), "age": (14, 130), "tenure_days": (0, 50_000), "txn_count_7d": (0, 100_000)},
    "required_columns": ("customer_id", "event_timestamp", "amount", "merchant_category", *ONLINE_FEATURES),
}


def build_model_frame(training_set_df: Any) -> Any:
    """Model inputs from a training set: :data:`MODEL_FEATURES` as float64 columns (NaN for missing), plus
    :data:`LABEL` as int64 when the frame has it. Raises ``KeyError`` naming missing input columns."""
    import pandas as pd

    columns = apply_to_frame(training_set_df, TRANSFORMATIONS, _PASSTHROUGH)
    frame = pd.DataFrame({name: columns[name] for name in MODEL_FEATURES})
    if LABEL in training_set_df.columns:
        frame[LABEL] = training_set_df[LABEL].astype("int64").to_numpy()
    return frame


def serving_features(request_fields: Mapping[str, Any], online_features: Mapping[str, Any]) -> dict[str, float]:
    """Model inputs for one request: the raw fields (``amount``, ``merchant_category``, ``event_timestamp`` as
    an ISO 8601 string with offset or an aware datetime) plus the online features (as
    :meth:`~mlops_kit.features.online.OnlineStore.get` returns them, ``None`` when missing). Returns
    :data:`MODEL_FEATURES` in order. Raises ``KeyError`` naming missing fields and
    :class:`~mlops_kit.features.transformations.InvalidValueError` (a ``ValueError``) naming the first value of the
    wrong type: every request field is required (not null), online features may be missing (``None``)."""
    record = {name: online_features.get(name) for name in ONLINE_FEATURES}  # missing entity: all None
    record.update({name: request_fields[name] for name in REQUEST_FIELDS if name in request_fields})
    values = apply_to_record(record, TRANSFORMATIONS, {**_PASSTHROUGH, **REQUEST_FIELDS}, required=REQUEST_FIELDS)
    return {name: values[name] for name in MODEL_FEATURES}


# -- synthetic data ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FraudData:
    """Feature rows for both groups and the labelled transactions (all timestamps UTC, microseconds)."""

    profiles: Any  # DataFrame: customer_id, event_timestamp, created_timestamp, age, tenure_days, country
    activity: Any  # DataFrame: customer_id, event_timestamp, txn_count_7d, avg_amount_7d, max_amount_7d
    transactions: Any  # DataFrame: transaction_id, customer_id, event_timestamp, amount, merchant_category, is_fraud

    def feature_rows(self) -> dict[str, Any]:
        return {CUSTOMER_PROFILE.name: self.profiles, CUSTOMER_ACTIVITY.name: self.activity}


def _utc(values: np.ndarray) -> Any:
    import pandas as pd

    return pd.to_datetime(values.astype("int64"), unit="us", utc=True).astype("datetime64[us, UTC]")


_DAY_US = 86_400_000_000


def generate(
    n_customers: int = 2_000,
    n_transactions: int = 20_000,
    seed: int = 42,
    start: dt.datetime = dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    days: int = 90,
    drift: float = 0.0,
) -> FraudData:
    """Seeded synthetic customers, feature history and transactions over ``days`` from ``start``.

    Profiles start before ``start`` (about a quarter change once within the window); activity snapshots
    come every 1-5 days (some customers go quiet for over 30 days, so the TTL matters); each transaction's
    fraud probability is computed from the feature values in force at its time. ``drift`` in [0, 1] scales
    the shift of :data:`DRIFTED_FEATURES`. Raises ``ValueError`` on non-positive sizes or a naive ``start``.
    """

    if n_customers < 1 or n_transactions < 1 or days < 1:
        raise ValueError("n_customers, n_transactions and days must be positive")
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    rng = np.random.default_rng(seed)
    start_us = (start - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)
    ids = np.array([f"C{i:07d}" for i in range(n_customers)], dtype=object)

    # The draws happen in this order (profiles, activity, transactions, labels): it fixes each seed's data.
    profiles = _profiles(rng, ids, start_us, days)
    activity, spend = _activity(rng, ids, start_us, days, drift)
    transactions = _transactions(rng, ids, spend, start_us, days, n_transactions, drift)
    transactions[LABEL] = rng.random(n_transactions) < _fraud_probability(transactions, profiles, activity)
    return FraudData(profiles=profiles, activity=activity, transactions=transactions)


def _profiles(rng: np.random.Generator, ids: np.ndarray, start_us: int, days: int) -> Any:
    """Profiles: one version before the window, a second for about a quarter of customers."""
    import pandas as pd

    n_customers, day_us = len(ids), _DAY_US
    age = rng.integers(18, 85, n_customers)
    tenure = rng.gamma(1.5, 400.0, n_customers).astype(np.int64)
    countries = np.array(list(COUNTRY_RISK), dtype=object)
    country = rng.choice(countries, n_customers, p=COUNTRY_SHARE)
    first_us = start_us - rng.integers(1, 30, n_customers) * day_us
    movers = rng.random(n_customers) < 0.25
    second_us = start_us + rng.integers(1, days, n_customers) * day_us
    moved_country = np.where(rng.random(n_customers) < 0.3, rng.choice(countries, n_customers), country)
    prof_ids = np.concatenate([ids, ids[movers]])
    prof_event = np.concatenate([first_us, second_us[movers]])
    prof_age = np.concatenate([age, age[movers] + (second_us[movers] - first_us[movers]) // (365 * day_us)])
    prof_tenure = np.concatenate([tenure, tenure[movers] + (second_us[movers] - first_us[movers]) // day_us])
    prof_country = np.concatenate([country, moved_country[movers]])
    prof_created = prof_event + rng.integers(0, 3_600_000_000, len(prof_event))
    return pd.DataFrame(
        {
            "customer_id": pd.array(prof_ids, dtype="str"),
            "event_timestamp": _utc(prof_event),
            "created_timestamp": _utc(prof_created),
            "age": prof_age.astype(np.int64),
            "tenure_days": prof_tenure.astype(np.int64),
            "country": pd.array(prof_country, dtype="str"),
        }
    )


def _activity(rng: np.random.Generator, ids: np.ndarray, start_us: int, days: int, drift: float) -> tuple[Any, Any]:
    """Activity snapshots every 1-5 days from 10 days before the window, with quiet spells of 35-45 days.

    Returns the snapshots and each customer's typical amount per transaction.
    """
    import pandas as pd

    n_customers, day_us, end_us = len(ids), _DAY_US, start_us + days * _DAY_US
    spend = rng.lognormal(3.6, 0.6, n_customers)  # typical amount per customer
    rate = rng.gamma(2.0, 1.2, n_customers)  # transactions per day
    steps = int(days / 1.0) + 12
    gaps = rng.uniform(1.0, 5.0, (n_customers, steps)) * day_us
    times = (start_us - 10 * day_us) + np.cumsum(gaps, axis=1).astype(np.int64)
    keep = times <= end_us
    quiet = rng.random(n_customers) < 0.08
    quiet_from = start_us + rng.integers(0, days, n_customers) * day_us
    quiet_to = quiet_from + rng.integers(35, 45, n_customers) * day_us
    keep &= ~(quiet[:, None] & (times >= quiet_from[:, None]) & (times < quiet_to[:, None]))
    rows, cols = np.nonzero(keep)
    act_times = times[rows, cols]
    count = rng.poisson(rate[rows] * 7 + drift * 10)
    avg = spend[rows] * rng.lognormal(0.0, 0.15, len(rows))
    largest = avg * (1.0 + rng.exponential(0.8, len(rows)))
    activity = pd.DataFrame(
        {
            "customer_id": pd.array(ids[rows], dtype="str"),
            "event_timestamp": _utc(act_times),
            "txn_count_7d": count.astype(np.int64),
            "avg_amount_7d": np.round(avg, 2),
            "max_amount_7d": np.round(largest, 2),
        }
    )
    return activity, spend


def _transactions(
    rng: np.random.Generator,
    ids: np.ndarray,
    spend: np.ndarray,
    start_us: int,
    days: int,
    n_transactions: int,
    drift: float,
) -> Any:
    """Transactions in time order, some at night and some with anomalous amounts; no labels yet."""
    import pandas as pd

    n_customers, day_us, end_us = len(ids), _DAY_US, start_us + days * _DAY_US
    who = rng.integers(0, n_customers, n_transactions)
    when = rng.integers(start_us, end_us, n_transactions)
    night = rng.random(n_transactions) < 0.12  # move some to night hours
    when = np.where(night, (when // day_us) * day_us + rng.integers(0, 6 * 3_600_000_000, n_transactions), when)
    when = np.maximum(when, start_us)
    categories = np.array(list(MERCHANT_RISK), dtype=object)
    merchant = rng.choice(categories, n_transactions, p=MERCHANT_SHARE)
    anomalous = rng.random(n_transactions) < 0.06
    amount = (
        spend[who]
        * rng.lognormal(0.0, 0.5, n_transactions)
        * np.where(anomalous, rng.uniform(3, 12, n_transactions), 1.0)
    )
    amount = np.round(amount * (1.0 + drift * 0.8), 2)
    order = np.argsort(when, kind="stable")
    who, when, merchant, amount = who[order], when[order], merchant[order], amount[order]
    return pd.DataFrame(
        {
            "transaction_id": [f"T{i:09d}" for i in range(n_transactions)],
            "customer_id": pd.array(ids[who], dtype="str"),
            "event_timestamp": _utc(when),
            "amount": amount,
            "merchant_category": pd.array(merchant, dtype="str"),
        }
    )


def _fraud_probability(transactions: Any, profiles: Any, activity: Any) -> np.ndarray:
    """Each transaction's fraud probability from the features in force at its time (the point-in-time view a
    model will see)."""
    asof = _as_of(transactions, profiles, activity)
    model = build_model_frame(asof)
    ratio = np.log(np.clip(model["amount_to_avg_ratio"].fillna(1.0).to_numpy(), 0.05, 50))
    young = (model["tenure_days"].to_numpy() < 120).astype(float)
    busy = np.clip((model["txn_count_7d"].fillna(0).to_numpy() - 15) / 10, 0, 2)
    logit = (
        -6.4
        + 1.5 * ratio
        + 1.4 * model["is_night"].to_numpy()
        + 2.4 * model["merchant_risk"].to_numpy()
        + 1.6 * model["country_risk"].fillna(UNKNOWN_RISK).to_numpy()
        + 1.0 * young
        + 0.5 * busy
        + 0.6 * model["avg_amount_7d"].isna().to_numpy()
    )
    return np.asarray(1.0 / (1.0 + np.exp(-logit)))


def _as_of(transactions: Any, profiles: Any, activity: Any) -> Any:
    """Each transaction with the profile and activity values in force at its time (TTL applied)."""
    import pandas as pd

    left = transactions.sort_values("event_timestamp", kind="stable")
    prof = profiles.sort_values(["event_timestamp", "created_timestamp"], kind="stable").rename(
        columns={"event_timestamp": "_profile_time"}
    )
    act = activity.sort_values("event_timestamp", kind="stable").rename(columns={"event_timestamp": "_activity_time"})
    merged = pd.merge_asof(
        left, prof.drop(columns="created_timestamp"), left_on="event_timestamp", right_on="_profile_time",
        by="customer_id",
    )  # fmt: skip
    merged = pd.merge_asof(merged, act, left_on="event_timestamp", right_on="_activity_time", by="customer_id")
    expired = (merged["event_timestamp"] - merged["_activity_time"]) > pd.Timedelta(
        microseconds=CUSTOMER_ACTIVITY.ttl_us or 0
    )
    for column in CUSTOMER_ACTIVITY.feature_names:
        merged[column] = merged[column].astype("Float64").mask(expired)
    return merged.sort_index()
