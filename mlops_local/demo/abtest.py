"""Demo stage: an A/B test of the Production model against the version it replaced, on a business metric.

Version 2 became Production on offline metrics (a better AUC than version 1). Whether that shows in the business
is what an A/B test answers: half the users are served by version 1 again (the treatment, in the endpoint's
other slot), half stay on version 2 (the control), for the plan's whole runtime (whole weeks, business cycles).
Users are sticky (the published hash), every request goes through the real endpoint with ``TargetVariant``, and
each user's checkout converts with a fixed simulated probability unless the *model serving them* scores the
transaction as risky (a step-up check the customer abandons), so any difference between the arms comes from the
two models' real answers.
Conversions arrive up to 36 hours later, as EventBridge events; request errors and latencies are the
guardrails. The scheduled status job runs, then, once the plan's minimum runtime has passed (the service refuses a
decision before it), the decision is taken from the statistics and the endpoint returns to Production alone.

The weeks pass on the emulator's virtual clock (``emulator.advance`` to each user's visit): exposures, outcomes and
the decision carry the times they happen at, and the requests are real.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlops_kit.abtest.assignment import Allocation
from mlops_kit.abtest.dynamodb import DynamoDBRepository
from mlops_kit.abtest.endpoint import ExperimentOperations, Serving, Split
from mlops_kit.abtest.events import outcome_entry
from mlops_kit.abtest.models import DecisionOutcome, Experiment, ExperimentPlan
from mlops_kit.abtest.planning import sample_size_proportions
from mlops_kit.abtest.plot import plot_status
from mlops_kit.abtest.report import StatusReport
from mlops_kit.abtest.routing import ExperimentRouter, RouteTable
from mlops_kit.cli.abtest import plan_table, status_tables
from mlops_kit.cli.console import step, table
from mlops_kit.promotion.store import PromotionStore
from mlops_kit.registry import ModelRegistry
from mlops_kit.serving.client import EndpointClient, ModelRequestError
from mlops_local.demo import serving
from mlops_local.demo.context import DemoContext

NAME = "v2-vs-v1-checkout"
SALT = "demo-1"
USERS_PER_DAY = 40
RETURNING = 0.3
CONVERSION = 0.3
DECLINE_SCORE = 0.1
"""Transactions scoring at least this are sent to a step-up check that (in this simulation) every customer abandons."""
MDE = 0.25


def demo_plan() -> ExperimentPlan:
    return ExperimentPlan.model_validate(
        {
            "name": NAME,
            "hypothesis": "version 2's better AUC converts more checkouts than version 1 (fewer good customers "
            "declined); serving version 1 again to half the users measures it on the business metric",
            "primary": {"name": "conversion", "kind": "binary", "baseline": CONVERSION, "mde": MDE, "window": "P2D"},
            "guardrails": [
                {"name": "error_rate", "kind": "binary", "direction": "higher_is_worse", "harm_to_detect": 0.05},
                {
                    "name": "latency_ms",
                    "kind": "continuous",
                    "per_user": "mean",
                    "direction": "higher_is_worse",
                    "harm_to_detect": 100.0,
                    "tolerance": 50.0,
                },
            ],
            "daily_users": USERS_PER_DAY,
            "min_samples": 20,
        }
    )


def decide(report: StatusReport) -> tuple[DecisionOutcome, str]:
    """The decision by the rule fixed before the start: the fixed-horizon test on the planned sample.

    Only one rule decides (see :mod:`mlops_kit.abtest.report`): taking the fixed-horizon test or the always-valid
    p-value, whichever is significant, would not hold alpha. The always-valid p-value is shown, not used.
    """
    fixed = report.primary.fixed_horizon
    if fixed is None:
        return "inconclusive", (
            f"the planned sample's conversion windows had not all closed ({report.progress:.0%} of the plan analysed)"
        )
    if fixed.significant and fixed.difference > 0:
        return "ship_treatment", f"conversion {fixed.difference:+.3f} with the treatment, p = {fixed.p_value:.3g}"
    if fixed.significant:
        return "keep_control", f"conversion {fixed.difference:+.3f} with the treatment (worse), p = {fixed.p_value:.3g}"
    return "keep_control", (
        f"no detectable difference in conversion at the planned sample ({fixed.difference:+.3f}, "
        f"p = {fixed.p_value:.2f}); Production stays"
    )


def _operations(context: DemoContext, clock: Callable[[], dt.datetime]) -> ExperimentOperations:
    aws = context.emulator
    sagemaker, dynamodb = aws.client("sagemaker"), aws.client("dynamodb")
    serving_side = Serving(
        sagemaker=sagemaker,
        autoscaling=aws.client("application-autoscaling"),
        registry=ModelRegistry(sagemaker, context.output("ModelPackageGroupName")),
        locks=PromotionStore(dynamodb, context.output("PromotionTableName")),
        endpoint_name=context.output("EndpointName"),
    )
    repository = DynamoDBRepository(dynamodb, context.output("ExperimentTableName"))
    return ExperimentOperations(repository, serving_side, clock=clock, poll_seconds=0.05)


def _visits(rng: np.random.Generator, start: dt.datetime, days: int) -> list[tuple[dt.datetime, str]]:
    """(time, user) of every request: USERS_PER_DAY new users a day for ``days``, some returning a day later."""
    visits = []
    for user_number in range(days * USERS_PER_DAY):
        first = start + dt.timedelta(days=user_number // USERS_PER_DAY, hours=float(rng.uniform(0, 24)))
        user = f"u{user_number:04d}"
        visits.append((first, user))
        if rng.random() < RETURNING:
            visits.append((first + dt.timedelta(days=1, hours=float(rng.uniform(-3, 3))), user))
    return sorted(visits)


def run(context: DemoContext) -> dict[str, Any]:
    """The A/B stage: plan, start, the plan's weeks of sticky users, the status job, the decision."""
    started = time.monotonic()
    aws = context.emulator
    operations = _operations(context, aws.now)
    registry = operations.serving.registry
    production, previous = registry.production(), registry.rollback_target()
    if production is None or previous is None:
        # The promotion stage did not make the retrained candidate Production (its shadow check or a reviewer
        # refused it), so no second servable version exists: there is nothing to test, and nothing is faked.
        reason = "no Production version replaced by the promotion stage, so no second version to test against it"
        context.console.print(f"[yellow]A/B stage skipped[/]: {reason}")
        serving.registry_table(context)
        return {"experiment": NAME, "skipped": reason}

    experiment, split = _start(context, operations, production.version, previous.version)
    plan, launch, decidable_at = experiment.plan, experiment.launch, experiment.decidable_at
    assert launch is not None  # started: it has a launch and a minimum runtime
    assert decidable_at is not None
    days = 7 * plan.runtime.weeks  # users keep arriving for the whole planned runtime

    week = _simulate_weeks(context, split, days)
    # The decision waits for the minimum runtime and for the last users' conversion windows to close.
    window = plan.primary.window or dt.timedelta(0)
    ends = max(decidable_at, aws.now() + window + dt.timedelta(hours=12))
    with step(f"Waiting to {ends:%Y-%m-%d %H:%M} (emulated): the plan's runtime and the last conversion windows"):
        aws.advance((ends - aws.now()).total_seconds())
    now = aws.now()
    _deliver_conversions(context, week.conversions)

    arms, returning, sticky = _assignment_split(context, operations, split, week)

    with step("Scheduled status job (EventBridge Scheduler -> Lambda): guardrails, metrics, status"):
        record = aws.fire_schedule(context.output("AbTestStatusScheduleName"))
    if record.errored:
        raise RuntimeError(f"the status job failed: {record.result}")
    job = json.loads(record.result)["experiments"].get(NAME, {})
    report = operations.service.status(NAME, at=now)
    for part in status_tables(report, split):
        context.console.print(part)
    plot = _plot(report)
    context.console.print(f"{report.recommendation}: {report.message}\nplot: {plot}")

    stopped, final = _stop(operations, report)
    decision = stopped.decision
    assert decision is not None  # a stopped experiment has its decision
    endpoint = aws.client("sagemaker").describe_endpoint(EndpointName=context.output("EndpointName"))
    variants = {v["VariantName"]: v["CurrentWeight"] for v in endpoint["ProductionVariants"]}
    context.console.print(
        f"[bold]decision[/]: {decision.outcome} by {decision.decided_by}: {decision.reason}\n"
        f"endpoint: {variants}; {final.handover}"
    )
    serving.registry_table(context)
    return {
        "experiment": NAME,
        "days": days,
        "started_at": launch.started_at.isoformat(),
        "decidable_at": decidable_at.isoformat(),
        "plan": {
            "sample_size": plan.sample_size.model_dump(),
            "runtime": plan.runtime.model_dump(),
            "mde": plan.primary.mde,
        },
        "control": split.control.model_dump(),
        "treatment": split.treatment.model_dump(),
        "requests": week.requests,
        "errors": week.errors,
        "exposures": dict(arms),
        "returning_users": len(returning),
        "sticky": sticky,
        "conversions": len(week.conversions),
        "status_job": job,
        "status": {
            "difference": report.primary.difference,
            "p_value": report.primary.p_value,
            "fixed_horizon_p_value": report.primary.fixed_horizon.p_value if report.primary.fixed_horizon else None,
            "recommendation": report.recommendation,
            "guardrails_breached": [g.metric for g in report.guardrails if g.breached],
        },
        "decision": {"outcome": decision.outcome, "reason": decision.reason, "by": decision.decided_by},
        "endpoint_after": variants,
        "handover": final.handover,
        "plot": str(plot),
        "seconds": round(time.monotonic() - started, 1),
    }


def _start(
    context: DemoContext, operations: ExperimentOperations, control: int, treatment: int
) -> tuple[Experiment, Split]:
    """Plan the experiment and start it: Production (control) and the version it replaced (treatment); returns
    the started experiment and the endpoint's split."""
    plan = operations.service.plan(demo_plan())
    context.console.print(plan_table(plan.plan))
    one_point = sample_size_proportions(CONVERSION, 0.01).total
    context.console.print(
        f"[dim]demo scale: a {MDE * 100:.0f}-point MDE needs {plan.plan.sample_size.total} users; one point on a "
        f"{CONVERSION:.0%} rate would need {one_point:,}[/]"
    )
    with step(f"Starting: version {control} (control) and version {treatment} (treatment) side by side"):
        started, split = operations.start(
            NAME, candidate=treatment, allocation=Allocation.from_shares(0.5), salt=SALT, timeout=3600
        )
    context.console.print(
        table(
            f"{split.endpoint_name} during the experiment",
            ["arm", "model", "variant", "weight"],
            [
                [arm, f"version {m.version} ({m.stage})", m.variant, f"{split.weights[m.variant]:.0%}"]
                for arm, m in (("control", split.control), ("treatment", split.treatment))
            ],
        )
    )
    return started, split


@dataclass
class _Week:
    """What the simulated users did."""

    requests: int
    served: dict[str, list[str]]  # user -> the variant of each of their requests
    conversions: list[tuple[str, dt.datetime]]  # (user, when the conversion is reported)
    errors: int
    declined: Counter[str]  # variant -> requests scored at or above DECLINE_SCORE


def _simulate_weeks(context: DemoContext, split: Split, days: int) -> _Week:
    """Sticky users over ``days`` emulated days through the experiment router, the clock advanced to each visit;
    outcomes recorded as they happen."""
    aws = context.emulator
    router = ExperimentRouter(
        RouteTable(aws.client("dynamodb"), context.output("ExperimentTableName")), NAME, clock=aws.now
    )
    client = serving.client(context)
    client_routed = EndpointClient(client.endpoint_name, aws.client("sagemaker-runtime"), router=router)
    for variant in (split.control.variant, split.treatment.variant):  # load each model before users arrive
        client.predict(serving.payloads(context, 1, seed=5)[0], target_variant=variant)

    rng = np.random.default_rng(2024)
    visits = _visits(rng, aws.now(), days)
    payloads = serving.payloads(context, len(visits), seed=23)
    served: dict[str, list[str]] = {}
    conversions: list[tuple[str, dt.datetime]] = []
    errors, declined = 0, Counter[str]()
    with step(f"{len(visits)} requests of {days * USERS_PER_DAY} sticky users over {days} emulated days"):
        for (when, user), payload in zip(visits, payloads, strict=False):
            aws.advance(max(0.0, (when - aws.now()).total_seconds()))
            try:
                prediction = client_routed.predict(payload, user_id=user)
            except ModelRequestError:
                errors += 1
                router.record_outcome(user, metric="error_rate", at=aws.now())
                continue
            # Outcomes are dated when the answer came back: the clock moved on during the request, after the
            # exposure was recorded, and an outcome before its exposure is refused.
            answered = aws.now()
            served.setdefault(user, []).append(prediction.variant)
            router.record_outcome(user, metric="latency_ms", value=round(prediction.latency_ms, 3), at=answered)
            if float(prediction.body.get("score", 0.0)) >= DECLINE_SCORE:
                declined[prediction.variant] += 1
            elif rng.random() < CONVERSION:  # the checkout completes, reported up to 36 hours later
                conversions.append((user, answered + dt.timedelta(hours=float(rng.uniform(0, 36)))))
    return _Week(len(visits), served, conversions, errors, declined)


def _deliver_conversions(context: DemoContext, conversions: list[tuple[str, dt.datetime]]) -> None:
    """The delayed conversions, sent as EventBridge events to the outcome Lambda (10 entries per PutEvents)."""
    aws = context.emulator
    events = aws.client("events")
    with step(f"{len(conversions)} delayed conversions arrive as EventBridge events (outcome Lambda)"):
        entries = [outcome_entry(NAME, user, metric="conversion", at=at) for user, at in conversions]
        for batch in range(0, len(entries), 10):
            events.put_events(Entries=entries[batch : batch + 10])
        aws.settle()


def _assignment_split(
    context: DemoContext, operations: ExperimentOperations, split: Split, week: _Week
) -> tuple[Counter[str], list[list[str]], int]:
    """Print how users were split; return the exposures by arm, the returning users' variants, how many stuck."""
    exposures = operations.repository.list_exposures(NAME)
    arms: Counter[str] = Counter(e.arm for e in exposures)
    returning = [variants for variants in week.served.values() if len(variants) > 1]
    sticky = sum(len(set(v)) == 1 for v in returning)
    context.console.print(
        table(
            "Assignment split (published hash, salt demo-1)",
            ["arm", "variant", "users", "share", "requests", f"scored >= {DECLINE_SCORE} (abandoned)"],
            [
                [
                    arm,
                    model.variant,
                    str(arms[arm]),
                    f"{arms[arm] / max(1, len(exposures)):.1%}",
                    str(sum(v.count(model.variant) for v in week.served.values())),
                    str(week.declined[model.variant]),
                ]
                for arm, model in (("control", split.control), ("treatment", split.treatment))
            ],
        )
    )
    context.console.print(f"returning users served by the same variant every time: {sticky} of {len(returning)}")
    return arms, returning, sticky


def _plot(report: StatusReport) -> Path:
    plot_dir = Path.cwd() / ".mlops"  # git-ignored; the demo's workdir is deleted at the end
    plot_dir.mkdir(exist_ok=True)
    plot = plot_dir / f"abtest-{NAME}.png"
    plot.write_bytes(plot_status(report.primary, title=f"{NAME}: conversion"))
    return plot


def _stop(operations: ExperimentOperations, report: StatusReport) -> tuple[Experiment, Split]:
    """The decision: the status job's guardrail stop, or the analyst's decision from the report. Returns the
    stopped experiment and the endpoint's split after the handover."""
    outcome, reason = decide(report)
    if report.recommendation == "stopped":  # the guardrail stopped it in the status job
        stopped = operations.repository.get_experiment(NAME)
        final = operations.wait_until_finished(NAME, timeout=3600)
    else:
        with step(f"Decision: {outcome} ({reason}); Production alone on the endpoint again"):
            stopped, stopped_split = operations.stop(
                NAME, outcome=outcome, reason=reason, decided_by="demo-analyst@example.com", timeout=3600
            )
        assert stopped_split is not None  # the experiment was started on the endpoint
        final = stopped_split
    return stopped, final
