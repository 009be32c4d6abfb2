"""One experiment end to end on the emulator, as a team runs it: planned, started and stopped from the CLI; real
requests routed by user id through the Python client and ``mlops invoke --user-id``, each served by the user's
assigned variant (as the response, the model that answered and the data capture files show); exposures; outcomes
from the CLI, the client and EventBridge; the status computed from them, the dashboard metrics the scheduled job
publishes, and the decision recorded with its evidence."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from mlops_kit.abtest.assignment import Allocation, Assignment, assign
from mlops_kit.abtest.errors import ExperimentNotFoundError, UnexposedUserError
from mlops_kit.abtest.events import outcome_entry
from mlops_kit.abtest.names import (
    METRIC_DIFFERENCE,
    METRIC_EXPOSURES,
    METRIC_GUARDRAILS_BREACHED,
    METRIC_P_VALUE,
    METRIC_PROGRESS,
    METRICS_NAMESPACE,
)
from mlops_kit.abtest.routing import ExperimentRouter
from mlops_kit.serving.naming import capture_prefix
from tests.integration.abtest.conftest import Platform

NAME = "checkout-model"
SALT = "e2e-1"
PLAN = [
    "--hypothesis", "version 2 ranks better, so more users check out", "--metric", "conversion",
    "--baseline", "0.2", "--mde", "0.1", "--daily-users", "200", "--min-samples", "10",
    "--guardrail", "name=error_rate,kind=binary,direction=higher_is_worse,harm_to_detect=0.2",
]  # fmt: skip
runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wide enough that no line the test reads wraps."""
    from mlops_kit.cli import console

    monkeypatch.setattr(console.err_console, "_width", 200)
    monkeypatch.setattr(console.console, "_width", 200)


def mlops(*args: str) -> str:
    """Run ``mlops ARGS`` in-process against the emulator; the output (the command must succeed)."""
    from mlops_kit.cli.main import app

    result: Result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def mlops_error(*args: str) -> str:
    """Run a command that must fail; its one-line error."""
    from mlops_kit.cli.main import app

    result = runner.invoke(app, list(args))
    assert result.exit_code == 1, result.output
    (line,) = [line for line in result.output.splitlines() if line.strip()]
    return line.removeprefix("error: ")


def captured(platform: Platform) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """inference id -> [(variant whose capture folder holds the record, the model's answer)] for every captured
    request that carried an InferenceId."""
    platform.emulator.sagemaker.flush_capture()
    s3, bucket = platform.emulator.client("s3"), platform.outputs["ArtifactsBucketName"]
    prefix = f"{capture_prefix(platform.endpoint_name)}/"  # then <variant>/yyyy/mm/dd/hh/<file>.jsonl
    records: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            variant = item["Key"].removeprefix(prefix).split("/")[0]
            for line in s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode().splitlines():
                record = json.loads(line)
                inference_id = record["eventMetadata"].get("inferenceId")
                if inference_id is not None:
                    answer = json.loads(record["captureData"]["endpointOutput"]["data"])
                    records.setdefault(inference_id, []).append((variant, answer))
    return records


def latest(platform: Platform, metric: str, dimensions: dict[str, str]) -> float:
    """The last datapoint of one of the experiment metrics the dashboard plots."""
    now = dt.datetime.now(dt.UTC)
    points = platform.emulator.client("cloudwatch").get_metric_statistics(
        Namespace=METRICS_NAMESPACE,
        MetricName=metric,
        Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        StartTime=now - dt.timedelta(hours=1),
        EndTime=now + dt.timedelta(minutes=5),
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    assert points, (metric, dimensions)
    return float(max(points, key=lambda p: p["Timestamp"])["Maximum"])


def test_an_experiment_routes_real_requests_and_decides_on_what_they_recorded(
    platform: Platform, tmp_path: Path
) -> None:
    # Given version 1 alone on the endpoint, and an experiment against version 2 planned and started from the CLI,
    described = platform.emulator.client("sagemaker").describe_endpoint(EndpointName=platform.endpoint_name)
    (production_slot,) = [v["VariantName"] for v in described["ProductionVariants"]]
    mlops("abtest", "plan", NAME, *PLAN)
    candidate = str(platform.candidate.version)
    mlops("abtest", "start", NAME, "--candidate", candidate, "--treatment-share", "0.5", "--salt", SALT)
    launch = platform.repository().get_experiment(NAME).launch
    assert launch is not None
    versions = {launch.variants.control: str(platform.production.version), launch.variants.treatment: candidate}

    def expected(user: str) -> Assignment:
        return assign(NAME, SALT, user, Allocation.from_shares(0.5), launch.variants)

    # When 40 users send two requests each through the Python client, and 6 more one each through the CLI,
    router = ExperimentRouter(platform.route_table(), NAME)
    client = platform.client(router)
    served: dict[str, str] = {}  # inference id -> the variant the response names
    for i in range(40):
        for k in range(2):
            prediction = client.predict({"x": i}, user_id=f"web-{i}", inference_id=f"web-{i}#{k}")
            served[f"web-{i}#{k}"] = prediction.variant
            assert prediction.body["model_version"] == versions[prediction.variant]
    for i in range(6):
        user = f"cli-{i}"
        output = mlops("invoke", "--customer-id", "C1", "--amount", "10", "--merchant-category", "grocery",
                       "--user-id", user, "--inference-id", f"{user}#0")  # fmt: skip
        assignment = expected(user)
        assert f"user {user}: {assignment.arm} arm of {NAME}, variant {assignment.target_variant}" in output
    users = [f"web-{i}" for i in range(40)] + [f"cli-{i}" for i in range(6)]

    # Then each request was served by its user's assigned variant: the response says so, and data capture holds
    # it, once, in that variant's folder, answered by that variant's model version,
    assert all(variant == expected(iid.split("#")[0]).target_variant for iid, variant in served.items())
    capture = captured(platform)
    assert set(capture) == set(served) | {f"cli-{i}#0" for i in range(6)}
    for inference_id, records in capture.items():
        target = expected(inference_id.split("#")[0]).target_variant
        ((variant, answer),) = records
        assert (variant, answer["slot"], answer["model_version"]) == (target, target, versions[target])
    arms = Counter(expected(u).arm for u in users)
    assert min(arms["control"], arms["treatment"]) >= 10, arms  # both arms served real traffic
    # and every user's exposure is recorded once, with the arm and variant of the published hash.
    exposures = platform.repository().list_exposures(NAME)
    assert sorted((e.user_id, e.arm, e.variant) for e in exposures) == sorted(
        (u, expected(u).arm, expected(u).target_variant) for u in users
    )

    # When conversions arrive from the CLI (one, then a file), the client, and EventBridge events,
    converters = [u for i, u in enumerate(users) if i % 3 == 0]
    by_cli, by_file, by_client, by_event = converters[:1], converters[1:5], converters[5:9], converters[9:]
    mlops("abtest", "outcome", NAME, "--user-id", by_cli[0], "--metric", "conversion")
    outcomes = tmp_path / "outcomes.jsonl"
    outcomes.write_text("\n".join(json.dumps({"user_id": u, "metric": "conversion"}) for u in by_file))
    mlops("abtest", "outcome", NAME, "--file", str(outcomes))
    for user in by_client:
        router.record_outcome(user, metric="conversion")
    platform.emulator.client("events").put_events(
        Entries=[outcome_entry(NAME, u, metric="conversion", event_id=f"order-{u}") for u in by_event]
    )
    platform.emulator.settle()

    # Then all are recorded, and outcomes for users the experiment never served, or for unknown experiments, are
    # refused with a clear error wherever they come from.
    recorded = platform.repository().list_outcomes(NAME)
    assert sorted(o.user_id for o in recorded) == sorted(converters)
    assert {o.event_id for o in recorded} >= {f"order-{u}" for u in by_event}
    with pytest.raises(UnexposedUserError, match="user 'stranger' has no exposure to experiment 'checkout-model'"):
        router.record_outcome("stranger", metric="conversion")
    assert mlops_error("abtest", "outcome", NAME, "--user-id", "stranger", "--metric", "conversion").startswith(
        "user 'stranger' has no exposure to experiment 'checkout-model' at or before"
    )
    with pytest.raises(ExperimentNotFoundError, match="unknown experiment 'nope'; known experiments: checkout-model"):
        platform.client(ExperimentRouter(platform.route_table(), "nope")).predict({"x": 1}, user_id="web-1")
    assert mlops_error("invoke", "--customer-id", "C1", "--amount", "1", "--merchant-category", "grocery",
                       "--user-id", "web-1", "--experiment", "nope") == (
        "unknown experiment 'nope'; known experiments: checkout-model"
    )  # fmt: skip
    assert len(platform.repository().list_exposures(NAME)) == len(users)  # the refused calls recorded nothing

    # And the status computes from exactly these records,
    status = json.loads(mlops("abtest", "status", NAME, "--json", "--plot", str(tmp_path / "status.png")))
    conversions = Counter(expected(u).arm for u in converters)
    rates = {arm: conversions[arm] / arms[arm] for arm in ("control", "treatment")}
    primary = status["primary"]
    assert (status["exposures_control"], status["exposures_treatment"]) == (arms["control"], arms["treatment"])
    assert (primary["n_control"], primary["n_treatment"]) == (arms["control"], arms["treatment"])
    assert primary["control_mean"] == pytest.approx(rates["control"])
    assert primary["treatment_mean"] == pytest.approx(rates["treatment"])
    assert primary["difference"] == pytest.approx(rates["treatment"] - rates["control"])
    assert 0.0 < primary["p_value"] <= 1.0
    assert primary["ci_low"] < primary["difference"] < primary["ci_high"]  # past min_samples: a finite interval
    assert status["recommendation"] == "continue"  # far from the planned sample, no effect this large is proven
    assert (tmp_path / "status.png").read_bytes().startswith(b"\x89PNG")
    # and the scheduled job publishes it for the dashboard.
    job = platform.emulator.fire_schedule(platform.outputs["AbTestStatusScheduleName"])
    assert not job.errored, job.result
    entry = json.loads(job.result)["experiments"][NAME]
    assert entry["exposures"] == {"control": arms["control"], "treatment": arms["treatment"]}
    assert entry["p_value"] == pytest.approx(primary["p_value"])
    assert latest(platform, METRIC_EXPOSURES, {"Experiment": NAME, "Arm": "control"}) == arms["control"]
    assert latest(platform, METRIC_EXPOSURES, {"Experiment": NAME, "Arm": "treatment"}) == arms["treatment"]
    assert latest(platform, METRIC_DIFFERENCE, {"Experiment": NAME}) == pytest.approx(primary["difference"])
    assert latest(platform, METRIC_P_VALUE, {"Experiment": NAME}) == pytest.approx(primary["p_value"])
    assert latest(platform, METRIC_GUARDRAILS_BREACHED, {"Experiment": NAME}) == 0
    assert latest(platform, METRIC_PROGRESS, {"Experiment": NAME}) == pytest.approx(100 * status["progress"], abs=1e-3)

    # When the team stops it from the CLI once the plan's minimum runtime has passed,
    platform.wait_out_minimum_runtime(NAME)
    output = mlops("abtest", "stop", NAME, "--decision", "keep_control", "--reason", "no lift at this size")

    # Then the decision is recorded with who took it and the evidence it rested on, the candidate is rejected,
    # Production serves alone again, and requests with a user id go by the endpoint's weights.
    experiment = platform.repository().get_experiment(NAME)
    decision = experiment.decision
    assert decision is not None
    evidence = decision.evidence
    assert evidence is not None
    identity = platform.emulator.client("sts").get_caller_identity()["Arn"]
    assert (decision.outcome, decision.reason) == ("keep_control", "no lift at this size")
    assert decision.decided_by == identity
    assert (evidence.exposures_control, evidence.exposures_treatment) == (arms["control"], arms["treatment"])
    assert evidence.difference == pytest.approx(primary["difference"])
    assert evidence.breached_guardrails == ()
    assert f"version {candidate} rejected in the registry" in output
    described = platform.emulator.client("sagemaker").describe_endpoint(EndpointName=platform.endpoint_name)
    assert [(v["VariantName"], v["CurrentWeight"]) for v in described["ProductionVariants"]] == [(production_slot, 1.0)]
    assert platform.registry.get(platform.candidate.arn).stage_status == "Rejected"
    after = ExperimentRouter(platform.route_table(), NAME)
    assert platform.client(after).predict({"x": 1}, user_id="web-1").variant == production_slot
