"""The demo's ``abtest`` stage on the end state of a real promotion (the ``happy`` scenario: version 2 Production,
version 1 Archived), without the three minutes of demo stages before it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from mlops_kit.abtest.dynamodb import DynamoDBRepository
from mlops_kit.abtest.service import ExperimentService
from mlops_local.demo import abtest, serving
from mlops_local.demo.context import DemoContext
from mlops_local.demo.scenarios import fixture_data, run_scenario
from mlops_local.deploy import CloudAssembly
from mlops_local.emulator import Emulator

pytestmark = pytest.mark.slow


def test_the_abtest_stage_decides_from_what_its_users_did(
    cloud_assembly: CloudAssembly, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The scenario's requests carry their online features (its feature store is empty, unlike the demo's).
    requests = fixture_data().payloads
    monkeypatch.setattr(serving, "payloads", lambda context, n, seed=0: [requests[i % len(requests)] for i in range(n)])
    monkeypatch.chdir(tmp_path)  # the stage writes its plot under ./.mlops
    with Emulator(workdir=tmp_path / "emulator") as aws:
        context = DemoContext(emulator=aws, assembly=cloud_assembly, console=Console(quiet=True), workdir=tmp_path)
        promoted = run_scenario("happy", context)
        assert promoted["serving"]["version"] == 2, promoted

        summary: dict[str, Any] = abtest.run(context)

        # Production (v2) was the control, the version it replaced (v1) the treatment, each in its own slot,
        assert "skipped" not in summary
        assert (summary["control"]["version"], summary["treatment"]["version"]) == (2, 1)
        assert summary["control"]["variant"] != summary["treatment"]["variant"]
        # every simulated user was exposed once, about half per arm, and returning users stayed in their arm,
        # for the plan's whole runtime: users arrived every day of its weeks and the decision came after them,
        assert summary["days"] == 7 * summary["plan"]["runtime"]["weeks"]
        users = summary["days"] * abtest.USERS_PER_DAY
        exposures = summary["exposures"]
        assert exposures["control"] + exposures["treatment"] == users
        assert 0.35 * users < exposures["treatment"] < 0.65 * users
        assert summary["sticky"] == summary["returning_users"] > 0
        assert summary["errors"] == 0
        # the status job saw the same exposures,
        assert summary["status_job"]["exposures"] == exposures
        # and the recorded decision is the one the statistics support, as of the decision.
        repository = DynamoDBRepository(aws.client("dynamodb"), context.output("ExperimentTableName"))
        experiment = repository.get_experiment(abtest.NAME)
        assert experiment.decision is not None
        assert experiment.launch is not None
        decidable_at = experiment.decidable_at
        assert decidable_at is not None
        assert experiment.decision.decided_at >= decidable_at
        assert decidable_at == dt.datetime.fromisoformat(summary["decidable_at"])
        assert experiment.launch.started_at == dt.datetime.fromisoformat(summary["started_at"])
        report = ExperimentService(repository).status(abtest.NAME)
        outcome, reason = abtest.decide(report)
        assert (experiment.decision.outcome, experiment.decision.reason) == (outcome, reason)
        assert summary["decision"]["outcome"] == outcome
        conversions = [o for o in repository.list_outcomes(abtest.NAME) if o.metric == "conversion"]
        assert len(conversions) == summary["conversions"] > 0
        # Production serves alone again.
        described = aws.client("sagemaker").describe_endpoint(EndpointName=context.output("EndpointName"))
        assert [v["VariantName"] for v in described["ProductionVariants"]] == [summary["control"]["variant"]]
        assert Path(summary["plot"]).read_bytes().startswith(b"\x89PNG")
        json.dumps(summary)  # the demo's --json summary
