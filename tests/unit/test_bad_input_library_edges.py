"""Library edges a new user calls directly: each either does what it says or refuses with a clear error."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from mlops_kit.abtest.models import ExperimentPlan
from mlops_kit.abtest.planning import Runtime, SampleSize
from mlops_kit.abtest.service import ExperimentService
from mlops_kit.drift.stats import Thresholds
from mlops_local.emulator import Emulator
from tests.unit.abtest.test_service import NAME, T0, VARIANTS, Clock, InMemoryRepository, make_plan, neutral, simulate

# The service tests' plan (a primary metric and three guardrails), as keyword arguments without a size.
FIELDS: dict[str, Any] = {k: v for k, v in make_plan().model_dump().items() if k not in ("sample_size", "runtime")}


# -- ExperimentPlan -------------------------------------------------------------------------------------------
def test_the_constructor_computes_the_plan_like_model_validate() -> None:
    built = ExperimentPlan(**FIELDS)

    assert built == ExperimentPlan.model_validate(FIELDS)
    assert built.sample_size.control > 0
    assert built.runtime.days > 0


def test_a_plan_stored_with_zero_users_is_computed_when_read() -> None:
    stored = {**ExperimentPlan(**FIELDS).model_dump(mode="json")}
    stored["sample_size"] = {"control": 0, "treatment": 0}
    stored["runtime"] = {"days": 0, "weeks": 0}

    assert ExperimentPlan.model_validate(stored) == ExperimentPlan(**FIELDS)


@pytest.mark.parametrize(
    ("model", "fields", "field"),
    [
        (SampleSize, {"control": 0, "treatment": 10}, "control"),
        (SampleSize, {"control": 10, "treatment": -1}, "treatment"),
        (Runtime, {"days": 0, "weeks": 1}, "days"),
    ],
)
def test_a_size_or_runtime_of_zero_is_refused(model: Any, fields: dict[str, int], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        model(**fields)


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"daily_users": 0}, "daily_users"), ({"alpha": 0.9, "power": 0.5}, "power"), ({"primary": {}}, "primary")],
)
def test_the_constructor_refuses_what_model_validate_refuses(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        ExperimentPlan(**{**FIELDS, **changes})


def test_status_and_stop_work_on_a_plan_built_with_the_constructor() -> None:
    clock = Clock()
    service = ExperimentService(InMemoryRepository(), clock=clock)
    service.plan(ExperimentPlan(**FIELDS))
    clock.now = T0 + timedelta(hours=1)
    service.start(NAME, endpoint_name="checkout", variants=VARIANTS, salt="s1")
    simulate(service, clock, users=range(100), start=clock.now, hours=24, behaviour=neutral)

    report = service.status(NAME, at=T0 + timedelta(days=2))
    stopped = service.stop(NAME, outcome="abandoned", reason="a test", decided_by="lead", at=T0 + timedelta(days=2))

    assert 0.0 < report.progress < 1.0
    assert stopped.decision is not None


# -- Emulator -------------------------------------------------------------------------------------------------
def test_the_emulator_takes_a_str_workdir(tmp_path: Path) -> None:
    emulator = Emulator(workdir=str(tmp_path / "emulator"))

    assert emulator.workdir == tmp_path / "emulator"
    assert emulator.workdir.is_dir()


def test_the_emulator_refuses_a_file_as_workdir(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")

    with pytest.raises(ValueError, match="is a file; pass a directory"):
        Emulator(workdir=tmp_path / "file")


# -- drift Thresholds -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("investigate", "act"), [(0.2, 0.2), (0.25, 0.2)])
def test_drift_thresholds_refuse_an_empty_investigate_band_as_the_config_does(investigate: float, act: float) -> None:
    with pytest.raises(ValueError, match=r"must be below thresholds\.act"):
        Thresholds(investigate=investigate, act=act)
