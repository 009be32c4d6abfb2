"""`mlops abtest plan|start|status|stop|outcome|list`: A/B tests of two model versions on the endpoint.

Every error a person can cause (a rate outside (0, 1), a zero MDE, an unknown experiment, an outcome for a user
the experiment never served, a busy endpoint) is printed as one line naming what to change, without a traceback.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.markup import escape

from mlops_kit.cli.console import console, fail, table
from mlops_kit.cli.platform import Platform

if TYPE_CHECKING:
    from mlops_kit.abtest.endpoint import ExperimentOperations, Split
    from mlops_kit.abtest.models import DecisionOutcome, Experiment, ExperimentPlan
    from mlops_kit.abtest.report import StatusReport

app = typer.Typer(
    help="A/B tests of model versions: plan, start, status, stop, outcomes (sticky assignment, mSPRT, guardrails).",
    no_args_is_help=True,
)
ProjectOption = Annotated[str | None, typer.Option(help="Project name (default: cdk.json's mlops.project_name).")]
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(d|h|m|s)$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def one_line(exc: BaseException) -> str:
    """An error as one line: pydantic's per-field errors joined (``field: problem; ...``), whitespace folded."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{where}: {message}" if where else message)
        return "; ".join(problems)
    return " ".join(str(exc).split())


@contextlib.contextmanager
def clear_errors() -> Iterator[None]:
    """Turn the library's errors into one-line CLI errors (exit code 1)."""
    from mlops_kit.abtest.errors import ExperimentError
    from mlops_kit.promotion.store import PromotionLocked
    from mlops_kit.registry import IllegalTransition, UnknownModelVersion

    try:
        yield
    except (ExperimentError, ValueError, UnknownModelVersion, IllegalTransition, PromotionLocked, TimeoutError) as exc:
        fail(escape(one_line(exc)))


def _identity(platform: Platform) -> str:
    try:
        return str(platform.client("sts").get_caller_identity()["Arn"])
    except Exception:
        return "unknown"


def duration(text: str) -> dt.timedelta:
    """``2d``, ``36h``, ``90m``, ``30s`` or ISO 8601 (``P1D``). Raises ``ValueError`` naming the formats."""
    match = _DURATION.match(text.strip())
    if match:
        return dt.timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    from pydantic import TypeAdapter, ValidationError

    try:
        return TypeAdapter(dt.timedelta).validate_python(text)
    except ValidationError:
        raise ValueError(f"not a duration: {text!r}; use e.g. 2d, 36h, 90m or ISO 8601 (P1D)") from None


def guardrail(spec: str) -> dict[str, str]:
    """``name=error_rate,kind=binary,direction=higher_is_worse,harm_to_detect=0.01`` as a dict (validated later)."""
    fields: dict[str, str] = {}
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"guardrail {spec!r}: expected comma-separated key=value pairs, got {part!r}")
        fields[key.strip()] = value.strip()
    return fields


def _repository(platform: Platform) -> Any:
    from mlops_kit.abtest.dynamodb import DynamoDBRepository

    return DynamoDBRepository(platform.client("dynamodb"), platform.output("ExperimentTableName"))


def _operations(platform: Platform) -> ExperimentOperations:
    from mlops_kit.abtest.endpoint import ExperimentOperations, Serving
    from mlops_kit.promotion.store import PromotionStore
    from mlops_kit.promotion.trigger import start_promotion
    from mlops_kit.registry import ModelRegistry, ModelVersion

    sagemaker = platform.client("sagemaker")
    registry = ModelRegistry(sagemaker, platform.output("ModelPackageGroupName"))

    def starter(version: ModelVersion, mode: str, requested_by: str) -> str:
        current = registry.production()
        arn, _ = start_promotion(
            platform.client("stepfunctions"),
            platform.output("PromotionStateMachineArn"),
            package_arn=version.arn,
            version=version.version,
            mode=mode,
            requested_by=requested_by,
            attempt=current.arn if mode == "rollback" and current else "",
        )
        return arn

    serving = Serving(
        sagemaker=sagemaker,
        autoscaling=platform.client("application-autoscaling"),
        registry=registry,
        locks=PromotionStore(platform.client("dynamodb"), platform.output("PromotionTableName")),
        endpoint_name=platform.output("EndpointName"),
    )
    return ExperimentOperations(_repository(platform), serving, start_promotion=starter)


# -- plan ---------------------------------------------------------------------------------------------------
def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def plan_table(plan: ExperimentPlan) -> Any:
    """The plan as a two-column table: what is tested, on what, and how many users for how long."""
    primary = plan.primary
    mde = f"{primary.mde:+g} ({primary.mde_kind})" + (
        f" = {primary.absolute_mde:+.4g} absolute" if primary.mde_kind == "relative" else ""
    )
    rows = [
        ["hypothesis", plan.hypothesis],
        ["primary metric", f"{primary.name} ({primary.kind}), baseline {primary.baseline:g}, MDE {mde}"],
        ["alpha / power", f"{plan.alpha:g} (two-sided) / {plan.power:g}"],
        [
            "guardrails",
            ", ".join(f"{g.name} ({g.direction}, harm {g.harm_to_detect:g}, tolerance {g.tolerance:g})"
                      for g in plan.guardrails) or "none",
        ],
        ["sample size", f"{plan.sample_size.control:,} control + {plan.sample_size.treatment:,} treatment users "
                        f"= {plan.sample_size.total:,}"],
        ["runtime", f"{_count(plan.runtime.days, 'day')}, {_count(plan.runtime.weeks, 'whole week')} at "
                    f"{plan.daily_users:g} users/day, coverage {plan.coverage:.0%}, treatment share "
                    f"{plan.treatment_share:.0%}"],
    ]  # fmt: skip
    return table(f"Plan {plan.name}", ["", ""], rows)


@app.command("plan")
def plan_command(
    name: Annotated[str, typer.Argument(help="Experiment name (letters, digits, '.', '_', '-').")],
    hypothesis: Annotated[str | None, typer.Option(help="What the treatment should change, and why.")] = None,
    metric: Annotated[str, typer.Option(help="Primary metric name (the business metric decided on).")] = "conversion",
    kind: Annotated[str, typer.Option(help="binary (a rate) or continuous (a mean).")] = "binary",
    baseline: Annotated[float | None, typer.Option(help="Control's rate (binary, in (0, 1)) or mean.")] = None,
    mde: Annotated[float | None, typer.Option(help="Minimum detectable effect (absolute unless --mde-kind).")] = None,
    mde_kind: Annotated[str, typer.Option(help="absolute or relative (a fraction of the baseline).")] = "absolute",
    sd: Annotated[float | None, typer.Option(help="Per-user standard deviation (continuous metrics).")] = None,
    window: Annotated[str | None, typer.Option(help="Outcomes count this long after exposure (e.g. 2d).")] = None,
    alpha: Annotated[float, typer.Option(help="Significance level (two-sided).")] = 0.05,
    power: Annotated[float, typer.Option(help="Power at the MDE.")] = 0.8,
    daily_users: Annotated[float | None, typer.Option(help="Expected new users per day (for the runtime).")] = None,
    coverage: Annotated[float, typer.Option(help="Fraction of users in the experiment.")] = 1.0,
    treatment_share: Annotated[float, typer.Option(help="Fraction of the experiment's users on the candidate.")] = 0.5,
    guardrails: Annotated[
        list[str] | None,
        typer.Option(
            "--guardrail",
            help="name=...,kind=binary|continuous,direction=higher_is_worse|lower_is_worse,harm_to_detect=...[,"
            "tolerance=...][,per_user=sum|mean][,window=P1D]; repeatable.",
        ),
    ] = None,
    guardrail_alpha: Annotated[float, typer.Option(help="Family-wise alpha shared by the guardrails.")] = 0.05,
    min_samples: Annotated[int | None, typer.Option(help="Users per arm before a look counts.")] = None,
    file: Annotated[Path | None, typer.Option(help="The whole plan as JSON (ExperimentPlan fields).")] = None,
    replace: Annotated[bool, typer.Option(help="Replace the plan of an experiment not started yet.")] = False,
    project: ProjectOption = None,
) -> None:
    """Plan an experiment: sample size and runtime from the MDE, alpha and power; stored, immutable once started."""
    from mlops_kit.abtest.models import ExperimentPlan
    from mlops_kit.abtest.service import ExperimentService

    with clear_errors():
        if file is not None:
            if not file.is_file():
                raise ValueError(f"no such file: {file}")
            fields: dict[str, Any] = {**json.loads(file.read_text()), "name": name}
        else:
            primary: dict[str, Any] = {"name": metric, "kind": kind, "baseline": baseline, "mde": mde,
                                       "mde_kind": mde_kind}  # fmt: skip
            if sd is not None:
                primary["sd"] = sd
            if window is not None:
                primary["window"] = duration(window)
            fields = {
                "name": name,
                "hypothesis": hypothesis,
                "primary": primary,
                "guardrails": [guardrail(g) for g in guardrails or []],
                "alpha": alpha,
                "power": power,
                "guardrail_alpha": guardrail_alpha,
                "daily_users": daily_users,
                "coverage": coverage,
                "treatment_share": treatment_share,
            }
            if min_samples is not None:
                fields["min_samples"] = min_samples
            required = {"hypothesis": hypothesis, "baseline": baseline, "mde": mde, "daily-users": daily_users}
            missing = [f"--{option}" for option, given in required.items() if given is None]
            if missing:
                raise ValueError(f"give {', '.join(missing)} (or --file with the whole plan)")
        plan = ExperimentPlan.model_validate(fields)  # validated before any AWS call
        service = ExperimentService(_repository(Platform.connect(project)))
        experiment = service.replan(plan) if replace else service.plan(plan)
    console.print(plan_table(experiment.plan))
    console.print(
        f"planned {name} (version {experiment.version}); start it with `mlops abtest start {name} --candidate N`"
    )


# -- start --------------------------------------------------------------------------------------------------
def _split_table(split: Split) -> Any:
    rows = []
    for arm, model in (("control", split.control), ("treatment", split.treatment)):
        rows.append(
            [arm, f"version {model.version} ({model.stage})", model.variant, f"{split.weights[model.variant]:.0%}"]
        )
    return table(f"{split.endpoint_name}: {split.split_config}", ["arm", "model", "variant", "weight"], rows)


@app.command()
def start(
    name: Annotated[str, typer.Argument(help="A planned experiment.")],
    candidate: Annotated[str, typer.Option(help="The model version (number or ARN) tested against Production.")],
    treatment_share: Annotated[
        float | None, typer.Option(help="Fraction of the experiment's users on the candidate (default: the plan's).")
    ] = None,
    coverage: Annotated[float | None, typer.Option(help="Fraction of all users in it (default: the plan's).")] = None,
    salt: Annotated[str | None, typer.Option(help="Hash salt (default: random, recorded).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the endpoint update.")] = 3600,
    project: ProjectOption = None,
) -> None:
    """Put Production and the candidate side by side on the endpoint and start routing users (sticky by user id)."""
    from mlops_kit.abtest.assignment import Allocation

    platform = Platform.connect(project)
    operations = _operations(platform)
    with clear_errors():
        allocation = None
        if treatment_share is not None or coverage is not None:
            plan = operations.repository.get_experiment(name).plan
            allocation = Allocation.from_shares(
                plan.treatment_share if treatment_share is None else treatment_share,
                plan.coverage if coverage is None else coverage,
            )
        with console.status(f"deploying version {candidate} next to Production and waiting for the endpoint"):
            experiment, split = operations.start(name, candidate=candidate, allocation=allocation, salt=salt,
                                                 timeout=timeout)  # fmt: skip
    console.print(_split_table(split))
    assert experiment.launch is not None  # a started experiment has its launch
    assert experiment.allocation is not None
    console.print(
        f"running: salt {experiment.launch.salt}, treatment {experiment.allocation.treatment_bp / 100:g}% of users, "
        f"coverage {experiment.allocation.coverage_bp / 100:g}%; route with `mlops invoke --user-id ...` or the "
        "Python client's ExperimentRouter"
    )


# -- status -------------------------------------------------------------------------------------------------
def _number(value: float | None, digits: str = ".4g") -> str:
    return "-" if value is None else format(value, digits)


def status_tables(report: StatusReport, split: Split | None) -> list[Any]:
    """The status as tables: arms, the primary metric, guardrails."""
    primary = report.primary
    models = {}
    if split is not None:
        models = {"control": f"v{split.control.version}", "treatment": f"v{split.treatment.version}"}
    arms = table(
        f"{report.experiment}: {report.state.value}, phase {report.phase} since "
        f"{report.phase_started_at:%Y-%m-%d %H:%M}, {report.progress:.0%} of the planned sample",
        ["arm", "model", "variant", "exposures", "analysed", "planned", primary.metric],
        [
            ["control", models.get("control", "-"), report.variants.control, str(report.exposures_control),
             str(primary.n_control), str(report.planned_control), _number(primary.control_mean)],
            ["treatment", models.get("treatment", "-"), report.variants.treatment, str(report.exposures_treatment),
             str(primary.n_treatment), str(report.planned_treatment), _number(primary.treatment_mean)],
        ],
    )  # fmt: skip
    fixed = primary.fixed_horizon
    estimate = table(
        "Primary metric",
        ["difference", f"{1 - primary.alpha:.0%} confidence sequence", "always-valid p", "fixed-horizon p"],
        [
            [
                _number(primary.difference, "+.4g"),
                f"{_number(primary.ci_low, '+.4g')} .. {_number(primary.ci_high, '+.4g')}",
                f"{primary.p_value:.3g}",
                f"{fixed.p_value:.3g}" if fixed else "at the planned sample",
            ]
        ],
    )
    guardrails = table(
        "Guardrails",
        ["metric", "control", "treatment", "harm", "tolerance", "p", "alpha", "state"],
        [
            [g.metric, _number(g.control_mean), _number(g.treatment_mean), _number(g.harm, "+.4g"),
             f"{g.tolerance:g}", f"{g.p_value:.3g}", f"{g.alpha:.3g}",
             "[red]breached[/]" if g.breached else "[green]ok[/]"]
            for g in report.guardrails
        ],
    )  # fmt: skip
    return [arms, estimate, guardrails] if report.guardrails else [arms, estimate]


@app.command()
def status(
    name: Annotated[str, typer.Argument(help="A started experiment.")],
    plot: Annotated[Path | None, typer.Option(help="Where to write the PNG of p-value and effect over time.")] = None,
    look_every: Annotated[str, typer.Option(help="Time between the looks of the sequential path.")] = "1d",
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
    project: ProjectOption = None,
) -> None:
    """Exposures per arm, estimates, the always-valid p-value, guardrails, what to do next, and a plot (PNG)."""
    from mlops_kit.abtest.endpoint import read_split
    from mlops_kit.abtest.plot import plot_status
    from mlops_kit.abtest.service import ExperimentService

    repository = _repository(Platform.connect(project))
    with clear_errors():
        report = ExperimentService(repository).status(name, look_every=duration(look_every))
        split = read_split(repository, name)
    path = plot or Path(f"abtest-{name}.png")
    path.write_bytes(plot_status(report.primary, title=f"{name}: {report.primary.metric}"))
    if as_json:
        print(report.model_dump_json(indent=2))
        return
    for part in status_tables(report, split):
        console.print(part)
    colour = {"stop_guardrail": "red", "decide": "green", "stopped": "bold"}.get(report.recommendation, "yellow")
    console.print(f"[{colour}]{report.recommendation}[/]: {escape(report.message)}")
    if split is not None and split.phase not in ("running",):
        console.print(f"endpoint split: {split.phase}" + (f"; {escape(split.handover)}" if split.handover else ""))
    console.print(f"plot: {path}")


# -- stop ---------------------------------------------------------------------------------------------------
@app.command()
def stop(
    name: Annotated[str, typer.Argument(help="A running experiment.")],
    reason: Annotated[str, typer.Option(help="Why (recorded with the evidence).")],
    decision: Annotated[
        str | None,
        typer.Option(
            help="ship_treatment, keep_control or inconclusive; only once the plan's minimum runtime has passed "
            "(keep_control earlier only on a breached guardrail)."
        ),
    ] = None,
    abandon: Annotated[
        bool, typer.Option("--abandon", help="Call the test off without a decision (at any time; recorded).")
    ] = False,
    wait: Annotated[
        bool, typer.Option(help="Wait until Production serves alone again and the handover is done.")
    ] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the endpoint.")] = 3600,
    project: ProjectOption = None,
) -> None:
    """Stop with a recorded decision (or --abandon, none): Production alone again, then ship (promotion workflow),
    keep or nothing."""
    from mlops_kit.abtest.models import ABANDONED, DECISIONS

    platform = Platform.connect(project)
    operations = _operations(platform)
    with clear_errors():
        if (decision is None) == (not abandon):
            raise ValueError(
                "give either --decision (ship_treatment, keep_control or inconclusive) or --abandon (no decision)"
            )
        if decision is not None and decision not in DECISIONS:
            raise ValueError(f"decision must be ship_treatment, keep_control or inconclusive, got {decision!r}")
        outcome = decision or ABANDONED
        with console.status(f"stopping {name} ({outcome}) and restoring the single Production variant"):
            stopped, split = operations.stop(
                name,
                outcome=cast("DecisionOutcome", outcome),
                reason=reason,
                decided_by=_identity(platform),
                wait=wait,
                timeout=timeout,
            )
    evidence = stopped.decision.evidence if stopped.decision else None
    if evidence is not None:
        console.print(
            f"evidence: {evidence.exposures_control} control / {evidence.exposures_treatment} treatment users, "
            f"difference {_number(evidence.difference, '+.4g')}, always-valid p {evidence.sequential_p_value:.3g}"
        )
    if split is not None:
        console.print(f"endpoint: {split.phase}" + (f"; {escape(split.handover)}" if split.handover else ""))


# -- outcomes -----------------------------------------------------------------------------------------------
@app.command()
def outcome(
    name: Annotated[str, typer.Argument(help="A started experiment.")],
    user_id: Annotated[str | None, typer.Option(help="The user the outcome belongs to.")] = None,
    metric: Annotated[str | None, typer.Option(help="One of the plan's metrics.")] = None,
    value: Annotated[float, typer.Option(help="The value (1 for a conversion).")] = 1.0,
    at: Annotated[str | None, typer.Option(help="When it happened, ISO-8601 with offset (default: now).")] = None,
    event_id: Annotated[str | None, typer.Option(help="Idempotency key (default: a hash of the fields).")] = None,
    file: Annotated[
        Path | None, typer.Option(help="JSON lines of {user_id, metric, value?, at?, event_id?} instead.")
    ] = None,
    project: ProjectOption = None,
) -> None:
    """Record outcomes (the business metric, often days after the exposure) for exposed users."""
    from mlops_kit.abtest.service import ExperimentService

    with clear_errors():
        if file is not None:
            if not file.is_file():
                raise ValueError(f"no such file: {file}")
            rows = [json.loads(line) for line in file.read_text().splitlines() if line.strip()]
        elif user_id is None or metric is None:
            raise ValueError("give --user-id and --metric (or --file with JSON lines)")
        else:
            rows = [{"user_id": user_id, "metric": metric, "value": value, "at": at, "event_id": event_id}]
        service = ExperimentService(_repository(Platform.connect(project)))
        recorded = []
        for number, row in enumerate(rows, start=1):
            when = dt.datetime.fromisoformat(row["at"]) if row.get("at") else None
            try:
                recorded.append(
                    service.record_outcome(
                        name,
                        row["user_id"],
                        metric=row["metric"],
                        value=float(row.get("value", 1.0)),
                        at=when,
                        event_id=row.get("event_id"),
                    )
                )
            except KeyError as exc:
                raise ValueError(f"line {number}: missing field {exc}") from None
            except Exception as exc:
                if file is None:
                    raise
                raise ValueError(f"line {number}: {one_line(exc)}") from None
    for event in recorded[:20]:
        console.print(f"recorded {event.metric}={event.value:g} for {event.user_id} at {event.at.isoformat()}")
    if len(recorded) > 20:
        console.print(f"... {len(recorded)} outcomes recorded")


@app.command("list")
def list_experiments(project: ProjectOption = None) -> None:
    """Every experiment with its state, endpoint, allocation and decision."""
    experiments: list[Experiment] = _repository(Platform.connect(project)).list_experiments()
    rows = []
    for e in experiments:
        allocation = e.allocation
        rows.append(
            [
                e.name,
                e.state.value,
                e.launch.endpoint_name if e.launch else "-",
                f"{allocation.treatment_bp / 100:g}% / {allocation.coverage_bp / 100:g}%" if allocation else "-",
                f"{e.plan.sample_size.total:,} users, {e.plan.runtime.weeks} wk",
                f"{e.decision.outcome} by {e.decision.decided_by}" if e.decision else "-",
            ]
        )
    console.print(table("Experiments", ["name", "state", "endpoint", "treatment / coverage", "plan", "decision"], rows))
