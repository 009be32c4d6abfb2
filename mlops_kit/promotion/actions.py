"""The promotion workflow's steps. The state machine (``step_functions/promotion.asl.json``) calls them in order
through one Lambda handler; each takes the execution state (a dict) and returns it updated.

Every step is idempotent where a retry could repeat it: models and endpoint configs have names derived from
the execution, registry moves are no-ops when already done, the lock is re-entrant for its holder.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from mlops_kit.promotion.shadow import ShadowLimits, compare, paired_scores
from mlops_kit.promotion.store import PromotionStore
from mlops_kit.registry import ModelRegistry, ModelVersion, Stage, StageStatus, missing_lineage
from mlops_kit.serving import naming


class InvalidCandidate(ValueError):  # noqa: N818  (the workflow catches it by this name)
    """The model package cannot be promoted (not approved, wrong stage, incomplete lineage...)."""


class Settings(BaseModel):
    """The workflow's configuration (from the platform config, through the Lambda's environment)."""

    endpoint_name: str
    model_package_group: str
    model_role_arn: str
    capture_uri: str
    capture_kms_key_id: str | None = None
    capture_sampling_percent: int = 100
    table_name: str
    topic_arn: str
    state_machine_arn: str = ""
    rollout_mode: str = "staged"
    steps: list[int] = Field(default_factory=lambda: [5, 25, 50, 100])
    bake_seconds: int = 600
    shadow_bake_seconds: int = 1800
    approval_timeout_seconds: int = 86400
    lock_expiry_seconds: int = 43200
    poll_seconds: int = 30
    shadow_max_error_rate: float = 0.01
    shadow_max_p99_latency_ratio: float = 1.5
    shadow_min_agreement: float = 0.6
    shadow_min_pairs: int = 20
    guardrails_routing: str = "CANARY"
    guardrails_canary_percent: int = 10
    guardrails_linear_step_percent: int = 20
    guardrails_wait_seconds: int = 600
    guardrails_termination_wait_seconds: int = 300
    guardrails_max_execution_seconds: int = 3600
    instance_type: str = "ml.m5.large"
    initial_instance_count: int = 1
    max_instance_count: int = 4
    target_invocations_per_instance: int = 1000
    business_alarm: bool = True
    serving_environment: dict[str, str] = Field(default_factory=dict)

    def shadow_limits(self) -> ShadowLimits:
        return ShadowLimits(
            max_error_rate=self.shadow_max_error_rate,
            max_p99_latency_ratio=self.shadow_max_p99_latency_ratio,
            min_agreement=self.shadow_min_agreement,
            min_pairs=self.shadow_min_pairs,
        )


@dataclass
class Aws:
    """The clients the steps use (boto3 in Lambda; the emulator's in tests)."""

    sagemaker: Any
    dynamodb: Any
    sns: Any
    cloudwatch: Any
    s3: Any
    autoscaling: Any


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _short(execution_arn: str) -> str:
    return execution_arn.rsplit(":", 1)[-1][-8:].replace("-", "")[-8:] or "manual"


def _version_summary(version: ModelVersion) -> dict[str, Any]:
    return {
        "arn": version.arn,
        "version": version.version,
        "model_data_url": version.model_data_url,
        "stage": version.stage,
        "metrics": version.metrics,
    }


class Promotion:
    """One execution's steps, bound to its settings and clients."""

    def __init__(self, settings: Settings, aws: Aws) -> None:
        self.settings = settings
        self.aws = aws
        self.registry = ModelRegistry(aws.sagemaker, settings.model_package_group)
        self.store = PromotionStore(aws.dynamodb, settings.table_name)

    # -- helpers ---------------------------------------------------------------------------------------
    def _endpoint(self) -> dict[str, Any] | None:
        try:
            return dict(self.aws.sagemaker.describe_endpoint(EndpointName=self.settings.endpoint_name))
        except self.aws.sagemaker.exceptions.ClientError as exc:
            if "Could not find endpoint" in str(exc):
                return None
            raise

    def _container(self, arn: str) -> dict[str, Any]:
        described = self.aws.sagemaker.describe_model_package(ModelPackageName=arn)
        return dict(described["InferenceSpecification"]["Containers"][0])

    def _create_model(self, state: dict[str, Any], arn: str, version: int, slot: str) -> str:
        name = f"{self.settings.endpoint_name}-v{version}-{slot}-{_short(state['execution'])}"[:63]
        container = self._container(arn)
        environment = {
            **container.get("Environment", {}),
            **self.settings.serving_environment,
            "MLOPS_MODEL_VERSION": str(version),
            "MLOPS_MODEL_PACKAGE_ARN": arn,
            "MLOPS_VARIANT": slot,
        }
        try:
            self.aws.sagemaker.create_model(
                ModelName=name,
                ExecutionRoleArn=self.settings.model_role_arn,
                PrimaryContainer={
                    "Image": container["Image"],
                    "ModelDataUrl": container["ModelDataUrl"],
                    "Environment": environment,
                },
            )
        except self.aws.sagemaker.exceptions.ClientError as exc:
            if "already exist" not in str(exc).lower():
                raise
        return name

    def _variant(self, slot: str, model: str, weight: float) -> dict[str, Any]:
        return {
            "VariantName": slot,
            "ModelName": model,
            "InitialInstanceCount": self.settings.initial_instance_count,
            "InstanceType": self.settings.instance_type,
            "InitialVariantWeight": weight,
        }

    def _create_config(
        self, state: dict[str, Any], purpose: str, variants: list[dict[str, Any]], shadow: dict[str, Any] | None = None
    ) -> str:
        name = f"{self.settings.endpoint_name}-{purpose}-{_short(state['execution'])}"[:63]
        capture: dict[str, Any] = {
            "EnableCapture": True,
            "InitialSamplingPercentage": self.settings.capture_sampling_percent,
            "DestinationS3Uri": self.settings.capture_uri,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
        }
        if self.settings.capture_kms_key_id:
            capture["KmsKeyId"] = self.settings.capture_kms_key_id
        request: dict[str, Any] = {
            "EndpointConfigName": name,
            "ProductionVariants": variants,
            "DataCaptureConfig": capture,
        }
        if shadow:
            request["ShadowProductionVariants"] = [shadow]
        try:
            self.aws.sagemaker.create_endpoint_config(**request)
        except self.aws.sagemaker.exceptions.ClientError as exc:
            if "already exist" not in str(exc).lower():
                raise
        return name

    def _current_model(self, state: dict[str, Any]) -> str:
        config = self.aws.sagemaker.describe_endpoint_config(EndpointConfigName=state["plan"]["original_config"])
        for variant in config["ProductionVariants"]:
            if variant["VariantName"] == state["plan"]["current_slot"]:
                return str(variant["ModelName"])
        return str(config["ProductionVariants"][0]["ModelName"])

    def _notify(self, subject: str, message: str) -> None:
        self.aws.sns.publish(TopicArn=self.settings.topic_arn, Subject=subject[:100], Message=message)

    def _rollout_metric(self, percent: float) -> None:
        self.aws.cloudwatch.put_metric_data(
            Namespace=naming.ROLLOUT_NAMESPACE,
            MetricData=[
                {
                    "MetricName": naming.ROLLOUT_METRIC,
                    "Dimensions": [{"Name": "EndpointName", "Value": self.settings.endpoint_name}],
                    "Value": float(percent),
                    "Unit": "Percent",
                }
            ],
        )

    @staticmethod
    def _passed(state: dict[str, Any], stage: str) -> dict[str, Any]:
        state.setdefault("path", []).append(stage)
        return state

    # -- steps ---------------------------------------------------------------------------------------
    def validate(self, state: dict[str, Any]) -> dict[str, Any]:
        """Check the candidate, take the endpoint lock, mark the candidate in progress, plan the path."""
        arn = state["model_package_arn"]
        rollback = state.get("mode") == "rollback"
        try:
            candidate = self.registry.get(arn)
        except Exception as exc:
            raise InvalidCandidate(f"model package {arn} cannot be read: {exc}") from exc
        if candidate.group != self.settings.model_package_group:
            raise InvalidCandidate(
                f"{arn} belongs to group {candidate.group!r}, not {self.settings.model_package_group!r}"
            )
        if candidate.approval_status != "Approved":
            raise InvalidCandidate(
                f"version {candidate.version} is {candidate.approval_status}; approve it in the registry first"
            )
        missing = missing_lineage(candidate.properties)
        if missing:
            raise InvalidCandidate(f"version {candidate.version} has incomplete lineage: {missing}")
        if rollback:
            target = self.registry.rollback_target()
            if candidate.stage != Stage.ARCHIVED or target is None or target.arn != candidate.arn:
                raise InvalidCandidate(
                    f"version {candidate.version} is not the most recently archived Production version"
                )
        elif candidate.stage != Stage.STAGING or candidate.stage_status not in (
            StageStatus.PENDING_APPROVAL, StageStatus.APPROVED, StageStatus.IN_PROGRESS,
        ):  # fmt: skip
            raise InvalidCandidate(
                f"version {candidate.version} is {candidate.stage}/{candidate.stage_status}; "
                "only Staging versions are promoted"
            )
        self.store.acquire_lock(
            self.settings.endpoint_name, state["execution"], ttl_seconds=self.settings.lock_expiry_seconds
        )
        if not rollback:
            if candidate.stage_status == StageStatus.PENDING_APPROVAL:
                self.registry.approve(
                    candidate.arn, approver=state.get("requested_by", "registry"), comment="approved in the registry"
                )
            candidate = self.registry.start_promotion(candidate.arn, execution=state["execution"])
        production = self.registry.production()
        endpoint = self._endpoint()
        current_slot = None
        if endpoint:
            weights = {v["VariantName"]: v.get("CurrentWeight", 0) for v in endpoint["ProductionVariants"]}
            current_slot = max(weights, key=lambda name: weights[name]) if weights else None
        mode = "rollback" if rollback else ("first_deploy" if endpoint is None else self.settings.rollout_mode)
        candidate_slot = current_slot if mode == "guardrails" else naming.other_slot(current_slot)
        state.update(
            {
                "started_at": _now(),
                "candidate": _version_summary(candidate),
                "production": _version_summary(production) if production else None,
                "plan": {
                    "mode": mode,
                    "endpoint_exists": endpoint is not None,
                    "original_config": endpoint["EndpointConfigName"] if endpoint else None,
                    "current_slot": current_slot,
                    "candidate_slot": candidate_slot,
                    "steps": self.settings.steps,
                    "bake_seconds": self.settings.bake_seconds,
                    "shadow_bake_seconds": self.settings.shadow_bake_seconds,
                    "approval_timeout_seconds": self.settings.approval_timeout_seconds,
                    "poll_seconds": self.settings.poll_seconds,
                    "lock_held": True,
                },
                "rollout": {"index": 0, "percent": 0, "done": False},
            }
        )
        return self._passed(state, "Validate")

    def create_endpoint(self, state: dict[str, Any]) -> dict[str, Any]:
        """No endpoint yet (or a rollback deploys directly): create/update it with the candidate alone."""
        plan = state["plan"]
        slot = plan["candidate_slot"]
        model = self._create_model(state, state["candidate"]["arn"], state["candidate"]["version"], slot)
        plan["candidate_model"] = model
        config = self._create_config(state, "direct", [self._variant(slot, model, 1.0)])
        plan["target_config"] = config
        if plan["endpoint_exists"]:
            self.aws.sagemaker.update_endpoint(EndpointName=self.settings.endpoint_name, EndpointConfigName=config)
        else:
            self.aws.sagemaker.create_endpoint(EndpointName=self.settings.endpoint_name, EndpointConfigName=config)
        return self._passed(state, "DeployDirect")

    def start_shadow(self, state: dict[str, Any]) -> dict[str, Any]:
        """Serve production as before and give the candidate a copy of every request as the shadow variant."""
        plan = state["plan"]
        model = self._create_model(
            state, state["candidate"]["arn"], state["candidate"]["version"], plan["candidate_slot"]
        )
        plan["candidate_model"] = model
        production = self._variant(plan["current_slot"], self._current_model(state), 1.0)
        shadow = {**self._variant(naming.SHADOW, model, 1.0), "VariantName": naming.SHADOW}
        config = self._create_config(state, "shadow", [production], shadow)
        self.aws.sagemaker.update_endpoint(EndpointName=self.settings.endpoint_name, EndpointConfigName=config)
        plan["shadow_config"] = config
        return self._passed(state, "StartShadow")

    def begin_shadow_bake(self, state: dict[str, Any]) -> dict[str, Any]:
        state["plan"]["shadow_started"] = time.time()
        return self._passed(state, "ShadowServing")

    def _capture(self, variant: str, since: float) -> list[dict[str, Any]]:
        uri = f"{self.settings.capture_uri.rstrip('/')}/{self.settings.endpoint_name}/{variant}/"
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        records: list[dict[str, Any]] = []
        for page in self.aws.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                if item["LastModified"].timestamp() < since - 3600:
                    continue
                body = self.aws.s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode()
                for line in body.splitlines():
                    if not line.strip():
                        continue
                    record = json.loads(line)
                    stamp = record.get("eventMetadata", {}).get("inferenceTime", "")
                    when = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() if stamp else since
                    if when >= since:
                        records.append(record)
        return records

    def _stat(self, variant: str, metric: str, stat: str, since: float) -> float | None:
        result = self.aws.cloudwatch.get_metric_data(
            MetricDataQueries=[
                {
                    "Id": "m",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": "AWS/SageMaker",
                            "MetricName": metric,
                            "Dimensions": [
                                {"Name": "EndpointName", "Value": self.settings.endpoint_name},
                                {"Name": "VariantName", "Value": variant},
                            ],
                        },
                        "Period": max(60, int(time.time() - since) + 60),
                        "Stat": stat,
                    },
                }
            ],
            StartTime=dt.datetime.fromtimestamp(since, dt.UTC),
            EndTime=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=60),
        )["MetricDataResults"][0]
        values = result.get("Values", [])
        if not values:
            return None
        return float(sum(values)) if stat == "Sum" else float(max(values))

    def compare_shadow(self, state: dict[str, Any]) -> dict[str, Any]:
        """Errors, p99 latency and agreement of the shadow versus production over the bake window."""
        plan = state["plan"]
        since = float(plan["shadow_started"])
        production = self._capture(plan["current_slot"], since)
        shadow = self._capture(naming.SHADOW, since)
        production_p99 = self._stat(plan["current_slot"], "ModelLatency", "p99", since)
        shadow_p99 = self._stat(naming.SHADOW, "ModelLatency", "p99", since)
        comparison = compare(
            paired_scores(production, shadow),
            shadow_invocations=self._stat(naming.SHADOW, "Invocations", "Sum", since) or 0.0,
            shadow_errors=self._stat(naming.SHADOW, "Invocation5XXErrors", "Sum", since) or 0.0,
            production_p99_ms=production_p99 / 1000 if production_p99 is not None else None,
            shadow_p99_ms=shadow_p99 / 1000 if shadow_p99 is not None else None,
            limits=self.settings.shadow_limits(),
        )
        state["shadow"] = comparison.to_dict()
        if not comparison.passed:
            state["failure"] = {
                "Error": "ShadowCheckFailed",
                "Cause": "shadow comparison failed: " + "; ".join(comparison.reasons),
            }
        return self._passed(state, "CompareShadow")

    def request_approval(self, state: dict[str, Any], task_token: str) -> dict[str, Any]:
        """Store the task token and notify approvers with the context and the exact commands."""
        candidate, production = state["candidate"], state.get("production")
        context = {
            "endpoint": self.settings.endpoint_name,
            "candidate": {"version": candidate["version"], "arn": candidate["arn"], "metrics": candidate["metrics"]},
            "production": {"version": production["version"], "metrics": production["metrics"]} if production else None,
            "shadow": state.get("shadow"),
        }
        approval_id = self.store.put_approval(task_token=task_token, execution_arn=state["execution"], context=context)
        production_text = (
            f"Production: version {production['version']} {production['metrics']}" if production else "Production: none"
        )
        shadow = state.get("shadow") or {}
        message = "\n".join(
            [
                f"Promotion of model version {candidate['version']} to {self.settings.endpoint_name} awaits approval.",
                f"Candidate: version {candidate['version']} {candidate['metrics']}",
                production_text,
                f"Shadow comparison: {shadow.get('pairs', 0)} paired requests, agreement {shadow.get('agreement')}, "
                f"p99 ratio {shadow.get('p99_ratio')}, shadow error rate {shadow.get('shadow_error_rate')}",
                "",
                f"Approve:  mlops approve {approval_id} --comment '...'",
                f"Reject:   mlops reject {approval_id} --reason '...'",
                f"Unanswered, it counts as rejected after {self.settings.approval_timeout_seconds // 3600} h.",
            ]
        )
        self._notify(f"Approve model version {candidate['version']}? ({approval_id})", message)
        return {"approval_id": approval_id}

    def prepare_canary(self, state: dict[str, Any]) -> dict[str, Any]:
        """Both slots as production variants: the current one with all traffic, the candidate with none."""
        plan = state["plan"]
        model = plan.get("candidate_model") or self._create_model(
            state, state["candidate"]["arn"], state["candidate"]["version"], plan["candidate_slot"]
        )
        plan["candidate_model"] = model
        variants = [
            self._variant(plan["current_slot"], self._current_model(state), 1.0),
            self._variant(plan["candidate_slot"], model, 0.0),
        ]
        config = self._create_config(state, "canary", variants)
        self.aws.sagemaker.update_endpoint(EndpointName=self.settings.endpoint_name, EndpointConfigName=config)
        plan["canary_config"] = config
        return self._passed(state, "PrepareCanary")

    def shift_traffic(self, state: dict[str, Any]) -> dict[str, Any]:
        """Move to the next rollout step (percent of traffic on the candidate)."""
        plan, rollout = state["plan"], state["rollout"]
        percent = int(plan["steps"][rollout["index"]])
        self.aws.sagemaker.update_endpoint_weights_and_capacities(
            EndpointName=self.settings.endpoint_name,
            DesiredWeightsAndCapacities=[
                {"VariantName": plan["current_slot"], "DesiredWeight": float(100 - percent)},
                {"VariantName": plan["candidate_slot"], "DesiredWeight": float(percent)},
            ],
        )
        self._rollout_metric(percent)
        rollout.update(
            {"percent": percent, "index": rollout["index"] + 1, "done": rollout["index"] + 1 >= len(plan["steps"])}
        )
        return self._passed(state, f"Traffic{percent}")

    def check_alarms(self, state: dict[str, Any]) -> dict[str, Any]:
        """Any rollback alarm of the candidate's slot (or the business metric) in ALARM fails the rollout."""
        names = naming.rollback_alarms(
            self.settings.endpoint_name, state["plan"]["candidate_slot"], business=self.settings.business_alarm
        )
        alarms = self.aws.cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]
        breached = [a["AlarmName"] for a in alarms if a["StateValue"] == "ALARM"]
        state["alarms"] = {"checked": names, "breached": breached}
        if breached:
            state["failure"] = {
                "Error": "RollbackAlarm",
                "Cause": f"alarm {', '.join(breached)} in ALARM at {state['rollout']['percent']}% candidate traffic",
            }
        return state

    def complete_rollout(self, state: dict[str, Any]) -> dict[str, Any]:
        """All traffic is on the candidate: remove the old variant."""
        plan = state["plan"]
        config = self._create_config(
            state, "final", [self._variant(plan["candidate_slot"], plan["candidate_model"], 1.0)]
        )
        self.aws.sagemaker.update_endpoint(EndpointName=self.settings.endpoint_name, EndpointConfigName=config)
        plan["target_config"] = config
        return self._passed(state, "CompleteRollout")

    def start_guardrails(self, state: dict[str, Any]) -> dict[str, Any]:
        """SageMaker blue/green (CANARY or LINEAR) with the rollback alarms: AWS shifts and rolls back."""
        plan = state["plan"]
        s = self.settings
        model = plan.get("candidate_model") or self._create_model(
            state, state["candidate"]["arn"], state["candidate"]["version"], plan["current_slot"]
        )
        plan["candidate_model"] = model
        config = self._create_config(state, "guarded", [self._variant(plan["current_slot"], model, 1.0)])
        routing: dict[str, Any] = {"Type": s.guardrails_routing, "WaitIntervalInSeconds": s.guardrails_wait_seconds}
        if s.guardrails_routing == "CANARY":
            routing["CanarySize"] = {"Type": "CAPACITY_PERCENT", "Value": s.guardrails_canary_percent}
        else:
            routing["LinearStepSize"] = {"Type": "CAPACITY_PERCENT", "Value": s.guardrails_linear_step_percent}
        alarms = naming.rollback_alarms(s.endpoint_name, plan["current_slot"], business=s.business_alarm)
        self.aws.sagemaker.update_endpoint(
            EndpointName=s.endpoint_name,
            EndpointConfigName=config,
            DeploymentConfig={
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": routing,
                    "TerminationWaitInSeconds": s.guardrails_termination_wait_seconds,
                    "MaximumExecutionTimeoutInSeconds": s.guardrails_max_execution_seconds,
                },
                "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": a} for a in alarms]},
            },
        )
        plan["target_config"] = config
        plan["candidate_slot"] = plan["current_slot"]
        self._rollout_metric(
            s.guardrails_canary_percent if s.guardrails_routing == "CANARY" else s.guardrails_linear_step_percent
        )
        return self._passed(state, "GuardrailsDeployment")

    def guardrails_outcome(self, state: dict[str, Any]) -> dict[str, Any]:
        """Did SageMaker finish the deployment, or roll it back on an alarm?"""
        endpoint = self._endpoint() or {}
        if endpoint.get("EndpointConfigName") != state["plan"]["target_config"]:
            state["failure"] = {
                "Error": "GuardrailsRollback",
                "Cause": f"SageMaker rolled the deployment back: {endpoint.get('FailureReason', 'an alarm fired')}",
            }
        return self._passed(state, "GuardrailsOutcome")

    def finalize(self, state: dict[str, Any]) -> dict[str, Any]:
        """Candidate -> Production, previous -> Archived; autoscaling on the serving variant; record, unlock, notify."""
        candidate = state["candidate"]
        if state["plan"]["mode"] == "rollback":
            version = self.registry.rollback(note=f"restored by {state['execution']}")
        else:
            version = self.registry.promote(candidate["arn"], note=f"promoted by {state['execution']}")
        self._autoscale(state["plan"]["candidate_slot"])
        self._rollout_metric(100)
        state["outcome"] = "promoted" if state["plan"]["mode"] != "rollback" else "rolled_back_to_archived"
        self._passed(state, "Finalize")
        self._record(state, version=version)
        self.store.release_lock(self.settings.endpoint_name, state["execution"])
        self._notify(
            f"Model version {candidate['version']} is serving on {self.settings.endpoint_name}",
            f"Version {candidate['version']} is Production ({state['outcome']}); path: {' -> '.join(state['path'])}",
        )
        return state

    def _autoscale(self, slot: str) -> None:
        resource = f"endpoint/{self.settings.endpoint_name}/variant/{slot}"
        dimension = "sagemaker:variant:DesiredInstanceCount"
        self.aws.autoscaling.register_scalable_target(
            ServiceNamespace="sagemaker",
            ResourceId=resource,
            ScalableDimension=dimension,
            MinCapacity=self.settings.initial_instance_count,
            MaxCapacity=self.settings.max_instance_count,
        )
        self.aws.autoscaling.put_scaling_policy(
            PolicyName=f"{self.settings.endpoint_name}-{slot}-invocations",
            ServiceNamespace="sagemaker",
            ResourceId=resource,
            ScalableDimension=dimension,
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": float(self.settings.target_invocations_per_instance),
                "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
                "ScaleInCooldown": 300,
                "ScaleOutCooldown": 60,
            },
        )

    def abort(self, state: dict[str, Any]) -> dict[str, Any]:
        """Give the previous model all traffic again (or remove a half-created endpoint); ``restore`` says what."""
        plan = state.get("plan") or {}
        endpoint = self._endpoint()
        original = plan.get("original_config")
        if endpoint is None:
            plan["restore"] = "none"
        elif endpoint["EndpointStatus"] in ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"):
            plan["restore"] = "wait"
        elif original is None:
            self.aws.sagemaker.delete_endpoint(EndpointName=self.settings.endpoint_name)
            plan["restore"] = "deleted"
        elif endpoint["EndpointConfigName"] != original:
            self.aws.sagemaker.update_endpoint(EndpointName=self.settings.endpoint_name, EndpointConfigName=original)
            plan["restore"] = "started"
        else:
            plan["restore"] = "none"
        state["plan"] = plan
        return self._passed(state, f"Restore:{plan['restore']}")

    def abort_finish(self, state: dict[str, Any]) -> dict[str, Any]:
        """Reject the candidate with the reason, record, release the lock, notify; returns the failure to raise."""
        failure = state.get("failure") or {"Error": "PromotionFailed", "Cause": "unknown failure"}
        if isinstance(failure.get("Cause"), str) and failure["Cause"].startswith("{"):
            with contextlib.suppress(json.JSONDecodeError):  # a caught Lambda error: keep its message
                failure = {
                    "Error": failure.get("Error", "PromotionFailed"),
                    "Cause": json.loads(failure["Cause"]).get("errorMessage", failure["Cause"]),
                }
        candidate = state.get("candidate")
        if candidate and state.get("plan", {}).get("mode") != "rollback":
            self.registry.reject(candidate["arn"], reason=f"{failure['Error']}: {failure['Cause']}"[:900])
        self._rollout_metric(0)
        state["outcome"] = "failed"
        state["failure"] = failure
        self._passed(state, "Aborted")
        if candidate:
            self._record(state)
        if state.get("plan", {}).get("lock_held"):
            self.store.release_lock(self.settings.endpoint_name, state["execution"])
        version = candidate["version"] if candidate else "?"
        self._notify(
            f"Promotion of model version {version} failed: {failure['Error']}",
            f"{failure['Cause']}\nThe previous model keeps all traffic. Path: {' -> '.join(state.get('path', []))}",
        )
        return state

    def _record(self, state: dict[str, Any], version: ModelVersion | None = None) -> None:
        approval = state.get("approval") or {}
        self.store.record_deployment(
            self.settings.endpoint_name,
            {
                "execution_arn": state["execution"],
                "started_at": state.get("started_at"),
                "finished_at": _now(),
                "requested_by": state.get("requested_by", "registry"),
                "candidate": state.get("candidate"),
                "previous_production": state.get("production"),
                "approver": approval.get("approver"),
                "approval_comment": approval.get("comment"),
                "shadow": state.get("shadow"),
                "mode": state.get("plan", {}).get("mode"),
                "path": state.get("path", []),
                "outcome": state.get("outcome"),
                "failure": state.get("failure"),
                "serving_version": version.version if version else None,
            },
        )


ACTIONS = {
    "validate", "create_endpoint", "start_shadow", "begin_shadow_bake", "compare_shadow", "prepare_canary",
    "shift_traffic", "check_alarms", "complete_rollout", "start_guardrails", "guardrails_outcome", "finalize",
    "abort", "abort_finish",
}  # fmt: skip


def run_action(
    promotion: Promotion, action: str, state: dict[str, Any], task_token: str | None = None
) -> dict[str, Any]:
    """Dispatch one state-machine step by name."""
    if action == "request_approval":
        if not task_token:
            raise ValueError("request_approval needs the task token ($$.Task.Token)")
        return promotion.request_approval(state, task_token)
    if action not in ACTIONS:
        raise ValueError(f"unknown promotion action {action!r}; known: {sorted(ACTIONS | {'request_approval'})}")
    result: dict[str, Any] = getattr(promotion, action)(state)
    return result
