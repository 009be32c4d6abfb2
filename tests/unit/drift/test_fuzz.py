"""Whatever the data, a report is produced and is strict JSON: no crash, no NaN, no infinity."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlops_kit.drift.baseline import compute_baseline
from mlops_kit.drift.report import drift_report

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-3, 3).map(float),
    st.none(),
)
labels = st.one_of(st.sampled_from(["a", "b", "c", "", "__other__", "é"]), st.none(), st.integers(0, 3))
mixed = st.one_of(numbers, labels, st.text(max_size=3))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(numbers, labels, numbers), min_size=1, max_size=40),
    st.lists(st.tuples(mixed, mixed, numbers, st.integers(0, 2)), min_size=0, max_size=40),
    st.booleans(),
)
def test_any_data_gives_a_strict_report(reference_rows, current_rows, drop_column):
    reference = pd.DataFrame(reference_rows, columns=["x", "label", "score"]).astype(
        {"x": "float64", "score": "float64"}
    )
    current = pd.DataFrame(current_rows, columns=["x", "label", "score", "new"], dtype=object)
    if drop_column:
        current = current.drop(columns=["x"])
    baseline = compute_baseline(reference, prediction="score", categorical=["label"], sample_size=5)
    report = drift_report(baseline, current)
    document = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    for feature in [*document["features"], document["prediction"]]:
        assert (feature["psi"] is None) == (feature["severity"] == "no_data")
        if feature["psi"] is not None:
            assert feature["psi"] >= 0
            assert math.isfinite(feature["psi"])


def test_importing_the_package_pulls_no_aws_and_no_matplotlib():
    code = (
        "import sys, mlops_kit.drift; "
        "bad = [m for m in sys.modules if m.split('.')[0] in {'boto3', 'botocore', 'sagemaker', 'matplotlib'}]; "
        "print(bad)"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "[]"


def test_sources_have_no_aws_imports():
    import mlops_kit.drift

    for path in Path(mlops_kit.drift.__file__).parent.glob("*.py"):
        text = path.read_text()
        assert "import boto3" not in text
        assert "botocore" not in text
        assert "import sagemaker" not in text
