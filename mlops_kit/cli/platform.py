"""Find the deployed platform (stack outputs) from the CLI: on AWS, or the local server via AWS_ENDPOINT_URL."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from mlops_kit.cli.console import fail


def default_project() -> str:
    """``mlops.project_name`` from ./cdk.json when run in the repository, else MLOPS_PROJECT or the default."""
    cdk_json = Path.cwd() / "cdk.json"
    if cdk_json.exists():
        name = json.loads(cdk_json.read_text()).get("context", {}).get("mlops", {}).get("project_name")
        if name:
            return str(name)
    return os.environ.get("MLOPS_PROJECT", "mlops-kit")


def is_platform_stack(stack_name: str, project: str) -> bool:
    """Whether ``stack_name`` is one of ``project``'s stacks: ``<project>-<unit>`` with a one-word unit (data,
    training, serving, monitoring). Exact, not a prefix: ``mlops-kit-dev-data`` belongs to project ``mlops-kit-dev``,
    not ``mlops-kit``."""
    return re.fullmatch(re.escape(project) + r"-[a-z]+", stack_name) is not None


@dataclass
class Platform:
    """Clients and stack outputs of one deployed platform."""

    session: boto3.Session
    project: str
    outputs: dict[str, str]

    def client(self, service: str) -> Any:
        return self.session.client(service)

    def output(self, key: str) -> str:
        if key not in self.outputs:
            fail(
                f"the deployed platform '{self.project}' has no output {key}; deploy the stack that defines it "
                "(`make deploy`, or `mlops local deploy` for the emulator)"
            )
        return self.outputs[key]

    def invoke(self, function: str, payload: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Invoke ``function`` synchronously: its decoded answer, and whether it failed (``FunctionError``)."""
        response = self.client("lambda").invoke(FunctionName=function, Payload=json.dumps(payload).encode())
        body: dict[str, Any] = json.loads(response["Payload"].read() or b"{}")
        return body, bool(response.get("FunctionError"))

    def wait_for_processing_job(self, job: str, *, kind: str, follow: str, every: float, timeout: float) -> Any:
        """The processing job's description once it has ended, the status line showing its state; past
        ``timeout`` seconds the command fails saying how to ``follow`` it (``kind``: "drift job", "batch job")."""
        from mlops_kit.cli.console import console
        from mlops_kit.waiting import poll

        sagemaker = self.client("sagemaker")
        with console.status(f"{kind} {job}") as status:

            def ended() -> dict[str, Any] | None:
                described: dict[str, Any] = sagemaker.describe_processing_job(ProcessingJobName=job)
                state = described["ProcessingJobStatus"]
                status.update(f"{kind} {job}: {state}")
                return described if state in ("Completed", "Failed", "Stopped") else None

            try:
                return poll(ended, every=every, timeout=timeout, what=f"{kind} {job}")
            except TimeoutError:
                fail(f"{kind} {job} did not end within {timeout:.0f} s; {follow}")

    @classmethod
    def connect(cls, project: str | None = None, session: boto3.Session | None = None) -> Platform:
        from botocore.exceptions import BotoCoreError, ClientError

        project = project or default_project()
        session = session or boto3.Session()
        outputs: dict[str, str] = {}
        try:
            cfn = session.client("cloudformation")
            for page in cfn.get_paginator("describe_stacks").paginate():
                for stack in page["Stacks"]:
                    if is_platform_stack(stack["StackName"], project):
                        outputs.update({o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])})
        except (BotoCoreError, ClientError) as exc:
            where = os.environ.get("AWS_ENDPOINT_URL", "AWS")
            fail(f"cannot read the platform's stacks from {where}: {exc}")
        if not outputs:
            fail(
                f"no deployed stacks named '{project}-*' found; deploy with `make deploy` (AWS) or start the "
                "emulator with `mlops local serve` and set AWS_ENDPOINT_URL"
            )
        return cls(session=session, project=project, outputs=outputs)
