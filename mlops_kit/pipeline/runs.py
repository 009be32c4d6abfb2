"""Start and follow training pipeline executions (used by the CLI, the demo and the retraining Lambda)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlops_kit.pipeline.definition import STEP_EVALUATE, STEP_REGISTER
from mlops_kit.registry import ModelRegistry, ModelVersion
from mlops_kit.waiting import poll

TERMINAL = ("Succeeded", "Failed", "Stopped")


@dataclass
class StepState:
    name: str
    status: str
    failure_reason: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunResult:
    """What a finished execution did: its steps, the gate's decision and the version it registered."""

    execution_arn: str
    status: str
    failure_reason: str
    steps: list[StepState]
    evaluation: dict[str, Any] | None = None
    registered: ModelVersion | None = None
    seconds: float = 0.0

    @property
    def gate(self) -> dict[str, Any] | None:
        return self.evaluation.get("gate") if self.evaluation else None


def start_run(
    sagemaker: Any,
    pipeline_name: str,
    *,
    registry: ModelRegistry,
    parameters: dict[str, Any] | None = None,
    display_name: str | None = None,
) -> str:
    """Start an execution with ``parameters`` (pipeline parameter name -> value; ``None`` keeps the default).

    The run finds the current Production version itself (its Evaluate step reads the registry), as a run started
    from the console or the SDK does. ``registry`` is read first, so an unreadable or inconsistent registry (two
    Production versions: ``IllegalTransition``) fails here rather than after training.
    """
    registry.production()
    values = {k: v for k, v in (parameters or {}).items() if v is not None}
    request: dict[str, Any] = {
        "PipelineName": pipeline_name,
        "PipelineParameters": [{"Name": k, "Value": str(v)} for k, v in values.items()],
    }
    if display_name:
        request["PipelineExecutionDisplayName"] = display_name[:82]
    return str(sagemaker.start_pipeline_execution(**request)["PipelineExecutionArn"])


def steps_of(sagemaker: Any, execution_arn: str) -> list[StepState]:
    """The run's steps in the order they started (SageMaker lists them newest first).

    Steps that started within the same timestamp keep the listing's order, reversed: sorting on the start time
    alone would put them oldest-last.
    """
    pages = sagemaker.get_paginator("list_pipeline_execution_steps").paginate(PipelineExecutionArn=execution_arn)
    listed = [step for page in pages for step in page["PipelineExecutionSteps"]]
    oldest_first = sorted(enumerate(listed), key=lambda pair: (pair[1]["StartTime"], -pair[0]))
    return [
        StepState(s["StepName"], s["StepStatus"], s.get("FailureReason", ""), s.get("Metadata", {}))
        for _, s in oldest_first
    ]


def wait_for_run(
    sagemaker: Any,
    s3: Any,
    execution_arn: str,
    *,
    registry: ModelRegistry,
    on_progress: Callable[[list[StepState]], None] | None = None,
    poll_seconds: float = 2.0,
    timeout_seconds: float = 4 * 3600,
) -> RunResult:
    """Poll until the execution ends; read back the evaluation report and the registered version."""
    started = time.monotonic()

    def ended() -> tuple[dict[str, Any], list[StepState]] | None:
        described = sagemaker.describe_pipeline_execution(PipelineExecutionArn=execution_arn)
        steps = steps_of(sagemaker, execution_arn)
        if on_progress:
            on_progress(steps)
        return (described, steps) if described["PipelineExecutionStatus"] in TERMINAL else None

    described, steps = poll(ended, every=poll_seconds, timeout=timeout_seconds, what=f"pipeline run {execution_arn}")
    result = RunResult(
        execution_arn=execution_arn,
        status=described["PipelineExecutionStatus"],
        failure_reason=described.get("FailureReason", ""),
        steps=steps,
        seconds=time.monotonic() - started,
    )
    result.evaluation = _evaluation(sagemaker, s3, execution_arn, steps)
    for step in steps:
        if step.name == STEP_REGISTER and step.status == "Succeeded":
            result.registered = registry.get(step.metadata["RegisterModel"]["Arn"])
    return result


def _evaluation(sagemaker: Any, s3: Any, execution_arn: str, steps: list[StepState]) -> dict[str, Any] | None:
    if not any(s.name == STEP_EVALUATE and s.status == "Succeeded" for s in steps):
        return None
    definition = json.loads(
        sagemaker.describe_pipeline_definition_for_execution(PipelineExecutionArn=execution_arn)["PipelineDefinition"]
    )
    output = _find_step(definition["Steps"], STEP_EVALUATE)["Arguments"]["ProcessingOutputConfig"]["Outputs"][0]
    prefix = output["S3Output"]["S3Uri"]
    if isinstance(prefix, dict):  # Std:Join over the execution id, as the definition writes it
        execution_id = execution_arn.rsplit("/", 1)[-1]
        values = [execution_id if isinstance(v, dict) else v for v in prefix["Std:Join"]["Values"]]
        prefix = prefix["Std:Join"]["On"].join(values)
    bucket, _, key = f"{prefix.rstrip('/')}/evaluation.json".removeprefix("s3://").partition("/")
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def _find_step(steps: list[dict[str, Any]], name: str) -> dict[str, Any]:
    for step in steps:
        if step["Name"] == name:
            return step
        if step["Type"] == "Condition":
            for branch in ("IfSteps", "ElseSteps"):
                try:
                    return _find_step(step["Arguments"].get(branch, []), name)
                except KeyError:
                    continue
    raise KeyError(name)
