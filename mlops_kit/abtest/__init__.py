"""A/B testing of model versions: sticky assignment, power analysis, fixed-horizon and sequential (mSPRT)
statistics, guardrails and the experiment lifecycle. Pure numpy/scipy/pydantic; no AWS imports.

Modules, in the order a test uses them:

* :mod:`.planning`: sample size per arm and runtime in whole weeks.
* :mod:`.assignment`: the published hash that maps a user to an arm and a SageMaker ``TargetVariant``.
* :mod:`.metrics`, :mod:`.models`: metric definitions, the plan, the lifecycle (plan/start/ramp/stop).
* :mod:`.fixed`, :mod:`.sequential`, :mod:`.guardrails`: the statistics.
* :mod:`.analysis`, :mod:`.report`, :mod:`.plot`: from raw exposures and outcomes to a status and a PNG.
* :mod:`.repository`, :mod:`.service`: the storage Protocol and the operations over it.
* :mod:`.table`, :mod:`.dynamodb`: the experiments DynamoDB table (key layout) and the repository on it.
* :mod:`.routing`: the request path (route, assignment, exposure) without numpy or scipy.
* :mod:`.endpoint`, :mod:`.scheduled`, :mod:`.events`: experiments on the SageMaker endpoint, the scheduled
  status job, outcomes as EventBridge events. AWS clients are passed in; nothing here creates one.

Everything below is importable from here; a submodule is loaded on first use, so the router that only
needs :mod:`.assignment` does not pay for scipy and matplotlib at cold start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_kit.abtest.assignment import BUCKETS, Allocation, Arm, Assignment, Variants, arm_of, assign, bucket_of
    from mlops_kit.abtest.dynamodb import DynamoDBRepository
    from mlops_kit.abtest.endpoint import EndpointSplitError, ExperimentOperations, Serving, Split
    from mlops_kit.abtest.errors import (
        ConcurrentUpdateError,
        ExperimentError,
        ExperimentExistsError,
        ExperimentNotFoundError,
        IllegalTransitionError,
        UnexposedUserError,
    )
    from mlops_kit.abtest.events import OutcomeDetail, outcome_entry
    from mlops_kit.abtest.fixed import FixedHorizonResult, fixed_horizon, two_proportion_ztest, welch_ttest
    from mlops_kit.abtest.guardrails import GuardrailResult, alpha_per_guardrail, check_guardrail
    from mlops_kit.abtest.metrics import Direction, GuardrailMetric, Metric, PrimaryMetric
    from mlops_kit.abtest.models import (
        AllocationChange,
        Decision,
        DecisionOutcome,
        Evidence,
        Experiment,
        ExperimentPlan,
        ExperimentState,
        Exposure,
        Launch,
        OutcomeEvent,
        new_experiment,
    )
    from mlops_kit.abtest.planning import (
        MdeKind,
        Runtime,
        SampleSize,
        runtime,
        sample_size_for_effect,
        sample_size_means,
        sample_size_proportions,
    )
    from mlops_kit.abtest.plot import plot_sequential, plot_status
    from mlops_kit.abtest.report import GuardrailStatus, PrimaryStatus, SequentialPath, StatusReport, build_status
    from mlops_kit.abtest.repository import ExperimentRepository, InMemoryRepository
    from mlops_kit.abtest.routing import EndpointRouter, ExperimentRouter, NoRunningExperimentError, Route, RouteTable
    from mlops_kit.abtest.sequential import ArmSeries, OneSidedResult, SequentialResult, msprt, msprt_one_sided
    from mlops_kit.abtest.service import ExperimentService
    from mlops_kit.abtest.totals import ArmTotals, MetricKind

_EXPORTS: dict[str, str] = {
    "Allocation": "mlops_kit.abtest.assignment",
    "AllocationChange": "mlops_kit.abtest.models",
    "Arm": "mlops_kit.abtest.assignment",
    "ArmSeries": "mlops_kit.abtest.sequential",
    "ArmTotals": "mlops_kit.abtest.totals",
    "Assignment": "mlops_kit.abtest.assignment",
    "BUCKETS": "mlops_kit.abtest.assignment",
    "ConcurrentUpdateError": "mlops_kit.abtest.errors",
    "Decision": "mlops_kit.abtest.models",
    "DecisionOutcome": "mlops_kit.abtest.models",
    "Direction": "mlops_kit.abtest.metrics",
    "DynamoDBRepository": "mlops_kit.abtest.dynamodb",
    "EndpointRouter": "mlops_kit.abtest.routing",
    "EndpointSplitError": "mlops_kit.abtest.endpoint",
    "Evidence": "mlops_kit.abtest.models",
    "Experiment": "mlops_kit.abtest.models",
    "ExperimentError": "mlops_kit.abtest.errors",
    "ExperimentExistsError": "mlops_kit.abtest.errors",
    "ExperimentNotFoundError": "mlops_kit.abtest.errors",
    "ExperimentOperations": "mlops_kit.abtest.endpoint",
    "ExperimentPlan": "mlops_kit.abtest.models",
    "ExperimentRepository": "mlops_kit.abtest.repository",
    "ExperimentRouter": "mlops_kit.abtest.routing",
    "ExperimentService": "mlops_kit.abtest.service",
    "ExperimentState": "mlops_kit.abtest.models",
    "Exposure": "mlops_kit.abtest.models",
    "FixedHorizonResult": "mlops_kit.abtest.fixed",
    "GuardrailMetric": "mlops_kit.abtest.metrics",
    "GuardrailResult": "mlops_kit.abtest.guardrails",
    "GuardrailStatus": "mlops_kit.abtest.report",
    "IllegalTransitionError": "mlops_kit.abtest.errors",
    "InMemoryRepository": "mlops_kit.abtest.repository",
    "Launch": "mlops_kit.abtest.models",
    "MdeKind": "mlops_kit.abtest.planning",
    "Metric": "mlops_kit.abtest.metrics",
    "MetricKind": "mlops_kit.abtest.totals",
    "NoRunningExperimentError": "mlops_kit.abtest.routing",
    "OneSidedResult": "mlops_kit.abtest.sequential",
    "OutcomeDetail": "mlops_kit.abtest.events",
    "OutcomeEvent": "mlops_kit.abtest.models",
    "PrimaryMetric": "mlops_kit.abtest.metrics",
    "PrimaryStatus": "mlops_kit.abtest.report",
    "Route": "mlops_kit.abtest.routing",
    "RouteTable": "mlops_kit.abtest.routing",
    "Runtime": "mlops_kit.abtest.planning",
    "SampleSize": "mlops_kit.abtest.planning",
    "SequentialPath": "mlops_kit.abtest.report",
    "SequentialResult": "mlops_kit.abtest.sequential",
    "Serving": "mlops_kit.abtest.endpoint",
    "Split": "mlops_kit.abtest.endpoint",
    "StatusReport": "mlops_kit.abtest.report",
    "UnexposedUserError": "mlops_kit.abtest.errors",
    "Variants": "mlops_kit.abtest.assignment",
    "alpha_per_guardrail": "mlops_kit.abtest.guardrails",
    "arm_of": "mlops_kit.abtest.assignment",
    "assign": "mlops_kit.abtest.assignment",
    "bucket_of": "mlops_kit.abtest.assignment",
    "build_status": "mlops_kit.abtest.report",
    "check_guardrail": "mlops_kit.abtest.guardrails",
    "fixed_horizon": "mlops_kit.abtest.fixed",
    "msprt": "mlops_kit.abtest.sequential",
    "msprt_one_sided": "mlops_kit.abtest.sequential",
    "new_experiment": "mlops_kit.abtest.models",
    "outcome_entry": "mlops_kit.abtest.events",
    "plot_sequential": "mlops_kit.abtest.plot",
    "plot_status": "mlops_kit.abtest.plot",
    "runtime": "mlops_kit.abtest.planning",
    "sample_size_for_effect": "mlops_kit.abtest.planning",
    "sample_size_means": "mlops_kit.abtest.planning",
    "sample_size_proportions": "mlops_kit.abtest.planning",
    "two_proportion_ztest": "mlops_kit.abtest.fixed",
    "welch_ttest": "mlops_kit.abtest.fixed",
}

__all__ = [
    "BUCKETS",
    "Allocation",
    "AllocationChange",
    "Arm",
    "ArmSeries",
    "ArmTotals",
    "Assignment",
    "ConcurrentUpdateError",
    "Decision",
    "DecisionOutcome",
    "Direction",
    "DynamoDBRepository",
    "EndpointRouter",
    "EndpointSplitError",
    "Evidence",
    "Experiment",
    "ExperimentError",
    "ExperimentExistsError",
    "ExperimentNotFoundError",
    "ExperimentOperations",
    "ExperimentPlan",
    "ExperimentRepository",
    "ExperimentRouter",
    "ExperimentService",
    "ExperimentState",
    "Exposure",
    "FixedHorizonResult",
    "GuardrailMetric",
    "GuardrailResult",
    "GuardrailStatus",
    "IllegalTransitionError",
    "InMemoryRepository",
    "Launch",
    "MdeKind",
    "Metric",
    "MetricKind",
    "NoRunningExperimentError",
    "OneSidedResult",
    "OutcomeDetail",
    "OutcomeEvent",
    "PrimaryMetric",
    "PrimaryStatus",
    "Route",
    "RouteTable",
    "Runtime",
    "SampleSize",
    "SequentialPath",
    "SequentialResult",
    "Serving",
    "Split",
    "StatusReport",
    "UnexposedUserError",
    "Variants",
    "alpha_per_guardrail",
    "arm_of",
    "assign",
    "bucket_of",
    "build_status",
    "check_guardrail",
    "fixed_horizon",
    "msprt",
    "msprt_one_sided",
    "new_experiment",
    "outcome_entry",
    "plot_sequential",
    "plot_status",
    "runtime",
    "sample_size_for_effect",
    "sample_size_means",
    "sample_size_proportions",
    "two_proportion_ztest",
    "welch_ttest",
]


def __getattr__(name: str) -> Any:
    """Load the submodule that defines ``name`` on first access (PEP 562)."""
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
