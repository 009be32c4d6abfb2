"""Baselines: decile edges and counts against numpy, the bounded seeded sample, JSON round trip, bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlops_kit.drift.baseline import (
    SCHEMA_VERSION,
    Baseline,
    BaselineError,
    CategoricalBaseline,
    NumericBaseline,
    category_label,
    compute_baseline,
    map_on_workers,
)
from mlops_kit.drift.stats import OTHER


def test_numeric_baseline_matches_numpy_exactly(reference):
    values = reference["income"].to_numpy().copy()
    values[::7] = np.nan
    frame = reference.assign(income=values)
    baseline = compute_baseline(frame, prediction="score")
    income = baseline.features["income"]
    assert isinstance(income, NumericBaseline)
    finite = values[~np.isnan(values)]
    expected_edges = np.unique(np.quantile(finite, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]))
    assert income.edges.tolist() == expected_edges.tolist()
    expected_counts = np.bincount(np.digitize(finite, expected_edges), minlength=expected_edges.size + 1)
    assert income.bin_counts.tolist() == expected_counts.tolist()
    assert income.missing_count == int(np.isnan(values).sum())
    assert income.missing_fraction == pytest.approx(np.isnan(values).mean())
    assert income.proportions.sum() + income.missing_fraction == pytest.approx(1.0)
    assert income.mean == pytest.approx(finite.mean())
    assert income.minimum == finite.min()
    assert income.maximum == finite.max()
    assert baseline.prediction is not None
    assert baseline.prediction.name == "score"
    assert list(baseline.features) == ["age", "income", "colour", "plan"]


def test_sample_is_bounded_sorted_seeded_and_independent_of_row_order(reference):
    baseline = compute_baseline(reference, sample_size=100, seed=7)
    shuffled = compute_baseline(reference.sample(frac=1.0, random_state=3), sample_size=100, seed=7)
    other_seed = compute_baseline(reference, sample_size=100, seed=8)
    sample = baseline.features["income"].sample  # type: ignore[union-attr]
    assert sample.size == 100
    assert np.all(np.diff(sample) >= 0)
    assert set(sample) <= set(reference["income"])
    assert sample.tolist() == shuffled.features["income"].sample.tolist()  # type: ignore[union-attr]
    assert sample.tolist() != other_seed.features["income"].sample.tolist()  # type: ignore[union-attr]
    # The sample of one feature does not move when another feature is added or dropped.
    alone = compute_baseline(reference, features=["income"], sample_size=100, seed=7)
    assert alone.features["income"].sample.tolist() == sample.tolist()  # type: ignore[union-attr]


def test_categorical_baseline_folds_the_rare_tail_into_other():
    values = ["a"] * 500 + ["b"] * 300 + ["c"] * 150 + ["d"] * 45 + ["e"] * 4 + ["f"] + [None] * 10
    baseline = compute_baseline(pd.DataFrame({"x": values}), max_categories=3, min_category_fraction=0.0)
    x = baseline.features["x"]
    assert isinstance(x, CategoricalBaseline)
    assert x.categories == ("a", "b", "c")
    assert x.category_counts.tolist() == [500, 300, 150, 50]
    assert x.missing_count == 10
    assert x.distinct_count == 6
    by_fraction = compute_baseline(pd.DataFrame({"x": values}), min_category_fraction=0.01).features["x"]
    assert by_fraction.categories == ("a", "b", "c", "d")  # type: ignore[union-attr]
    assert by_fraction.bin_labels() == ["a", "b", "c", "d", OTHER]


def test_integral_floats_and_integers_are_the_same_category():
    assert category_label(3.0) == category_label(3) == category_label(np.int64(3)) == "3"
    assert category_label(2.5) == "2.5"
    as_float = compute_baseline(pd.DataFrame({"k": [1.0, 2.0, np.nan, 1.0]}), categorical=["k"]).features["k"]
    assert as_float.categories == ("1", "2")  # type: ignore[union-attr]


def test_feature_kinds_are_inferred_and_overridable():
    frame = pd.DataFrame({"n": [1, 2, 3], "flag": [True, False, True], "s": ["x", "y", "x"], "zip": [10, 20, 10]})
    baseline = compute_baseline(frame, categorical=["zip"])
    kinds = {name: f.kind for name, f in baseline.features.items()}
    assert kinds == {"n": "numeric", "flag": "categorical", "s": "categorical", "zip": "categorical"}


def test_all_missing_and_constant_columns_give_defined_baselines():
    frame = pd.DataFrame({"empty": [np.nan] * 5, "constant": [4.0] * 5})
    baseline = compute_baseline(frame)
    empty = baseline.features["empty"]
    constant = baseline.features["constant"]
    assert isinstance(empty, NumericBaseline)
    assert isinstance(constant, NumericBaseline)
    assert empty.edges.size == 0
    assert empty.bin_counts.tolist() == [0]
    assert empty.missing_count == 5
    assert empty.mean is None
    assert constant.edges.tolist() == [4.0, np.nextafter(4.0, np.inf)]  # values above 4 get their own bin
    assert constant.bin_counts.tolist() == [0, 5, 0]
    assert constant.std == 0.0
    json.loads(baseline.to_json())  # strict JSON, no NaN


def test_json_round_trip_keeps_everything(reference):
    baseline = compute_baseline(reference, prediction="score", metadata={"model_version": "3"})
    text = baseline.to_json()
    document = json.loads(text)
    assert document["schema_version"] == SCHEMA_VERSION
    assert document["kind"] == "mlops_kit.drift.baseline"
    loaded = Baseline.from_json(text)
    assert loaded.to_dict() == baseline.to_dict()
    assert loaded.metadata == {"model_version": "3"}


@settings(max_examples=30, deadline=None)
@given(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.none()), min_size=1, max_size=60))
def test_any_numeric_column_gives_a_strict_json_baseline_that_round_trips(values):
    frame = pd.DataFrame({"x": pd.array(values, dtype="float64")})
    baseline = compute_baseline(frame)
    assert Baseline.from_json(baseline.to_json()).to_dict() == baseline.to_dict()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"features": ["nope"]}, r"reference has no column\(s\) \['nope'\]"),
        ({"features": ["age", "age"]}, "listed more than once"),
        ({"features": ["score"], "prediction": "score"}, "'score' is the prediction and cannot also be a feature"),
        ({"categorical": ["ghost"]}, "categorical lists"),
        ({"sample_size": 0}, "sample_size must be at least 1"),
        ({"max_categories": 0}, "max_categories must be at least 1"),
        ({"min_category_fraction": 1.5}, "min_category_fraction"),
    ],
)
def test_bad_arguments_are_clear_errors(reference, kwargs, message):
    with pytest.raises(BaselineError, match=message):
        compute_baseline(reference, **kwargs)


def test_empty_reference_is_an_error_naming_the_problem():
    with pytest.raises(BaselineError, match="reference data has no rows"):
        compute_baseline(pd.DataFrame({"x": pd.Series([], dtype=float)}))
    with pytest.raises(BaselineError, match="must be a pandas DataFrame"):
        compute_baseline([1, 2, 3])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(schema_version=99), "schema_version 99 is not supported"),
        (lambda d: d.update(kind="other"), "kind must be"),
        (lambda d: d.pop("features"), "field 'features' is missing"),
        (lambda d: d["features"][0].update(edges=[2.0, 1.0]), "feature 'age': edges must be"),
        (lambda d: d["features"][0].update(bin_counts=[1]), "feature 'age': .* edges need"),
        (lambda d: d["features"][0].update(row_count=1), "must equal row_count"),
        (lambda d: d["features"][2].update(categories=["red", OTHER, "x", "y"]), "must not include"),
        (lambda d: d["features"][0].update(kind="text"), "kind must be 'numeric' or 'categorical'"),
    ],
)
def test_loading_a_broken_baseline_names_the_field(reference, mutate, message):
    document = compute_baseline(reference).to_dict()
    mutate(document)
    with pytest.raises(BaselineError, match=message):
        Baseline.from_dict(document)


def test_loading_invalid_json_is_a_baseline_error():
    with pytest.raises(BaselineError, match="not valid JSON"):
        Baseline.from_json("{nope")
    with pytest.raises(BaselineError, match="not valid JSON"):
        Baseline.from_json(b"PAR1\xa0\x00binary")  # e.g. a Parquet file passed by mistake


def test_per_feature_work_runs_in_the_calling_thread_with_one_worker_and_keeps_order_with_more() -> None:
    import threading

    def where(item: int) -> tuple[int, str]:
        return item, threading.current_thread().name

    caller = threading.current_thread().name
    assert map_on_workers(where, [1, 2, 3], 1) == [(1, caller), (2, caller), (3, caller)]
    assert [item for item, _ in map_on_workers(where, list(range(20)), 4)] == list(range(20))
    with pytest.raises(ValueError, match="workers must be at least 1"):
        map_on_workers(where, [1], 0)
