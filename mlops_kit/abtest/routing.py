"""The request path of an experiment: which production variant serves a user, and the exposure it records.

This module imports only :mod:`.assignment` (pydantic) and the standard library, so the HTTP router Lambda and
every application embedding :class:`ExperimentRouter` start without numpy or scipy. It reads the experiment's
*route*, a projection the repository stores with every version of a started experiment (:meth:`Route.of`),
instead of the whole :class:`~.models.Experiment`.

    router = ExperimentRouter(RouteTable(dynamodb, table_name), "checkout-model")
    client = EndpointClient("mlops-kit-endpoint", runtime, router=router)
    client.predict(payload, user_id="u-17")      # TargetVariant = u-17's arm; the exposure is recorded
    router.record_outcome("u-17", metric="conversion")

An application that should follow whichever experiment runs on its endpoint (and none) uses
``EndpointRouter(RouteTable(...), "mlops-kit-endpoint")`` as the client's router instead.

Routing rules: while the experiment runs, a user in it goes to their arm's variant (the published hash of
:mod:`.assignment`) and their first request is recorded as the exposure; a user outside the coverage goes to
the control variant and is not recorded. A planned experiment does not route yet (``IllegalTransitionError``);
a stopped one no longer routes (the router returns ``None``, so the endpoint's own weights decide: after the
stop the split is removed and Production serves alone, the winner reaching everyone through the promotion
workflow).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlops_kit.abtest.assignment import (
    NAME_PATTERN,
    SALT_PATTERN,
    VARIANT_PATTERN,
    Allocation,
    Arm,
    Assignment,
    Variants,
    assign,
    bucket_of,
)
from mlops_kit.abtest.errors import ExperimentError, ExperimentNotFoundError, IllegalTransitionError
from mlops_kit.abtest.table import EXPERIMENT_PK, experiment_key, experiment_names, put_exposure, query_all

if TYPE_CHECKING:
    from mlops_kit.abtest.models import Experiment, OutcomeEvent


def utc_now() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(UTC)


class NoRunningExperimentError(ExperimentError, LookupError):
    """No experiment is running on the endpoint (routing by user id needs one)."""


class Route(BaseModel):
    """What routing a started experiment needs: its state, endpoint, variants, salt and current allocation.

    ``winner`` is the arm a stopped experiment decided for (``None`` while running).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    experiment: str = Field(pattern=NAME_PATTERN)
    state: Literal["running", "stopped"]
    endpoint_name: str = Field(pattern=VARIANT_PATTERN)
    variants: Variants
    salt: str = Field(pattern=SALT_PATTERN)
    allocation: Allocation
    winner: Arm | None = None

    @classmethod
    def of(cls, experiment: Experiment) -> Route | None:
        """The route of a started experiment; ``None`` for a planned one."""
        if experiment.launch is None or experiment.allocation is None:
            return None
        decision = experiment.decision
        winner: Arm | None = None
        if decision is not None:
            winner = "treatment" if decision.outcome == "ship_treatment" else "control"
        return cls(
            experiment=experiment.name,
            state="stopped" if decision is not None else "running",
            endpoint_name=experiment.launch.endpoint_name,
            variants=experiment.launch.variants,
            salt=experiment.launch.salt,
            allocation=experiment.allocation,
            winner=winner,
        )

    @property
    def running(self) -> bool:
        return self.state == "running"

    def assign(self, user_id: str) -> Assignment:
        """The user's assignment, exactly as :meth:`.Experiment.assign` gives it (tested for parity).

        Raises ``ValueError`` for an empty user id.
        """
        if self.running:
            return assign(self.experiment, self.salt, user_id, self.allocation, self.variants)
        return Assignment(
            experiment=self.experiment,
            user_id=user_id,
            bucket=bucket_of(self.experiment, self.salt, user_id),
            arm=None,
            target_variant=self.variants.of(self.winner or "control"),
        )


class RouteTable:
    """The experiments table as the request path uses it: read routes, record exposures (see :mod:`.table`)."""

    def __init__(self, dynamodb: Any, table_name: str) -> None:
        self.dynamodb = dynamodb
        self.table_name = table_name

    def route(self, experiment: str) -> Route:
        """The experiment's route.

        Raises ``ExperimentNotFoundError`` (naming the known experiments) and ``IllegalTransitionError`` for a
        planned experiment, which has no variants yet.
        """
        item = self.dynamodb.get_item(
            TableName=self.table_name,
            Key=experiment_key(experiment),
            ProjectionExpression="#route, #state",
            ExpressionAttributeNames={"#route": "route", "#state": "state"},
        ).get("Item")
        if item is None:
            raise ExperimentNotFoundError(experiment, experiment_names(self.dynamodb, self.table_name))
        if "route" not in item:
            raise IllegalTransitionError(f"experiment {experiment!r} is planned, not started: it has no variants yet")
        return Route.model_validate_json(item["route"]["S"])

    def routes(self) -> list[Route]:
        """The routes of every started experiment, by name."""
        items = query_all(
            self.dynamodb,
            self.table_name,
            EXPERIMENT_PK,
            ProjectionExpression="#route",
            ExpressionAttributeNames={"#route": "route"},
        )
        return [Route.model_validate_json(item["route"]["S"]) for item in items if "route" in item]

    def running_on(self, endpoint_name: str) -> Route:
        """The experiment running on ``endpoint_name``. Raises ``NoRunningExperimentError`` when there is none."""
        running = [r for r in self.routes() if r.running and r.endpoint_name == endpoint_name]
        if not running:
            raise NoRunningExperimentError(
                f"no A/B experiment is running on endpoint {endpoint_name!r}; start one with `mlops abtest start`"
            )
        return running[0]  # the endpoint's promotion lock lets only one experiment run on it at a time

    def record_exposure(self, assignment: Assignment, *, at: datetime) -> bool:
        """Record an in-experiment assignment as an exposure (earliest wins); ``True`` when stored."""
        if assignment.arm is None:
            raise ValueError(f"user {assignment.user_id!r} is outside experiment {assignment.experiment!r}")
        return put_exposure(
            self.dynamodb,
            self.table_name,
            experiment=assignment.experiment,
            user_id=assignment.user_id,
            arm=assignment.arm,
            variant=assignment.target_variant,
            at=at,
        )


class ExperimentRouter:
    """``router(user_id) -> variant | None``: the ``router`` of :class:`~mlops_kit.serving.client.EndpointClient`.

    Routes users of ``experiment`` and records each user's first exposure. The route is re-read every
    ``refresh_seconds`` (a start, ramp or stop reaches a long-lived process within that time). Users already
    recorded by this process (up to ``remember_users``, least recently seen forgotten first) are not written
    again: a later exposure never replaces an earlier one, even after a ramp (a returning user belongs to the
    phase of their first exposure). Thread-safe.
    """

    def __init__(
        self,
        table: RouteTable,
        experiment: str,
        *,
        clock: Callable[[], datetime] = utc_now,
        refresh_seconds: float = 30.0,
        remember_users: int = 100_000,
    ) -> None:
        self.table = table
        self.experiment = experiment
        self._clock = clock
        self._refresh_seconds = refresh_seconds
        self._remember = remember_users
        self._route: Route | None = None
        self._read_at = 0.0
        self._recorded: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def for_endpoint(cls, table: RouteTable, endpoint_name: str, **kwargs: Any) -> ExperimentRouter:
        """The router of the experiment running on ``endpoint_name``. Raises ``NoRunningExperimentError``."""
        return cls(table, table.running_on(endpoint_name).experiment, **kwargs)

    def route(self) -> Route:
        """The experiment's route, re-read when older than ``refresh_seconds``. Raises as :meth:`RouteTable.route`."""
        with self._lock:
            # The router's clock, not a monotonic one: routes age on the same clock as everything it records.
            now = self._clock().timestamp()
            if self._route is None or now - self._read_at >= self._refresh_seconds:
                self._route = self.table.route(self.experiment)
                self._read_at = now
            return self._route

    def assign(self, user_id: str) -> Assignment | None:
        """Route ``user_id`` and record the exposure; ``None`` once the experiment has stopped.

        Raises ``ExperimentNotFoundError``, ``IllegalTransitionError`` (planned) and ``ValueError`` (empty id).
        """
        route = self.route()
        if not route.running:
            return None
        assignment = route.assign(user_id)
        if assignment.arm is not None:
            with self._lock:
                known = user_id in self._recorded
                if known:
                    self._recorded.move_to_end(user_id)
            if not known:
                self.table.record_exposure(assignment, at=self._clock())
                with self._lock:
                    self._recorded[user_id] = None
                    while len(self._recorded) > self._remember:
                        self._recorded.popitem(last=False)
        return assignment

    def __call__(self, user_id: str) -> str | None:
        """The ``TargetVariant`` for ``user_id`` (``None``: let the endpoint's weights decide)."""
        assignment = self.assign(user_id)
        return assignment.target_variant if assignment is not None else None

    def record_outcome(
        self,
        user_id: str,
        *,
        metric: str,
        value: float = 1.0,
        at: datetime | None = None,
        event_id: str | None = None,
    ) -> OutcomeEvent:
        """Record a user's outcome (a conversion, revenue...); raises as :meth:`.ExperimentService.record_outcome`.

        Loads the statistics library on first use (the routing path never does).
        """
        from mlops_kit.abtest.dynamodb import DynamoDBRepository
        from mlops_kit.abtest.service import ExperimentService

        service = ExperimentService(DynamoDBRepository(self.table.dynamodb, self.table.table_name), clock=self._clock)
        return service.record_outcome(self.experiment, user_id, metric=metric, value=value, at=at, event_id=event_id)


class EndpointRouter:
    """``router(user_id) -> variant | None`` for an application that always routes through its endpoint: whichever
    experiment runs on ``endpoint_name`` routes the user (and records the exposure); with none running it returns
    ``None``, so the endpoint's weights decide. Experiments are looked up again every ``refresh_seconds``, so a
    long-lived client picks up a start or a stop without a restart. Thread-safe.
    """

    def __init__(
        self,
        table: RouteTable,
        endpoint_name: str,
        *,
        clock: Callable[[], datetime] = utc_now,
        refresh_seconds: float = 30.0,
    ) -> None:
        self.table = table
        self.endpoint_name = endpoint_name
        self._clock = clock
        self._refresh_seconds = refresh_seconds
        self._router: ExperimentRouter | None = None
        self._looked_at = -float("inf")
        self._lock = threading.Lock()

    def current(self) -> ExperimentRouter | None:
        """The router of the experiment running on the endpoint, or ``None``."""
        with self._lock:
            now = self._clock().timestamp()
            if now - self._looked_at >= self._refresh_seconds:
                try:
                    experiment = self.table.running_on(self.endpoint_name).experiment
                except NoRunningExperimentError:
                    self._router = None
                else:
                    if self._router is None or self._router.experiment != experiment:
                        self._router = ExperimentRouter(
                            self.table, experiment, clock=self._clock, refresh_seconds=self._refresh_seconds
                        )
                self._looked_at = now
            return self._router

    def __call__(self, user_id: str) -> str | None:
        """The ``TargetVariant`` for ``user_id``, or ``None`` when no experiment runs on the endpoint."""
        router = self.current()
        return router(user_id) if router is not None else None


def route_json(experiment: Experiment) -> str | None:
    """The stored form of :meth:`Route.of` (``None`` for a planned experiment)."""
    route = Route.of(experiment)
    return None if route is None else json.dumps(route.model_dump(mode="json"), sort_keys=True)
