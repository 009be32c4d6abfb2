"""The smoke suite's steps, the same on both targets: deploy with the CDK CLI, seed the feature store, run the
training pipeline, promote through the ``mlops`` CLI, then remove everything and account for it.

Everything a user would do goes through a command line (``cdk``, ``mlops``); the suite reads AWS's APIs only to
check results, to feed the pipeline its labels (a user would ``aws s3 cp`` them) and to tear down what the
promotion workflow created outside CloudFormation.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from mlops_kit.cli.main import app
from mlops_kit.serving.deploy import resource_prefix
from mlops_kit.waiting import poll
from mlops_local.deploy import CloudAssembly
from tests.aws.targets import PROJECT_VARIABLE, Target

ROOT = Path(__file__).resolve().parents[2]
CDK = ROOT / "node_modules" / ".bin" / "cdk"

# Small data and a small model: the pipeline's gate (roc_auc >= 0.75) still passes, and every job is short.
CUSTOMERS, TRANSACTIONS, DAYS, SEED = 400, 4000, 45, 11
TRAFFIC_BATCH, TRAFFIC_EVERY_SECONDS = 10, 30


def smoke_overrides(project: str, region: str) -> dict[str, Any]:
    """The minimal deployment: its own project name (so it cannot touch another deployment), the smallest
    instances, short bakes, data stores destroyed with the stacks. The A/B HTTP router stays on: API Gateway costs
    nothing idle, and its REST API and stage must deploy through `cdk deploy`'s change sets too. Managed MLflow
    (an hourly-billed tracking server) and drift-triggered retraining stay off; the drift and A/B status schedules are
    stretched past the run."""
    return {
        "mlops": {
            "project_name": project,
            "region": region,
            "removal_policy": "destroy",
            "training": {
                "instance_type": "ml.m5.large",  # the smallest type SageMaker training offers for the container
                "processing_instance_type": "ml.t3.medium",
                "hyperparameters": {"max_iter": 60, "learning_rate": 0.1, "max_depth": 3},
            },
            "serving": {"instance_type": "ml.t2.medium", "initial_instance_count": 1, "max_instance_count": 1},
            "rollout": {"steps": [50, 100], "bake_minutes": 2, "shadow_bake_minutes": 5, "approval_timeout_hours": 2},
            # Scheduled jobs would otherwise start (and bill) drift processing jobs hourly while the run lasts.
            "drift": {"retrain_on_drift": False, "schedule": "rate(7 days)"},
            "abtest": {"http_router": True, "status_schedule": "rate(1 day)"},
            "retention": {"log_days": 1},
            "mlflow": {"managed": False},
        }
    }


@dataclass
class Ledger:
    """What the run created and how many instance-hours it used, printed at the end whatever happened."""

    target: str
    project: str
    stacks: dict[str, int] = field(default_factory=dict)  # stack -> resources
    runtime: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # kind -> names deleted
    jobs: list[dict[str, Any]] = field(default_factory=list)
    endpoint_hours: dict[str, float] = field(default_factory=dict)  # instance type -> upper bound
    left: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per phase, reported (never asserted)

    def instance_hours(self) -> dict[str, float]:
        hours: dict[str, float] = defaultdict(float)
        for job in self.jobs:
            hours[job["instance_type"]] += job["instance_hours"]
        for instance_type, value in self.endpoint_hours.items():
            hours[instance_type] += value
        return dict(hours)

    def render(self) -> str:
        lines = [f"smoke run on {self.target}, project {self.project}", "created by CloudFormation:"]
        lines += [f"  {name}: {count} resources" for name, count in sorted(self.stacks.items())]
        lines.append("created by the pipeline and the promotion workflow (deleted through the API):")
        lines += [f"  {kind}: {', '.join(names)}" for kind, names in sorted(self.runtime.items())]
        lines.append("jobs:")
        lines += [
            f"  {j['kind']} {j['name']}: {j['instance_count']} x {j['instance_type']}, {j['seconds']:.0f} s"
            for j in self.jobs
        ]
        lines.append(
            "instance-hours, upper bounds (jobs: their steps' run time; endpoint: lifetime x twice its largest config):"
        )
        lines += [f"  {kind}: {hours:.3f}" for kind, hours in sorted(self.instance_hours().items())]
        lines.append("wall time: " + ", ".join(f"{name} {value:.0f} s" for name, value in self.seconds.items()))
        if self.left:
            lines.append("left in the account:")
            lines += [f"  {item}" for item in self.left]
        return "\n".join(lines)


class Smoke:
    """One smoke run against ``target`` with the synthesized ``assembly``."""

    def __init__(self, target: Target, assembly: CloudAssembly, project: str, workdir: Path) -> None:
        self.target = target
        self.assembly = assembly
        self.project = project
        self.workdir = workdir
        self.ledger = Ledger(target=target.name, project=project)
        self.outputs: dict[str, str] = {}
        self._runner = CliRunner()
        self._deployed = False
        self._endpoint: str | None = None

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Record the wall time ``name`` takes, for the report."""
        started = time.monotonic()
        try:
            yield
        finally:
            self.ledger.seconds[name] = time.monotonic() - started

    # -- the command lines -----------------------------------------------------------------------------------
    def cdk(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            # Each command would otherwise also talk to the internet (telemetry, the npm version check): a smoke
            # test reports nothing, and without a network those calls hang until they time out.
            "CDK_DISABLE_CLI_TELEMETRY": "true",
            "CDK_DISABLE_VERSION_CHECK": "1",
        }
        for name, value in self.target.environment().items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        # --no-notices: nor fetch its notices.
        result = subprocess.run(
            [str(CDK), *args, "--no-notices"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"cdk {' '.join(args)} failed:\n{result.stderr[-3000:]}"
        return result

    def mlops(self, *args: str, credentials: dict[str, str] | None = None) -> Result:
        """``mlops ARGS --project <smoke project>``, in this process (its waits run on the target's clock); with
        ``credentials`` (temporary ``AWS_*`` variables), as that identity."""
        env = {**self.target.environment(), "COLUMNS": "250", "NO_COLOR": "1", "TERM": "dumb", **(credentials or {})}
        result = self._runner.invoke(app, [*args, "--project", self.project], env=env)
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        assert result.exit_code == 0, f"mlops {' '.join(args)} exited {result.exit_code}:\n{result.output}"
        return result

    # -- deploy ----------------------------------------------------------------------------------------------
    def deploy(self) -> None:
        cfn = self.target.client("cloudformation")
        names = {s.stack_name for s in self.assembly.stacks}
        existing = [
            s["StackName"]
            for page in cfn.get_paginator("list_stacks").paginate()
            for s in page["StackSummaries"]
            if s["StackName"] in names and s["StackStatus"] != "DELETE_COMPLETE"
        ]
        assert not existing, (
            f"stacks {existing} already exist: the smoke test deploys only into a project of its own; set "
            f"{PROJECT_VARIABLE} to another name, or `cdk destroy` them if a previous smoke run left them"
        )
        # --app: the assembly under test. Without it the CLI runs cdk.json's `python app.py` (a full synth of the
        # default config, bundling included, into ./cdk.out) only to throw it away: bootstrapping an explicit
        # environment needs no stack of the app.
        environment = f"aws://{self.target.account}/{self.target.region}"
        self.cdk("bootstrap", environment, "--app", str(self.assembly.directory))
        self._deployed = True  # from here on, teardown has something to remove
        self.cdk("deploy", "--all", "--require-approval", "never", "--app", str(self.assembly.directory))
        for stack in self.assembly.stacks:
            described = cfn.describe_stacks(StackName=stack.stack_name)["Stacks"][0]
            assert described["StackStatus"].endswith("_COMPLETE"), (stack.stack_name, described["StackStatus"])
            self.outputs.update({o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])})
            resources = cfn.list_stack_resources(StackName=stack.stack_name)["StackResourceSummaries"]
            self.ledger.stacks[stack.stack_name] = len(resources)

    def stack_resources(self, resource_type: str) -> list[str]:
        """Physical ids of the deployed stacks' resources of ``resource_type``."""
        cfn = self.target.client("cloudformation")
        return [
            r["PhysicalResourceId"]
            for stack in self.assembly.stacks
            for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack.stack_name)
            for r in page["StackResourceSummaries"]
            if r["ResourceType"] == resource_type and "PhysicalResourceId" in r
        ]

    # -- the lifecycle ---------------------------------------------------------------------------------------
    def seed_features(self) -> list[str]:
        """The fraud use case's feature history up to today, ingested with `mlops features ingest`, and its labels
        in the data bucket where the pipeline reads them; returns customers whose features are online."""
        from mlops_kit.features import fraud

        end = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        data = fraud.generate(CUSTOMERS, TRANSACTIONS, seed=SEED, start=end - dt.timedelta(days=DAYS), days=DAYS)
        for group, frame in data.feature_rows().items():
            path = self.workdir / f"{group}.parquet"
            frame.to_parquet(path, index=False)
            self.mlops("features", "ingest", group, str(path))
        buffer = io.BytesIO()
        data.transactions.to_parquet(buffer, index=False)
        self.target.client("s3").put_object(
            Bucket=self.outputs["DataBucketName"], Key="labels/fraud/transactions.parquet", Body=buffer.getvalue()
        )
        return sorted(data.transactions["customer_id"].unique())[:TRAFFIC_BATCH]

    def train(self, *parameters: str) -> int:
        """`mlops pipeline run`: the registered version's number."""
        options = [arg for p in parameters for arg in ("-p", p)]
        output = self.mlops("pipeline", "run", *options).output
        registered = re.search(r"registered version (\d+)", output)
        assert registered, f"the pipeline registered no version:\n{output}"
        return int(registered.group(1))

    def invoke(self, customer: str) -> int:
        """`mlops invoke` for one request: the model version that answered."""
        output = self.mlops(
            "invoke", "--customer-id", customer, "--amount", "42.5", "--merchant-category", "grocery"
        ).output
        row = next((line for line in output.splitlines() if customer in line), "")
        cells = [c.strip() for c in re.split(r"[│|]", row) if c.strip()]
        assert len(cells) >= 4, f"no prediction for {customer}:\n{output}"
        return int(cells[2])

    def send_traffic(self, customers: list[str]) -> str:
        """`mlops invoke --file`: one batch of live requests (the shadow compares both models on them)."""
        now = dt.datetime.now(dt.UTC).isoformat()
        requests = [
            {
                "customer_id": c,
                "transaction": {"amount": 10.0 + i, "merchant_category": "grocery", "event_timestamp": now},
            }
            for i, c in enumerate(customers)
        ]
        path = self.workdir / "traffic.jsonl"
        path.write_text("\n".join(json.dumps(r) for r in requests) + "\n")
        return self.mlops("invoke", "--file", str(path)).output

    def promote_with_approval(self, version: int, customers: list[str]) -> str:
        """`mlops promote VERSION --no-follow`, live traffic until the workflow waits for a human, then `mlops approve`
        (the automatic approval) and its output once the rollout ended."""
        started = self.mlops("promote", str(version), "--no-follow", "--comment", "smoke test").output
        sfn = self.target.client("stepfunctions")
        # The execution from the API, not from the command's output: a console wraps or elides a long ARN.
        running = sfn.list_executions(stateMachineArn=self.outputs["PromotionStateMachineArn"], statusFilter="RUNNING")
        assert len(running["executions"]) == 1, (running["executions"], started)
        execution_arn = running["executions"][0]["executionArn"]

        def waiting_for_approval() -> str | None:
            described = sfn.describe_execution(executionArn=execution_arn)
            assert described["status"] == "RUNNING", (
                f"the promotion of version {version} ended {described['status']} before asking for approval: "
                f"{described.get('error')}: {described.get('cause')}"
            )
            pending = self.pending_approvals(execution_arn)
            return pending[0] if pending else None

        deadline = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
        approval_id = None
        while approval_id is None:
            assert dt.datetime.now(dt.UTC) < deadline, "the promotion did not ask for approval within 2 hours"
            self.send_traffic(customers)
            self.target.pause(TRAFFIC_EVERY_SECONDS)
            approval_id = waiting_for_approval()
        listed = self.mlops("promotions", "pending").output
        assert approval_id in listed, listed
        approved = self.mlops(
            "approve", approval_id, "--comment", "smoke test: automatic approval", credentials=self.reviewer()
        ).output
        self.wait_for_execution(execution_arn)
        return approved

    def reviewer(self) -> dict[str, str]:
        """Credentials of a reviewer signed in with the platform's approver role (the one identity that may answer
        a promotion besides the configured approvers; it trusts this account's principals)."""
        assumed = self.target.client("sts").assume_role(
            RoleArn=self.outputs["ApproverRoleArn"], RoleSessionName="smoke-reviewer"
        )["Credentials"]
        return {
            "AWS_ACCESS_KEY_ID": assumed["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": assumed["SecretAccessKey"],
            "AWS_SESSION_TOKEN": assumed["SessionToken"],
        }

    def pending_approvals(self, execution_arn: str) -> list[str]:
        from mlops_kit.promotion.store import PromotionStore

        store = PromotionStore(self.target.client("dynamodb"), self.outputs["PromotionTableName"])
        return [a.approval_id for a in store.pending_approvals() if a.execution_arn == execution_arn]

    def wait_for_execution(self, execution_arn: str) -> None:
        sfn = self.target.client("stepfunctions")

        def ended() -> dict[str, Any] | None:
            described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
            return None if described["status"] == "RUNNING" else described

        described = poll(ended, every=30, timeout=3 * 3600, what=f"promotion {execution_arn}")
        assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))

    def stages(self) -> dict[int, str]:
        from mlops_kit.registry import ModelRegistry

        registry = ModelRegistry(self.target.client("sagemaker"), self.outputs["ModelPackageGroupName"])
        return {v.version: v.stage for v in registry.versions()}

    # -- teardown --------------------------------------------------------------------------------------------
    def remove_runtime_resources(self) -> None:
        """Stop what runs and delete what the workflow created outside CloudFormation; account for the jobs and the
        endpoint first, while they can still be described. :meth:`destroy` removes the rest."""
        if not self._deployed:
            return
        outputs = self.outputs or self._read_outputs()
        with self.phase("teardown: runtime resources"):
            self._stop_executions(outputs)
            self._account_jobs(outputs)
            endpoint = outputs.get("EndpointName")
            if endpoint:
                self._delete_endpoint(endpoint)
            group = outputs.get("ModelPackageGroupName")
            if group:
                self._delete_model_packages(group)
        self._endpoint = endpoint

    def destroy(self) -> None:
        """`cdk destroy` (after emptying the buckets), then check that nothing the run created is left."""
        if not self._deployed:
            return
        with self.phase("teardown: cdk destroy"):
            self._destroy()
        self._check_nothing_left(self._endpoint)

    def _destroy(self, attempts: int = 3) -> None:
        """Empty the buckets, then `cdk destroy`; again if it fails: S3 delivers server access logs late, so the
        log bucket can fill up again between emptying and deletion."""
        for attempt in range(1, attempts + 1):
            self._empty_buckets()
            try:
                self.cdk("destroy", "--all", "--force", "--app", str(self.assembly.directory))
                return
            except AssertionError:
                if attempt == attempts:
                    raise

    def _read_outputs(self) -> dict[str, str]:
        outputs: dict[str, str] = {}
        cfn = self.target.client("cloudformation")
        for stack in self.assembly.stacks:
            try:
                described = cfn.describe_stacks(StackName=stack.stack_name)["Stacks"][0]
            except cfn.exceptions.ClientError:
                continue
            outputs.update({o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])})
        return outputs

    def _stop_executions(self, outputs: dict[str, str]) -> None:
        machine = outputs.get("PromotionStateMachineArn")
        if machine:
            sfn = self.target.client("stepfunctions")
            for execution in sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")["executions"]:
                sfn.stop_execution(executionArn=execution["executionArn"], cause="smoke test teardown")
                self.ledger.runtime["stopped promotions"].append(execution["name"])
        pipeline = outputs.get("PipelineName")
        if pipeline:
            sagemaker = self.target.client("sagemaker")
            summaries = sagemaker.list_pipeline_executions(PipelineName=pipeline)["PipelineExecutionSummaries"]
            for summary in summaries:
                if summary["PipelineExecutionStatus"] in ("Executing", "Stopping"):
                    sagemaker.stop_pipeline_execution(PipelineExecutionArn=summary["PipelineExecutionArn"])
                    self.ledger.runtime["stopped pipeline executions"].append(summary["PipelineExecutionArn"])

    def _account_jobs(self, outputs: dict[str, str]) -> None:
        """Each training and processing step of the smoke pipeline's runs: instance type and count (from the
        deployed definition; the suite never overrides them) and the step's run time, which covers the job's
        billable time and its provisioning: an upper bound, from one API that lists every step's job."""
        pipeline = outputs.get("PipelineName")
        if not pipeline:
            return
        sagemaker = self.target.client("sagemaker")
        definition = json.loads(sagemaker.describe_pipeline(PipelineName=pipeline)["PipelineDefinition"])
        defaults = {p["Name"]: p.get("DefaultValue") for p in definition.get("Parameters", [])}

        def resolved(value: Any) -> Any:
            if isinstance(value, dict) and str(value.get("Get", "")).startswith("Parameters."):
                return defaults[value["Get"].removeprefix("Parameters.")]
            return value

        resources: dict[str, tuple[str, int]] = {}
        pending = list(definition["Steps"])
        while pending:
            step = pending.pop()
            arguments = step.get("Arguments", {})
            pending += [*arguments.get("IfSteps", []), *arguments.get("ElseSteps", [])]  # a Condition's branches
            if step["Type"] == "Training":
                config = arguments["ResourceConfig"]
            elif step["Type"] == "Processing":
                config = arguments["ProcessingResources"]["ClusterConfig"]
            else:
                continue
            resources[step["Name"]] = (resolved(config["InstanceType"]), int(resolved(config["InstanceCount"])))
        summaries = sagemaker.list_pipeline_executions(PipelineName=pipeline)["PipelineExecutionSummaries"]
        for summary in summaries:
            listed = sagemaker.list_pipeline_execution_steps(PipelineExecutionArn=summary["PipelineExecutionArn"])
            for step in listed["PipelineExecutionSteps"]:
                metadata = step.get("Metadata", {})
                job = metadata.get("TrainingJob") or metadata.get("ProcessingJob")
                if job is None or step["StepName"] not in resources:
                    continue
                instance_type, count = resources[step["StepName"]]
                kind = "training" if "TrainingJob" in metadata else "processing"
                seconds = _seconds(step.get("StartTime"), step.get("EndTime") or dt.datetime.now(dt.UTC))
                self._job(kind, job["Arn"].rsplit("/", 1)[-1], instance_type, count, seconds)

    def _job(self, kind: str, name: str, instance_type: str, count: int, seconds: float) -> None:
        self.ledger.jobs.append(
            {
                "kind": kind,
                "name": name,
                "instance_type": instance_type,
                "instance_count": count,
                "seconds": seconds,
                "instance_hours": count * seconds / 3600,
            }
        )

    def _delete_endpoint(self, endpoint: str) -> None:
        """The endpoint, its autoscaling, and every model and endpoint config named for it (the deployer names them
        ``<endpoint prefix>-...``)."""
        sagemaker = self.target.client("sagemaker")
        autoscaling = self.target.client("application-autoscaling")
        prefix = resource_prefix(endpoint) + "-"
        paginator = autoscaling.get_paginator("describe_scalable_targets")
        for page in paginator.paginate(ServiceNamespace="sagemaker"):
            for scalable in page["ScalableTargets"]:
                if scalable["ResourceId"].startswith(f"endpoint/{endpoint}/"):
                    autoscaling.deregister_scalable_target(
                        ServiceNamespace="sagemaker",
                        ResourceId=scalable["ResourceId"],
                        ScalableDimension=scalable["ScalableDimension"],
                    )
                    self.ledger.runtime["scalable targets"].append(scalable["ResourceId"])
        configs = _names(sagemaker, "list_endpoint_configs", "EndpointConfigs", "EndpointConfigName", prefix)
        largest: dict[str, int] = {}
        for config in configs:
            described = sagemaker.describe_endpoint_config(EndpointConfigName=config)
            counts: dict[str, int] = defaultdict(int)
            for variant in [*described["ProductionVariants"], *described.get("ShadowProductionVariants", [])]:
                counts[variant.get("InstanceType", "serverless")] += variant.get("InitialInstanceCount", 0)
            for instance_type, count in counts.items():
                largest[instance_type] = max(largest.get(instance_type, 0), count)
        try:
            created = sagemaker.describe_endpoint(EndpointName=endpoint)["CreationTime"]
        except sagemaker.exceptions.ClientError:
            created = None
        if created is not None:
            sagemaker.delete_endpoint(EndpointName=endpoint)
            self.ledger.runtime["endpoint"].append(endpoint)
            poll(
                lambda: _gone(sagemaker, endpoint),
                every=15,
                timeout=1800,
                what=f"the deletion of endpoint {endpoint}",
            )
            hours = _seconds(created, dt.datetime.now(dt.UTC)) / 3600
            # During a blue/green update both fleets run: the config's instances twice over, at most.
            self.ledger.endpoint_hours = {t: 2 * count * hours for t, count in largest.items()}
        for config in configs:
            sagemaker.delete_endpoint_config(EndpointConfigName=config)
            self.ledger.runtime["endpoint configs"].append(config)
        for model in _names(sagemaker, "list_models", "Models", "ModelName", prefix):
            sagemaker.delete_model(ModelName=model)
            self.ledger.runtime["models"].append(model)
        logs = self.target.client("logs")
        group = f"/aws/sagemaker/Endpoints/{endpoint}"
        if logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
            logs.delete_log_group(logGroupName=group)
            self.ledger.runtime["log groups"].append(group)

    def _delete_model_packages(self, group: str) -> None:
        """The registered versions (a model package group with versions in it cannot be deleted)."""
        sagemaker = self.target.client("sagemaker")
        for page in sagemaker.get_paginator("list_model_packages").paginate(ModelPackageGroupName=group):
            for package in page["ModelPackageSummaryList"]:
                sagemaker.delete_model_package(ModelPackageName=package["ModelPackageArn"])
                self.ledger.runtime["model packages"].append(package["ModelPackageArn"].split("/", 1)[-1])

    def _empty_buckets(self) -> None:
        """Every object version of the stacks' buckets: versioned buckets must be empty before CloudFormation can
        delete them (``removal_policy=destroy`` deletes the bucket, not its objects)."""
        cfn = self.target.client("cloudformation")
        s3 = self.target.client("s3")
        for stack in self.assembly.stacks:
            try:
                resources = cfn.list_stack_resources(StackName=stack.stack_name)["StackResourceSummaries"]
            except cfn.exceptions.ClientError:
                continue
            for resource in resources:
                if resource["ResourceType"] != "AWS::S3::Bucket" or "PhysicalResourceId" not in resource:
                    continue
                if resource.get("ResourceStatus") == "DELETE_COMPLETE":  # a retried destroy deleted it already
                    continue
                bucket, removed = resource["PhysicalResourceId"], 0
                for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
                    doomed = [
                        {"Key": v["Key"], "VersionId": v["VersionId"]}
                        for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
                    ]
                    for start in range(0, len(doomed), 1000):
                        s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed[start : start + 1000]})
                    removed += len(doomed)
                self.ledger.runtime["emptied buckets"].append(f"{bucket} ({removed} object versions)")

    def _check_nothing_left(self, endpoint: str | None) -> None:
        cfn = self.target.client("cloudformation")
        names = {s.stack_name for s in self.assembly.stacks}
        remaining = [
            f"stack {s['StackName']} ({s['StackStatus']})"
            for page in cfn.get_paginator("list_stacks").paginate()
            for s in page["StackSummaries"]
            if s["StackName"] in names and s["StackStatus"] != "DELETE_COMPLETE"
        ]
        if endpoint:
            sagemaker = self.target.client("sagemaker")
            prefix = resource_prefix(endpoint) + "-"
            if not _gone(sagemaker, endpoint):
                remaining.append(f"endpoint {endpoint}")
            remaining += [f"model {m}" for m in _names(sagemaker, "list_models", "Models", "ModelName", prefix)]
            remaining += [
                f"endpoint config {c}"
                for c in _names(sagemaker, "list_endpoint_configs", "EndpointConfigs", "EndpointConfigName", prefix)
            ]
        bootstrap = f"the CDK bootstrap stack CDKToolkit in aws://{self.target.account}/{self.target.region} (shared)"
        self.ledger.left = [*remaining, bootstrap]
        assert not remaining, f"teardown left {remaining}"


def _seconds(start: dt.datetime | None, end: dt.datetime | None) -> float:
    if start is None or end is None:
        return 0.0
    return max(0.0, (end - start).total_seconds())


def _gone(sagemaker: Any, endpoint: str) -> bool | None:
    try:
        sagemaker.describe_endpoint(EndpointName=endpoint)
    except sagemaker.exceptions.ClientError as exc:
        if "Could not find endpoint" in str(exc):
            return True
        raise
    return None


def _names(sagemaker: Any, operation: str, key: str, field_name: str, prefix: str) -> list[str]:
    """Names starting with ``prefix`` (NameContains narrows the listing; the prefix is checked here)."""
    names = []
    for page in sagemaker.get_paginator(operation).paginate(NameContains=prefix.rstrip("-")):
        names += [item[field_name] for item in page[key] if item[field_name].startswith(prefix)]
    return names
