"""Demo stages of serving and promotion: first deployment, traffic, and a promotion with shadow, approval and a
staged canary -- all through the deployed state machine, the registry trigger and the real handlers."""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.request
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode, urljoin

from mlops_kit.cli.console import table
from mlops_kit.promotion.approval_page import ApprovalPageSettings
from mlops_kit.promotion.approvals import WAITING_STATE, Approval, answer, await_answer, follow, pending_approval
from mlops_kit.promotion.store import PromotionStore
from mlops_kit.promotion.trigger import execution_name
from mlops_kit.registry import ModelRegistry
from mlops_kit.serving.client import EndpointClient
from mlops_kit.waiting import poll
from mlops_local.demo import traffic
from mlops_local.demo.context import DemoContext, DemoStageError

TRAFFIC_DAYS = 7  # requests are spread over the last week of the feature history
REVIEWER = "demo-reviewer"  # the session name of the reviewer, who signs in with the platform's approver role


def full_traffic(sagemaker: Any, endpoint_name: str) -> tuple[str, dict[str, str]] | None:
    """The variant serving 100% of ``endpoint_name``'s traffic and its model's container environment (the
    version's ``MLOPS_MODEL_VERSION``, its code bundle), or None when no variant does or the endpoint is missing."""
    try:
        endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    except sagemaker.exceptions.ClientError:
        return None
    variants = endpoint["ProductionVariants"]
    total = sum(v["CurrentWeight"] for v in variants) or 1.0
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    models = {v["VariantName"]: v["ModelName"] for v in config["ProductionVariants"]}
    for variant in variants:
        if abs(variant["CurrentWeight"] / total - 1.0) < 1e-9:
            container = sagemaker.describe_model(ModelName=models[variant["VariantName"]])["PrimaryContainer"]
            return variant["VariantName"], container["Environment"]
    return None


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


class _DecisionForm(HTMLParser):
    """The approval page's decision form, read as a browser reads it: its action and its fields."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "form" and found.get("method") == "post":
            self.action = found.get("action", "")
        elif tag == "input" and found.get("type") == "hidden":
            self.fields[found.get("name", "")] = found.get("value", "")


def page_deployed(context: DemoContext) -> bool:
    """Whether the platform was deployed with the approval page (config ``approval_page.enabled``)."""
    try:
        context.output("ApprovalPageUrl")
    except KeyError:
        return False
    return True


def answer_on_page(context: DemoContext, approval_id: str, *, decision: str, comment: str) -> tuple[str, Approval]:
    """Answer a promotion as a reviewer does from the approval page: take the link from their e-mail (SNS delivers
    each addressee only their own), open it (GET through the local API Gateway: the evidence, nothing decided),
    then submit the page's form as the browser does (POST of its hidden token, the decision and the comment).
    Returns the addressee and the approval as the approval service recorded it."""
    from mlops_local.apigateway import local_url

    aws = context.emulator
    page_settings = aws.client("lambda").get_function_configuration(
        FunctionName=context.output("ApprovalPageFunctionName")
    )["Environment"]["Variables"][ApprovalPageSettings.VARIABLE]
    addressees = list(json.loads(page_settings)["identities"])

    def delivered() -> tuple[str, str] | None:
        # The approval record (what the caller waited for) is written before the notification is published.
        links = [
            (addressee, line.strip())
            for addressee in addressees
            for mail in aws.mailbox(addressee)
            if f"({approval_id})" in mail.subject
            for line in mail.message.splitlines()
            if "/approvals?token=" in line
        ]
        return links[0] if links else None

    try:
        addressee, link = poll(delivered, every=1.0, timeout=600, what=f"an approval page link for {approval_id}")
    except TimeoutError:
        raise DemoStageError(f"no approval page link for {approval_id} reached any of {addressees}") from None
    url = local_url(aws.job_endpoint(), link)
    with urllib.request.urlopen(url, timeout=60) as opened:  # noqa: S310 (the emulator's local server)
        form = _DecisionForm()
        form.feed(opened.read().decode())
    if not form.action or "token" not in form.fields:
        raise DemoStageError(f"the approval page at {link.split('?')[0]} showed no decision form")
    body = urlencode({**form.fields, "decision": decision, "comment": comment}).encode()
    request = urllib.request.Request(  # noqa: S310 (the emulator's local server)
        urljoin(url, form.action), data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    with urllib.request.urlopen(request, timeout=60) as posted:  # noqa: S310
        answered_page = posted.read().decode()
    if "<h1>Approved" not in answered_page and "<h1>Rejected" not in answered_page:
        raise DemoStageError(f"the approval page refused the answer: {answered_page[:500]}")
    store = PromotionStore(aws.client("dynamodb"), context.output("PromotionTableName"))
    return addressee, await_answer(store, approval_id, timeout_seconds=3600)


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
    answer_on: str = "registry",
) -> dict[str, Any]:
    """Approve ``package_arn`` in the registry (the EventBridge trigger starts the workflow), answer the human
    approval with ``decision`` (``"none"``: leave it unanswered until it times out) in the registry, as a reviewer
    in SageMaker Studio does, or with ``answer_on="page"`` on the approval page (in the registry when the page is
    not deployed), and follow the execution to its end while live traffic (``traffic_payloads``, default: the
    demo's) flows."""
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

    answered_on: str | None = None  # where the reviewer answered: "registry" or "page"
    live = None
    if background:
        live = traffic.BackgroundTraffic(
            client(context), traffic_payloads or payloads(context, 300, seed=11), aws.clock
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
            answered_on = _answer(context, approval, version.version, decision, comment, answer_on)
            described = follow(sfn, arn, on_state=entered, timeout_seconds=3 * 86400, seen=seen, poll_seconds=30)
    finally:
        if live:
            live.__exit__(None, None, None)
    result = {
        "execution": arn,
        "answered_on": answered_on,
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


def _answer(context: DemoContext, approval: Approval, version: int, decision: str, comment: str, on: str) -> str:
    """Answer ``approval`` as a reviewer on the approval page (``on="page"``, when it is deployed) or in the
    registry; returns where it was answered."""
    verb = "Approve" if decision == "approve" else "Reject"
    if on == "page" and page_deployed(context):
        context.console.print(
            f"  approval {approval.approval_id} pending; a reviewer opens the link from their e-mail and presses "
            f"{verb} on the approval page"
        )
        addressee, answered = answer_on_page(context, approval.approval_id, decision=decision, comment=comment)
        context.console.print(f"  answered by {addressee}, recorded as {answered.approver}")
        return "page"
    if on == "page":
        context.console.print("  [dim]the approval page is not deployed (approval_page.enabled)[/]")
    context.console.print(
        f"  approval {approval.approval_id} pending; the reviewer sets version {version}'s stage status to {verb}d "
        "in the registry (SageMaker Studio)"
    )
    answered = answer_as_reviewer(
        context.emulator, context.output, approval.approval_id, decision=decision, comment=comment
    )
    context.console.print(f"  answered by {answered.approver} (as SageMaker recorded it)")
    return "registry"


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
    # Answered on the approval page (the first deployment had no approval to give: no endpoint, no Production to
    # compare with); the scenarios (`mlops demo --scenario`) answer in the registry, as SageMaker Studio does.
    result = promote(context, candidate, answer_on="page")
    result["registry"] = registry_table(context)
    if result["status"] != "SUCCEEDED":
        raise DemoStageError(f"the candidate's promotion ended {result['status']}: {result['cause']}")
    return result
