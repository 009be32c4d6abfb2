"""Where the smoke suite runs: the emulator's local server (always) or a real AWS account (on request).

Both targets are driven the same way: the CDK CLI deploys, the ``mlops`` CLI runs the lifecycle, the AWS APIs
tear down. A target only says how to reach AWS and how to let time pass there.

``python -m tests.aws.targets`` is the preflight of ``make aws-smoke``: it refuses, naming what is missing,
unless AWS credentials are available and :data:`OPT_IN` is set to 1.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from mlops_local.emulator import Emulator, free_port

OPT_IN = "MLOPS_SMOKE_AWS"
PROJECT_VARIABLE = "MLOPS_SMOKE_PROJECT"
DEFAULT_PROJECT = "mlops-smoke"
# Variables that would point the local target's processes at something other than the emulator.
_AWS_SELECTORS = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE")


def smoke_project() -> str:
    """The project name the smoke deployment uses (its stacks are ``<project>-*``)."""
    return os.environ.get(PROJECT_VARIABLE, DEFAULT_PROJECT)


def aws_refusal() -> str | None:
    """Why the AWS target cannot run here (None when it can): the opt-in variable, then credentials."""
    if os.environ.get(OPT_IN) != "1":
        return (
            f"the real-account smoke test deploys to AWS and costs money: set {OPT_IN}=1 to run it "
            f"(stacks {smoke_project()}-*, torn down at the end)"
        )
    session = boto3.Session()
    if session.get_credentials() is None:
        return (
            "no AWS credentials found: configure them (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
            "or `aws configure`)"
        )
    if os.environ.get("AWS_ENDPOINT_URL"):
        return "AWS_ENDPOINT_URL is set: the real-account smoke test talks to AWS itself; unset it"
    if session.region_name is None:
        return "no AWS region configured: set AWS_REGION (or AWS_DEFAULT_REGION)"
    return None


@dataclass
class Target:
    """Common to both targets: a boto3 session, the environment the CLIs get, and how time passes."""

    name: str
    account: str
    region: str
    session: boto3.Session
    endpoint_url: str | None
    created: list[str] = field(default_factory=list)  # what the suite created, for the final report

    def client(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.endpoint_url)

    def environment(self) -> dict[str, str | None]:
        """Variables for the CDK CLI and the in-process ``mlops`` CLI (None removes a variable)."""
        raise NotImplementedError

    def pause(self, seconds: float) -> None:
        """Let ``seconds`` pass on the target (live traffic is spread over time, as a user's would be)."""
        raise NotImplementedError

    @contextlib.contextmanager
    def driving(self) -> Iterator[None]:
        """The block in which the suite drives the target."""
        yield


class AwsTarget(Target):
    """A real account: the credentials and region of the environment."""

    @classmethod
    def connect(cls) -> AwsTarget:
        session = boto3.Session()
        identity = session.client("sts").get_caller_identity()
        assert session.region_name is not None  # aws_refusal() checked it
        return cls(
            name="aws", account=identity["Account"], region=session.region_name, session=session, endpoint_url=None
        )

    def environment(self) -> dict[str, str | None]:
        return {
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "CDK_DEFAULT_ACCOUNT": self.account,
            "CDK_DEFAULT_REGION": self.region,
        }

    def pause(self, seconds: float) -> None:
        time.sleep(seconds)  # real time on AWS: the endpoint serves and captures while it passes


class LocalTarget(Target):
    """The emulator's local server (``mlops local serve``), in this process.

    The ``mlops`` CLI runs in this process too (typer's CliRunner), so its waits (``mlops_kit.waiting.poll``) run on
    the emulator's clock, and the suite's thread counts as busy while it drives: emulated time moves only while the
    CLI or the suite waits, never while they compute. An hour of shadow bake costs no wall time, and the run passes
    through the same states on any machine. The CDK CLI runs as a separate process; its requests count as work in
    flight while the server handles them.
    """

    emulator: Emulator

    @classmethod
    def start(cls, workdir: Path) -> LocalTarget:
        emulator = Emulator(server=True, port=free_port(), workdir=workdir).start()
        target = cls(
            name="local",
            account=emulator.account,
            region=emulator.region,
            session=emulator.session(),
            endpoint_url=emulator.endpoint_url,
        )
        target.emulator = emulator
        return target

    def stop(self) -> None:
        self.emulator.stop()

    def environment(self) -> dict[str, str | None]:
        return {**dict.fromkeys(_AWS_SELECTORS), **self.emulator.environment()}

    def pause(self, seconds: float) -> None:
        self.emulator.advance(seconds)

    @contextlib.contextmanager
    def driving(self) -> Iterator[None]:
        with self.emulator.clock.activity():
            yield


def main() -> int:
    refusal = aws_refusal()
    if refusal:
        print(f"make aws-smoke: refused: {refusal}", file=sys.stderr)
        return 2
    identity = boto3.Session().client("sts").get_caller_identity()
    print(f"make aws-smoke: deploying {smoke_project()}-* as {identity['Arn']} in {boto3.Session().region_name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
