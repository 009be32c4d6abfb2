"""The training stack: the SageMaker Pipeline definition (steps, parameters, images), the registry group and
the pipeline role's least-privilege permissions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match

from mlops_kit.pipeline import definition as d
from mlops_kit.registry import REQUIRED_LINEAGE
from mlops_kit.registry.lineage import DOCUMENT_KEYS


def _join(value: Any) -> str:
    """A CloudFormation string as text, with each token rendered as <token>."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_join(p) for p in parts)
    return "<token>"


@pytest.fixture(scope="module")
def pipeline(templates: dict[str, Any]) -> dict[str, Any]:
    template = next(t for name, t in templates.items() if name.endswith("-training"))
    (resource,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::SageMaker::Pipeline"]
    return json.loads(_join(resource["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"]))


def _all_steps(steps: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found = {}
    for step in steps:
        found[step["Name"]] = step
        if step["Type"] == "Condition":
            found |= _all_steps(step["Arguments"]["IfSteps"]) | _all_steps(step["Arguments"]["ElseSteps"])
    return found


def test_the_pipeline_has_every_step_in_order(pipeline: dict[str, Any]) -> None:
    steps = _all_steps(pipeline["Steps"])

    assert {name: step["Type"] for name, step in steps.items()} == {
        d.STEP_BUILD: "Processing", d.STEP_VALIDATE: "Processing", d.STEP_DATA_VALID: "Condition",
        d.STEP_DATA_INVALID: "Fail", d.STEP_PREPROCESS: "Processing", d.STEP_TRAIN: "Training",
        d.STEP_EVALUATE: "Processing", d.STEP_GATE: "Condition", d.STEP_GATE_REFUSED: "Fail",
        d.STEP_REGISTER: "RegisterModel",
    }  # fmt: skip
    gate = steps[d.STEP_GATE]["Arguments"]
    assert [s["Name"] for s in gate["IfSteps"]] == [d.STEP_REGISTER]
    assert [s["Name"] for s in gate["ElseSteps"]] == [d.STEP_GATE_REFUSED]


def test_parameters_cover_the_data_window_thresholds_and_instance_types(pipeline: dict[str, Any]) -> None:
    parameters = {p["Name"]: p for p in pipeline["Parameters"]}

    assert {
        "LabelsFrom",
        "LabelsTo",
        "MinPrimaryMetric",
        "MinImprovement",
        "ProcessingInstanceType",
        "TrainingInstanceType",
        "Seed",
        "Baseline",
        "MinBaselineImprovement",
    } <= set(parameters)
    assert parameters["MinPrimaryMetric"]["DefaultValue"] == 0.75
    assert parameters["Baseline"]["DefaultValue"] == "prior_rate"
    assert parameters["MinBaselineImprovement"]["DefaultValue"] == 0.05
    # Nothing about Production is a parameter: the Evaluate step reads it from the registry, however the run started.
    assert not any("Production" in name for name in parameters)


def test_evaluate_finds_production_in_the_group_and_the_training_set_is_point_in_time(pipeline: dict[str, Any]) -> None:
    steps = _all_steps(pipeline["Steps"])
    evaluate = steps[d.STEP_EVALUATE]["Arguments"]
    arguments = evaluate["AppSpecification"]["ContainerArguments"]
    build = steps[d.STEP_BUILD]["Arguments"]["AppSpecification"]["ContainerArguments"]

    assert arguments[arguments.index("--model-package-group") + 1] == "mlops-kit-models"
    assert "--production-model" not in arguments
    # The baselines are fitted on train; validation and test are scored, the gate decides on test.
    assert {i["InputName"] for i in evaluate["ProcessingInputs"]} >= {"train", "validation", "test", "model"}
    assert build[build.index("--created-before-label") + 1] == "where_created"


def test_images_are_pinned_and_no_placeholder_survives(pipeline: dict[str, Any]) -> None:
    text = json.dumps(pipeline)
    images = {
        s["Arguments"].get("AppSpecification", {}).get("ImageUri")
        or s["Arguments"].get("AlgorithmSpecification", {}).get("TrainingImage")
        for s in _all_steps(pipeline["Steps"]).values()
        if s["Type"] in ("Processing", "Training")
    }

    assert images == {"683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"}
    assert "placeholder" not in text
    assert ":latest" not in text


def test_registration_is_staging_pending_approval_with_every_lineage_key(pipeline: dict[str, Any]) -> None:
    register = _all_steps(pipeline["Steps"])[d.STEP_REGISTER]["Arguments"]

    assert register["ModelApprovalStatus"] == "PendingManualApproval"
    assert register["ModelLifeCycle"]["Stage"] == "Staging"
    assert set(REQUIRED_LINEAGE) <= set(register["CustomerMetadataProperties"])
    # The full lineage is the document Evaluate writes beside its report; the registry keeps its URI and hash.
    assert set(DOCUMENT_KEYS) <= set(register["CustomerMetadataProperties"])
    evaluate = _all_steps(pipeline["Steps"])[d.STEP_EVALUATE]["Arguments"]["AppSpecification"]["ContainerArguments"]
    lineage_uri = evaluate[evaluate.index("--lineage-uri") + 1]
    assert lineage_uri["Std:Join"]["Values"][-1] == "lineage.json"
    assert register["ModelMetrics"]["ModelQuality"]["Statistics"]["ContentType"] == "application/json"


def test_the_gate_requires_its_decision_the_bar_and_complete_lineage(pipeline: dict[str, Any]) -> None:
    conditions = _all_steps(pipeline["Steps"])[d.STEP_GATE]["Arguments"]["Conditions"]
    paths = [c["LeftValue"]["Std:JsonGet"]["Path"] for c in conditions]

    assert paths == ["gate.passed", "metrics.roc_auc", "lineage_complete"]


def test_the_registry_group_exists(stack_template: Any) -> None:
    stack_template("training").has_resource_properties(
        "AWS::SageMaker::ModelPackageGroup", {"ModelPackageGroupName": "mlops-kit-models"}
    )


def test_the_pipeline_role_is_least_privilege(stack_template: Any) -> None:
    training = stack_template("training")
    statements = [
        s
        for policy in training.find_resources("AWS::IAM::Policy").values()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    actions = [a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])]

    assert not any(a.endswith(":*") for a in actions), "no service-wide action wildcards"
    assert not training.find_resources("AWS::IAM::ManagedPolicy")
    training.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [Match.object_like({"Principal": {"Service": "sagemaker.amazonaws.com"}})]
            }
        },
    )
    pass_role = next(s for s in statements if s["Action"] == "iam:PassRole")
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    # The role reads the registry group (to find Production) besides registering in it.
    reads = [s for s in statements if "sagemaker:ListModelPackages" in s["Action"]]
    assert len(reads) == 1
    assert set(reads[0]["Action"]) >= {"sagemaker:ListModelPackages", "sagemaker:DescribeModelPackage"}
    assert "*" not in reads[0]["Resource"]
    star = [s for s in statements if s["Resource"] == "*"]
    assert {a for s in star for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])} == {
        "ecr:GetAuthorizationToken", "cloudwatch:PutMetricData",
    }  # fmt: skip


def test_training_hyperparameters_are_strings_and_no_experiment_entities_are_made(pipeline: dict[str, Any]) -> None:
    train = _all_steps(pipeline["Steps"])[d.STEP_TRAIN]["Arguments"]

    # CreateTrainingJob types HyperParameters as a map of strings; a bare {"Get": "Parameters.MaxIter"} would put
    # an integer there at execution time.
    for name, value in train["HyperParameters"].items():
        assert isinstance(value, str) or "Std:Join" in value, f"{name}: {value}"
    assert not pipeline.get("PipelineExperimentConfig")
