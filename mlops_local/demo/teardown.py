"""``cdk destroy`` on the emulator, then what is left in every service of every account (README "Tear down").

:func:`inventory` reads back, by service and kind, every resource the kit's stacks or its runtime make in one
account; :data:`BILLING` are the kinds billed while they exist, which none may survive; :data:`RETAINED` the stateful
kinds that ``removal_policy: retain`` (the default) keeps. :func:`destroy_everything` deletes every stack of the app
in every account, as ``cdk destroy --all`` does, and reports each account's inventory afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from mlops_kit.cli.console import table
from mlops_local.demo.context import DemoContext
from mlops_local.deploy import LocalDeployer

# Billed while they exist (instances, invocations aside): none may survive `cdk destroy`.
BILLING = (
    "sagemaker endpoints",
    "sagemaker endpoint configs",
    "sagemaker models",
    "autoscaling targets",
    "autoscaling policies",
    "lambda functions",
    "state machines",
    "rest apis",
    "schedules",
    "alarms",
    "event rules",
    "sns topics",
    "sagemaker pipelines",
    "glue databases",
    "athena workgroups",
)
# Stateful data, retained with `removal_policy: retain` (the default), by the template resource type that makes it.
RETAINED = {
    "AWS::DynamoDB::Table": "dynamodb tables",
    "AWS::S3::Bucket": "s3 buckets",
    "AWS::KMS::Key": "kms keys",
    "AWS::SQS::Queue": "sqs queues",
    "AWS::Logs::LogGroup": "log groups",
    "AWS::SageMaker::ModelPackageGroup": "model package groups",
}


def inventory(client: Callable[[str], Any]) -> dict[str, list[str]]:
    """Every resource the kit's stacks or its runtime make in one account, by service and kind (names), read back
    from the APIs with ``client(service)``. Leaves out the CDK bootstrap buckets (``cdk-*``, shared, they stay),
    Athena's ``primary`` workgroup and keys not ``Enabled`` (pending deletion: no longer billed)."""
    sm = client("sagemaker")
    scaling = client("application-autoscaling")
    kms = client("kms")
    return {
        "sagemaker endpoints": [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]],
        "sagemaker endpoint configs": [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]],
        "sagemaker models": [m["ModelName"] for m in sm.list_models()["Models"]],
        "sagemaker pipelines": [p["PipelineName"] for p in sm.list_pipelines()["PipelineSummaries"]],
        "autoscaling targets": [
            t["ResourceId"] for t in scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
        ],
        "autoscaling policies": [
            p["PolicyName"] for p in scaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
        ],
        "lambda functions": [f["FunctionName"] for f in client("lambda").list_functions()["Functions"]],
        "state machines": [m["name"] for m in client("stepfunctions").list_state_machines()["stateMachines"]],
        "rest apis": [a["name"] for a in client("apigateway").get_rest_apis()["items"]],
        "event rules": [r["Name"] for r in client("events").list_rules()["Rules"]],
        "schedules": [s["Name"] for s in client("scheduler").list_schedules()["Schedules"]],
        "alarms": [a["AlarmName"] for a in client("cloudwatch").describe_alarms()["MetricAlarms"]],
        "sns topics": [t["TopicArn"].rsplit(":", 1)[-1] for t in client("sns").list_topics()["Topics"]],
        "sqs queues": [u.rsplit("/", 1)[-1] for u in client("sqs").list_queues().get("QueueUrls", [])],
        "dynamodb tables": client("dynamodb").list_tables()["TableNames"],
        "s3 buckets": [b["Name"] for b in client("s3").list_buckets()["Buckets"] if not b["Name"].startswith("cdk-")],
        "kms keys": [
            k["KeyId"]
            for k in kms.list_keys()["Keys"]
            if kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"
        ],
        "log groups": [g["logGroupName"] for g in client("logs").describe_log_groups()["logGroups"]],
        "model package groups": [
            g["ModelPackageGroupName"] for g in sm.list_model_package_groups()["ModelPackageGroupSummaryList"]
        ],
        "glue databases": [d["Name"] for d in client("glue").get_databases()["DatabaseList"]],
        "athena workgroups": [
            w["Name"] for w in client("athena").list_work_groups()["WorkGroups"] if w["Name"] != "primary"
        ],
    }


def runtime_log_groups(names: list[str], endpoints: list[str]) -> list[str]:
    """The log groups of ``names`` made at runtime, not by the templates: SageMaker's own of ``endpoints`` (on AWS
    it outlives the endpoint; the emulator writes it only for container errors), and moto's ``/aws/lambda/<name>``
    for every function whatever its LoggingConfig says (on AWS the kit's functions log to their own groups)."""
    made_by_sagemaker = {f"/aws/sagemaker/Endpoints/{endpoint}" for endpoint in endpoints}
    return [g for g in names if g.startswith("/aws/lambda/") or g in made_by_sagemaker]


@dataclass
class AccountLeft:
    """What one account holds after the teardown: the billing resources left (by kind, names; empty when none
    is) and how many resources of each retained kind remain."""

    account: str
    billing: dict[str, list[str]]
    retained: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {"account": self.account, "billing": self.billing, "retained": self.retained}


def left_in(client: Callable[[str], Any], account: str, endpoints: list[str]) -> AccountLeft:
    """What is left in ``account`` (read with ``client``): the billing kinds that still hold something, and the
    count of each retained kind, without the log groups made at runtime (:func:`runtime_log_groups`) for the
    ``endpoints`` that served there."""
    found = inventory(client)
    runtime = set(runtime_log_groups(found["log groups"], endpoints))
    found["log groups"] = [g for g in found["log groups"] if g not in runtime]
    return AccountLeft(
        account=account,
        billing={kind: found[kind] for kind in BILLING if found[kind]},
        retained={kind: len(found[kind]) for kind in RETAINED.values()},
    )


def destroy_everything(context: DemoContext, accounts: dict[str, str], endpoints: list[str]) -> dict[str, Any]:
    """``cdk destroy --all``: delete every stack of the app in its account (reverse dependency order, each once the
    one before is gone), then list what is left in every service of every account of ``accounts`` (a label, such
    as ``tooling`` or an environment's name, to its account). ``endpoints`` are the endpoints that served
    (their SageMaker log groups are runtime-made). Raises :class:`mlops_local.deploy.DeployError` when a stack's
    deletion fails (its teardown answered FAILED, for one), naming the stack and the reasons from its events.

    Returns the stacks deleted and, by label, :meth:`AccountLeft.to_dict`.
    """
    aws = context.emulator
    deployer = LocalDeployer(aws.session(), account=aws.account, region=aws.region)
    context.console.print("[bold]cdk destroy --all[/]: every stack, in every account")
    deleted = deployer.destroy(context.assembly, progress=lambda line: context.console.print(f"  {line}"))
    left = {
        label: left_in(partial(aws.client, account=account), account, endpoints) for label, account in accounts.items()
    }
    rows = [
        [
            f"{label} ({found.account})",
            ", ".join(f"{kind}: {', '.join(names)}" for kind, names in found.billing.items()) or "nothing",
            ", ".join(f"{count} {kind}" for kind, count in found.retained.items() if count) or "nothing",
        ]
        for label, found in left.items()
    ]
    context.console.print(table("What is left after cdk destroy", ["account", "billing", "retained (data)"], rows))
    return {"deleted": deleted, "left": {label: found.to_dict() for label, found in left.items()}}
