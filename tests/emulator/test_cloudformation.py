"""CloudFormation patch points and the emulated resource types: nothing the kit synthesizes is skipped."""

from __future__ import annotations

import json
import re

import pytest

from mlops_local.cloudformation_resources import EMULATED_TYPES, unsupported_types
from mlops_local.emulator import Emulator
from tests.support import ALLOW_ALL_KEY_POLICY


def _create(emulator: Emulator, resources: dict, outputs: dict | None = None, name: str = "s") -> dict[str, str]:
    cfn = emulator.client("cloudformation")
    template = {"Resources": resources, "Outputs": outputs or {}}
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_IAM"])
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def test_every_emulated_type_is_known_to_cloudformation(emulator: Emulator) -> None:
    template = {"Resources": {c.__name__: {"Type": c.TYPE} for c in EMULATED_TYPES}}

    assert unsupported_types(template) == []
    assert unsupported_types({"Resources": {"X": {"Type": "AWS::Made::Up"}}}) == ["AWS::Made::Up"]


def test_alarm_is_a_real_cloudwatch_alarm(emulator: Emulator) -> None:
    outputs = _create(
        emulator,
        {
            "Alarm": {
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {
                    "AlarmName": "p99-latency",
                    "Namespace": "AWS/SageMaker",
                    "MetricName": "ModelLatency",
                    "Dimensions": [{"Name": "EndpointName", "Value": "e"}],
                    "ExtendedStatistic": "p99",
                    "Period": 60,
                    "EvaluationPeriods": 3,
                    "DatapointsToAlarm": 2,
                    "Threshold": 500000,
                    "ComparisonOperator": "GreaterThanThreshold",
                    "TreatMissingData": "notBreaching",
                },
            }
        },
        {"Name": {"Value": {"Ref": "Alarm"}}, "Arn": {"Value": {"Fn::GetAtt": ["Alarm", "Arn"]}}},
    )

    (alarm,) = emulator.client("cloudwatch").describe_alarms(AlarmNames=["p99-latency"])["MetricAlarms"]
    assert alarm["ExtendedStatistic"] == "p99"
    assert alarm["Threshold"] == 500000
    assert outputs == {"Name": "p99-latency", "Arn": alarm["AlarmArn"]}


def test_schedule_group_and_schedule_are_created(emulator: Emulator) -> None:
    _create(
        emulator,
        {
            "Group": {"Type": "AWS::Scheduler::ScheduleGroup", "Properties": {"Name": "mlops"}},
            "Schedule": {
                "Type": "AWS::Scheduler::Schedule",
                "Properties": {
                    "Name": "drift",
                    "GroupName": {"Ref": "Group"},
                    "ScheduleExpression": "rate(1 hour)",
                    "FlexibleTimeWindow": {"Mode": "OFF"},
                    "Target": {
                        "Arn": "arn:aws:lambda:us-east-1:123456789012:function:f",
                        "RoleArn": "arn:aws:iam::123456789012:role/r",
                    },
                },
            },
        },
    )

    schedule = emulator.client("scheduler").get_schedule(Name="drift", GroupName="mlops")
    assert schedule["ScheduleExpression"] == "rate(1 hour)"


def test_model_package_group_and_pipeline_are_created(emulator: Emulator) -> None:
    definition = {"Version": "2020-12-01", "Steps": []}
    outputs = _create(
        emulator,
        {
            "Group": {
                "Type": "AWS::SageMaker::ModelPackageGroup",
                "Properties": {"ModelPackageGroupName": "fraud"},
            },
            "Pipeline": {
                "Type": "AWS::SageMaker::Pipeline",
                "Properties": {
                    "PipelineName": "train",
                    "RoleArn": "arn:aws:iam::123456789012:role/sm",
                    "PipelineDefinition": {"PipelineDefinitionBody": json.dumps(definition)},
                },
            },
        },
        {"GroupArn": {"Value": {"Ref": "Group"}}},
    )

    sagemaker = emulator.client("sagemaker")
    assert outputs["GroupArn"].endswith(":model-package-group/fraud")
    assert json.loads(sagemaker.describe_pipeline(PipelineName="train")["PipelineDefinition"]) == definition


def test_glue_table_and_athena_workgroup_are_created(emulator: Emulator) -> None:
    _create(
        emulator,
        {
            "Db": {
                "Type": "AWS::Glue::Database",
                "Properties": {"CatalogId": "123456789012", "DatabaseInput": {"Name": "features"}},
            },
            "Table": {
                "Type": "AWS::Glue::Table",
                "Properties": {
                    "CatalogId": "123456789012",
                    "DatabaseName": {"Ref": "Db"},
                    "TableInput": {
                        "Name": "transactions",
                        "StorageDescriptor": {"Columns": [{"Name": "amount", "Type": "double"}]},
                    },
                },
            },
            "WorkGroup": {"Type": "AWS::Athena::WorkGroup", "Properties": {"Name": "mlops"}},
        },
    )

    table = emulator.client("glue").get_table(DatabaseName="features", Name="transactions")["Table"]
    assert table["StorageDescriptor"]["Columns"] == [{"Name": "amount", "Type": "double"}]
    assert emulator.client("athena").get_work_group(WorkGroup="mlops")["WorkGroup"]["Name"] == "mlops"


def test_kms_key_with_tags_and_policy_object(emulator: Emulator) -> None:
    policy = ALLOW_ALL_KEY_POLICY
    outputs = _create(
        emulator,
        {
            "Key": {
                "Type": "AWS::KMS::Key",
                "Properties": {"KeyPolicy": policy, "Tags": [{"Key": "team", "Value": "ml"}]},
            }
        },
        {"KeyId": {"Value": {"Ref": "Key"}}},
    )

    tags = emulator.client("kms").list_resource_tags(KeyId=outputs["KeyId"])["Tags"]
    assert tags == [{"TagKey": "team", "TagValue": "ml"}]


def test_tls_enforcing_bucket_policy_still_allows_requests(emulator: Emulator) -> None:
    outputs = _create(
        emulator,
        {
            "Bucket": {"Type": "AWS::S3::Bucket"},
            "Policy": {
                "Type": "AWS::S3::BucketPolicy",
                "Properties": {
                    "Bucket": {"Ref": "Bucket"},
                    "PolicyDocument": {
                        "Statement": [
                            {
                                "Effect": "Deny",
                                "Principal": {"AWS": "*"},
                                "Action": "s3:*",
                                "Resource": "*",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        ]
                    },
                },
            },
        },
        {"Bucket": {"Value": {"Ref": "Bucket"}}},
    )
    s3 = emulator.client("s3")

    s3.put_object(Bucket=outputs["Bucket"], Key="k", Body=b"v")

    assert s3.get_object(Bucket=outputs["Bucket"], Key="k")["Body"].read() == b"v"


def test_an_unconditional_deny_still_denies(emulator: Emulator) -> None:
    outputs = _create(
        emulator,
        {
            "Bucket": {"Type": "AWS::S3::Bucket"},
            "Policy": {
                "Type": "AWS::S3::BucketPolicy",
                "Properties": {
                    "Bucket": {"Ref": "Bucket"},
                    "PolicyDocument": {
                        "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "*"}]
                    },
                },
            },
        },
        {"Bucket": {"Value": {"Ref": "Bucket"}}},
    )

    with pytest.raises(Exception, match=r"Forbidden|AccessDenied"):
        emulator.client("s3").put_object(Bucket=outputs["Bucket"], Key="k", Body=b"v")


def test_a_topic_policy_replaces_the_topics_default_policy(emulator: Emulator) -> None:
    deny_plain_http = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sns:Publish",
        "Resource": {"Ref": "Topic"},
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    policy = {"Version": "2012-10-17", "Statement": [deny_plain_http]}
    _create(
        emulator,
        {
            "Topic": {"Type": "AWS::SNS::Topic"},
            "Policy": {
                "Type": "AWS::SNS::TopicPolicy",
                "Properties": {"Topics": [{"Ref": "Topic"}], "PolicyDocument": policy},
            },
        },
    )
    (topic,) = emulator.client("sns").list_topics()["Topics"]

    attributes = emulator.client("sns").get_topic_attributes(TopicArn=topic["TopicArn"])["Attributes"]

    assert json.loads(attributes["Policy"])["Statement"][0]["Effect"] == "Deny"


def test_change_set_stacks_get_outputs_and_exports_for_the_next_stack(emulator: Emulator) -> None:
    cfn = emulator.client("cloudformation")
    producer = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"TopicArn": {"Value": {"Ref": "Topic"}, "Export": {"Name": "shared-topic"}}},
    }
    change_set = cfn.create_change_set(
        StackName="producer", ChangeSetName="c1", TemplateBody=json.dumps(producer), ChangeSetType="CREATE"
    )
    cfn.execute_change_set(ChangeSetName=change_set["Id"])

    outputs = cfn.describe_stacks(StackName="producer")["Stacks"][0]["Outputs"]
    consumer = {
        "Resources": {"Sub": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {"Imported": {"Value": {"Fn::ImportValue": "shared-topic"}}},
    }
    change_set = cfn.create_change_set(
        StackName="consumer", ChangeSetName="c2", TemplateBody=json.dumps(consumer), ChangeSetType="CREATE"
    )
    cfn.execute_change_set(ChangeSetName=change_set["Id"])

    imported = cfn.describe_stacks(StackName="consumer")["Stacks"][0]["Outputs"]
    assert outputs[0]["OutputKey"] == "TopicArn"
    assert imported[0]["OutputValue"] == outputs[0]["OutputValue"]


def test_change_set_resources_are_created_after_what_they_depend_on(emulator: Emulator) -> None:
    # As CDK writes a REST API: the Deployment comes before the Method in the template and DependsOn it.
    template = {
        "Resources": {
            "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "router"}},
            "Deployment": {
                "Type": "AWS::ApiGateway::Deployment",
                "Properties": {"RestApiId": {"Ref": "Api"}},
                "DependsOn": ["Get"],
            },
            "Get": {
                "Type": "AWS::ApiGateway::Method",
                "Properties": {
                    "RestApiId": {"Ref": "Api"},
                    "ResourceId": {"Fn::GetAtt": ["Api", "RootResourceId"]},
                    "HttpMethod": "GET",
                    "AuthorizationType": "AWS_IAM",
                    "Integration": {"Type": "MOCK", "IntegrationHttpMethod": "GET", "Uri": ""},
                },
            },
        }
    }
    cfn = emulator.client("cloudformation")
    change_set = cfn.create_change_set(
        StackName="api", ChangeSetName="c1", TemplateBody=json.dumps(template), ChangeSetType="CREATE"
    )

    cfn.execute_change_set(ChangeSetName=change_set["Id"])

    api_id = cfn.describe_stack_resource(StackName="api", LogicalResourceId="Api")["StackResourceDetail"][
        "PhysicalResourceId"
    ]
    assert len(emulator.client("apigateway").get_deployments(restApiId=api_id)["items"]) == 1


def test_depends_on_order_puts_dependencies_first_and_keeps_template_order_otherwise() -> None:
    from mlops_local.cloudformation import depends_on_order

    resources = {
        "D": {"DependsOn": ["M", "N"]},
        "A": {},
        "M": {"DependsOn": "A"},
        "N": {},
        "Loop": {"DependsOn": "Loop"},
    }

    assert list(depends_on_order(resources)) == ["A", "M", "N", "D", "Loop"]
    assert list(depends_on_order({"X": {"DependsOn": "missing"}})) == ["X"]


YAML_TEMPLATE = """
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: from-yaml
Outputs:
  QueueUrl:
    Value: !Ref Queue
"""


@pytest.mark.parametrize("through", ["create-stack", "change-set"])
def test_json_and_yaml_templates_give_the_same_stack(emulator: Emulator, through: str) -> None:
    cfn = emulator.client("cloudformation")
    as_json = json.dumps(
        {
            "Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "from-json"}}},
            "Outputs": {"QueueUrl": {"Value": {"Ref": "Queue"}}},
        }
    )
    for name, body in (("json", as_json), ("yaml", YAML_TEMPLATE)):
        if through == "create-stack":
            cfn.create_stack(StackName=name, TemplateBody=body)
        else:
            change_set = cfn.create_change_set(
                StackName=name, ChangeSetName="c", TemplateBody=body, ChangeSetType="CREATE"
            )
            cfn.execute_change_set(ChangeSetName=change_set["Id"])

    urls = {
        name: cfn.describe_stacks(StackName=name)["Stacks"][0]["Outputs"][0]["OutputValue"] for name in ("json", "yaml")
    }
    assert urls["json"].endswith("/from-json")
    assert urls["yaml"].endswith("/from-yaml")
    assert cfn.get_template(StackName="json")["TemplateBody"] == json.loads(as_json)


def test_the_kits_templates_parse_to_the_same_document_as_json_and_as_yaml(cloud_assembly) -> None:
    import yaml
    from moto.cloudformation.utils import yaml_tag_constructor

    from mlops_local.cloudformation import _json_template

    yaml.add_multi_constructor("", yaml_tag_constructor)
    for stack in cloud_assembly.stacks:
        text = stack.template_file.read_text()
        assert _json_template(text) == yaml.load(text, Loader=yaml.Loader), stack.stack_name


def _generated_names(emulator: Emulator) -> dict[str, str]:
    """A stack whose queue, topic and bucket are named by CloudFormation; their names by logical id."""
    cfn = emulator.client("cloudformation")
    resources = {"Queue": "AWS::SQS::Queue", "Topic": "AWS::SNS::Topic", "Bucket": "AWS::S3::Bucket"}
    template = {"Resources": {logical: {"Type": kind} for logical, kind in resources.items()}}
    cfn.create_stack(StackName="named", TemplateBody=json.dumps(template))
    listed = cfn.list_stack_resources(StackName="named")["StackResourceSummaries"]
    return {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in listed}


def test_generated_names_have_cloudformations_shape_and_are_the_same_in_every_emulator(tmp_path) -> None:
    # AWS: "<stack>-<logical id>-<random suffix>"; the emulator derives the suffix from what it names (patch point
    # cfn-generated-names-reproducible), so one deployment gets one set of names, run after run.
    with Emulator(workdir=tmp_path / "first") as first:
        names = _generated_names(first)
        # A stack created again (here after deleting the first) gets new names, as on AWS.
        first.client("cloudformation").delete_stack(StackName="named")
        again = _generated_names(first)
    with Emulator(workdir=tmp_path / "second") as second:
        elsewhere = _generated_names(second)

    queue, topic, bucket = (names[k].rsplit(":", 1)[-1].rsplit("/", 1)[-1] for k in ("Queue", "Topic", "Bucket"))
    assert re.fullmatch(r"named-Queue-[0-9A-Z]{12}", queue), queue
    assert re.fullmatch(r"named-Topic-[0-9A-Z]{12}", topic), topic
    assert re.fullmatch(r"named-bucket-[0-9a-z]{12}", bucket), bucket  # bucket names are lower case
    assert elsewhere == names
    assert set(again.values()).isdisjoint(names.values())
