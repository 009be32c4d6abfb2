"""Catalogue of bad platform config: each value is refused at config time with one line naming the key.

Each row is a mistake a new user made (issue 16) or one of its kind: loosely typed values, schedules EventBridge
refuses, infinite numbers, names AWS refuses once the kit builds its resource names from them, and values that used
to pass validation and then raise a traceback during synth. Add the next mistake of the same kind here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from cdk.config import MAX_ENDPOINT_NAME, MAX_SEED, ConfigError, load_config
from cdk.context import PROJECT_ROOT, merged_context
from cdk.schedules import schedule_problem
from mlops_local.cli import parse_context

BAD = [
    # loose types: JSON says what a value is; nothing is coerced
    ({"training": {"seed": "2"}}, "mlops.training.seed: Input should be a valid integer: write a JSON integer"),
    ({"serving": {"initial_instance_count": True}}, "mlops.serving.initial_instance_count: Input should be a valid"),
    ({"serving": {"initial_instance_count": 2.0}}, "mlops.serving.initial_instance_count: Input should be a valid"),
    ({"drift": {"retrain_on_drift": "yes"}}, "mlops.drift.retrain_on_drift: Input should be a valid boolean"),
    ({"abtest": {"http_router": 1}}, "mlops.abtest.http_router: Input should be a valid boolean"),
    ({"drift": {"psi_act": "0.3"}}, "mlops.drift.psi_act: Input should be a valid number"),
    ({"alarms": {"p99_latency_ms": True}}, "mlops.alarms.p99_latency_ms: Input should be a valid number"),
    ({"retention": {"log_days": True}}, "mlops.retention.log_days: expected one of the allowed numbers"),
    ({"alarms": {"period_seconds": True}}, "mlops.alarms.period_seconds: expected one of the allowed numbers"),
    ({"serving": {"endpoint_name": 123}}, "mlops.serving.endpoint_name: Input should be a valid string"),
    ({"rollout": {"steps": ["100"]}}, "mlops.rollout.steps.0: Input should be a valid integer"),
    # schedules: EventBridge's rate()/cron() grammar
    ({"drift": {"schedule": "rate(0 hours)"}}, "mlops.drift.schedule: a rate's value must be a positive integer"),
    ({"drift": {"schedule": "rate(1 minutes)"}}, "mlops.drift.schedule: with the value 1 the unit is singular"),
    ({"drift": {"schedule": "rate(5 hour)"}}, "mlops.drift.schedule: with a value above 1 the unit is plural"),
    ({"drift": {"schedule": "rate(1 hour)\n"}}, "mlops.drift.schedule: a rate is rate(<positive integer>"),
    ({"drift": {"schedule": "rate(2 weeks)"}}, "mlops.drift.schedule: a rate is rate(<positive integer>"),
    ({"drift": {"schedule": "cron(junk)"}}, "mlops.drift.schedule: a cron has six fields"),
    ({"drift": {"schedule": "cron(0 12 * * * *)"}}, "exactly one of day-of-month and day-of-week must be '?'"),
    ({"drift": {"schedule": "cron(0 24 * * ? *)"}}, "mlops.drift.schedule: cron hours field '24'"),
    ({"drift": {"schedule": "cron(0 12 ? * MON-FOO *)"}}, "cron day-of-week field 'MON-FOO'"),
    ({"drift": {"schedule": "cron(0 12 * * ? 2300)"}}, "cron year field '2300'"),
    ({"drift": {"schedule": "cron(0 12 * * ? *)\n"}}, "mlops.drift.schedule: a cron is cron("),
    ({"abtest": {"status_schedule": "rate(1 hours)"}}, "mlops.abtest.status_schedule: with the value 1"),
    # numbers must be finite
    ({"drift": {"psi_act": float("inf")}}, "mlops.drift.psi_act: must be a finite number"),
    ({"drift": {"psi_investigate": float("nan")}}, "mlops.drift.psi_investigate: must be a finite number"),
    ({"alarms": {"p99_latency_ms": float("inf")}}, "mlops.alarms.p99_latency_ms: must be a finite number"),
    ({"alarms": {"business_metric": {"threshold": 0.02}}}, "threshold and comparison are gone: the alarm is relative"),
    ({"alarms": {"business_metric": {"max_drop_percent": 0}}}, "business_metric.max_drop_percent"),
    ({"alarms": {"business_metric": {"max_drop_percent": 100}}}, "business_metric.max_drop_percent"),
    (
        {"alarms": {"business_metric": {}}, "rollout": {"mode": "guardrails"}},
        "only rollout.mode 'staged' has; set alarms.business_metric to null",
    ),
    (
        {"alarms": {"business_metric": {}, "period_seconds": 300}, "rollout": {"bake_minutes": 10}},
        "rollout.bake_minutes (10) must cover the business-metric alarm's evaluation range",
    ),
    ({"rollout": {"lock_expiry_hours": float("inf")}}, "mlops.rollout.lock_expiry_hours: must be a finite number"),
    # project names S3 refuses in the bucket names CloudFormation derives from the stack name
    ({"project_name": "xn--kit"}, "mlops.project_name: S3 refuses bucket names starting with 'xn--'"),
    ({"project_name": "sthree-kit"}, "mlops.project_name: S3 refuses bucket names starting with 'sthree-'"),
    ({"project_name": "amzn-s3-demo-kit"}, "mlops.project_name: S3 refuses bucket names starting with 'amzn-s3-demo-'"),
    ({"project_name": "fraud-"}, "mlops.project_name: must be 3-25 lowercase letters, digits and hyphens"),
    ({"project_name": "fraud.kit"}, "mlops.project_name: must be 3-25 lowercase letters"),
    ({"project_name": "a" * 26}, "mlops.project_name: must be 3-25 lowercase letters"),
    # the seed numpy's RandomState accepts
    ({"training": {"seed": MAX_SEED + 1}}, "mlops.training.seed: Input should be less than or equal to 4294967295"),
    # CloudWatch namespace and metric name rules
    ({"alarms": {"business_metric": {"namespace": ""}}}, "business_metric.namespace: must be 1-255 printable ASCII"),
    ({"alarms": {"business_metric": {"namespace": "AWS/SageMaker"}}}, "may not start with ':' or 'AWS/'"),
    ({"alarms": {"business_metric": {"metric_name": "x" * 256}}}, "business_metric.metric_name: must be 1-255"),
    ({"alarms": {"business_metric": {"namespace": "Biz\tMetrics"}}}, "business_metric.namespace: must be 1-255"),
    # endpoint names that do not fit once the kit adds its suffixes
    (
        {"serving": {"endpoint_name": "e" * (MAX_ENDPOINT_NAME + 1)}},
        f"mlops.serving.endpoint_name: too long ({MAX_ENDPOINT_NAME + 1} characters): the drift schedule",
    ),
    ({"serving": {"endpoint_name": "e" * 64}}, "mlops.serving.endpoint_name: String should match pattern"),
    ({"mlflow": {"managed": "true"}}, "mlops.mlflow.managed: Input should be a valid boolean"),
    ({"mlflow": {"tracking_server_size": "small"}}, "mlops.mlflow.tracking_server_size: Input should be 'Small'"),
    # capture must outlive the baseline the drift job reads from it
    ({"drift": {"baseline": "last_year"}}, "retention.capture_days (90) must be at least 367"),
    ({"drift": {"baseline": "rolling", "rolling_window_days": 100}}, "capture_days (90) must be at least 101"),
    # used to pass validation and raise a traceback during synth
    ({"region": "eu-nowhere-9"}, "mlops.region: the SageMaker SDK has no scikit-learn image for this region"),
    ({"training": {"use_case": "mlops_kit.features.nope"}}, "mlops.training.use_case: use case"),
    ({"training": {"use_case": "json"}}, "mlops.training.use_case: use case 'json' lacks"),
]


@pytest.mark.parametrize(("context", "expected"), BAD, ids=[repr(c)[:60] for c, _ in BAD])
def test_a_bad_value_is_refused_with_one_line_naming_its_key(context: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(context)

    problems = str(raised.value).splitlines()[1:]
    assert len(problems) == 1, problems
    assert expected in problems[0]


GOOD_SCHEDULES = [
    "rate(1 minute)",
    "rate(15 minutes)",
    "rate(1 hour)",
    "rate(6 hours)",
    "rate(1 day)",
    "rate(7 days)",
    "cron(0 12 * * ? *)",
    "cron(0/15 * ? * MON-FRI *)",
    "cron(0 18 ? * 6L 2026-2030)",
    "cron(15 10 ? * 3#2 *)",
    "cron(0 0 L * ? *)",
    "cron(0 8 1W * ? *)",
    "cron(5,35 14 * JAN,JUL ? *)",
]


@pytest.mark.parametrize("schedule", GOOD_SCHEDULES)
def test_schedules_eventbridge_accepts_are_accepted(schedule: str) -> None:
    assert schedule_problem(schedule) is None
    assert load_config({"drift": {"schedule": schedule}}).drift.schedule == schedule


def test_the_longest_allowed_endpoint_name_is_accepted() -> None:
    name = "e" * MAX_ENDPOINT_NAME

    assert load_config({"serving": {"endpoint_name": name}}).endpoint_name == name


def test_cli_context_values_are_json_decoded_not_coerced() -> None:
    # `-c key=value`: JSON values keep their type; anything else stays a string (and a strict key refuses it).
    overrides = parse_context(["training.seed=7", "drift.retrain_on_drift=false", "drift.schedule=rate(2 hours)"])

    config = load_config(merged_context(overrides)["mlops"])

    assert (config.training.seed, config.drift.retrain_on_drift, config.drift.schedule) == (7, False, "rate(2 hours)")
    with pytest.raises(ConfigError, match=r"mlops\.drift\.retrain_on_drift: Input should be a valid boolean"):
        load_config(merged_context(parse_context(["drift.retrain_on_drift=yes"]))["mlops"])


def test_an_infinite_context_value_is_a_config_error_not_a_synth_traceback() -> None:
    overrides = parse_context(["drift.psi_act=1e999"])  # json.loads gives inf

    with pytest.raises(ConfigError, match=r"mlops\.drift\.psi_act: must be a finite number \(got inf\)"):
        load_config(merged_context(overrides)["mlops"])


def test_the_cdk_cli_context_string_is_decoded_as_json() -> None:
    # `cdk synth -c mlops='{...}'` hands the app the section as a string.
    assert load_config('{"training": {"seed": 7}}').training.seed == 7
    with pytest.raises(ConfigError, match=r"mlops: the context value is not JSON"):
        load_config("{training: 7}")


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"region": "eu-nowhere-9"}, "mlops.region"),
        ({"training": {"use_case": "mlops_kit.features.nope"}}, "mlops.training.use_case"),
        ({"drift": {"psi_act": 1e999}}, "mlops.drift.psi_act"),
    ],
)
def test_synth_reports_the_key_and_exits_2_without_a_traceback(overrides: dict, key: str) -> None:
    environment = {**os.environ, "MLOPS_CONTEXT_OVERRIDES": json.dumps({"mlops": overrides})}
    environment.pop("CDK_CONTEXT_JSON", None)

    result = subprocess.run(
        [sys.executable, "app.py"], cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, check=False
    )

    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    problems = [line.strip() for line in result.stderr.splitlines() if line.strip().startswith("mlops.")]
    assert len(problems) == 1, result.stderr[-2000:]
    assert problems[0].startswith(f"{key}: ")
