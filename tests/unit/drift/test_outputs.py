"""Model Monitor files, the HTML report and terminal rows: shapes, strict JSON, one self-contained file."""

from __future__ import annotations

import base64
import json
import re

import numpy as np

from mlops_kit.drift.baseline import compute_baseline
from mlops_kit.drift.html_report import SUMMARY_HEADER, render_html, summary_rows, write_html
from mlops_kit.drift.monitor_format import (
    baseline_statistics,
    constraint_violations,
    constraints,
    current_statistics,
    write_run_files,
)
from mlops_kit.drift.report import drift_report
from mlops_kit.drift.stats import Thresholds
from tests.unit.drift.baselines import numeric


def test_statistics_json_has_model_monitor_shape(reference, current_drifted):
    baseline = compute_baseline(reference, prediction="score")
    stats = baseline_statistics(baseline)
    assert stats["dataset"] == {"item_count": len(reference)}
    by_name = {f["name"]: f for f in stats["features"]}
    income = by_name["income"]
    assert income["inferred_type"] == "Fractional"
    assert by_name["age"]["inferred_type"] == "Integral"
    numbers = income["numerical_statistics"]
    assert numbers["common"] == {"num_present": len(reference), "num_missing": 0}
    assert numbers["mean"] == reference["income"].mean()
    buckets = numbers["distribution"]["kll"]["buckets"]
    assert sum(b["count"] for b in buckets) == len(reference)
    assert buckets[0]["lower_bound"] == reference["income"].min()
    assert buckets[-1]["upper_bound"] == reference["income"].max()
    assert all(b["lower_bound"] <= b["upper_bound"] for b in buckets)
    colour = by_name["colour"]["string_statistics"]
    assert colour["distinct_count"] == 4
    assert {b["value"] for b in colour["distribution"]["categorical"]["buckets"]} == {"red", "green", "blue", "black"}

    report = drift_report(baseline, current_drifted)
    current = current_statistics(report, baseline, current_drifted)
    current_income = {f["name"]: f for f in current["features"]}["income"]["numerical_statistics"]
    assert current_income["mean"] == current_drifted["income"].mean()
    counts = np.bincount(np.digitize(current_drifted["income"], numeric(baseline, "income").edges))
    assert [b["count"] for b in current_income["distribution"]["kll"]["buckets"]] == counts.tolist()
    json.dumps(current, allow_nan=False)


def test_constraints_and_violations_files(reference, current_drifted):
    baseline = compute_baseline(reference, prediction="score")
    document = constraints(baseline, Thresholds(0.05, 0.3))
    assert document["monitoring_config"]["distribution_constraints"]["comparison_threshold"] == 0.3
    colour = next(f for f in document["features"] if f["name"] == "colour")
    assert colour["string_constraints"]["domains"] == ["red", "green", "blue", "black"]
    assert colour["completeness"] == 1.0
    report = drift_report(baseline, current_drifted)
    violations = constraint_violations(report)["violations"]
    assert violations
    assert set(violations[0]) == {"feature_name", "constraint_check_type", "description"}


def test_run_files_are_strict_json_even_for_empty_and_broken_data(tmp_path, reference):
    frame = reference.assign(empty=np.nan)
    baseline = compute_baseline(frame, prediction="score")
    report = drift_report(baseline, frame.iloc[:0].drop(columns=["income"]))
    written = write_run_files(tmp_path, report, baseline)
    assert set(written) == {"statistics.json", "constraints.json", "constraint_violations.json", "drift_report.json"}
    for path in written.values():
        json.loads(path.read_text(), parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))


def test_html_is_one_file_with_embedded_images_sorted_by_severity(tmp_path, reference, current_drifted):
    baseline = compute_baseline(reference, prediction="score")
    current = current_drifted.rename(columns={"plan": "<script>alert(1)</script>"})
    report = drift_report(baseline, current)
    path = write_html(report, tmp_path / "out" / "report.html")
    text = path.read_text()
    assert list((tmp_path / "out").iterdir()) == [path]
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;" in text
    # Nothing is fetched: no external src/href, every image inline.
    assert not re.search(r'(src|href)="(https?:|//)', text)
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(images) == len(report.all_columns)
    assert all(base64.b64decode(image).startswith(b"\x89PNG") for image in images)
    # Cards follow the report's order: the prediction first, then features by severity.
    order = re.findall(r'<div class="card" id="feature-([^"]+)">', text)
    assert report.prediction is not None
    assert order == [report.prediction.name, *(f.name for f in report.features)]
    assert render_html(report, title="T").startswith("<!DOCTYPE html>")


def test_summary_rows_are_plain_text(reference, current_drifted):
    baseline = compute_baseline(reference, prediction="score")
    report = drift_report(baseline, current_drifted)
    rows = summary_rows(report)
    assert len(rows) == len(report.all_columns)
    assert all(isinstance(cell, str) for row in rows for cell in row)
    assert len(SUMMARY_HEADER) == len(rows[0])
    first = rows[0]
    assert first.severity == "act"
    assert first.psi == f"{report.features[0].psi:.4f}"
    assert rows[-1].role == "prediction"
