"""Bad batch input: the job exits with status 2 and a message naming what is wrong and what to do, before it scores
anything (and writes no predictions). The start function's own refusals (no Production version, an input outside
batch/input/, an empty input, unknown or mixed formats) are in tests/unit/handlers/test_batch_start_handler.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from sagemaker_jobs import batch_score
from tests.unit.batch.conftest import World

Writer = Callable[[pd.DataFrame, Path], None]


def csv(rows: pd.DataFrame, folder: Path) -> None:
    rows.to_csv(folder / "rows.csv", index=False)


def text(name: str, body: str) -> Writer:
    def write(_: pd.DataFrame, folder: Path) -> None:
        (folder / name).write_text(body)

    return write


def edited(change: Callable[[pd.DataFrame], pd.DataFrame], writer: Writer = csv) -> Writer:
    return lambda rows, folder: writer(change(rows.copy()), folder)


def csv_and_jsonl(rows: pd.DataFrame, folder: Path) -> None:
    csv(rows, folder)
    (folder / "more.jsonl").write_text("{}\n")


def naive_parquet(rows: pd.DataFrame, folder: Path) -> None:
    rows.assign(event_timestamp=rows["event_timestamp"].dt.tz_localize(None)).to_parquet(folder / "rows.parquet")


def with_value(column: str, value: Any) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(rows: pd.DataFrame) -> pd.DataFrame:
        rows[column] = rows[column].astype(object)
        rows.loc[2, column] = value
        return rows

    return change


CASES: list[tuple[str, Writer, list[str], str]] = [
    ("no-files", lambda rows, folder: None, [], "holds no data files: upload a .parquet, .csv or .jsonl file"),
    ("unknown-format", text("rows.xlsx", "x"), [], "of unknown format '.xlsx': inputs are .parquet, .csv, .jsonl"),
    ("mixed-formats", csv_and_jsonl, [], "mixes formats"),
    ("only-a-header", text("rows.csv", "transaction_id,customer_id\n"), [], "hold no rows: there is nothing to score"),
    ("not-parquet", text("rows.parquet", "not parquet"), [], "rows.parquet cannot be read as parquet"),
    (
        "missing-id",
        edited(lambda r: r.drop(columns=["transaction_id"])),
        [],
        "lacks column(s) 'transaction_id' (id); it has [",
    ),
    (
        "missing-time",
        edited(lambda r: r.drop(columns=["event_timestamp"])),
        [],
        "lacks column(s) 'event_timestamp' (time)",
    ),
    ("missing-entity", edited(lambda r: r.drop(columns=["customer_id"])), [], "'customer_id' (entity key)"),
    (
        "missing-request-field",
        edited(lambda r: r.drop(columns=["merchant_category"])),
        [],
        "'merchant_category' (request field)",
    ),
    (
        "other-id-column-name",
        csv,
        ["--id-column", "txn"],
        "lacks column(s) 'txn' (id); it has ['transaction_id', 'customer_id', 'event_timestamp'",
    ),
    ("empty-id", edited(with_value("transaction_id", None)), [], "id column 'transaction_id' is empty in 1 row(s)"),
    (
        "duplicate-ids",
        edited(lambda r: r.assign(transaction_id="same")),
        [],
        "has 39 duplicate value(s), e.g. 'same': ids must be unique",
    ),
    (
        "time-without-offset",
        edited(lambda r: r.assign(event_timestamp=r["event_timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S"))),
        [],
        "has no UTC offset for id",
    ),
    ("time-not-iso", edited(with_value("event_timestamp", "yesterday+01:00")), [], "is not ISO 8601 throughout"),
    ("time-empty", edited(with_value("event_timestamp", None)), [], "time column 'event_timestamp' is empty for id"),
    (
        "empty-entity",
        edited(with_value("customer_id", None)),
        [],
        "entity key column 'customer_id' is empty for id 'T000000002'",
    ),
    ("naive-parquet-times", naive_parquet, [], "holds timestamps without a time zone: store them in UTC"),
    (
        "amount-not-a-number",
        edited(with_value("amount", "lots")),
        [],
        "request field 'amount' is not a number for id 'T000000002' ('lots'): fix or remove the row",
    ),
    (
        "amount-missing",
        edited(with_value("amount", None)),
        [],
        "row 2 (transaction_id='T000000002'): transaction.amount",
    ),
    (
        "unknown-merchant-type",
        edited(
            with_value("merchant_category", 7),
            lambda r, f: r.to_json(f / "rows.jsonl", orient="records", lines=True, date_format="iso"),
        ),
        [],
        "transaction.merchant_category",
    ),
]


@pytest.mark.parametrize(("writer", "extra", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_exits_2_naming_the_problem(world: World, tmp_path, capsys, writer, extra, message) -> None:
    folder = tmp_path / "input"
    folder.mkdir()
    writer(world.rows(40), folder)
    argv = [
        "--offline-uri", world.offline_uri, "--id-column", "transaction_id", "--model-version", "1",
        "--model-package-arn", "arn:aws:sagemaker:us-east-1:123456789012:model-package/g/1",
        "--input", str(folder), "--model", str(world.model_dir), "--output", str(tmp_path / "out"),
    ]  # fmt: skip
    if extra:
        argv[argv.index(extra[0]) + 1] = extra[1]

    with pytest.raises(SystemExit) as exited:
        batch_score.main(argv)

    assert exited.value.code == 2
    assert message in capsys.readouterr().err
    assert not list((tmp_path / "out").glob("predictions.*"))
