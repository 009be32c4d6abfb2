"""Start a promotion (or a rollback) exactly once per model version."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def execution_name(mode: str, package_arn: str, version: int, attempt: str = "") -> str:
    """A deterministic execution name: a redelivered event maps to the same execution, never a second one."""
    digest = hashlib.sha256(f"{package_arn}|{attempt}".encode()).hexdigest()[:10]
    return f"{mode}-v{version}-{digest}"[:80]


def start_promotion(
    sfn: Any,
    state_machine_arn: str,
    *,
    package_arn: str,
    version: int,
    mode: str = "promote",
    requested_by: str = "registry",
    attempt: str = "",
) -> tuple[str, bool]:
    """Start the state machine for ``package_arn``; returns (execution ARN, whether this call started it).

    ``attempt`` distinguishes deliberate retries of the same version (the CLI's ``--retry``); the registry
    trigger never sets it, so redelivered approval events are absorbed by Step Functions' name idempotency.
    """
    name = execution_name(mode, package_arn, version, attempt)
    arn = state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
    try:
        sfn.describe_execution(executionArn=arn)
        return arn, False
    except sfn.exceptions.ExecutionDoesNotExist:
        pass
    payload = json.dumps({"model_package_arn": package_arn, "mode": mode, "requested_by": requested_by}, sort_keys=True)
    try:
        started = sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=payload)
        return str(started["executionArn"]), True
    except sfn.exceptions.ExecutionAlreadyExists:
        return arn, False
