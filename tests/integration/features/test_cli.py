"""`mlops features ...` against the deployed data stack in the emulator."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mlops_kit.cli.main import app
from mlops_kit.features import fraud
from mlops_kit.features.offline import read_training_set
from mlops_kit.features.store import DeployedStore
from mlops_local.emulator import Emulator

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich sizes tables to the terminal; make it wide enough that cells are not cut."""
    from mlops_kit.cli import console

    monkeypatch.setattr(console.console, "_width", 240)


NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def activity_csv(path: Path, rows: list[tuple[str, float, int]]) -> Path:
    frame = pd.DataFrame(
        {
            "customer_id": [c for c, _, _ in rows],
            "event_timestamp": [(NOW - dt.timedelta(days=d)).isoformat() for _, d, _ in rows],
            "txn_count_7d": [n for _, _, n in rows],
            "avg_amount_7d": [10.0 * n for _, _, n in rows],
            "max_amount_7d": [20.0 * n for _, _, n in rows],
        }
    )
    frame.to_csv(path, index=False)
    return path


def test_ingest_get_training_set_and_materialize(
    emulator: Emulator, names: DeployedStore, outputs: dict[str, str], tmp_path: Path
) -> None:
    records = activity_csv(tmp_path / "activity.csv", [("C1", 3, 1), ("C1", 1, 2), ("C2", 2, 5), ("C1", 5, 0)])

    ingested = runner.invoke(app, ["features", "ingest", "customer_activity", str(records)])

    assert ingested.exit_code == 0, ingested.output
    assert "online_stale   │ 2" in ingested.output
    assert emulator.client("dynamodb").scan(TableName=names.table_name)["Count"] == 2  # C1 and C2, newest each
    assert emulator.client("s3").list_objects_v2(Bucket=names.bucket, Prefix="features/customer_activity/")["KeyCount"]

    got = runner.invoke(
        app,
        ["features", "get", "customer_activity:txn_count_7d", "-e", "customer_id=C1", "-e", "customer_id=C3", "--json"],
    )

    assert got.exit_code == 0, got.output
    rows = json.loads(got.output[got.output.index("[") :])
    assert rows[0]["txn_count_7d"] == 2
    assert rows[1]["_status"] == {"customer_activity": "missing"}

    labels = tmp_path / "labels.csv"
    pd.DataFrame(
        {
            "customer_id": ["C1", "C1", "C2"],
            "event_timestamp": [(NOW - dt.timedelta(days=d)).isoformat() for d in (4, 0, 0)],
        }
    ).to_csv(labels, index=False)
    built = runner.invoke(
        app,
        [
            "features",
            "training-set",
            str(labels),
            "--output",
            str(tmp_path / "ts"),
            "-f",
            "customer_activity:txn_count_7d",
        ],
    )

    assert built.exit_code == 0, built.output
    frame, manifest = read_training_set(str(tmp_path / "ts"))
    assert frame["txn_count_7d"].tolist() == [0, 2, 5]
    assert manifest.feature_groups == {"customer_activity": fraud.CUSTOMER_ACTIVITY.version}

    materialized = runner.invoke(app, ["features", "materialize", "-g", "customer_activity"])

    assert materialized.exit_code == 0, materialized.output
    assert "customer_activity" in materialized.output


def test_a_bad_file_is_refused_before_anything_is_written(
    emulator: Emulator, names: DeployedStore, tmp_path: Path
) -> None:
    path = tmp_path / "bad.csv"
    activity_csv(path, [("C1", 1, 1)])
    frame = pd.read_csv(path)
    frame["txn_count_7d"] = ["lots"]
    frame.to_csv(path, index=False)

    result = runner.invoke(app, ["features", "ingest", "customer_activity", str(path)])

    assert result.exit_code == 1
    assert "txn_count_7d" in result.output
    assert "Contents" not in emulator.client("s3").list_objects_v2(Bucket=names.bucket, Prefix="features/")
    assert emulator.client("dynamodb").scan(TableName=names.table_name)["Count"] == 0


def test_an_oversized_key_is_refused_before_anything_is_written(
    emulator: Emulator, names: DeployedStore, tmp_path: Path
) -> None:
    path = activity_csv(tmp_path / "long.csv", [("C1", 1, 1), ("C" * 2100, 1, 2)])

    result = runner.invoke(app, ["features", "ingest", "customer_activity", str(path)])

    assert result.exit_code == 1
    assert "2048 bytes" in result.output
    assert "Contents" not in emulator.client("s3").list_objects_v2(Bucket=names.bucket, Prefix="features/")
    assert emulator.client("dynamodb").scan(TableName=names.table_name)["Count"] == 0


def test_a_future_dated_row_is_refused_alone_and_named(
    emulator: Emulator, names: DeployedStore, tmp_path: Path
) -> None:
    path = activity_csv(tmp_path / "future.csv", [("C1", 1, 1), ("C2", -1, 2)])  # C2: a day in the future

    result = runner.invoke(app, ["features", "ingest", "customer_activity", str(path)])

    assert result.exit_code == 1
    assert "1 records were refused and written nowhere (first: row 1, entity" in " ".join(result.output.split())
    items = emulator.client("dynamodb").scan(TableName=names.table_name)["Items"]
    assert [item["pk"]["S"] for item in items] == ['["C1"]']


def test_without_a_deployed_stack_the_error_says_so(emulator: Emulator) -> None:
    result = runner.invoke(app, ["features", "get", "customer_activity:txn_count_7d", "-e", "customer_id=C1"])

    assert result.exit_code == 1
    assert "mlops-kit-data" in result.output
    assert "deploy it first" in result.output


def test_groups_lists_versions_without_aws() -> None:
    result = runner.invoke(app, ["features", "groups"])

    assert result.exit_code == 0
    assert fraud.CUSTOMER_ACTIVITY.version in result.output
