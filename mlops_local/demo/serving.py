"""Demo stages of serving and promotion: first deployment, traffic, and a promotion with shadow, approval and a
staged canary -- all through the deployed state machine, the registry trigger and the real handlers."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from mlops_kit.cli.console import table
from mlops_kit.promotion.approvals import WAITING_STATE, Approval, answer, follow, pending_approval
from mlops_kit.promotion.store import PromotionStore
from mlops_kit.promotion.trigger import execution_name
from mlops_kit.registry import ModelRegistry
from mlops_kit.serving.client import EndpointClient
from mlops_local.demo import traffic
from mlops_local.demo.context import DemoContext, DemoStageError

TRAFFIC_DAYS = 7  # requests are spread over the last week of the feature history
REVIEWER = "demo-reviewer"  # the session name of the reviewer, who signs in with the platform's approver role


def answer_as_reviewer(
    aws: Any, outputs: Callable[[str], str], approval_id: str, *, decision: str, comment: str, session: str = REVIEWER
) -> Approval:
    """Answer a promotion as a reviewer would in SageMaker Studio: signed in with the approver role (a session
    named ``session``), set the version's stage status; the approval service answers as that verified identity."""
    from mlops_local.iam.identity import acting_as

    store = PromotionStore(aws.client("dynamodb"), outputs("PromotionTableName"))
    registry = ModelRegistry(aws.client("sagemaker"), outputs("ModelPackageGroupName"))
    with acting_as(outputs("ApproverRoleArn"), session):
        return answer(store, registry, approval_id, decision=decision, comment=comment, timeout_seconds=3600)


def client(context: DemoContext) -> EndpointClient:
    return EndpointClient(context.output("EndpointName"), context.emulator.client("sagemaker-runtime"))


def payloads(context: DemoContext, n: int = 400, *, seed: int = 7, drift: float = 0.0) -> list[dict[str, Any]]:
    from mlops_local.demo.features import data_window

    customers = int(context.summary.get("features", {}).get("customers", 2000))
    window = context.summary.get("features", {}).get("data_window")
    end = dt.datetime.fromisoformat(window["end"]) if window else data_window()[1]
    start = end - dt.timedelta(days=TRAFFIC_DAYS)
    return traffic.requests(n, seed=seed, customers=customers, start=start, drift=drift)


def promote(
    context: DemoContext,
    package_arn: str,
    *,
    decision: str = "approve",
    comment: str = "shadow looks good",
    during_state: Callable[[str], None] | None = None,
    background: bool = True,
    traffic_payloads: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Approve ``package_arn`` in the registry (the EventBridge trigger starts the workflow), answer the human
    approval with ``decision`` (``"none"``: leave it unanswered until it times out), and follow the execution
    to its end while live traffic (``traffic_payloads``, default: the demo's) flows."""
    aws = context.emulator
    registry = ModelRegistry(aws.client("sagemaker"), context.output("ModelPackageGroupName"))
    version = registry.get(package_arn)
    sfn = aws.client("stepfunctions")
    store = PromotionStore(aws.client("dynamodb"), context.output("PromotionTableName"))
    machine = context.output("PromotionStateMachineArn")
    arn = (
        machine.replace(":stateMachine:", ":execution:") + ":" + execution_name("promote", version.arn, version.version)
    )
    states: list[str] = []
    seen: set[int] = set()
    started = time.monotonic()
    began = aws.now()

    def entered(name: str) -> None:
        states.append(name)
        if during_state:
            during_state(name)
        if name.endswith(("Wait", "Check", "?")) or name == "Route":
            return  # polling loops and choices: the path shows in the steps around them
        note = ""
        if name == "Bake":
            endpoint = aws.client("sagemaker").describe_endpoint(EndpointName=context.output("EndpointName"))
            weights = {v["VariantName"]: v["CurrentWeight"] for v in endpoint["ProductionVariants"]}
            total = sum(weights.values()) or 1
            note = "  " + ", ".join(f"{k} {100 * w / total:.0f}%" for k, w in sorted(weights.items()))
        context.console.print(f"  [dim]{_elapsed(aws.now() - began)}[/] → {name}{note}")

    live = None
    if background:
        live = traffic.BackgroundTraffic(
            client(context), traffic_payloads or payloads(context, 300, seed=11), aws.clock, every=5
        )
    try:
        if live:
            live.__enter__()
        registry.approve(version.arn, approver="data-scientist", comment="ready for promotion")
        aws.settle()  # the state change event reaches the trigger Lambda, which starts the workflow
        described = follow(
            sfn, arn, on_state=entered, until_waiting=True, timeout_seconds=3 * 86400, seen=seen, poll_seconds=30
        )
        if described["status"] == "RUNNING" and states and states[-1] == WAITING_STATE and decision == "none":
            context.console.print("  approval pending; nobody answers")
            described = follow(sfn, arn, on_state=entered, timeout_seconds=3 * 86400, seen=seen, poll_seconds=30)
        elif described["status"] == "RUNNING" and states and states[-1] == WAITING_STATE:
            approval = pending_approval(store, arn)
            context.console.print(
                f"  approval {approval.approval_id} pending; the reviewer sets version {version.version}'s stage "
                f"status to {'Approved' if decision == 'approve' else 'Rejected'} in the registry (SageMaker Studio)"
            )
            answered = answer_as_reviewer(aws, context.output, approval.approval_id, decision=decision, comment=comment)
            context.console.print(f"  answered by {answered.approver} (as SageMaker recorded it)")
            described = follow(sfn, arn, on_state=entered, timeout_seconds=3 * 86400, seen=seen, poll_seconds=30)
    finally:
        if live:
            live.__exit__(None, None, None)
    result = {
        "execution": arn,
        "status": described["status"],
        "error": described.get("error"),
        "cause": described.get("cause"),
        "states": states,
        "seconds": round(time.monotonic() - started, 1),
        "emulated_seconds": int((aws.now() - began).total_seconds()),
        "traffic": {"sent": live.stats.sent, "errors": live.stats.errors, "variants": dict(live.stats.variants)}
        if live
        else None,
    }
    colour = "green" if result["status"] == "SUCCEEDED" else "red"
    context.console.print(
        f"[{colour}]{result['status']}[/] after {_elapsed(aws.now() - began)} emulated ({result['seconds']} s) "
        f"{result['error'] or ''} {result['cause'] or ''}"
    )
    return result


def _elapsed(delta: dt.timedelta) -> str:
    """Emulated time since the promotion started, as h:mm:ss."""
    seconds = int(delta.total_seconds())
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def registry_table(context: DemoContext) -> list[dict[str, Any]]:
    registry = ModelRegistry(context.emulator.client("sagemaker"), context.output("ModelPackageGroupName"))
    versions = registry.versions()
    context.console.print(
        table(
            "Registry",
            ["version", "stage", "status", "approval", "metrics"],
            [[str(v.version), v.stage, v.stage_status, v.approval_status, str(v.metrics)] for v in versions],
        )
    )
    return [
        {"version": v.version, "stage": v.stage, "status": v.stage_status, "approval": v.approval_status}
        for v in versions
    ]


def first_deploy(context: DemoContext) -> dict[str, Any]:
    """No endpoint yet: the workflow creates it with version 1, which becomes Production; then live traffic."""
    result = promote(context, context.summary["training"]["model_package_arn"], background=False)
    if result["status"] != "SUCCEEDED":
        raise RuntimeError(f"first deployment failed: {result['cause']}")
    stats = traffic.send(client(context), payloads(context, 300))
    sample = client(context).predict(payloads(context, 3, seed=99)[0])
    context.console.print(
        table(
            "Traffic on the new endpoint",
            ["requests", "errors", "variants", "latency p50", "latency p99", "sample response"],
            [
                [
                    str(stats.sent),
                    str(stats.errors),
                    str(dict(stats.variants)),
                    f"{stats.percentile(50):.1f} ms",
                    f"{stats.percentile(99):.1f} ms",
                    str(sample.body),
                ]
            ],
        )
    )
    registry_table(context)
    return {
        "promotion": result,
        "traffic": {
            "sent": stats.sent,
            "errors": stats.errors,
            "p50_ms": stats.percentile(50),
            "p99_ms": stats.percentile(99),
        },
        "sample": sample.body,
    }


def promote_candidate(context: DemoContext) -> dict[str, Any]:
    """The retrained candidate: shadow -> human approval -> 5% -> 25% -> 50% -> 100% -> Production."""
    candidate = context.summary["retraining"]["candidate_arn"]
    if candidate is None:
        raise RuntimeError("retraining registered no candidate to promote")
    result = promote(context, candidate)
    result["registry"] = registry_table(context)
    if result["status"] != "SUCCEEDED":
        raise DemoStageError(f"the candidate's promotion ended {result['status']}: {result['cause']}")
    return result
