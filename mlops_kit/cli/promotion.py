"""`mlops promote|approve|reject|rollback` and `mlops promotions ...`: drive the promotion workflow."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from mlops_kit.cli.console import console, fail, table
from mlops_kit.cli.platform import Platform

promotions = typer.Typer(help="Promotion executions and pending approvals.", no_args_is_help=True)
ProjectOption = Annotated[str | None, typer.Option(help="Project name (default: cdk.json's mlops.project_name).")]


def _identity(platform: Platform) -> str:
    try:
        return str(platform.client("sts").get_caller_identity()["Arn"])
    except Exception:
        return "unknown"


def _store(platform: Platform) -> Any:
    from mlops_kit.promotion.store import PromotionStore

    return PromotionStore(platform.client("dynamodb"), platform.output("PromotionTableName"))


FOLLOW_HOURS = 6


def _follow(platform: Platform, execution_arn: str, *, until_waiting: bool = True) -> None:
    """Print the states an execution passes until it ends, or (``until_waiting``) until it waits for approval."""
    from mlops_kit.promotion.approvals import follow

    with console.status("promotion running") as status:

        def entered(name: str) -> None:
            console.print(f"  → {name}")
            status.update(name)

        try:
            # Shadow baking alone takes rollout.shadow_bake_minutes (30 by default): follow for hours, not minutes.
            described = follow(
                platform.client("stepfunctions"),
                execution_arn,
                on_state=entered,
                until_waiting=until_waiting,
                poll_seconds=5,
                timeout_seconds=FOLLOW_HOURS * 3600,
            )
        except TimeoutError:
            console.print(
                f"still running after {FOLLOW_HOURS} h (it goes on without this command): "
                "`mlops promotions pending` lists its approval once it waits for one"
            )
            return
    if described["status"] == "RUNNING":
        from mlops_kit.promotion.approvals import pending_approval

        try:  # stored by a Lambda just after the waiting state is entered
            approval_id = pending_approval(_store(platform), execution_arn, timeout_seconds=30).approval_id
        except TimeoutError:
            console.print("waiting for approval: `mlops promotions pending` lists it, with the approve/reject commands")
            return
        console.print(
            f"waiting for approval {approval_id}: `mlops approve {approval_id}` or "
            f"`mlops reject {approval_id} --reason ...` (`mlops promotions pending` shows the evidence)"
        )
    elif described["status"] == "SUCCEEDED":
        console.print("[green]promoted[/]")
    else:
        console.print(f"[red]{described['status']}[/]: {described.get('error', '')}: {described.get('cause', '')}")


# `mlops promote` exit codes other than 0 (started) and 1 (an error): nothing was started, and why.
EXIT_ALREADY_IN_PRODUCTION = 3
EXIT_ALREADY_RUNNING = 4
EXIT_ALREADY_ENDED = 5


def promotion_start(outputs: dict[str, str]) -> tuple[str, str | None]:
    """Where ``mlops promote`` starts a promotion, as the registry trigger does: the output naming the state machine,
    and the environment it promotes to. With environments (the serving stack's ``PromotionEnvironments`` output, in
    promotion order) the first environment's machine; without, the platform's (environment None).

    Raises ValueError when the outputs name environments without the first one's state machine (stacks of
    different deployments).
    """
    environments = [name for name in outputs.get("PromotionEnvironments", "").split(",") if name]
    if not environments:
        return "PromotionStateMachineArn", None
    first = environments[0]
    key = f"Promotion{first.capitalize()}StateMachineArn"
    if key not in outputs:
        raise ValueError(
            f"the serving stack promotes through environments {', '.join(environments)} but has no output {key}; "
            "deploy the serving stack again (`cdk deploy`), or approve the version in the registry, which starts it"
        )
    return key, first


def promote(
    version: Annotated[str, typer.Argument(help="Model version number (or model package ARN) to promote.")],
    comment: Annotated[str, typer.Option(help="Why this version (recorded with the approval).")] = "",
    follow: Annotated[bool, typer.Option(help="Print the workflow's progress until it waits or ends.")] = True,
    project: ProjectOption = None,
) -> None:
    """Approve a Staging version in the registry and start its promotion (shadow, approval, canary); with
    environments configured, its promotion to the first environment, as the registry approval does.

    Exit codes: 0 the promotion started (by this command, or by the registry trigger on the approval it just
    gave); 3 the version is already in Production; 4 a promotion of it is already running (its ARN is printed);
    5 an earlier promotion of it already ended; 1 any error. Nothing is started in cases 3 to 5.
    """
    from mlops_kit.promotion.trigger import start_promotion
    from mlops_kit.registry import IllegalTransition, ModelRegistry, Stage, StageStatus, UnknownModelVersion

    platform = Platform.connect(project)
    try:
        machine, environment = promotion_start(platform.outputs)
    except ValueError as exc:
        fail(str(exc))
    to = f" to {environment}" if environment else ""
    registry = ModelRegistry(platform.client("sagemaker"), platform.output("ModelPackageGroupName"))
    approved_now = False
    try:
        candidate = registry.get(version)
        if candidate.stage == Stage.PRODUCTION:
            console.print(f"version {candidate.version} is already in Production: nothing started")
            raise typer.Exit(EXIT_ALREADY_IN_PRODUCTION)
        if candidate.stage_status == StageStatus.PENDING_APPROVAL:
            candidate = registry.approve(candidate.arn, approver=_identity(platform), comment=comment)
            approved_now = True
    except (UnknownModelVersion, IllegalTransition) as exc:
        fail(str(exc))
    sfn = platform.client("stepfunctions")
    arn, started = start_promotion(
        sfn,
        platform.output(machine),
        package_arn=candidate.arn,
        version=candidate.version,
        requested_by=_identity(platform),
    )
    if started:
        console.print(f"started the promotion of version {candidate.version}{to}: {arn}")
    else:
        status = sfn.describe_execution(executionArn=arn)["status"]
        if status == "RUNNING" and approved_now:
            # The registry's approval event reached the promotion trigger first: this command's approval started it.
            console.print(f"started the promotion of version {candidate.version}{to} (by the registry trigger): {arn}")
        elif status == "RUNNING":
            console.print(
                f"a promotion of version {candidate.version}{to} is already running: {arn}; nothing started "
                "(`mlops promotions pending` shows it once it waits for approval)"
            )
            raise typer.Exit(EXIT_ALREADY_RUNNING)
        else:
            console.print(
                f"the promotion of version {candidate.version}{to} already ended {status}: {arn}; nothing started "
                "(`mlops promotions history` shows its outcome; register a new version to try again)"
            )
            raise typer.Exit(EXIT_ALREADY_ENDED)
    if follow:
        _follow(platform, arn)


def _answer(approval_id: str, decision: str, comment: str, project: str | None) -> None:
    """Answer through the registry as the caller's own AWS identity, which SageMaker records and the approval
    service verifies; print who AWS says answered, or why the answer was refused."""
    from mlops_kit.promotion.approvals import ApprovalExpired, ApprovalRefused, answer
    from mlops_kit.promotion.store import ApprovalNotFound
    from mlops_kit.registry import IllegalTransition, ModelRegistry

    platform = Platform.connect(project)
    registry = ModelRegistry(platform.client("sagemaker"), platform.output("ModelPackageGroupName"))
    console.print(f"answering as {_identity(platform)}")
    try:
        approval = answer(_store(platform), registry, approval_id, decision=decision, comment=comment)
    except (ApprovalNotFound, ApprovalExpired, ApprovalRefused, IllegalTransition, TimeoutError) as exc:
        fail(str(exc))
    candidate = approval.context.get("candidate", {})
    console.print(
        f"{decision}d version {candidate.get('version')} as {approval.approver}; execution {approval.execution_arn}"
    )
    # Answered: the execution asks for no other approval, so follow it to its end. (Until it waits would stop at
    # once, on the waiting state it has not yet left when send_task_success returns.)
    _follow(platform, approval.execution_arn, until_waiting=False)


def approve(
    approval_id: Annotated[
        str, typer.Argument(help="The approval id from the notification or `mlops promotions pending`.")
    ],
    comment: Annotated[str, typer.Option(help="Recorded with your identity in the deployment record.")] = "",
    project: ProjectOption = None,
) -> None:
    """Approve a pending promotion: the staged rollout starts."""
    _answer(approval_id, "approve", comment, project)


def reject(
    approval_id: Annotated[
        str, typer.Argument(help="The approval id from the notification or `mlops promotions pending`.")
    ],
    reason: Annotated[str, typer.Option(help="Why (recorded; the candidate is marked rejected with it).")],
    project: ProjectOption = None,
) -> None:
    """Reject a pending promotion: the previous model keeps all traffic."""
    _answer(approval_id, "reject", reason, project)


def rollback(
    follow: Annotated[bool, typer.Option(help="Print the workflow's progress until it ends.")] = True,
    project: ProjectOption = None,
    environment: Annotated[
        str | None, typer.Option(help="roll back this environment only (environments.<name>); unset: the platform's")
    ] = None,
) -> None:
    """Restore the most recently archived Production version (of one environment, with ``--environment``),
    through the promotion workflow."""
    from mlops_kit.promotion.trigger import start_promotion
    from mlops_kit.registry import Environment, ModelRegistry

    platform = Platform.connect(project)
    registry = ModelRegistry(
        platform.client("sagemaker"),
        platform.output("ModelPackageGroupName"),
        environment=Environment(environment) if environment else None,
    )
    target = registry.rollback_target()
    if target is None:
        fail(f"there is no archived Production version{f' in {environment}' if environment else ''} to roll back to")
    current = registry.production()
    machine = f"Promotion{environment.capitalize()}StateMachineArn" if environment else "PromotionStateMachineArn"
    arn, started = start_promotion(
        platform.client("stepfunctions"),
        platform.output(machine),
        package_arn=target.arn,
        version=target.version,
        mode="rollback",
        requested_by=_identity(platform),
        attempt=current.arn if current else "",
    )
    console.print(f"rolling back to version {target.version}: {'started' if started else 'already running'} {arn}")
    if follow:
        _follow(platform, arn)


@promotions.command("pending")
def pending(project: ProjectOption = None) -> None:
    """Promotions waiting for a human decision, with their context and the commands to answer."""
    platform = Platform.connect(project)
    rows = []
    for approval in _store(platform).pending_approvals():
        candidate, production = approval.context.get("candidate", {}), approval.context.get("production") or {}
        shadow = approval.context.get("shadow") or {}
        rows.append(
            [
                approval.approval_id,
                str(candidate.get("version")),
                json.dumps(candidate.get("metrics")),
                json.dumps(production.get("metrics")) if production else "-",
                f"agreement {shadow.get('agreement')}, p99 x{shadow.get('p99_ratio')}",
                f"mlops approve {approval.approval_id} | mlops reject {approval.approval_id} --reason ...",
            ]
        )
    console.print(table("Pending approvals", ["id", "version", "candidate", "production", "shadow", "answer"], rows))


@promotions.command("list")
def list_executions(project: ProjectOption = None, limit: int = 10) -> None:
    """Recent promotion executions and their status."""
    platform = Platform.connect(project)
    executions = platform.client("stepfunctions").list_executions(
        stateMachineArn=platform.output("PromotionStateMachineArn"), maxResults=limit
    )["executions"]
    console.print(
        table(
            "Promotions",
            ["name", "status", "started", "stopped"],
            [[e["name"], e["status"], str(e["startDate"])[:19], str(e.get("stopDate", ""))[:19]] for e in executions],
        )
    )


@promotions.command("history")
def history(
    project: ProjectOption = None,
    limit: int = 10,
    environment: Annotated[
        str | None, typer.Option(help="an environment's promotions (environments.<name>); unset: the platform's")
    ] = None,
) -> None:
    """Deployment records: who, when, the path taken, the outcome, and the instance-hours it used with their
    estimated cost (priced from ``cost.instance_prices`` in cdk.json)."""
    platform = Platform.connect(project)
    endpoint = platform.output("EndpointName")
    if environment is not None:
        endpoint = f"{endpoint}-{environment}"  # cdk.config.PlatformConfig.environment_endpoint_name
    records = _store(platform).deployments(endpoint, limit=limit)
    console.print(
        table(
            f"Deployments in {environment} ({endpoint})" if environment else "Deployments",
            ["finished", "version", "outcome", "approver", "instance-hours", "cost", "path"],
            [
                [
                    str(r.get("finished_at", ""))[:19],
                    str((r.get("candidate") or {}).get("version")),
                    str(r.get("outcome")),
                    str(r.get("approver") or "-"),
                    *cost_columns(r.get("cost")),
                    " → ".join(r.get("path", []))[:80],
                ]
                for r in records
            ],
        )
    )


def cost_columns(cost: dict[str, Any] | None) -> tuple[str, str]:
    """``(instance-hours, cost)`` cells of a deployment record: total hours with the shadow's and the candidate's
    share, and the estimate, or ``unpriced`` when cdk.json has no price for the instance type (older records: -); a
    serverless endpoint's: ``serverless`` and its provisioned GB-hours, or ``unmetered`` when on demand."""
    if not cost:
        return "-", "-"
    if cost.get("serving") == "serverless":  # no instances; only provisioned concurrency is counted
        gb_hours = cost.get("provisioned_gb_hours")
        return "serverless", "unmetered" if gb_hours is None else f"provisioned {gb_hours:.2f} GB-h, unpriced"
    hours = cost.get("instance_hours") or {}
    shares = f"shadow {hours.get('shadow', 0):.2f}, candidate {hours.get('candidate', 0):.2f}"
    used = f"{hours.get('total', 0):.2f} ({shares})"
    estimate = cost.get("estimate")
    return used, f"{estimate:.2f}" if estimate is not None else f"unpriced ({cost.get('instance_type')})"
