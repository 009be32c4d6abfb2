"""SageMaker Pipelines that really run in the emulator.

moto accepts StartPipelineExecution and reports success without running anything. Here the execution's
definition (the same JSON that CDK deployed) is interpreted step by step on a background thread:

* parameters, ``Execution.*`` variables, step properties, ``Std:Join`` and ``Std:JsonGet`` (property files)
  are resolved as the service resolves them;
* Processing and Training steps run their container's command as a subprocess of this Python, with
  ``/opt/ml`` mapped to a temporary folder (``MLOPS_OPT_ML``), inputs downloaded from and outputs uploaded to
  the emulator's S3, and the job's own AWS calls sent to the emulator over HTTP (``AWS_ENDPOINT_URL``), through
  the container host and processing runner that standalone processing jobs use too
  (:mod:`mlops_local.sagemaker.processing`);
* Condition steps choose a branch, Fail steps fail the execution with their message, RegisterModel steps
  call CreateModelPackage;
* ``DescribePipelineExecution`` reports the real status and failure reason, and
  ``ListPipelineExecutionSteps`` (missing from moto) lists every step with its status and metadata.

Not emulated: caching, retry policies, parallelism limits, step types the kit does not use (they fail the
execution with a message naming the type).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_local.iam.enforcement import pipeline_step_role
from mlops_local.iam.identity import acting_as
from mlops_local.patching import PatchPoint
from mlops_local.sagemaker.processing import ContainerHost, JobError, run_processing

if TYPE_CHECKING:
    from mlops_local.emulator import Emulator

PATCH_POINTS: tuple[PatchPoint, ...] = (
    PatchPoint(
        name="sagemaker-start-pipeline-execution",
        module="moto.sagemaker.models",
        attribute="SageMakerModelBackend.start_pipeline_execution",
        signature=(
            "(self, pipeline_name: str, pipeline_execution_display_name: str, pipeline_parameters: "
            "list[dict[str, typing.Any]], pipeline_execution_description: str, parallelism_configuration: "
            "dict[str, int], client_request_token: str) -> dict[str, str]"
        ),
        why="moto marks executions Succeeded without running them; run the definition",
    ),
    PatchPoint(
        name="sagemaker-describe-pipeline-execution",
        module="moto.sagemaker.models",
        attribute="SageMakerModelBackend.describe_pipeline_execution",
        signature="(self, pipeline_execution_arn: str) -> dict[str, typing.Any]",
        why="report the real status and the failure reason (moto always says '')",
    ),
    PatchPoint(
        name="sagemaker-list-pipeline-execution-steps",
        module="moto.sagemaker.responses",
        attribute="SageMakerResponse.list_pipeline_execution_steps",
        signature="",
        why="moto lacks ListPipelineExecutionSteps; add it",
        adds=True,
    ),
)

_PROPERTY_PATH = re.compile(r"\.?([A-Za-z0-9_]+)|\[(?:'([^']*)'|(\d+))\]")


class PipelineStepError(RuntimeError):
    """A step failed; the message is what the execution's FailureReason shows."""


@dataclass
class StepRecord:
    name: str
    step_type: str
    status: str = "Starting"
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    ended: dt.datetime | None = None
    failure_reason: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)
    property_files: dict[str, Any] = field(default_factory=dict)
    outcome: bool | None = None  # Condition steps

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "StepName": self.name,
            "StepDisplayName": self.name,
            "StartTime": self.started,
            "StepStatus": self.status,
            "Metadata": self.metadata,
        }
        if self.ended:
            out["EndTime"] = self.ended
        if self.failure_reason:
            out["FailureReason"] = self.failure_reason
        return out


@dataclass
class ExecutionRecord:
    arn: str
    status: str = "Executing"
    failure_reason: str | None = None
    steps: dict[str, StepRecord] = field(default_factory=dict)


# Executions by ARN, for this process's emulator (cleared when it stops).
EXECUTIONS: dict[str, ExecutionRecord] = {}


def _flatten(
    steps: list[dict[str, Any]],
    owner: tuple[str, bool] | None,
    out: dict[str, tuple[dict[str, Any], tuple[str, bool] | None]],
) -> None:
    for step in steps:
        out[step["Name"]] = (step, owner)
        if step["Type"] == "Condition":
            _flatten(step["Arguments"].get("IfSteps", []), (step["Name"], True), out)
            _flatten(step["Arguments"].get("ElseSteps", []), (step["Name"], False), out)


def _references(value: Any) -> set[str]:
    """Names of the steps whose properties ``value`` reads."""
    found: set[str] = set()
    if isinstance(value, dict):
        get = value.get("Get")
        if isinstance(get, str) and get.startswith("Steps."):
            found.add(get.split(".")[1])
        for key, item in value.items():
            if key not in ("IfSteps", "ElseSteps"):
                found |= _references(item)
    elif isinstance(value, list):
        for item in value:
            found |= _references(item)
    return found


class PipelineRunner:
    """Runs one execution of a definition against the emulator (in a background thread via :meth:`start`)."""

    def __init__(
        self,
        emulator: Emulator,
        *,
        definition: dict[str, Any],
        parameters: dict[str, Any],
        execution_arn: str,
        pipeline_name: str,
        role_arn: str | None = None,
    ) -> None:
        self.emulator = emulator
        self.role_arn = role_arn  # SageMaker runs the execution as the pipeline's RoleArn
        self.host: ContainerHost = emulator.containers
        self.definition = definition
        self.execution_arn = execution_arn
        self.execution_id = execution_arn.rsplit("/", 1)[-1]
        self.pipeline_name = pipeline_name
        self.started = dt.datetime.now(dt.UTC)
        declared = {p["Name"]: p.get("DefaultValue") for p in definition.get("Parameters", [])}
        self.parameters = {**declared, **parameters}
        self.record = ExecutionRecord(arn=execution_arn)
        self._steps: dict[str, tuple[dict[str, Any], tuple[str, bool] | None]] = {}
        _flatten(definition.get("Steps", []), None, self._steps)
        EXECUTIONS[execution_arn] = self.record

    # -- expression resolution ------------------------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Get"}:
            return self._get(value["Get"])
        if set(value) == {"Std:Join"}:
            join = value["Std:Join"]
            return join["On"].join(str(self._text(self.resolve(v))) for v in join["Values"])
        if set(value) == {"Std:JsonGet"}:
            return self._json_get(value["Std:JsonGet"])
        return {k: self.resolve(v) for k, v in value.items()}

    @staticmethod
    def _text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def _get(self, path: str) -> Any:
        head, _, rest = path.partition(".")
        if head == "Parameters":
            if rest not in self.parameters:
                raise PipelineStepError(f"unknown parameter {rest!r}")
            return self.parameters[rest]
        if head == "Execution":
            return {
                "PipelineExecutionId": self.execution_id,
                "PipelineExecutionArn": self.execution_arn,
                "PipelineName": self.pipeline_name,
                "StartDateTime": self.started.isoformat(),
                "CurrentDateTime": dt.datetime.now(dt.UTC).isoformat(),
            }[rest]
        if head == "Steps":
            step_name, _, property_path = rest.partition(".")
            record = self.record.steps.get(step_name)
            if record is None or record.status != "Succeeded":
                raise PipelineStepError(f"step {step_name!r} has not succeeded; cannot read {property_path}")
            if property_path.startswith("PropertyFiles."):
                return record.property_files[property_path.split(".", 1)[1]]
            node: Any = record.properties
            for match in _PROPERTY_PATH.finditer(property_path):
                key = match.group(1) or match.group(2)
                node = node[int(match.group(3))] if match.group(3) else node[key]
            return node
        raise PipelineStepError(f"cannot resolve {path!r}")

    def _json_get(self, spec: dict[str, Any]) -> Any:
        document = self.resolve(spec["PropertyFile"])
        node: Any = document
        for part in spec["Path"].split("."):
            match = re.fullmatch(r"([^\[]+)(?:\[(\d+)\])?", part)
            if match is None or not isinstance(node, dict) or match.group(1) not in node:
                raise PipelineStepError(f"JsonGet: path {spec['Path']!r} not found in the property file")
            node = node[match.group(1)]
            if match.group(2) is not None:
                node = node[int(match.group(2))]
        return node

    # -- orchestration ------------------------------------------------------------------------------
    def start(self) -> None:
        self.emulator.clock.spawn(self._run_as_role, name=f"pipeline-{self.execution_id}")

    def _run_as_role(self) -> None:
        with acting_as(self.role_arn, "SageMaker"):
            self.run()

    def run(self) -> ExecutionRecord:
        pending = dict(self._steps)
        try:
            while pending:
                ready = [name for name, (step, owner) in pending.items() if self._ready(step, owner)]
                skipped = [name for name, (step, owner) in pending.items() if self._skipped(owner)]
                for name in skipped:
                    del pending[name]
                if not ready:
                    if skipped:
                        continue
                    raise PipelineStepError(f"steps {sorted(pending)} can never run (dependency cycle or missing step)")
                for name in ready:
                    step, _owner = pending.pop(name)
                    self._run_step(step)
            self.record.status = "Succeeded"
        except PipelineStepError as exc:
            self.record.status = "Failed"
            self.record.failure_reason = str(exc)
        except Exception as exc:  # an emulator bug must still end the execution, with the cause
            self.record.status = "Failed"
            self.record.failure_reason = f"{type(exc).__name__}: {exc}"
        finally:
            self._sync_moto_status()
        return self.record

    def _ready(self, step: dict[str, Any], owner: tuple[str, bool] | None) -> bool:
        if owner is not None:
            condition = self.record.steps.get(owner[0])
            if condition is None or condition.outcome is None or condition.outcome != owner[1]:
                return False
        needed = set(step.get("DependsOn", [])) | _references(step.get("Arguments", {}))
        return all(self.record.steps.get(n) is not None and self.record.steps[n].status == "Succeeded" for n in needed)

    def _skipped(self, owner: tuple[str, bool] | None) -> bool:
        """A step in a branch its condition did not take (or below one) never runs."""
        while owner is not None:
            condition = self.record.steps.get(owner[0])
            if condition is not None and condition.outcome is not None and condition.outcome != owner[1]:
                return True
            owner = self._steps[owner[0]][1]
        return False

    def _run_step(self, step: dict[str, Any]) -> None:
        record = StepRecord(name=step["Name"], step_type=step["Type"], status="Executing")
        self.record.steps[record.name] = record
        handlers = {
            "Processing": self._processing,
            "Training": self._training,
            "Condition": self._condition,
            "Fail": self._fail,
            "RegisterModel": self._register,
        }
        try:
            handler = handlers.get(step["Type"])
            if handler is None:
                raise PipelineStepError(f"step {record.name}: the emulator does not run {step['Type']} steps")
            arguments = self.resolve(step["Arguments"]) if step["Type"] in ("Processing", "Training") else {}
            name, region = self._job_name(record.name), self.emulator.region
            with pipeline_step_role(self.role_arn, step["Type"], arguments, name, region=region):
                handler(step, record)
            record.status = "Succeeded"
        except PipelineStepError as exc:
            record.status = "Failed"
            record.failure_reason = str(exc)
            raise
        except Exception as exc:
            record.status = "Failed"
            record.failure_reason = f"{type(exc).__name__}: {exc}"
            raise PipelineStepError(f"step {record.name} failed: {record.failure_reason}") from exc
        finally:
            record.ended = dt.datetime.now(dt.UTC)

    # -- step types -----------------------------------------------------------------------------------
    def _download(self, uri: str, destination: Path) -> None:
        try:
            self.host.download(uri, destination)
        except JobError as exc:
            raise PipelineStepError(str(exc)) from exc

    def _job_name(self, step_name: str) -> str:
        return f"pipelines-{self.execution_id}-{step_name}"[:63]

    def _processing(self, step: dict[str, Any], record: StepRecord) -> None:
        arguments = self.resolve(step["Arguments"])
        name = self._job_name(record.name)
        try:
            result = run_processing(self.host, name, arguments)
        except JobError as exc:
            raise PipelineStepError(str(exc)) from exc
        for property_file in step.get("PropertyFiles", []):
            path = result.local_output(property_file["OutputName"]) / property_file["FilePath"]
            if not path.exists():
                raise PipelineStepError(
                    f"step {record.name}: property file {property_file['FilePath']} was not written"
                )
            record.property_files[property_file["PropertyFileName"]] = json.loads(path.read_text())
        arn = f"arn:aws:sagemaker:{self.emulator.region}:{self.emulator.account}:processing-job/{name}"
        record.properties = {
            "ProcessingJobName": name,
            "ProcessingJobArn": arn,
            "ProcessingJobStatus": "Completed",
            "ProcessingOutputConfig": {"Outputs": result.outputs},
        }
        record.metadata = {"ProcessingJob": {"Arn": arn}}

    def _training(self, step: dict[str, Any], record: StepRecord) -> None:
        arguments = self.resolve(step["Arguments"])
        name = self._job_name(record.name)
        root = self.host.workspace(record.name)
        opt_ml = root / "opt" / "ml"
        hyper = {str(k): self._text(v) for k, v in arguments.get("HyperParameters", {}).items()}
        code = opt_ml / "code"
        submit = hyper.get("sagemaker_submit_directory")
        program = hyper.get("sagemaker_program")
        if not submit or not program:
            raise PipelineStepError(f"step {record.name}: only script-mode training (sagemaker_program) is emulated")
        archive_dir = root / "submit"
        self._download(submit, archive_dir)
        with tarfile.open(next(archive_dir.rglob("*.gz"))) as archive:
            archive.extractall(code, filter="data")
        env_extra: dict[str, str] = {}
        for channel in arguments.get("InputDataConfig", []):
            target = opt_ml / "input" / "data" / channel["ChannelName"]
            self._download(channel["DataSource"]["S3DataSource"]["S3Uri"], target)
            env_extra[f"SM_CHANNEL_{channel['ChannelName'].upper()}"] = str(target)
        model_dir = opt_ml / "model"
        model_dir.mkdir(parents=True)
        user_hyper = {k: v for k, v in hyper.items() if not k.startswith("sagemaker_")}
        env_extra |= {
            "SM_MODEL_DIR": str(model_dir),
            "SM_OUTPUT_DATA_DIR": str(opt_ml / "output" / "data"),
            "SM_HPS": json.dumps(user_hyper),
            "SM_CURRENT_HOST": "algo-1",
            "SM_HOSTS": '["algo-1"]',
            "SM_TRAINING_ENV": json.dumps({"job_name": name, "hyperparameters": user_hyper}),
        }
        command = [sys.executable, str(code / program)]
        for key, value in user_hyper.items():
            command += [f"--{key}", value]
        try:
            self.host.run(name, command, self.host.environment(root, env_extra), code, "/aws/sagemaker/TrainingJobs")
        except JobError as exc:
            raise PipelineStepError(str(exc)) from exc
        archive_path = root / "model.tar.gz"
        with tarfile.open(archive_path, "w:gz") as archive:
            for path in sorted(model_dir.rglob("*")):
                archive.add(path, arcname=path.relative_to(model_dir).as_posix(), recursive=False)
        output_path = arguments["OutputDataConfig"]["S3OutputPath"].rstrip("/")
        model_uri = f"{output_path}/{name}/output/model.tar.gz"
        bucket, _, key = model_uri.removeprefix("s3://").partition("/")
        self.emulator.client("s3").upload_file(str(archive_path), bucket, key)
        arn = f"arn:aws:sagemaker:{self.emulator.region}:{self.emulator.account}:training-job/{name}"
        record.properties = {
            "TrainingJobName": name,
            "TrainingJobArn": arn,
            "TrainingJobStatus": "Completed",
            "ModelArtifacts": {"S3ModelArtifacts": model_uri},
            "HyperParameters": user_hyper,
        }
        record.metadata = {"TrainingJob": {"Arn": arn}}

    def _condition(self, step: dict[str, Any], record: StepRecord) -> None:
        conditions = step["Arguments"]["Conditions"]
        record.outcome = all(self._evaluate(condition) for condition in conditions)
        record.metadata = {"Condition": {"Outcome": "True" if record.outcome else "False"}}

    def _evaluate(self, condition: dict[str, Any]) -> bool:
        kind = condition["Type"]
        if kind == "Not":
            return not self._evaluate(condition["Condition"])
        if kind == "Or":
            return any(self._evaluate(c) for c in condition["Conditions"])
        if kind == "In":
            value = self.resolve(condition["QueryValue"])
            return value in [self.resolve(v) for v in condition["Values"]]
        left, right = self.resolve(condition["LeftValue"]), self.resolve(condition["RightValue"])
        comparisons = {
            "Equals": lambda a, b: a == b,
            "GreaterThan": lambda a, b: float(a) > float(b),
            "GreaterThanOrEqualTo": lambda a, b: float(a) >= float(b),
            "LessThan": lambda a, b: float(a) < float(b),
            "LessThanOrEqualTo": lambda a, b: float(a) <= float(b),
        }
        if kind not in comparisons:
            raise PipelineStepError(f"condition type {kind} is not emulated")
        return bool(comparisons[kind](left, right))

    def _fail(self, step: dict[str, Any], record: StepRecord) -> None:
        message = self._text(self.resolve(step["Arguments"].get("ErrorMessage", "Fail step reached")))
        record.metadata = {"Fail": {"ErrorMessage": message}}
        raise PipelineStepError(message)

    def _register(self, step: dict[str, Any], record: StepRecord) -> None:
        arguments = self.resolve(step["Arguments"])
        arguments.pop("SkipModelValidation", None)
        arguments["CustomerMetadataProperties"] = {
            k: self._text(v) for k, v in arguments.get("CustomerMetadataProperties", {}).items()
        }
        arn = self.emulator.client("sagemaker").create_model_package(**arguments)["ModelPackageArn"]
        record.properties = {"ModelPackageArn": arn}
        record.metadata = {"RegisterModel": {"Arn": arn}}

    def _sync_moto_status(self) -> None:
        from moto.sagemaker.models import sagemaker_backends

        backend: Any = sagemaker_backends[self.emulator.account][self.emulator.region]
        pipeline = backend.pipelines.get(self.pipeline_name)
        execution = pipeline.pipeline_executions.get(self.execution_arn) if pipeline else None
        if execution is not None:
            execution.pipeline_execution_status = self.record.status
            execution.pipeline_execution_failure_reason = self.record.failure_reason
            execution.last_modified_time = dt.datetime.now(dt.UTC)


def apply(patcher: Any) -> None:
    from moto.core.responses import ActionResult

    points = {p.name: p for p in PATCH_POINTS}
    original_start = points["sagemaker-start-pipeline-execution"].original()
    original_describe = points["sagemaker-describe-pipeline-execution"].original()
    emulator = patcher.emulator
    EXECUTIONS.clear()

    def start_pipeline_execution(
        backend: Any,
        pipeline_name: str,
        display_name: str,
        pipeline_parameters: list[dict[str, Any]] | None,
        *args: Any,
    ) -> dict[str, str]:
        from moto.sagemaker.exceptions import ValidationError
        from moto.sagemaker.utils import get_pipeline_from_name

        pipeline = get_pipeline_from_name(backend.pipelines, pipeline_name)
        definition = json.loads(pipeline.pipeline_definition or "{}")
        declared = {p["Name"] for p in definition.get("Parameters", [])}
        parameters = {p["Name"]: p["Value"] for p in pipeline_parameters or []}
        unknown = sorted(set(parameters) - declared)
        if unknown:
            raise ValidationError(
                f"Pipeline {pipeline_name} has no parameters {unknown}; it declares {sorted(declared)}"
            )
        result: dict[str, str] = original_start(backend, pipeline_name, display_name, pipeline_parameters, *args)
        execution = pipeline.pipeline_executions[result["PipelineExecutionArn"]]
        execution.pipeline_execution_status = "Executing"
        runner = PipelineRunner(
            emulator,
            definition=definition,
            parameters=_typed(definition, parameters),
            execution_arn=result["PipelineExecutionArn"],
            pipeline_name=pipeline.pipeline_name,
            role_arn=pipeline.role_arn,
        )
        runner.start()
        return result

    def describe_pipeline_execution(backend: Any, pipeline_execution_arn: str) -> dict[str, Any]:
        described: dict[str, Any] = original_describe(backend, pipeline_execution_arn)
        record = EXECUTIONS.get(pipeline_execution_arn)
        if record is not None:
            described["PipelineExecutionStatus"] = record.status
            described["FailureReason"] = record.failure_reason or ""
        return described

    def list_pipeline_execution_steps(response: Any) -> Any:
        arn = response._get_param("PipelineExecutionArn")
        record = EXECUTIONS.get(arn)
        if record is None:
            from moto.sagemaker.exceptions import ValidationError

            raise ValidationError(f"Pipeline execution {arn} does not exist or was not run by this emulator")
        # Newest first, as AWS lists them; steps take no emulated time, so equal start times keep the order the
        # steps started in (reversed), never the order of whichever thread happened to record first.
        steps = sorted(record.steps.values(), key=lambda s: s.started)[::-1]
        return ActionResult({"PipelineExecutionSteps": [s.summary() for s in steps]})

    patcher.replace(points["sagemaker-start-pipeline-execution"], start_pipeline_execution)
    patcher.replace(points["sagemaker-describe-pipeline-execution"], describe_pipeline_execution)
    patcher.replace(points["sagemaker-list-pipeline-execution-steps"], list_pipeline_execution_steps)


def _typed(definition: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    """StartPipelineExecution passes strings; give Integer and Float parameters their declared type."""
    kinds = {p["Name"]: p["Type"] for p in definition.get("Parameters", [])}
    converters: dict[str, Callable[[Any], Any]] = {
        "Integer": int,
        "Float": float,
        "Boolean": lambda v: str(v).lower() == "true",
    }
    return {name: converters.get(kinds.get(name, "String"), str)(value) for name, value in values.items()}
