"""mlops.mlflow.managed deploys a SageMaker managed MLflow tracking server that the pipeline logs to; off, none.
(Issue 16: the keys were accepted and ignored.)"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Template

from cdk.config import load_config
from tests.infrastructure.conftest import template_of


def _default_tracking_uri(template: dict[str, Any]) -> str:
    (pipeline,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::SageMaker::Pipeline"]
    # The definition is an Fn::Join of literal JSON and tokens; render the tokens as JSON to search it.
    body = json.dumps(pipeline["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"])
    start = body.index("MlflowTrackingUri")
    # The parameter object before its name: {"DefaultValue": ..., "Name": "MlflowTrackingUri", ...}
    return body[body.rindex("{", 0, start) : start]


def test_managed_mlflow_is_a_tracking_server_the_pipeline_logs_to(tuned_templates: dict[str, Any]) -> None:
    template = template_of(tuned_templates, "training")
    assertions = Template.from_json(template)
    name = load_config({}).mlflow_tracking_server_name

    servers = assertions.find_resources("AWS::SageMaker::MlflowTrackingServer")
    (server,) = servers.values()
    properties = server["Properties"]
    assert (properties["TrackingServerName"], properties["TrackingServerSize"]) == (name, "Medium")
    assert properties["AutomaticModelRegistration"] is False
    assert "/mlflow" in json.dumps(properties["ArtifactStoreUri"])
    # The pipeline's MlflowTrackingUri parameter defaults to the server's ARN, not "none".
    default = _default_tracking_uri(template)
    assert f"mlflow-tracking-server/{name}" in default
    assert '"DefaultValue\\": \\"none\\"' not in default
    # The pipeline role may use the MLflow API on this server only.
    statements = [
        s
        for policy in assertions.find_resources("AWS::IAM::Policy").values()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if "sagemaker-mlflow" in json.dumps(s["Action"])
    ]
    assert len(statements) == 1
    assert statements[0]["Action"] == "sagemaker-mlflow:*"
    assert f"mlflow-tracking-server/{name}" in json.dumps(statements[0]["Resource"])


def test_without_managed_mlflow_there_is_no_server_and_runs_are_not_logged_on_aws(templates: dict) -> None:
    template = next(t for n, t in templates.items() if n.endswith("-training"))

    assert not [r for r in template["Resources"].values() if r["Type"] == "AWS::SageMaker::MlflowTrackingServer"]
    assert "mlflow-tracking-server" not in _default_tracking_uri(template)
    assert '\\"none\\"' in _default_tracking_uri(template)
