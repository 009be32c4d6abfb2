"""Typed access to one feature of a baseline, for tests that know which kind it is."""

from __future__ import annotations

from mlops_kit.drift.baseline import Baseline, CategoricalBaseline, NumericBaseline


def numeric(baseline: Baseline, name: str) -> NumericBaseline:
    """The numeric baseline of feature ``name``; fails the test when it is categorical."""
    feature = baseline.features[name]
    assert isinstance(feature, NumericBaseline), f"{name} is not numeric in the baseline"
    return feature


def categorical(baseline: Baseline, name: str) -> CategoricalBaseline:
    """The categorical baseline of feature ``name``; fails the test when it is numeric."""
    feature = baseline.features[name]
    assert isinstance(feature, CategoricalBaseline), f"{name} is not categorical in the baseline"
    return feature
