"""The demo stage's decision rule: the fixed-horizon test at the planned sample decides, alone."""

from __future__ import annotations

import pytest

from mlops_kit.abtest.fixed import two_proportion_ztest
from mlops_kit.abtest.report import StatusReport
from mlops_kit.abtest.repository import InMemoryRepository
from mlops_kit.abtest.service import ExperimentService
from mlops_kit.abtest.totals import ArmTotals
from mlops_local.demo.abtest import decide, demo_plan
from tests.unit.abtest.test_service import T0, VARIANTS, Clock


@pytest.fixture
def report() -> StatusReport:
    """The demo plan's status right after its start: no user yet, no fixed-horizon result."""
    service = ExperimentService(InMemoryRepository(), clock=Clock())
    service.plan(demo_plan(), at=T0)
    service.start(demo_plan().name, endpoint_name="checkout", variants=VARIANTS, salt="s1")
    return service.status(demo_plan().name)


def with_fixed_horizon(report: StatusReport, control: int, treatment: int, n: int = 60) -> StatusReport:
    """``report`` as if the planned ``n`` users per arm had converted ``control`` and ``treatment`` times."""
    fixed = two_proportion_ztest(ArmTotals(n, control, control), ArmTotals(n, treatment, treatment))
    return report.model_copy(update={"primary": report.primary.model_copy(update={"fixed_horizon": fixed})})


def test_before_the_planned_sample_there_is_no_decision(report: StatusReport) -> None:
    assert decide(report) == ("inconclusive", "the planned sample's conversion windows had not all closed (0% of the "
                              "plan analysed)")  # fmt: skip


@pytest.mark.parametrize(
    ("control", "treatment", "outcome", "reason"),
    [
        (18, 40, "ship_treatment", "conversion +0.367 with the treatment, p = "),
        (40, 18, "keep_control", "conversion -0.367 with the treatment (worse), p = "),
        (18, 22, "keep_control", "no detectable difference in conversion at the planned sample (+0.067, p = 0.44)"),
    ],
    ids=["better", "worse", "no-difference"],
)
def test_the_fixed_horizon_test_decides(
    report: StatusReport, control: int, treatment: int, outcome: str, reason: str
) -> None:
    decided, why = decide(with_fixed_horizon(report, control, treatment))

    assert decided == outcome
    assert why.startswith(reason)


def test_an_always_valid_p_value_below_alpha_alone_does_not_decide(report: StatusReport) -> None:
    # Significant by the mSPRT but not by the pre-registered test: mixing both rules would inflate alpha.
    sequential_significant = report.model_copy(
        update={"primary": report.primary.model_copy(update={"p_value": 0.001, "difference": 0.3})}
    )

    assert decide(with_fixed_horizon(sequential_significant, 18, 22))[0] == "keep_control"
    assert decide(sequential_significant)[0] == "inconclusive"
