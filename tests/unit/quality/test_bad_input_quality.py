"""Catalogue of bad input to model-quality monitoring: each is refused or reported with one line naming what is
wrong and what to do. Config mistakes fail at synth; label mistakes never fail a run (the row or file is reported
and the good rows kept); a wrongly deployed function fails on its first call naming the field."""

from __future__ import annotations

import pytest

from cdk.config import ConfigError, load_config
from mlops_kit.environment import SettingsError, read_settings
from mlops_kit.quality.labels import read_labels
from mlops_kit.quality.metrics import quality_metrics
from mlops_kit.quality.settings import QualitySettings

BAD_CONFIG = [
    ({"quality": {"key": "transaction_id"}}, "mlops.quality.key: Input should be 'inference_id' or 'business_key'"),
    ({"quality": {"labels_prefix": "/labels/"}}, "mlops.quality.labels_prefix: must be an S3 key prefix"),
    ({"quality": {"labels_prefix": "labels//2026"}}, "mlops.quality.labels_prefix: must be an S3 key prefix"),
    ({"quality": {"key_column": ""}}, "mlops.quality.key_column: String should match pattern"),
    ({"quality": {"business_key_path": "transaction..id"}}, "mlops.quality.business_key_path: String should match"),
    ({"quality": {"min_samples": 0}}, "mlops.quality.min_samples: Input should be greater than or equal to 1"),
    ({"quality": {"min_samples": "200"}}, "mlops.quality.min_samples: Input should be a valid integer: write"),
    ({"quality": {"max_drop": 0}}, "mlops.quality.max_drop: Input should be greater than 0"),
    ({"quality": {"max_drop": 1.5}}, "mlops.quality.max_drop: Input should be less than or equal to 1"),
    ({"quality": {"max_drop": float("nan")}}, "mlops.quality.max_drop: must be a finite number"),
    ({"quality": {"schedule": "rate(1 days)"}}, "mlops.quality.schedule: with the value 1 the unit is singular"),
    ({"quality": {"window_hours": 0}}, "mlops.quality.window_hours: Input should be greater than or equal to 1"),
    ({"quality": {"label_delay_hours": -1}}, "mlops.quality.label_delay_hours: Input should be greater than or equal"),
    ({"quality": {"retrain_on_drop": "yes"}}, "mlops.quality.retrain_on_drop: Input should be a valid boolean"),
    (
        {"quality": {"labels": "s3://x"}},
        "mlops.quality.labels: unknown key; allowed keys here: business_key_path, key, key_column",
    ),
    ({"quality": []}, "mlops.quality: expected a JSON object (section)"),
    (
        {"quality": {"retrain_on_drop": True}, "drift": {"retrain_on_drift": False}},
        "quality.retrain_on_drop reuses drift's retraining (its cooldown and function): set drift.retrain_on_drift",
    ),
    (
        {"quality": {"label_delay_hours": 24 * 60}, "retention": {"capture_days": 30}},
        "retention.capture_days (30) must be at least 61: quality windows end quality.label_delay_hours (1440) back",
    ),
]


@pytest.mark.parametrize(("context", "message"), BAD_CONFIG, ids=[m[:60] for _, m in BAD_CONFIG])
def test_bad_quality_config_is_refused_naming_the_key(context: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(context)

    assert message in str(caught.value)


def test_the_section_is_optional_and_off_when_absent() -> None:
    assert load_config({}).quality is None
    assert load_config({"quality": {}}).quality is not None


BAD_LABEL_FILES = [
    ("a.csv", b"id,label\nr1,1\n", "a.csv: the CSV header has no 'inference_id' column (columns: id, label)"),
    ("a.csv", b"inference_id,y\nr1,1\n", "a.csv: the CSV header has no 'label' column (columns: inference_id, y)"),
    ("a.csv", b"", "a.csv: the CSV header has no 'inference_id' and no 'label' column (columns: none)"),
    ("a.parquet", b"PAR1", "a.parquet: unsupported label file type; write JSON lines"),
    ("a.jsonl.gz", b"not gzip", "a.jsonl.gz ends in .gz but is not gzip"),
    ("a.jsonl", b"\xff\xfe{}", "a.jsonl is not UTF-8 text"),
]


@pytest.mark.parametrize(("name", "body", "message"), BAD_LABEL_FILES, ids=[m[:50] for *_, m in BAD_LABEL_FILES])
def test_an_unusable_label_file_is_reported_whole_and_the_others_still_count(
    name: str, body: bytes, message: str
) -> None:
    files = [(name, body), ("good.jsonl", b'{"inference_id": "r9", "label": 1}')]

    labels = read_labels(files, key_column="inference_id", label_column="label")

    assert message in labels.bad_files[name]
    assert labels.by_key == {"r9": 1}


BAD_LABEL_ROWS = [
    (b'{"inference_id": "r1", "label": 2}', "label 2 is not binary (write 0/1 or true/false)"),
    (b'{"inference_id": "r1", "label": "yes"}', "label 'yes' is not binary (write 0/1 or true/false)"),
    (b'{"inference_id": "r1", "label": null}', "label empty is not binary (write 0/1 or true/false)"),
    (b'{"inference_id": "r1", "label": 0.5}', "label 0.5 is not binary (write 0/1 or true/false)"),
    (b'{"inference_id": "", "label": 1}', "key is empty"),
    (b'{"inference_id": null, "label": 1}', "key is missing"),
    (b'{"inference_id": true, "label": 1}', "key True is not text or a number"),
    (b'{"inference_id": ["r1"], "label": 1}', "key ['r1'] is not text or a number"),
    (b'{"id": "r1", "label": 1}', "no 'inference_id' field"),
    (b'{"inference_id": "r1"}', "no 'label' field"),
    (b'["r1", 1]', "line is not a JSON object"),
    (b"r1,1", "line is not valid JSON"),
]


@pytest.mark.parametrize(("line", "reason"), BAD_LABEL_ROWS, ids=[r for _, r in BAD_LABEL_ROWS])
def test_a_bad_label_row_is_reported_with_its_place_and_the_good_rows_are_kept(line: bytes, reason: str) -> None:
    body = b'{"inference_id": "ok", "label": true}\n' + line + b'\n{"inference_id": "ok2", "label": "0"}'

    labels = read_labels([("f.jsonl", body)], key_column="inference_id", label_column="label")

    assert labels.by_key == {"ok": 1, "ok2": 0}
    assert dict(labels.bad_rows) == {reason: 1}
    assert [(e.file, e.line, e.reason) for e in labels.examples] == [("f.jsonl", 2, reason)]


def test_a_function_deployed_without_its_settings_fails_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match="MLOPS_QUALITY_SETTINGS is not set"):
        read_settings(QualitySettings, {})
    with pytest.raises(SettingsError, match="primary_metric: Value error, must be one of roc_auc"):
        read_settings(
            QualitySettings,
            {
                "MLOPS_QUALITY_SETTINGS": '{"endpoint_name": "ep", "model_package_group": "g", "capture_uri": '
                '"s3://a/capture", "labels_uri": "s3://d/labels", "reports_bucket": "a", "key": "inference_id", '
                '"key_column": "k", "label_column": "y", "business_key_path": "t.id", "window_hours": 24, '
                '"label_delay_hours": 72, "min_samples": 200, "max_drop": 0.05, "primary_metric": "log_loss"}'
            },
        )


def test_the_statistics_refuse_inputs_that_are_not_labels_and_scores() -> None:
    with pytest.raises(ValueError, match="primary metric 'log_loss' is not one of roc_auc"):
        quality_metrics([1], [0.5], primary_metric="log_loss")
    with pytest.raises(ValueError, match="2 labels but 1 scores"):
        quality_metrics([1, 0], [0.5], primary_metric="roc_auc")
    with pytest.raises(ValueError, match="scores must be finite numbers"):
        quality_metrics([1], [float("nan")], primary_metric="roc_auc")
