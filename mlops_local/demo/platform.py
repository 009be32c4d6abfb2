"""Demo stage: deploy every stack of the CDK app into the emulator and show what was deployed."""

from __future__ import annotations

from typing import Any

from mlops_kit.cli.console import step, table
from mlops_local.demo.context import DemoContext
from mlops_local.deploy import LocalDeployer


def deployed_inventory(context: DemoContext) -> dict[str, list[str]]:
    """What the emulator now holds, per service, read back through the AWS APIs."""
    aws = context.emulator
    inventory: dict[str, list[str]] = {}
    inventory["S3 buckets"] = [b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]]
    inventory["KMS keys"] = [k["KeyId"] for k in aws.client("kms").list_keys()["Keys"]]
    inventory["SNS topics"] = [t["TopicArn"].split(":")[-1] for t in aws.client("sns").list_topics()["Topics"]]
    inventory["Lambda functions"] = [f["FunctionName"] for f in aws.client("lambda").list_functions()["Functions"]]
    inventory["State machines"] = [
        m["name"] for m in aws.client("stepfunctions").list_state_machines()["stateMachines"]
    ]
    inventory["DynamoDB tables"] = aws.client("dynamodb").list_tables()["TableNames"]
    inventory["CloudWatch alarms"] = [
        a["AlarmName"] for a in aws.client("cloudwatch").describe_alarms()["MetricAlarms"]
    ]
    inventory["SageMaker pipelines"] = [
        p["PipelineName"] for p in aws.client("sagemaker").list_pipelines()["PipelineSummaries"]
    ]
    inventory["Model package groups"] = [
        g["ModelPackageGroupName"]
        for g in aws.client("sagemaker").list_model_package_groups()["ModelPackageGroupSummaryList"]
    ]
    return {service: names for service, names in inventory.items() if names}


def run(context: DemoContext) -> dict[str, Any]:
    aws = context.emulator
    deployer = LocalDeployer(aws.session(), endpoint_url=aws.endpoint_url, account=aws.account, region=aws.region)
    with step(f"Deploying {len(context.assembly.stacks)} stacks into the emulator"):
        context.stacks = deployer.deploy(context.assembly)
    context.console.print(
        table(
            "Stacks",
            ["stack", "status", "resources", "seconds"],
            [[s.stack_name, s.status, str(sum(s.resources.values())), f"{s.seconds:.2f}"] for s in context.stacks],
        )
    )
    inventory = deployed_inventory(context)
    context.console.print(
        table(
            "Deployed resources (read back from the emulator's APIs)",
            ["service", "count", "names"],
            [[service, str(len(names)), ", ".join(sorted(names))[:110]] for service, names in inventory.items()],
        )
    )
    outputs = {k: v for s in context.stacks for k, v in s.outputs.items()}
    context.console.print(table("Stack outputs", ["output", "value"], [[k, v] for k, v in sorted(outputs.items())]))
    return {
        "stacks": {s.stack_name: s.status for s in context.stacks},
        "resources": {service: len(names) for service, names in inventory.items()},
    }
