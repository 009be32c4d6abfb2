"""The platform config: defaults deploy, bad values fail naming the key and the allowed values."""

from __future__ import annotations

import json

import pytest

from cdk.config import ConfigError, PlatformConfig, load_config
from cdk.context import PROJECT_ROOT, file_context, merged_context


def test_empty_context_gives_safe_defaults() -> None:
    config = load_config({})

    assert config.project_name == "mlops-kit"
    assert config.removal_policy == "retain"
    assert config.rollout.steps == [5, 25, 50, 100]
    assert config.rollout.mode == "staged"
    assert (config.drift.psi_investigate, config.drift.psi_act) == (0.1, 0.2)
    assert config.endpoint_name == "mlops-kit-endpoint"


def test_names_the_stacks_share_are_derived_once_from_the_project() -> None:
    config = load_config({"project_name": "fraud-kit", "removal_policy": "destroy", "retention": {"log_days": 90}})

    assert (config.model_package_group, config.pipeline_name) == ("fraud-kit-models", "fraud-kit-training")
    assert (config.feature_database_name, config.feature_workgroup_name) == ("fraud_kit_features", "fraud-kit-features")
    assert config.dashboard_name == "fraud-kit-platform"
    spec = config.pipeline_spec(code_commit="abc123")
    assert (spec.pipeline_name, spec.model_package_group, spec.code_commit) == (
        "fraud-kit-training", "fraud-kit-models", "abc123",
    )  # fmt: skip
    assert (spec.seed, spec.min_primary_metric) == (config.training.seed, config.training.min_primary_metric)


def test_removal_and_log_retention_are_the_cdk_values_of_their_keys() -> None:
    from aws_cdk import RemovalPolicy
    from aws_cdk import aws_logs as logs

    assert load_config({}).cdk_removal_policy == RemovalPolicy.RETAIN
    assert load_config({"removal_policy": "destroy"}).cdk_removal_policy == RemovalPolicy.DESTROY
    assert load_config({}).log_retention == logs.RetentionDays.ONE_MONTH
    assert load_config({"retention": {"log_days": 731}}).log_retention == logs.RetentionDays.TWO_YEARS


def test_the_shipped_cdk_json_is_valid() -> None:
    config = load_config(file_context()["mlops"])

    assert isinstance(config, PlatformConfig)
    assert config.stack_name("data") == f"{config.project_name}-data"


def test_overrides_merge_into_sections_without_dropping_siblings() -> None:
    context = merged_context({"mlops": {"rollout": {"mode": "staged", "bake_minutes": 5}, "project_name": "fraud-kit"}})

    config = load_config(context["mlops"])

    assert (config.rollout.mode, config.rollout.bake_minutes) == ("staged", 5)
    assert config.project_name == "fraud-kit"
    assert config.region == json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]["mlops"]["region"]


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        (
            {"rollout": {"mode": "fast"}},
            "mlops.rollout.mode: Input should be 'staged', 'guardrails' or 'all_at_once' (got 'fast')",
        ),
        ({"removal_policy": "keep"}, "mlops.removal_policy: Input should be 'retain' or 'destroy'"),
        ({"rolout": {}}, "mlops.rolout: unknown key; allowed keys here: abtest, account, alarms"),
        (
            {"rollout": {"stepz": [1]}},
            "mlops.rollout.stepz: unknown key; allowed keys here: approval_timeout_hours",
        ),
        ({"rollout": {"steps": [5, 50]}}, "mlops.rollout.steps: steps must end at 100"),
        ({"rollout": {"steps": [50, 25, 100]}}, "strictly increasing"),
        ({"drift": {"psi_investigate": 0.3}}, "psi_investigate (0.3) must be below psi_act (0.2)"),
        (
            {"drift": {"schedule": "every hour"}},
            "mlops.drift.schedule: must be a rate(value unit) or cron(six fields) expression",
        ),
        ({"retention": {"log_days": 31}}, "mlops.retention.log_days: Input should be 1, 3, 5, 7, 14, 30"),
        (
            {"training": {"instance_type": "m5.large"}},
            "mlops.training.instance_type: String should match pattern",
        ),
        ({"notifications": {"approver_emails": ["ops"]}}, "not e-mail addresses: ['ops']"),
        ({"approvals": {"approvers": ["ops-team"]}}, "not IAM role or user ARNs: ['ops-team']; write arn:aws:iam::"),
        ({"serving": {"initial_instance_count": 5, "max_instance_count": 2}}, "max_instance_count (2)"),
        ({"project_name": "X"}, "mlops.project_name: must be 3-25 lowercase letters, digits and hyphens"),
        ({"drift": {"job_volume_gb": 0}}, "mlops.drift.job_volume_gb: Input should be greater than or equal to 1"),
        ({"drift": {"job_max_runtime_minutes": 20000}}, "mlops.drift.job_max_runtime_minutes: Input should be less"),
        ({"alarms": "high"}, "mlops.alarms: expected a JSON object (section), got 'high'"),
        (
            {"training": {"baseline": "mean"}},
            "mlops.training.baseline: Input should be 'prior_rate' or 'logistic_regression'",
        ),
        ({"training": {"min_baseline_improvement": 1.5}}, "mlops.training.min_baseline_improvement: Input should be"),
        (
            {"training": {"created_before_label": True}},
            "mlops.training.created_before_label: Input should be 'where_created', 'always' or 'never'",
        ),
        ({"training": {"dvc_remotes": ["/mnt/dvc"]}}, "mlops.training.dvc_remotes"),
        ({"training": {"dvc_remotes": ["s3://team-dvc/*"]}}, "String should match pattern"),
        (
            {"training": {"primary_metric": "accuracy"}},
            "primary_metric 'accuracy' with baseline 'prior_rate' and min_baseline_improvement 0.05",
        ),
    ],
)
def test_bad_values_name_the_key_and_what_is_allowed(context: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(context)

    assert expected in str(raised.value)


def test_the_training_rules_default_on_and_reach_the_pipeline() -> None:
    spec = load_config({}).pipeline_spec(code_commit="abc")
    rules = {"baseline": "logistic_regression", "min_baseline_improvement": 0.0, "created_before_label": "never"}
    tuned = load_config({"training": rules}).pipeline_spec(code_commit="abc")

    assert (spec.baseline, spec.min_baseline_improvement, spec.created_before_label) == (
        "prior_rate", 0.05, "where_created",
    )  # fmt: skip
    assert (tuned.baseline, tuned.min_baseline_improvement, tuned.created_before_label) == (
        "logistic_regression", 0.0, "never",
    )  # fmt: skip


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as raised:
        load_config({"rollout": {"mode": "x"}, "removal_policy": "y"})

    message = str(raised.value)
    assert "mlops.rollout.mode" in message
    assert "mlops.removal_policy" in message


def test_context_that_is_not_an_object_is_rejected() -> None:
    with pytest.raises(ConfigError, match="expected a JSON object"):
        load_config(["not", "a", "dict"])  # type: ignore[arg-type]


def test_the_rollout_defaults_are_the_documented_ones() -> None:
    # The README's config reference; the suite's app bakes shorter (tests/support.py TEST_ROLLOUT), `make demo` not.
    rollout = load_config({}).rollout

    assert (rollout.steps, rollout.bake_minutes, rollout.shadow_bake_minutes) == ([5, 25, 50, 100], 10, 30)
    assert rollout.approval_timeout_hours == 24


def test_the_workflow_timeout_and_the_lock_are_sized_from_the_rollout_budget() -> None:
    rollout = load_config({}).rollout.settings()

    assert rollout.workflow_timeout() >= rollout.approval_timeout_seconds + rollout.longest_rollout_seconds()
    assert rollout.lock_ttl() == rollout.workflow_timeout()
    assert rollout.workflow_timeout() % 3600 == 0


@pytest.mark.parametrize(
    ("rollout", "expected"),
    [
        (
            {"approval_timeout_hours": 48, "workflow_timeout_hours": 24},
            "mlops.rollout: the approval timeout (48.00 h) must be shorter than the workflow timeout (24.00 h)",
        ),
        ({"workflow_timeout_hours": 25}, "plus the longest rollout"),
        ({"lock_expiry_hours": 12}, "the promotion lock (12.00 h) must last at least as long as the workflow timeout"),
        ({"poll_seconds": 5, "endpoint_update_timeout_minutes": 600}, "over Step Functions' limit of 25000"),
        ({"approval_timeout_hours": 8760}, "exceeds a Standard workflow's one year"),
    ],
)
def test_a_rollout_that_cannot_fit_its_workflow_or_lock_fails_synth(rollout: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config({"rollout": rollout})

    assert expected in str(raised.value)
    assert "workflow_timeout_hours" in str(raised.value)  # says which keys to change


def test_guardrails_need_a_variant_a_canary_step_can_be_at_most_half_of() -> None:
    # TrafficRoutingConfig: CanarySize at most 50%, LinearStepSize 10-50% of the variant's instances.
    with pytest.raises(ConfigError, match="a CANARY step of 10% of 1 instance"):
        load_config({"rollout": {"mode": "guardrails"}})

    config = load_config({"rollout": {"mode": "guardrails"}, "serving": {"initial_instance_count": 2}})
    assert config.rollout.mode == "guardrails"


SERVERLESS = {"serving": {"serverless": {}}, "rollout": {"mode": "all_at_once"}}


def test_serverless_serving_is_off_by_default_and_takes_the_all_at_once_rollout() -> None:
    assert load_config({}).serving.serverless is None

    config = load_config({**SERVERLESS, "serving": {"serverless": {"provisioned_concurrency": 2}}})

    assert config.serving.serverless is not None
    assert config.serving.serverless.settings().request() == {
        "MemorySizeInMB": 2048,
        "MaxConcurrency": 5,
        "ProvisionedConcurrency": 2,
    }


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({"serving": {"serverless": {}}}, "rollout.mode 'staged': its shadow variant and canary need a second"),
        ({"serving": {"serverless": {}}, "rollout": {"mode": "guardrails"}}, "sizes canary and linear steps in"),
        ({"rollout": {"mode": "all_at_once"}}, "it is for serving.serverless only"),
        ({**SERVERLESS, "quality": {}}, "serverless endpoints have no data capture"),
        (
            {**SERVERLESS, "alarms": {"business_metric": {}}},
            "a serverless endpoint has one production variant",
        ),
        (
            {"serving": {"serverless": {}, "initial_instance_count": 2}, "rollout": {"mode": "all_at_once"}},
            "so initial_instance_count would be ignored",
        ),
        (
            {"serving": {"serverless": {"memory_size_in_mb": 1500}}, "rollout": {"mode": "all_at_once"}},
            "memory_size_in_mb: Input should be 1024, 2048, 3072, 4096, 5120 or 6144",
        ),
        (
            {
                "serving": {"serverless": {"max_concurrency": 2, "provisioned_concurrency": 3}},
                "rollout": {"mode": "all_at_once"},
            },
            "provisioned_concurrency (3) must be at most max_concurrency (2)",
        ),
        (
            {"serving": {"serverless": {"max_concurrency": 201}}, "rollout": {"mode": "all_at_once"}},
            "max_concurrency: Input should be less than or equal to 200",
        ),
    ],
)
def test_serverless_refuses_what_serverless_endpoints_do_not_support(context: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(context)

    assert expected in str(raised.value)


def test_pull_grants_name_the_images_repository_and_nothing_else() -> None:
    from mlops_kit.pipeline.definition import ecr_repository

    uri = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"
    assert ecr_repository(uri) == ("683313688378", "sagemaker-scikit-learn")
    assert ecr_repository(uri.replace(":1.9-0-cpu-py3", "@sha256:abc")) == ("683313688378", "sagemaker-scikit-learn")
    with pytest.raises(ValueError, match="not an ECR image URI"):
        ecr_repository("public.ecr.aws/sam/build-python3.14")
