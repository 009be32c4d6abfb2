"""The batch job scores rows as the endpoint scores them, with features as of each row's time, and records what
it scored with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlops_kit.batch.inputs import manifest_hash
from mlops_kit.features import fraud
from mlops_kit.features.offline import OfflineStore
from mlops_kit.features.storage import LocalObjectStore
from sagemaker_jobs import batch_score, inference
from tests.unit.batch.conftest import World

ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/mlops-kit-models/3"


def run(
    world: World,
    rows: pd.DataFrame,
    tmp_path: Path,
    fmt: str = "csv",
    offline_uri: str | None = None,
    extra: tuple[str, ...] = (),
) -> Any:
    folder = tmp_path / "input"
    folder.mkdir(parents=True)
    if fmt == "csv":
        rows.to_csv(folder / "part-0.csv", index=False)
    elif fmt == "jsonl":
        rows.to_json(folder / "part-0.jsonl", orient="records", lines=True, date_format="iso")
    else:
        rows.to_parquet(folder / "part-0.parquet", index=False)
    argv = [
        "--offline-uri", offline_uri or world.offline_uri,
        "--id-column", "transaction_id",
        "--model-version", "3",
        "--model-package-arn", ARN,
        "--input-uri", "s3://data/batch/input/day/",
        "--job-name", "mlops-kit-batch-20250201T000000",
        "--input", str(folder),
        "--model", str(world.model_dir),
        "--output", str(tmp_path / "output"),
        *extra,
    ]  # fmt: skip
    return batch_score.main(argv)


def endpoint_scores(world: World, rows: pd.DataFrame, offline_uri: str) -> list[float]:
    """What the endpoint answers for the same rows, each request carrying the offline store's features as of
    the row's time (the values the online store held then)."""
    store = OfflineStore(fraud.REGISTRY, LocalObjectStore(offline_uri))
    labels = rows[["customer_id", "event_timestamp"]]
    joined = store.get_historical_features(labels, fraud.FEATURE_REFS)
    features = joined.table.select(joined.feature_columns).to_pylist()
    instances = [
        {
            "customer_id": row["customer_id"],
            "transaction": {
                "amount": float(row["amount"]),
                "merchant_category": row["merchant_category"],
                "event_timestamp": row["event_timestamp"].isoformat(),
            },
            "features": feature,
        }
        for row, feature in zip(rows.to_dict(orient="records"), features, strict=True)
    ]
    model = inference.model_fn(str(world.model_dir))
    request = inference.input_fn(json.dumps({"instances": instances}), "application/json")
    return [p["score"] for p in inference.predict_fn(request, model)["predictions"]]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_rows_are_scored_as_the_endpoint_scores_them_and_joined_back_to_their_ids(world, tmp_path, fmt) -> None:
    rows = world.rows(150).sample(frac=1.0, random_state=3).reset_index(drop=True)  # not in time order

    lineage = run(world, rows, tmp_path, fmt)

    out = tmp_path / "output" / f"predictions.{fmt}"
    predictions = (
        pd.read_csv(out) if fmt == "csv" else pd.read_json(out, lines=True) if fmt == "jsonl" else pd.read_parquet(out)
    )
    assert predictions["transaction_id"].astype(str).tolist() == rows["transaction_id"].astype(str).tolist()
    assert predictions["score"].tolist() == pytest.approx(endpoint_scores(world, rows, world.offline_uri), abs=1e-6)
    assert set(predictions["label"]) <= {0, 1}
    assert predictions["model_version"].astype(str).unique().tolist() == ["3"]
    assert lineage["input"]["rows"] == 150
    assert lineage["input"]["format"] == fmt


def test_lineage_records_model_input_manifest_and_feature_snapshot(world, tmp_path) -> None:
    lineage = run(world, world.rows(50), tmp_path)

    written = json.loads((tmp_path / "output" / "lineage.json").read_text())
    assert written == json.loads(json.dumps(lineage, default=str))
    assert written["model"] == {"version": "3", "package_arn": ARN, "model_data_url": "", "threshold": 0.5}
    files = written["input"]["files"]
    assert [f["name"] for f in files] == ["part-0.csv"]
    assert written["input"]["manifest_hash"] == manifest_hash([batch_score.InputFile(**f) for f in files])
    snapshot = written["feature_snapshot"]
    assert snapshot["feature_groups"] == {g.name: g.version for g in fraud.FEATURE_GROUPS}
    assert snapshot["created_before_label"] is False
    assert snapshot["matched_rows"]["customer_activity"] > 0
    assert set(snapshot["matched_rows"]) == {"customer_profile", "customer_activity"}
    assert written["output"]["rows"] == 50
    assert written["output"]["file"] == "predictions.csv"


def test_a_changed_input_has_another_manifest_hash(world, tmp_path) -> None:
    first = run(world, world.rows(20), tmp_path / "a")
    second = run(world, world.rows(21), tmp_path / "b")

    assert first["input"]["manifest_hash"] != second["input"]["manifest_hash"]


def test_features_are_read_as_of_each_rows_time_never_later(world, tmp_path) -> None:
    # Given a store where one customer's activity changed after the row's time
    offline = tmp_path / "features"
    store = OfflineStore(fraud.REGISTRY, LocalObjectStore(str(offline)))
    for group, frame in world.data.feature_rows().items():
        store.write(group, frame)
    row = world.rows(1)
    later = row["event_timestamp"].iloc[0] + pd.Timedelta(hours=1)
    store.write(
        fraud.CUSTOMER_ACTIVITY.name,
        pd.DataFrame(
            {
                "customer_id": row["customer_id"],
                "event_timestamp": pd.Series([later]).astype("datetime64[us, UTC]"),
                "txn_count_7d": [999],
                "avg_amount_7d": [1.0],
                "max_amount_7d": [1.0],
            }
        ),
    )
    before = endpoint_scores(world, row, str(offline))

    # When the row is scored
    run(world, row, tmp_path, offline_uri=str(offline))

    # Then the later value is not what it was scored with
    predictions = pd.read_csv(tmp_path / "output" / "predictions.csv")
    assert predictions["score"].tolist() == pytest.approx(before, abs=1e-6)
    moved = row.assign(event_timestamp=later)
    assert endpoint_scores(world, moved, str(offline)) != pytest.approx(before, abs=1e-6)


def test_created_before_row_ignores_values_that_reached_the_store_after_the_row(world, tmp_path) -> None:
    # The world's activity rows carry no created time and were ingested now, long after the rows' 2025 times;
    # profiles carry their created time, before the rows.
    lineage = run(world, world.rows(30), tmp_path, extra=("--created-before-row",))

    snapshot = lineage["feature_snapshot"]
    assert snapshot["created_before_label"] is True
    assert snapshot["matched_rows"]["customer_activity"] == 0
    assert snapshot["matched_rows"]["customer_profile"] > 0
