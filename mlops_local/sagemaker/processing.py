"""SageMaker Processing jobs that really run in the emulator, and the container host every emulated job uses.

moto records CreateProcessingJob and reports the job ``Completed`` at once, without running anything (and
without keeping its environment or resources). Here a processing job runs as SageMaker runs it:

* :class:`ContainerHost` runs a job's container command as a subprocess of this Python, with ``/opt/ml``
  mapped to a temporary folder (``MLOPS_OPT_ML``), inputs downloaded from and outputs uploaded to the
  emulator's S3, the job's own AWS calls sent to the emulator over HTTP (``AWS_ENDPOINT_URL``) and its output
  written to the job's CloudWatch log stream. SageMaker Pipelines (:mod:`mlops_local.sagemaker.pipelines`)
  runs its Processing and Training steps through the same host and :func:`run_processing`.
* CreateProcessingJob starts the job on a background thread; DescribeProcessingJob (and ListProcessingJobs)
  report ``InProgress`` until it ends, then ``Completed`` or ``Failed`` with a ``FailureReason`` (the job's
  last output lines), with the request fields moto drops (Environment, ProcessingResources, ...).
* Every status change emits the ``SageMaker Processing Job State Change`` event on the default bus, its
  detail mirroring DescribeProcessingJob, as on AWS. StopProcessingJob terminates the container.

Not emulated: instance types and counts (one local process), ``S3InputMode: Pipe``, ``ShardedByS3Key``,
``Continuous`` upload mode, network isolation and VPCs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_local.iam.identity import acting_as, current, role_credentials
from mlops_local.lambda_runtime import environment_snapshot
from mlops_local.patching import PatchPoint
from mlops_local.sagemaker import fetch_object, forkserver
from mlops_local.sagemaker.forkserver import ForkedProcess

if TYPE_CHECKING:
    from mlops_local.emulator import Emulator

PATCH_POINTS: tuple[PatchPoint, ...] = (
    PatchPoint(
        name="sagemaker-create-processing-job",
        module="moto.sagemaker.responses",
        attribute="SageMakerResponse.create_processing_job",
        signature="(self) -> moto.core.responses.ActionResult",
        why="moto marks processing jobs Completed without running them (and drops their environment); run them",
    ),
    PatchPoint(
        name="sagemaker-describe-processing-job",
        module="moto.sagemaker.models",
        attribute="SageMakerModelBackend.describe_processing_job",
        signature="(self, processing_job_name: str) -> dict[str, typing.Any]",
        why="report the real status, failure reason and times, and the request fields moto drops",
    ),
    PatchPoint(
        name="sagemaker-stop-processing-job",
        module="moto.sagemaker.models",
        attribute="SageMakerModelBackend.stop_processing_job",
        signature="(self, processing_job_name: str) -> None",
        why="stopping a job must end its container, not only relabel it",
    ),
)

LOG = logging.getLogger(__name__)
STATE_CHANGE = "SageMaker Processing Job State Change"
JOB_TIMEOUT_SECONDS = 3600
_PROCESSING_LOG_GROUP = "/aws/sagemaker/ProcessingJobs"


class JobError(RuntimeError):
    """A job's container failed (or an input is missing); the message is what FailureReason shows."""


class ContainerHost:
    """Runs SageMaker job containers as local subprocesses against one emulator (thread-safe).

    :meth:`terminate_all` ends every container still running (the emulator calls it when it stops, so no
    job outlives the temporary folders and the moto server it uses).
    """

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self._running: dict[str, subprocess.Popen[str] | ForkedProcess] = {}
        self._stopped: set[str] = set()
        self._lock = threading.Condition()
        self.closing = False  # the emulator is stopping: jobs end without touching its APIs again

    # -- S3 ---------------------------------------------------------------------------------------------
    def _s3(self) -> Any:
        return self.emulator.client("s3")

    def download(self, uri: str, destination: Path) -> None:
        """Copy every object under ``uri`` (a prefix or one object) into ``destination``."""
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        paginator = self._s3().get_paginator("list_objects_v2")
        found = 0
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                relative = item["Key"][len(prefix) :].lstrip("/") or Path(item["Key"]).name
                target = destination / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                fetch_object(self._s3(), bucket, item["Key"], target)
                found += 1
        destination.mkdir(parents=True, exist_ok=True)
        if not found:
            raise JobError(f"input {uri} has no objects")

    def download_manifest(self, uri: str, destination: Path) -> None:
        """A ``ManifestFile`` input: the manifest at ``uri`` is ``[{"prefix": "s3://b/p/"}, "key", ...]``; each
        listed object (prefix + key) lands at ``destination/key``, as SageMaker downloads it."""
        from botocore.exceptions import ClientError

        bucket, _, key = uri.removeprefix("s3://").partition("/")
        try:
            listing = json.loads(self._s3().get_object(Bucket=bucket, Key=key)["Body"].read())
            prefix = str(listing[0]["prefix"])
            keys = [str(k) for k in listing[1:]]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise JobError(f"manifest {uri} is not a SageMaker manifest file ({exc})") from exc
        if not keys:
            raise JobError(f"manifest {uri} lists no objects")
        source_bucket, _, source_prefix = prefix.removeprefix("s3://").partition("/")
        for relative in keys:
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                fetch_object(self._s3(), source_bucket, source_prefix + relative, target)
            except ClientError as exc:
                raise JobError(f"input {prefix}{relative} listed in {uri} cannot be read: {exc}") from exc

    def upload(self, source: Path, uri: str) -> None:
        """Copy every file under ``source`` to the prefix ``uri`` (relative paths kept)."""
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            key = f"{prefix.rstrip('/')}/{path.relative_to(source).as_posix()}".lstrip("/")
            with path.open("rb") as body:  # one PutObject on this thread (see fetch_object)
                self._s3().put_object(Bucket=bucket, Key=key, Body=body)

    # -- the container ------------------------------------------------------------------------------------
    def workspace(self, label: str) -> Path:
        """A fresh folder in the emulator's workdir that plays the instance's file system."""
        return Path(tempfile.mkdtemp(prefix=f"{label}-", dir=self.emulator.workdir))

    def environment(self, root: Path, extra: dict[str, str]) -> dict[str, str]:
        """The container's environment: this machine's, minus AWS settings, pointed at the emulator. Its temporary
        folder is its own (``TMPDIR`` in the workspace), as a container's ``/tmp`` is: it goes with the workspace,
        not left behind on this machine."""
        scratch = root / "tmp"
        scratch.mkdir(parents=True, exist_ok=True)
        return {
            **self._machine_environment(),
            "TMPDIR": str(scratch),
            "MLOPS_OPT_ML": str(root / "opt" / "ml"),
            "AWS_ENDPOINT_URL": self.emulator.job_endpoint(),
            "AWS_DEFAULT_REGION": self.emulator.region,
            "AWS_REGION": self.emulator.region,
            "AWS_ACCESS_KEY_ID": "job-role",
            "AWS_SECRET_ACCESS_KEY": "job-role",
            **self.role_credentials(),  # the container's calls are made as the role the job runs as
            **extra,
        }

    @staticmethod
    def _machine_environment() -> dict[str, str]:
        # A snapshot, not os.environ.items(): a Lambda handler may be changing the environment meanwhile.
        inherited = environment_snapshot()
        env = {k: v for k, v in inherited.items() if not k.startswith(("AWS_", "SM_", "PYTHONPATH", "MLOPS_"))}
        return {
            **env,
            "PYTHONNOUSERSITE": "1",
            # The emulator's jobs share this machine with everything else running locally.
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        }

    def role_credentials(self) -> dict[str, str]:
        """Temporary credentials of the role this thread acts as (a job's role), for its container."""
        role = current()
        return role_credentials(role.role_arn, role.session_name, self.emulator.region) if role else {}

    @staticmethod
    def container_path(root: Path, value: str) -> str:
        """``/opt/ml/...`` inside the container is ``<root>/opt/ml/...`` here; other values pass unchanged."""
        return str(root / value.lstrip("/")) if value.startswith("/opt/ml") else value

    def run(self, name: str, command: list[str], env: dict[str, str], cwd: Path, log_group: str) -> str:
        """Run the container command to its end; its output goes to ``log_group``/``name``.

        Raises JobError with the last output lines when it exits non-zero, times out or is stopped.
        """
        with self._lock:
            if name in self._stopped:
                raise JobError(f"job {name} was stopped before it started")
            process = self._start(command, env, cwd)
            self._running[name] = process
            self._lock.notify_all()
        try:
            output, _ = process.communicate(timeout=JOB_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
            output += f"\njob {name} exceeded {JOB_TIMEOUT_SECONDS} s and was killed"
        finally:
            with self._lock:
                self._running.pop(name, None)
        output = (output or "").strip()
        if self.closing:
            raise JobError(f"job {name} was ended: the emulator stopped")
        self.log(log_group, name, output)
        if self.stopped(name):
            raise JobError(f"job {name} was stopped")
        if process.returncode != 0:
            tail = "\n".join(output.splitlines()[-12:])
            raise JobError(f"job {name} exited with {process.returncode}:\n{tail}")
        return output

    def _start(self, command: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str] | ForkedProcess:
        """``python script args`` as a fork of the preloaded server (:mod:`.forkserver`), or as a plain subprocess
        when the command is not a Python script or the server is switched off."""
        if forkserver.enabled() and len(command) >= 2 and command[0] == sys.executable and command[1].endswith(".py"):
            output = Path(tempfile.mkstemp(prefix="container-output-", dir=self.emulator.workdir)[1])
            return forkserver.shared(self._machine_environment()).spawn(command, env=env, cwd=cwd, output=output)
        return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def wait_started(self, name: str, timeout: float) -> bool:
        """Block (real time) until job ``name``'s container process runs; False after ``timeout`` seconds.

        A running container holds the emulated clock still (it is work in flight), so seeing one run needs a
        wall-clock wait: for tests that act on a job while its process runs (stopping it).
        """
        with self._lock:
            return self._lock.wait_for(lambda: name in self._running, timeout)

    def stopped(self, name: str) -> bool:
        """Whether job ``name`` was asked to stop."""
        with self._lock:
            return name in self._stopped

    def stop(self, name: str) -> bool:
        """Ask job ``name``'s container to end (SIGTERM); True if it was running."""
        with self._lock:
            self._stopped.add(name)
            process = self._running.get(name)
        if process is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        return True

    def terminate_all(self, timeout: float = 10.0) -> None:
        """End every running container and wait for them (the emulator is stopping)."""
        with self._lock:
            self.closing = True
            running = dict(self._running)
            self._stopped.update(running)
        for process in running.values():
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        for process in running.values():
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()

    def log(self, group: str, stream: str, output: str) -> None:
        logs = self.emulator.client("logs")
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_group(logGroupName=group)
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
        now = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
        lines = output.splitlines()[-5000:] or ["(no output)"]
        logs.put_log_events(
            logGroupName=group, logStreamName=stream, logEvents=[{"timestamp": now, "message": line} for line in lines]
        )


@dataclass
class ProcessingResult:
    """Where a processing job ran and what it produced (outputs by name, as the request described them)."""

    root: Path
    outputs: dict[str, dict[str, Any]]
    output_text: str

    def local_output(self, name: str) -> Path:
        return Path(ContainerHost.container_path(self.root, self.outputs[name]["S3Output"]["LocalPath"]))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def run_processing(host: ContainerHost, name: str, arguments: dict[str, Any]) -> ProcessingResult:
    """Run one processing job (CreateProcessingJob's arguments, every value resolved) to its end.

    Downloads ``ProcessingInputs`` (S3 inputs only), runs ``AppSpecification.ContainerEntrypoint`` +
    ``ContainerArguments`` with ``Environment``, then uploads each ``ProcessingOutputConfig`` output. Raises
    JobError naming the problem (missing input, non-zero exit with the output's tail).
    """
    root = host.workspace(name)
    for job_input in arguments.get("ProcessingInputs") or []:
        s3_input = job_input.get("S3Input")
        if s3_input is None:
            raise JobError(f"input {job_input.get('InputName')}: only S3 inputs are emulated")
        local = Path(host.container_path(root, s3_input["LocalPath"]))
        if s3_input.get("S3DataType") == "ManifestFile":
            host.download_manifest(_text(s3_input["S3Uri"]), local)
        else:
            host.download(s3_input["S3Uri"], local)
    app = arguments["AppSpecification"]
    entrypoint = app.get("ContainerEntrypoint") or []
    if not entrypoint:
        raise JobError("AppSpecification.ContainerEntrypoint is required by the emulator (images are not run)")
    command = [
        sys.executable if part in ("python3", "python") else host.container_path(root, part) for part in entrypoint
    ]
    command += [host.container_path(root, _text(a)) for a in app.get("ContainerArguments") or []]
    env = host.environment(root, {str(k): _text(v) for k, v in (arguments.get("Environment") or {}).items()})
    outputs = (arguments.get("ProcessingOutputConfig") or {}).get("Outputs") or []
    for output in outputs:
        Path(host.container_path(root, output["S3Output"]["LocalPath"])).mkdir(parents=True, exist_ok=True)
    text = host.run(name, command, env, root, _PROCESSING_LOG_GROUP)
    described: dict[str, dict[str, Any]] = {}
    for output in outputs:
        host.upload(Path(host.container_path(root, output["S3Output"]["LocalPath"])), output["S3Output"]["S3Uri"])
        described[output["OutputName"]] = output
    return ProcessingResult(root=root, outputs=described, output_text=text)


# ------------------------------------------------------------------------------------------------- the API


@dataclass
class ProcessingJobRecord:
    """What the emulator knows about one job beyond moto's record."""

    name: str
    request: dict[str, Any]
    status: str = "InProgress"
    failure_reason: str | None = None
    exit_message: str | None = None
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    ended: dt.datetime | None = None


# Jobs by name, for this process's emulator (cleared when it starts).
JOBS: dict[str, ProcessingJobRecord] = {}
_EXTRA_FIELDS = ("Environment", "ProcessingResources", "NetworkConfig", "StoppingCondition", "ExperimentConfig")


def _epoch_millis(value: Any) -> Any:
    """EventBridge's SageMaker events carry times as epoch milliseconds."""
    if isinstance(value, dt.datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return int(stamp.timestamp() * 1000)
    if isinstance(value, dict):
        return {k: _epoch_millis(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_epoch_millis(v) for v in value]
    return value


class ProcessingJobs:
    """Runs CreateProcessingJob requests on background threads and keeps moto's record in step."""

    def __init__(self, emulator: Emulator, host: ContainerHost) -> None:
        self.emulator = emulator
        self.host = host

    def _fake(self, name: str) -> Any:
        from moto.sagemaker.models import sagemaker_backends

        backend: Any = sagemaker_backends[self.emulator.account][self.emulator.region]
        return backend.processing_jobs.get(name)

    def start(self, name: str, request: dict[str, Any]) -> None:
        record = ProcessingJobRecord(name=name, request=request)
        JOBS[name] = record
        self._sync(record)
        self._announce(record)
        self.emulator.clock.spawn(self._run, record, name=f"processing-{name}")

    def _run(self, record: ProcessingJobRecord) -> None:
        status, reason = "Completed", None
        try:
            with acting_as(record.request.get("RoleArn"), "SageMaker"):  # SageMaker runs the job as its role
                run_processing(self.host, record.name, record.request)
        except JobError as exc:
            stopped = self.host.stopped(record.name)
            status, reason = ("Stopped", None) if stopped else ("Failed", str(exc)[:1024])
        except Exception as exc:  # an emulator bug must still end the job, with the cause
            status, reason = "Failed", f"{type(exc).__name__}: {exc}"[:1024]
        finally:
            final = replace(
                record, status=status, failure_reason=reason, exit_message=reason, ended=dt.datetime.now(dt.UTC)
            )
            try:
                # The event is on the bus (its deliveries queued) before Describe shows the end, so a caller that
                # sees the final status and then waits for the bus to go idle has seen the event's consumers run.
                if not self.host.closing:
                    self._announce(final)
            except Exception as exc:  # announcing must not keep the job from ending
                LOG.warning("processing job %s: state change not announced: %s", record.name, exc)
            finally:
                record.failure_reason, record.exit_message, record.ended = reason, reason, final.ended
                record.status = status  # last: whoever sees the end sees its end time and reason too
                if not self.host.closing:
                    self._sync(record)

    def stop(self, name: str) -> None:
        record = JOBS.get(name)
        if record is not None and record.status == "InProgress":
            record.status = "Stopping"
            self._sync(record)
            self.host.stop(name)

    def describe(self, described: dict[str, Any], record: ProcessingJobRecord | None = None) -> dict[str, Any]:
        record = record or JOBS.get(described.get("ProcessingJobName", ""))
        if record is None:
            return described
        for key in _EXTRA_FIELDS:
            if record.request.get(key) is not None:
                described[key] = record.request[key]
        described["ProcessingJobStatus"] = record.status
        described["ProcessingStartTime"] = record.started
        if record.ended is not None:
            described["ProcessingEndTime"] = record.ended
        else:
            described.pop("ProcessingEndTime", None)
        if record.failure_reason:
            described["FailureReason"] = record.failure_reason
        if record.exit_message:
            described["ExitMessage"] = record.exit_message
        return described

    def _sync(self, record: ProcessingJobRecord) -> None:
        fake = self._fake(record.name)
        if fake is not None:
            fake.processing_job_status = record.status
            fake.last_modified_time = dt.datetime.now(dt.UTC)
            fake.processing_end_time = record.ended

    def _announce(self, record: ProcessingJobRecord) -> None:
        from moto.events.models import events_backends
        from moto.sagemaker.models import sagemaker_backends

        backend: Any = sagemaker_backends[self.emulator.account][self.emulator.region]
        described = self.describe(backend.describe_processing_job(record.name), record)
        described["LastModifiedTime"] = record.ended or described.get("LastModifiedTime")
        detail = _epoch_millis(described)
        events_backends[self.emulator.account][self.emulator.region].put_events(
            [
                {
                    "Source": "aws.sagemaker",
                    "DetailType": STATE_CHANGE,
                    "Detail": json.dumps(detail, default=str),
                    "Resources": [detail.get("ProcessingJobArn", "")],
                }
            ]
        )


def apply(patcher: Any) -> None:
    from moto.sagemaker.exceptions import ValidationError

    points = {p.name: p for p in PATCH_POINTS}
    original_create = points["sagemaker-create-processing-job"].original()
    original_describe = points["sagemaker-describe-processing-job"].original()
    emulator = patcher.emulator
    jobs = ProcessingJobs(emulator, emulator.containers)
    JOBS.clear()

    def create_processing_job(response: Any) -> Any:
        name = response._get_param("ProcessingJobName")
        if name in response.sagemaker_backend.processing_jobs:
            raise ValidationError(message=f"Job name {name} must be unique within an AWS account and region.")
        request = {
            key: response._get_param(key)
            for key in (
                "ProcessingInputs",
                "ProcessingOutputConfig",
                "ProcessingResources",
                "StoppingCondition",
                "AppSpecification",
                "Environment",
                "NetworkConfig",
                "RoleArn",
                "ExperimentConfig",
                "Tags",
            )
        }
        result = original_create(response)
        jobs.start(name, request)
        return result

    def describe_processing_job(backend: Any, processing_job_name: str) -> dict[str, Any]:
        return jobs.describe(original_describe(backend, processing_job_name))

    def stop_processing_job(backend: Any, processing_job_name: str) -> None:
        if processing_job_name not in backend.processing_jobs:
            arn = f"arn:aws:sagemaker:{backend.region_name}:{backend.account_id}:processing-job/{processing_job_name}"
            raise ValidationError(message=f"Could not find processing job '{arn}'.")
        jobs.stop(processing_job_name)

    patcher.replace(points["sagemaker-create-processing-job"], create_processing_job)
    patcher.replace(points["sagemaker-describe-processing-job"], describe_processing_job)
    patcher.replace(points["sagemaker-stop-processing-job"], stop_processing_job)
