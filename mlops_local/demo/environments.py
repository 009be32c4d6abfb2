"""A version promoted through environments on the emulator: staging's promotion in the staging account, then
production's in the production account, each run by the tooling account's state machine of that environment
(README "Environments"). The registry approval starts staging's; staging's success starts production's."""

from __future__ import annotations

import time
from typing import Any

from mlops_kit.promotion.approvals import WAITING_STATE, follow, pending_approval
from mlops_kit.promotion.store import PromotionStore
from mlops_kit.promotion.trigger import execution_name
from mlops_kit.registry import ModelRegistry
from mlops_kit.serving.client import EndpointClient
from mlops_local.demo import traffic
from mlops_local.demo.context import DemoContext
from mlops_local.demo.serving import answer_as_reviewer, full_traffic

# The tooling account is the emulator's own; each environment serves in an account of its own.
STAGING, PRODUCTION = "222222222222", "333333333333"


def overrides(tooling: str) -> dict[str, Any]:
    """The ``mlops`` config of a staging-then-production setup with ``tooling`` as the tooling account."""
    return {
        "account": tooling,
        "environments": {"staging": {"account": STAGING}, "production": {"account": PRODUCTION}},
    }


def endpoint_name(context: DemoContext, environment: str) -> str:
    return f"{context.output('EndpointName')}-{environment}"


def machine_arn(context: DemoContext, environment: str) -> str:
    return context.output(f"Promotion{environment.capitalize()}StateMachineArn")


def endpoint_client(context: DemoContext, environment: str, account: str) -> EndpointClient:
    """Requests to the environment's endpoint, as a caller in its account."""
    return EndpointClient(
        endpoint_name(context, environment), context.emulator.client("sagemaker-runtime", account=account)
    )


def promote_through(
    context: DemoContext,
    package_arn: str,
    accounts: dict[str, str],
    payloads: list[dict[str, Any]],
    *,
    comment: str = "looks good",
) -> dict[str, dict[str, Any]]:
    """Approve ``package_arn`` in the registry and follow each environment's promotion (``accounts``: environment
    name to account, in promotion order) to its end, answering its approval as the reviewer when it asks for one,
    while live traffic (``payloads``, which carry their features: README "Environments") flows to that
    environment's endpoint when it served before this promotion (a first deployment has none to shadow). Stops
    at the first environment whose promotion does not succeed. Returns each followed environment's execution summary."""
    aws = context.emulator
    registry = ModelRegistry(aws.client("sagemaker"), context.output("ModelPackageGroupName"))
    store = PromotionStore(aws.client("dynamodb"), context.output("PromotionTableName"))
    sfn = aws.client("stepfunctions")
    version = registry.get(package_arn)
    # Which endpoints serve before anything starts: the approval may already have the first promotion creating its
    # endpoint by the time it is followed, and traffic to an endpoint still being created only fails.
    serving = {name: serving_in(context, name, account) is not None for name, account in accounts.items()}
    registry.approve(version.arn, approver="data-scientist", comment="ready for promotion")
    aws.settle()  # the state change event reaches the trigger Lambda, which starts the first environment's promotion
    results: dict[str, dict[str, Any]] = {}
    for environment, account in accounts.items():
        machine = machine_arn(context, environment)
        arn = (
            machine.replace(":stateMachine:", ":execution:")
            + ":"
            + execution_name("promote", version.arn, version.version)
        )
        context.console.print(f"[bold]{environment}[/] (account {account}): version {version.version}")
        states: list[str] = []
        seen: set[int] = set()
        started = time.monotonic()
        live = _live_traffic(context, environment, account, payloads) if serving[environment] else None
        try:
            described = follow(
                sfn, arn, on_state=states.append, until_waiting=True, timeout_seconds=3 * 86400, seen=seen,
                poll_seconds=30,
            )  # fmt: skip
            answered = False
            if described["status"] == "RUNNING" and states and states[-1] == WAITING_STATE:
                approval = pending_approval(store, arn)
                context.console.print(
                    f"  approval {approval.approval_id} pending; the reviewer approves in the registry"
                )
                answer_as_reviewer(aws, context.output, approval.approval_id, decision="approve", comment=comment)
                answered = True
                described = follow(
                    sfn, arn, on_state=states.append, timeout_seconds=3 * 86400, seen=seen, poll_seconds=30
                )
        finally:
            if live is not None:
                live.__exit__(None, None, None)
        results[environment] = {
            "execution": arn,
            "status": described["status"],
            "error": described.get("error"),
            "cause": described.get("cause"),
            "states": states,
            "answered": answered,
            "traffic": {"sent": live.stats.sent, "errors": live.stats.errors} if live else None,
            "seconds": round(time.monotonic() - started, 1),
        }
        colour = "green" if described["status"] == "SUCCEEDED" else "red"
        context.console.print(
            f"  [{colour}]{described['status']}[/] {described.get('error') or ''} {described.get('cause') or ''}"
        )
        if described["status"] != "SUCCEEDED":
            break
        aws.settle()  # the success started the next environment's promotion
    return results


def _live_traffic(
    context: DemoContext, environment: str, account: str, payloads: list[dict[str, Any]]
) -> traffic.BackgroundTraffic:
    """Background traffic to the environment's endpoint, started (the caller stops it)."""
    live = traffic.BackgroundTraffic(endpoint_client(context, environment, account), payloads, context.emulator.clock)
    live.__enter__()
    return live


def serving_in(context: DemoContext, environment: str, account: str) -> dict[str, Any] | None:
    """The version serving 100% of the environment's endpoint, read in its account, and a sample answer."""
    served = full_traffic(context.emulator.client("sagemaker", account=account), endpoint_name(context, environment))
    if served is None:
        return None
    variant, container = served
    return {
        "version": int(container["MLOPS_MODEL_VERSION"]),
        "variant": variant,
        "code": container.get("SAGEMAKER_SUBMIT_DIRECTORY"),
    }
