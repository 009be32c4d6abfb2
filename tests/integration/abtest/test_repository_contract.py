"""The repository contract, kept by the in-memory and the DynamoDB implementation alike: the same tests run on
both (``[memory]`` and ``[dynamodb]``), and the same simulated experiment gives the same status on both."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mlops_kit.abtest.dynamodb import DynamoDBRepository
from mlops_kit.abtest.errors import (
    ConcurrentUpdateError,
    ExperimentExistsError,
    ExperimentNotFoundError,
    IllegalTransitionError,
)
from mlops_kit.abtest.models import Exposure, OutcomeEvent, new_experiment
from mlops_kit.abtest.repository import ExperimentRepository, InMemoryRepository
from mlops_kit.abtest.service import ExperimentService
from mlops_kit.abtest.table import query_all
from mlops_local.emulator import Emulator
from tests.integration.abtest.conftest import create_table
from tests.unit.abtest.test_service import NAME, T0, VARIANTS, Clock, lift, make_plan, simulate


@pytest.fixture(params=["memory", "dynamodb"])
def repository(request: pytest.FixtureRequest) -> ExperimentRepository:
    if request.param == "memory":
        return InMemoryRepository()
    emulator: Emulator = request.getfixturevalue("emulator")
    return DynamoDBRepository(emulator.client("dynamodb"), create_table(emulator))


def started(repository: ExperimentRepository, name: str = NAME) -> None:
    service = ExperimentService(repository, clock=lambda: T0)
    service.plan(make_plan(name=name))
    service.start(name, endpoint_name="checkout", variants=VARIANTS, salt="s1")


def exposure(user: str, hours: float, arm: str = "control", experiment: str = NAME) -> Exposure:
    variant = VARIANTS.control if arm == "control" else VARIANTS.treatment
    return Exposure.model_validate(
        {"experiment": experiment, "user_id": user, "arm": arm, "variant": variant, "at": T0 + timedelta(hours=hours)}
    )


def test_a_name_is_planned_once(repository: ExperimentRepository) -> None:
    repository.put_experiment(new_experiment(make_plan(), at=T0))

    with pytest.raises(ExperimentExistsError, match=f"experiment '{NAME}' already exists; choose another name"):
        repository.put_experiment(new_experiment(make_plan(daily_users=7), at=T0))
    assert repository.get_experiment(NAME).plan == make_plan()


def test_each_version_is_written_over_the_one_it_follows(repository: ExperimentRepository) -> None:
    planned = new_experiment(make_plan(), at=T0)
    repository.put_experiment(planned)
    replanned = planned.replan(make_plan(daily_users=300))
    repository.put_experiment(replanned)

    with pytest.raises(ConcurrentUpdateError, match="is at version 2, this update follows version 1"):
        repository.put_experiment(planned.replan(make_plan(daily_users=400)))
    with pytest.raises(ConcurrentUpdateError, match="is at version 2, this update follows version 4"):
        repository.put_experiment(replanned.model_copy(update={"version": 5}))
    with pytest.raises(ConcurrentUpdateError, match="is not stored, so version 2 has nothing to follow"):
        repository.put_experiment(new_experiment(make_plan(name="other"), at=T0).replan(make_plan(name="other")))
    assert repository.get_experiment(NAME) == replanned


def test_concurrent_writers_cannot_both_win(repository: ExperimentRepository) -> None:
    started(repository)
    read_by_a = repository.get_experiment(NAME)
    read_by_b = repository.get_experiment(NAME)

    repository.put_experiment(read_by_a.ramp(at=T0, treatment_bp=6000))

    with pytest.raises(ConcurrentUpdateError, match="is at version 3, this update follows version 2"):
        repository.put_experiment(read_by_b.ramp(at=T0, treatment_bp=7000))
    tampered = repository.get_experiment(NAME).model_copy(update={"plan": make_plan(daily_users=5), "version": 4})
    with pytest.raises(IllegalTransitionError, match="immutable once started"):
        repository.put_experiment(tampered)
    allocation = repository.get_experiment(NAME).allocation
    assert allocation is not None
    assert allocation.treatment_bp == 6000


def test_an_unknown_experiment_is_reported_with_the_known_ones(repository: ExperimentRepository) -> None:
    started(repository, "b-model")
    started(repository, "a-model")

    with pytest.raises(
        ExperimentNotFoundError, match=r"unknown experiment 'nope'; known experiments: a-model, b-model"
    ):
        repository.get_experiment("nope")
    assert [e.name for e in repository.list_experiments()] == ["a-model", "b-model"]


def test_the_earliest_exposure_is_kept(repository: ExperimentRepository) -> None:
    assert repository.record_exposure(exposure("u1", 5)) is True
    assert repository.record_exposure(exposure("u1", 7, arm="treatment")) is False  # later: a no-op
    assert repository.record_exposure(exposure("u1", 5, arm="treatment")) is False  # same instant: a no-op
    assert repository.get_exposure(NAME, "u1") == exposure("u1", 5)

    assert repository.record_exposure(exposure("u1", 2, arm="treatment")) is True  # earlier: replaces
    assert repository.get_exposure(NAME, "u1") == exposure("u1", 2, arm="treatment")
    assert repository.get_exposure(NAME, "stranger") is None
    assert repository.list_exposures(NAME) == [exposure("u1", 2, arm="treatment")]


def test_every_exposed_user_is_listed_once_per_experiment(repository: ExperimentRepository) -> None:
    for i in range(60):  # spread over every shard of the DynamoDB layout
        repository.record_exposure(exposure(f"user-{i}", i % 7, arm="treatment" if i % 3 else "control"))
        repository.record_exposure(exposure(f"user-{i}", 8))
    repository.record_exposure(exposure("user-0", 1, experiment="other"))

    listed = sorted(repository.list_exposures(NAME), key=lambda e: int(e.user_id.split("-")[1]))
    assert listed == [exposure(f"user-{i}", i % 7, arm="treatment" if i % 3 else "control") for i in range(60)]
    assert repository.list_exposures("other") == [exposure("user-0", 1, experiment="other")]


def test_outcomes_are_stored_once_per_event_id_with_exact_values(repository: ExperimentRepository) -> None:
    tokyo = timezone(timedelta(hours=9))
    values = [0.1 + 0.2, 1e-300, -12.5, 1.7976931348623157e308, 0.0]
    outcomes = [
        OutcomeEvent(experiment=NAME, user_id=f"u{i}", metric="revenue", value=v, at=datetime(2025, 3, 4, tzinfo=tokyo))
        for i, v in enumerate(values)
    ]
    for outcome in outcomes:
        assert repository.record_outcome(outcome) is True
    retry = outcomes[0].model_copy(update={"value": 99.0})  # same event id: a retry, whatever it says

    assert repository.record_outcome(retry) is False
    assert repository.record_outcome(outcomes[1]) is False
    stored = sorted(repository.list_outcomes(NAME), key=lambda o: o.user_id)
    assert stored == outcomes
    assert [o.value for o in stored] == values  # bit for bit
    assert stored[0].at.utcoffset() == timedelta(hours=9)
    assert repository.list_outcomes("other") == []


def test_the_same_experiment_has_the_same_status_on_every_repository(repository: ExperimentRepository) -> None:
    # Given the same 300 users with delayed conversions and a lift, run on this repository and in memory,
    reports = []
    for store in (repository, InMemoryRepository()):
        clock = Clock()
        service = ExperimentService(store, clock=clock)
        service.plan(make_plan())
        service.start(NAME, endpoint_name="checkout", variants=VARIANTS, salt="s1")
        simulate(service, clock, users=range(300), start=T0, hours=48, behaviour=lift)
        # When the status is taken,
        reports.append(service.status(NAME, at=T0 + timedelta(days=3)))

    # Then it is the same report, to the last p-value.
    assert reports[0] == reports[1]
    assert reports[0].exposures_control + reports[0].exposures_treatment == 300


def test_table_queries_follow_pagination(emulator: Emulator, table_name: str) -> None:
    repository = DynamoDBRepository(emulator.client("dynamodb"), table_name)
    for i in range(7):
        started(repository, f"model-{i}")

    items = query_all(emulator.client("dynamodb"), table_name, "experiment", Limit=2)

    assert sorted(i["sk"]["S"] for i in items) == [f"model-{i}" for i in range(7)]
