"""Input validation, shared transformations (training path == serving path) and the fraud use-case contract."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from mlops_kit.features import fraud
from mlops_kit.features.offline import OfflineStore
from mlops_kit.features.records import InvalidRecordsError, to_table
from mlops_kit.features.storage import LocalObjectStore
from tests.unit.features.conftest import ACTIVITY, PAIR, PROFILE, at


def test_json_records_are_typed_and_explicit_nulls_are_kept() -> None:
    table = to_table(ACTIVITY, [{"user": "u", "event_timestamp": "2025-01-01T10:00:00+02:00", "score": 1,
                                 "flag": None, "seen": None, "history": [1, 2.5]}])  # fmt: skip

    assert table.column("score").to_pylist() == [1.0]
    assert table.column("flag").to_pylist() == [None]
    assert table.column("event_timestamp").to_pylist() == [dt.datetime(2025, 1, 1, 8, tzinfo=dt.UTC)]
    assert table.column("history").to_pylist() == [[1.0, 2.5]]


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([{"user": "u", "event_timestamp": "2025-01-01T10:00:00", "age": 1, "country": "DE"}], "no time zone"),
        (
            [{"user": "u", "event_timestamp": at(0), "age": 1, "country": "DE", "agee": 2}],
            r"unknown columns \['agee'\]",
        ),
        ([{"event_timestamp": at(0), "age": 1, "country": "DE"}], "column 'user' has 1 null values"),
        ([{"user": "u", "age": 1, "country": "DE"}], "column 'event_timestamp' has 1 null values"),
        ([{"user": "u", "event_timestamp": at(0), "age": True, "country": "DE"}], "expected int64, got a boolean"),
        (
            [{"user": "u", "event_timestamp": at(0), "age": 1.5, "country": "DE"}],
            "expected int64, got double with fractional",
        ),
        ([{"user": 7, "event_timestamp": at(0), "age": 1, "country": "DE"}], "column 'user': expected string"),
        ([{"user": "u", "event_timestamp": "yesterday", "age": 1, "country": "DE"}], "not an ISO 8601 timestamp"),
    ],
)
def test_bad_records_are_refused_naming_the_column(records: list, message: str) -> None:
    with pytest.raises(InvalidRecordsError, match=message):
        to_table(PROFILE, records)


def test_frames_need_every_column_and_aware_microsecond_timestamps() -> None:
    good = pd.DataFrame({"a": ["x"], "b": [1], "event_timestamp": [at(0)], "v": [1.0]})
    assert to_table(PAIR, good).column("v").to_pylist() == [1]  # integral float from pandas is accepted

    with pytest.raises(InvalidRecordsError, match=r"missing columns \['v'\]"):
        to_table(PAIR, good.drop(columns="v"))
    with pytest.raises(InvalidRecordsError, match="naive"):
        to_table(PAIR, good.assign(event_timestamp=[dt.datetime(2025, 1, 1)]))
    nanos = pd.Series([pd.Timestamp("2025-01-01T00:00:00.000000001", tz="UTC")])
    with pytest.raises(InvalidRecordsError, match="sub-microsecond"):
        to_table(PAIR, good.assign(event_timestamp=nanos))
    with pytest.raises(InvalidRecordsError, match="expected int64"):
        to_table(PAIR, good.assign(b=["1"]))


# -- the fraud use case ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data() -> fraud.FraudData:
    return fraud.generate(n_customers=400, n_transactions=4_000, seed=3)


@pytest.fixture(scope="module")
def training_set(data: fraud.FraudData, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    store = OfflineStore(fraud.REGISTRY, LocalObjectStore(tmp_path_factory.mktemp("offline")))
    for group, rows in data.feature_rows().items():
        store.write(group, rows)
    return store.get_historical_features(data.transactions, fraud.FEATURE_REFS).frame


def test_the_contract_names_what_training_and_serving_consume() -> None:
    assert fraud.LABEL == "is_fraud"
    assert [g.name for g in fraud.FEATURE_GROUPS] == ["customer_profile", "customer_activity"]
    assert fraud.CUSTOMER_ACTIVITY.ttl == dt.timedelta(days=30)
    assert fraud.CUSTOMER_PROFILE.ttl is None
    assert {t.output for t in fraud.TRANSFORMATIONS} <= set(fraud.MODEL_FEATURES)
    assert len(set(fraud.MODEL_FEATURES)) == len(fraud.MODEL_FEATURES)


def test_generation_is_seeded_and_shaped_like_the_contract(data: fraud.FraudData) -> None:
    again = fraud.generate(n_customers=400, n_transactions=4_000, seed=3)

    pd.testing.assert_frame_equal(again.transactions, data.transactions)
    assert list(data.transactions.columns) == [
        "transaction_id", "customer_id", "event_timestamp", "amount", "merchant_category", "is_fraud",
    ]  # fmt: skip
    assert data.profiles.groupby("customer_id").size().max() == 2  # several versions per entity
    assert data.activity.groupby("customer_id").size().min() > 5
    assert 0.01 < data.transactions["is_fraud"].mean() < 0.08
    assert to_table(fraud.CUSTOMER_PROFILE, data.profiles).num_rows == len(data.profiles)
    assert to_table(fraud.CUSTOMER_ACTIVITY, data.activity).num_rows == len(data.activity)


def test_drift_shifts_the_two_named_features(data: fraud.FraudData) -> None:
    drifted = fraud.generate(n_customers=400, n_transactions=4_000, seed=3, drift=1.0)

    assert drifted.transactions["amount"].median() > 1.5 * data.transactions["amount"].median()
    assert drifted.activity["txn_count_7d"].mean() > data.activity["txn_count_7d"].mean() + 8
    assert drifted.profiles.equals(data.profiles)


def test_fraud_is_learnable_from_the_point_in_time_features(training_set: pd.DataFrame) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    frame = fraud.build_model_frame(training_set)
    train = np.arange(len(frame)) < int(0.7 * len(frame))
    model = HistGradientBoostingClassifier(random_state=0, max_iter=100).fit(
        frame.loc[train, fraud.MODEL_FEATURES], frame.loc[train, fraud.LABEL]
    )
    auc = roc_auc_score(
        frame.loc[~train, fraud.LABEL], model.predict_proba(frame.loc[~train, fraud.MODEL_FEATURES])[:, 1]
    )

    assert list(frame.columns) == [*fraud.MODEL_FEATURES, fraud.LABEL]
    assert auc > 0.75  # about 0.87 at demo sizes; this small sample is noisier


def test_serving_gives_the_training_values_bit_for_bit(training_set: pd.DataFrame) -> None:
    offline = fraud.build_model_frame(training_set)
    online_names = [r.split(":")[1] for r in fraud.FEATURE_REFS]

    for index in range(0, len(training_set), 97):
        row = training_set.iloc[index]
        request = {
            "amount": float(row["amount"]),
            "merchant_category": str(row["merchant_category"]),
            "event_timestamp": row["event_timestamp"].isoformat(),
        }
        online = {
            n: (None if pd.isna(row[n]) else (row[n].item() if hasattr(row[n], "item") else row[n]))
            for n in online_names
        }

        served = fraud.serving_features(request, online)

        expected = offline.iloc[index][fraud.MODEL_FEATURES].to_numpy(dtype=float)
        np.testing.assert_array_equal(np.array(list(served.values())), expected)
        assert list(served) == fraud.MODEL_FEATURES


def test_serving_refuses_missing_fields_and_naive_times() -> None:
    online = {
        "age": 30,
        "tenure_days": 10,
        "country": "DE",
        "txn_count_7d": 3,
        "avg_amount_7d": 5.0,
        "max_amount_7d": 9.0,
    }

    with pytest.raises(KeyError, match="amount"):
        fraud.serving_features({"merchant_category": "fuel", "event_timestamp": at(0)}, online)
    with pytest.raises(ValueError, match="no time zone"):
        fraud.serving_features(
            {"amount": 1.0, "merchant_category": "fuel", "event_timestamp": "2025-01-01T00:00:00"}, online
        )
    served = fraud.serving_features({"amount": 1.0, "merchant_category": "new", "event_timestamp": at(3)}, {})
    assert served["merchant_risk"] == fraud.UNKNOWN_RISK
    assert np.isnan(served["amount_to_avg_ratio"])
    assert served["hour_of_day"] == 3.0


def test_the_fraud_module_meets_the_training_pipelines_contract(training_set: pd.DataFrame) -> None:
    from mlops_kit.pipeline.usecase import expectations_of
    from mlops_kit.pipeline.usecase import load_use_case as load_training_use_case
    from sagemaker_jobs.validate import validate

    module = load_training_use_case("mlops_kit.features.fraud")
    report = validate(training_set, module.LABEL, expectations_of(module))

    assert report["passed"], report["summary"]


def test_build_training_set_from_the_folders_a_processing_job_gets(
    data: fraud.FraudData, training_set: pd.DataFrame, tmp_path
) -> None:
    from mlops_kit.features.offline import read_training_set
    from mlops_kit.features.training import build_training_set

    offline = OfflineStore(fraud.REGISTRY, LocalObjectStore(tmp_path / "offline"))
    for group, rows in data.feature_rows().items():
        offline.write(group, rows)
    (tmp_path / "labels" / "fraud").mkdir(parents=True)
    half = len(data.transactions) // 2
    data.transactions.iloc[:half].to_parquet(tmp_path / "labels" / "fraud" / "a.parquet", index=False)
    data.transactions.iloc[half:].to_parquet(tmp_path / "labels" / "fraud" / "b.parquet", index=False)

    manifest = build_training_set(
        tmp_path / "offline", tmp_path / "labels", tmp_path / "out", use_case="mlops_kit.features.fraud"
    )
    windowed = build_training_set(
        tmp_path / "offline", tmp_path / "labels", tmp_path / "window", use_case=fraud,
        labels_from="2025-02-01", labels_to="2025-03-01T00:00:00+00:00",
    )  # fmt: skip

    frame, written = read_training_set(str(tmp_path / "out"))
    assert written == manifest
    assert sorted((tmp_path / "out").iterdir()) == [
        tmp_path / "out" / "manifest.json",
        tmp_path / "out" / "training_set.parquet",
    ]
    pd.testing.assert_frame_equal(frame, training_set)
    in_february = data.transactions["event_timestamp"].dt.month == 2
    assert windowed.rows == int(in_february.sum())

    from sagemaker_jobs.build_training_set import main

    job = main(["--use-case", "mlops_kit.features.fraud", "--offline", str(tmp_path / "offline"),
                "--labels", str(tmp_path / "labels"), "--output", str(tmp_path / "job")])  # fmt: skip
    # The pipeline's job leaves out values created after the label time by default (where a group has a created time).
    point_in_time = build_training_set(
        tmp_path / "offline", tmp_path / "labels", tmp_path / "pit", use_case=fraud,
        created_before_label="where_created",
    )  # fmt: skip
    assert job["dataset_hash"] == point_in_time.dataset_hash
    assert job["created_before_label"] == "where_created"
