"""The generated count SQL, run on DuckDB over Parquet, gives exactly the in-memory counts and report."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest

from mlops_kit.drift.athena import count_query, double_literal, quote_identifier
from mlops_kit.drift.baseline import compute_baseline
from mlops_kit.drift.report import drift_report, drift_report_from_counts
from tests.unit.drift.baselines import numeric


def run_on_duckdb(sql: str, parquet_glob: str) -> dict:
    connection = duckdb.connect()
    try:
        connection.execute(f"CREATE VIEW capture AS SELECT * FROM read_parquet('{parquet_glob}')")
        cursor = connection.execute(sql)
        names = [column[0] for column in cursor.description]
        row = cursor.fetchone()
        assert row is not None, "the query returned no row"
        return dict(zip(names, row, strict=True))
    finally:
        connection.close()


def hostile(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Missing, NaN, infinite, edge-valued and unseen values, in a column with an awkward name."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    income = out["income"].to_numpy().copy()
    income[rng.random(len(out)) < 0.03] = np.nan
    income[:3] = [np.inf, -np.inf, 0.0]
    out["income"] = income
    colour = out["colour"].astype(object)
    colour[rng.random(len(out)) < 0.02] = None
    colour[:2] = ["it's new", 'quote"d']
    out["colour"] = colour
    return out.rename(columns={"age": 'age "years"'})


@pytest.mark.parametrize("seed", [0, 1])
def test_sql_counts_on_duckdb_equal_the_in_memory_report(tmp_path, reference, current_drifted, seed):
    reference = reference.rename(columns={"age": 'age "years"'})
    baseline = compute_baseline(reference, prediction="score")
    current = hostile(current_drifted, seed)
    # Values exactly on an edge must land in the bin the edge opens, as numpy.digitize puts them.
    edges = numeric(baseline, "income").edges
    current.loc[current.index[3 : 3 + edges.size], "income"] = edges
    current.iloc[: len(current) // 2].to_parquet(tmp_path / "part-0.parquet")
    current.iloc[len(current) // 2 :].to_parquet(tmp_path / "part-1.parquet")

    query = count_query(baseline, "capture", columns=list(current.columns))
    rows, counts = query.parse(run_on_duckdb(query.sql, str(tmp_path / "*.parquet")))

    in_memory = drift_report(baseline, current)
    from_sql = drift_report_from_counts(baseline, counts, current_rows=rows, columns=list(current.columns))
    assert rows == len(current)
    for ours, theirs in zip(in_memory.all_columns, from_sql.all_columns, strict=True):
        assert ours.name == theirs.name
        assert ours.psi == theirs.psi
        assert ours.current_proportions == theirs.current_proportions
        if ours.chi2 is not None:
            assert ours.chi2 == theirs.chi2
    assert [v.to_dict() for v in in_memory.violations] != []
    assert {(v.feature_name, v.constraint_check_type) for v in in_memory.violations} == {
        (v.feature_name, v.constraint_check_type) for v in from_sql.violations
    }


def test_text_in_a_numeric_column_is_missing_on_both_paths(tmp_path, reference):
    baseline = compute_baseline(reference, features=["age"])
    current = pd.DataFrame({"age": ["30", "41.5", "n/a", None, "1e2", "nan"]})
    current.to_parquet(tmp_path / "capture.parquet")
    query = count_query(baseline, "capture")
    rows, counts = query.parse(run_on_duckdb(query.sql, str(tmp_path / "capture.parquet")))
    in_memory = drift_report(baseline, current)
    from_sql = drift_report_from_counts(baseline, counts, current_rows=rows)
    assert counts["age"].missing == 3
    assert in_memory.features[0].current_proportions == from_sql.features[0].current_proportions


def test_time_window_and_missing_columns(tmp_path, reference):
    baseline = compute_baseline(reference, prediction="score")
    start = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    current = reference.drop(columns=["plan"]).assign(
        inference_time=[start + dt.timedelta(minutes=i) for i in range(len(reference))]
    )
    current.to_parquet(tmp_path / "capture.parquet")
    query = count_query(
        baseline,
        "capture",
        columns=list(current.columns),
        timestamp_column="inference_time",
        start=start + dt.timedelta(minutes=100),
        end=start + dt.timedelta(minutes=1100),
    )
    assert "plan" not in query.bins
    rows, counts = query.parse(run_on_duckdb(query.sql, str(tmp_path / "capture.parquet")))
    assert rows == 1000
    report = drift_report_from_counts(baseline, counts, current_rows=rows, columns=list(current.columns))
    assert [(v.feature_name, v.constraint_check_type) for v in report.violations] == [("plan", "missing_column_check")]
    window = current.iloc[100:1100]
    expected = drift_report(baseline, window).prediction
    assert report.prediction is not None
    assert expected is not None
    assert report.prediction.psi == expected.psi


def test_parse_accepts_athena_text_and_null_sums(reference):
    baseline = compute_baseline(reference, features=["plan"])
    query = count_query(baseline, "db.capture")
    assert 'FROM "db"."capture"' in query.sql
    row = {alias.upper(): "0" for alias in query.columns} | {"row_count": "5", "f0_0": "5", "f0_missing": None}
    rows, counts = query.parse(row)
    assert rows == 5
    assert counts["plan"].counts.tolist()[0] == 5
    with pytest.raises(ValueError, match="query result has no column 'row_count'"):
        query.parse({})
    with pytest.raises(ValueError, match="is not a count"):
        query.parse({**row, "f0_0": "1.5"})


def test_literals_round_trip_and_quote_safely():
    for value in [0.1, -0.0, 1e-300, 123456789.123, 5.0, -2.5e10]:
        assert float(double_literal(value)) == value
        assert "e" in double_literal(value)
    with pytest.raises(ValueError, match="edges must be finite"):
        double_literal(float("nan"))
    assert quote_identifier('a"b') == '"a""b"'
    with pytest.raises(ValueError, match="invalid SQL identifier"):
        quote_identifier("")


def test_bad_query_arguments_are_clear_errors(reference):
    baseline = compute_baseline(reference)
    with pytest.raises(ValueError, match="start/end need timestamp_column"):
        count_query(baseline, "t", start=dt.datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="must be before end"):
        count_query(baseline, "t", timestamp_column="ts", start=dt.datetime(2024, 1, 2), end=dt.datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="none of the baseline's columns is in the table"):
        count_query(baseline, "t", columns=["other"])
