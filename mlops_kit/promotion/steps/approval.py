"""``WaitForHumanApproval``: mark the candidate AwaitingApproval in the registry, store the task token as an
approval request and notify approvers with the evidence and every way to answer; the execution waits until the
approval service resumes it (or the timeout). ``VerifyApproval``: trust the answer only as far as the approval
record backs it (:func:`mlops_kit.promotion.approvals.verify`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from mlops_kit.promotion.approval_page import page_links, publish_with_links
from mlops_kit.promotion.approvals import created_by, verify
from mlops_kit.promotion.context import Promotion

# The console's host per partition (aws-cn and aws-us-gov have their own consoles).
CONSOLE_HOSTS = {
    "aws": "console.aws.amazon.com",
    "aws-cn": "console.amazonaws.cn",
    "aws-us-gov": "console.amazonaws-us-gov.com",
}


def console_links(execution_arn: str, package_arn: str) -> dict[str, str]:
    """Where a reviewer signed in to the AWS console finds the waiting execution (its input holds the evidence)
    and the model version (SageMaker Studio: Models -> Registered models -> the group -> the version).

    AWS documents neither deep link: the execution URL is the form the Step Functions console itself opens (and
    AWS's own solutions build); the SageMaker one is best effort, which is why the notification also says how to
    navigate to the version."""
    partition, region = execution_arn.split(":")[1], execution_arn.split(":")[3]
    host = f"{region}.{CONSOLE_HOSTS.get(partition, CONSOLE_HOSTS['aws'])}"
    group, _, version = package_arn.split(":model-package/", 1)[-1].partition("/")
    return {
        "execution": f"https://{host}/states/home?region={region}"
        + f"#/v2/executions/details/{quote(execution_arn, safe=':')}",
        "model_version": f"https://{host}/sagemaker/home?region={region}"
        f"#/model-registry/{quote(group)}/versions/{quote(version)}",
    }


def request_approval(promotion: Promotion, state: dict[str, Any], task_token: str) -> dict[str, Any]:
    """Returns ``{"approval_id": ...}``; the answer, not this, becomes the state's ``answer``."""
    candidate, production = state["candidate"], state.get("production")
    described = promotion.registry_sagemaker.describe_model_package(ModelPackageName=candidate["arn"])
    context = {
        "endpoint": promotion.endpoint_name,
        "candidate": {"version": candidate["version"], "arn": candidate["arn"], "metrics": candidate["metrics"]},
        "production": {"version": production["version"], "metrics": production["metrics"]} if production else None,
        "shadow": state.get("shadow"),
        # Who may not approve it unless the platform allows self-approval: checked by the approval service.
        "registered_by": created_by(described),
        "requested_by": state.get("requested_by", ""),
        # With environments: whose approvers answer, and in which stage of the registry (None with one account).
        "environment": promotion.environment_name,
    }
    promotion.registry.await_approval(candidate["arn"], note=f"promotion {state['execution']} awaits approval")
    approval_id = promotion.store.put_approval(task_token=task_token, execution_arn=state["execution"], context=context)
    production_text = (
        f"Production: version {production['version']} {production['metrics']}" if production else "Production: none"
    )
    shadow = state.get("shadow") or {}
    hours = promotion.settings.rollout.approval_timeout_seconds / 3600
    links = console_links(state["execution"], candidate["arn"])
    timeout = promotion.settings.rollout.approval_timeout_seconds
    page = page_links(approval_id, now=promotion.clock(), not_after=promotion.clock() + timeout)
    message = "\n".join(
        [
            f"Promotion of model version {candidate['version']} to {promotion.endpoint_name} awaits approval.",
            f"Candidate: version {candidate['version']} {candidate['metrics']}",
            production_text,
            f"Shadow comparison: {shadow.get('pairs', 0)} paired requests, agreement {shadow.get('agreement')}, "
            f"p99 ratio {shadow.get('p99_ratio')}, shadow error rate {shadow.get('shadow_error_rate')}",
            "",
            "Answer signed in as yourself, one of:",
            f"  SageMaker Studio: set version {candidate['version']}'s stage status to Approved or Rejected "
            f"(Models -> Registered models -> {promotion.settings.model_package_group} -> "
            f"version {candidate['version']} -> Update model lifecycle):",
            f"    {links['model_version']}",
            f"  The waiting execution, with its evidence: {links['execution']}",
            f"  CLI: mlops approve {approval_id} --comment '...'  |  mlops reject {approval_id} --reason '...'",
            f"Unanswered, it counts as rejected after {hours:g} h.",
        ]
    )
    subject = f"Approve model version {candidate['version']}? ({approval_id})"
    publish_with_links(promotion.aws.sns, promotion.settings.topic_arn, subject, message, page)
    return {"approval_id": approval_id}


def verify_approval(promotion: Promotion, state: dict[str, Any]) -> dict[str, Any]:
    """Replace the untrusted ``answer`` by the ``approval`` the record backs (a rejection saying why otherwise)."""
    state["approval"] = verify(promotion.store, state)
    state.pop("answer", None)
    return state
