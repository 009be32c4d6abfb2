"""Experiments on the emulated endpoint, through the deployed platform: Production and the candidate side by side,
requests routed to each user's assigned variant (visible in data capture), the decision handed back to the
registry and the promotion workflow, the scheduled job stopping a harmful treatment, outcomes as events, and the
HTTP router."""

from __future__ import annotations

import json
import re
from collections import defaultdict

import pytest

from mlops_kit.abtest.assignment import Allocation, assign
from mlops_kit.abtest.endpoint import EndpointSplitError
from mlops_kit.abtest.errors import IllegalTransitionError
from mlops_kit.abtest.events import outcome_entry
from mlops_kit.abtest.models import ExperimentPlan, ExperimentState
from mlops_kit.abtest.names import METRICS_NAMESPACE
from mlops_kit.abtest.routing import ExperimentRouter
from mlops_kit.abtest.service import ExperimentService
from mlops_kit.promotion.approvals import WAITING_STATE, follow, pending_approval
from mlops_kit.promotion.store import PromotionLocked
from mlops_kit.serving.client import ModelRequestError
from mlops_kit.serving.naming import capture_prefix
from mlops_local.demo.serving import answer_as_reviewer
from mlops_local.demo.traffic import BackgroundTraffic
from tests.integration.abtest.conftest import Platform

NAME = "checkout-model"


def plan(platform: Platform, **changes: object) -> None:
    ExperimentService(platform.repository()).plan(
        ExperimentPlan.model_validate(
            {
                "name": NAME,
                "hypothesis": "version 2 ranks better, so more users check out",
                "primary": {"name": "conversion", "kind": "binary", "baseline": 0.2, "mde": 0.1},
                "guardrails": [
                    {"name": "error_rate", "kind": "binary", "direction": "higher_is_worse", "harm_to_detect": 0.2}
                ],
                "daily_users": 200,
                "min_samples": 10,
                **changes,
            }
        )
    )


def variants(platform: Platform) -> dict[str, float]:
    described = platform.emulator.client("sagemaker").describe_endpoint(EndpointName=platform.endpoint_name)
    return {v["VariantName"]: v["CurrentWeight"] for v in described["ProductionVariants"]}


def captured_users(platform: Platform) -> dict[str, set[str]]:
    """user id -> the variants whose data capture holds a request of that user."""
    platform.emulator.sagemaker.flush_capture()
    s3, bucket = platform.emulator.client("s3"), platform.outputs["ArtifactsBucketName"]
    prefix = f"{capture_prefix(platform.endpoint_name)}/"  # then <variant>/yyyy/mm/dd/hh/<file>.jsonl
    seen: dict[str, set[str]] = defaultdict(set)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            variant = item["Key"].removeprefix(prefix).split("/")[0]
            for line in s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode().splitlines():
                request = json.loads(json.loads(line)["captureData"]["endpointInput"]["data"])
                if "user" in request:
                    seen[request["user"]].add(variant)
    return seen


def test_users_are_served_by_their_assigned_variant_as_data_capture_shows(platform: Platform) -> None:
    # Given version 1 serving alone in one slot and an experiment planned against candidate version 2,
    (slot,) = variants(platform)
    plan(platform)
    operations = platform.operations()

    # When the experiment starts (30% treatment) and 120 users send two requests each through the client,
    experiment, split = operations.start(
        NAME, candidate=platform.candidate.version, allocation=Allocation(treatment_bp=3000)
    )
    router = ExperimentRouter(platform.route_table(), NAME)
    client = platform.client(router)
    answers = {}
    for i in range(120):
        for _ in range(2):
            answers[f"user-{i}"] = client.predict({"x": i, "user": f"user-{i}"}, user_id=f"user-{i}")

    # Then the endpoint serves both versions side by side, weighted like the allocation,
    assert experiment.state == ExperimentState.RUNNING
    other = "green" if slot == "blue" else "blue"
    assert variants(platform) == {slot: 0.7, other: 0.3}
    assert (split.control.version, split.treatment.version) == (platform.production.version, platform.candidate.version)
    # every request went to the user's variant by the published hash (data capture is written per variant),
    assert experiment.launch is not None
    expected = {
        u: assign(NAME, experiment.launch.salt, u, Allocation(treatment_bp=3000), experiment.launch.variants)
        for u in answers
    }
    assert captured_users(platform) == {u: {a.target_variant} for u, a in expected.items()}
    assert {answers[u].variant for u in answers} == {slot, other}
    for user, prediction in answers.items():
        version = split.treatment.version if expected[user].arm == "treatment" else split.control.version
        assert prediction.body["model_version"] == str(version)
    # and each user's first exposure is recorded once, with the arm the hash gives.
    exposures = platform.repository().list_exposures(NAME)
    assert sorted((e.user_id, e.arm) for e in exposures) == sorted((u, a.arm) for u, a in expected.items())
    # A promotion cannot touch the endpoint meanwhile.
    with pytest.raises(PromotionLocked, match=f"abtest:{NAME}"):
        platform.locks().acquire_lock(platform.endpoint_name, "some-promotion", ttl_seconds=60)


def test_keeping_control_restores_production_alone_and_rejects_the_candidate(platform: Platform) -> None:
    (slot,) = variants(platform)
    original = platform.emulator.client("sagemaker").describe_endpoint(EndpointName=platform.endpoint_name)
    plan(platform)
    operations = platform.operations()
    operations.start(NAME, candidate=platform.candidate.version)
    router = ExperimentRouter(platform.route_table(), NAME, refresh_seconds=0.0)
    platform.client(router).predict({"x": 1}, user_id="user-1")
    platform.wait_out_minimum_runtime(NAME)

    stopped, split = operations.stop(
        NAME, outcome="keep_control", reason="no lift at the planned size", decided_by="lead"
    )

    assert stopped.decision is not None
    assert stopped.decision.evidence is not None
    assert stopped.decision.evidence.exposures_control + stopped.decision.evidence.exposures_treatment == 1
    assert split is not None
    assert (split.phase, split.outcome) == ("finished", "keep_control")
    assert split.handover == f"version {platform.candidate.version} rejected in the registry"
    described = platform.emulator.client("sagemaker").describe_endpoint(EndpointName=platform.endpoint_name)
    assert described["EndpointConfigName"] == original["EndpointConfigName"]
    assert variants(platform) == {slot: 1.0}
    candidate = platform.registry.get(platform.candidate.arn)
    assert (candidate.stage, candidate.stage_status) == ("Staging", "Rejected")
    assert platform.registry.production() == platform.production
    assert platform.locks().lock_holder(platform.endpoint_name) is None
    assert router("user-1") is None  # the experiment no longer routes; Production serves everyone
    assert platform.client(router).predict({"x": 1}, user_id="user-1").variant == slot


def test_shipping_the_treatment_hands_it_to_the_promotion_workflow(platform: Platform) -> None:
    plan(platform)
    operations = platform.operations()
    operations.start(NAME, candidate=platform.candidate.version)
    platform.wait_out_minimum_runtime(NAME)

    _, split = operations.stop(NAME, outcome="ship_treatment", reason="conversion +4 points", decided_by="lead")

    assert split is not None
    assert split.handover is not None
    assert split.handover.startswith(f"version {platform.candidate.version} approved in the registry")
    # The approval event starts the promotion (shadow, human approval, canary), which takes the endpoint's lock.
    sfn = platform.emulator.client("stepfunctions")
    execution = platform.execution_arn(platform.candidate)
    # The shadow compares live traffic.
    with BackgroundTraffic(platform.client(), [{"x": i} for i in range(50)], platform.emulator.clock):
        platform.emulator.settle()
        described = follow(sfn, execution, until_waiting=True, timeout_seconds=86400, poll_seconds=30)
        assert described["status"] == "RUNNING", (described.get("error"), described.get("cause"))
        assert platform.locks().lock_holder(platform.endpoint_name) == execution
        approval = pending_approval(platform.locks(), execution)
        answer_as_reviewer(
            platform.emulator, platform.outputs.__getitem__, approval.approval_id, decision="approve", comment="winner"
        )
        assert follow(sfn, execution, timeout_seconds=86400, poll_seconds=30)["status"] == "SUCCEEDED"
    assert platform.registry.production().arn == platform.candidate.arn  # type: ignore[union-attr]
    assert WAITING_STATE in {e["stateEnteredEventDetails"]["name"] for e in sfn.get_execution_history(
        executionArn=execution, maxResults=1000)["events"] if "stateEnteredEventDetails" in e}  # fmt: skip


def test_starting_refuses_what_it_cannot_run_and_changes_nothing(platform: Platform) -> None:
    plan(platform)
    operations = platform.operations()
    before = variants(platform)

    with pytest.raises(EndpointSplitError, match="is Production already"):
        operations.start(NAME, candidate=platform.production.version)
    with pytest.raises(ValueError, match="must give both arms users"):
        operations.start(NAME, candidate=platform.candidate.version, allocation=Allocation(treatment_bp=0))
    platform.locks().acquire_lock(platform.endpoint_name, "a-promotion", ttl_seconds=600)
    with pytest.raises(PromotionLocked, match="a-promotion"):
        operations.start(NAME, candidate=platform.candidate.version)
    platform.locks().release_lock(platform.endpoint_name, "a-promotion")

    assert variants(platform) == before
    assert operations.split(NAME) is None
    assert platform.repository().get_experiment(NAME).state == ExperimentState.PLANNED
    operations.start(NAME, candidate=platform.candidate.version)
    with pytest.raises(IllegalTransitionError, match="already running"):
        operations.start(NAME, candidate=platform.candidate.version)


def test_a_decision_before_the_minimum_runtime_is_refused_and_an_abandon_is_not(platform: Platform) -> None:
    # Given an experiment four days into its one-week plan,
    plan(platform)
    operations = platform.operations()
    _, split = operations.start(NAME, candidate=platform.candidate.version)
    platform.emulator.advance(4 * 86400)
    decidable_at = platform.repository().get_experiment(NAME).decidable_at
    assert decidable_at is not None

    # a decision is refused with when it may be taken, and nothing changes on the endpoint or in the registry;
    for outcome in ("ship_treatment", "keep_control", "inconclusive"):
        refusal = re.escape(f"before {decidable_at.isoformat()}") + ".*1 whole week"
        with pytest.raises(IllegalTransitionError, match=refusal):
            operations.stop(NAME, outcome=outcome, reason="looks good already", decided_by="lead")
    assert platform.repository().get_experiment(NAME).state == ExperimentState.RUNNING
    assert variants(platform) == split.weights
    assert platform.locks().lock_holder(platform.endpoint_name) == split.lock_holder

    # but calling it off without a decision is recorded as such, and leaves the registry as it was.
    stopped, finished = operations.stop(
        NAME, outcome="abandoned", reason="the team needs the endpoint", decided_by="lead"
    )

    assert stopped.decision is not None
    assert stopped.decision.outcome == "abandoned"
    assert finished is not None
    assert finished.handover is not None
    assert finished.handover.startswith("registry unchanged")
    candidate = platform.registry.get(platform.candidate.arn)
    assert (candidate.stage, candidate.stage_status) == ("Staging", "PendingApproval")
    assert platform.locks().lock_holder(platform.endpoint_name) is None


def test_the_scheduled_job_stops_a_harmful_treatment_and_publishes_metrics(platform: Platform) -> None:
    # Given a running experiment whose treatment fails half its requests (an error outcome per failed request),
    plan(platform)
    operations = platform.operations()
    _, split = operations.start(NAME, candidate=platform.candidate.version)
    platform.emulator.sagemaker.inject_fault(split.treatment.variant, error_rate=0.5)
    router = ExperimentRouter(platform.route_table(), NAME)
    client = platform.client(router)
    for i in range(80):
        try:
            client.predict({"x": i}, user_id=f"user-{i}")
        except ModelRequestError:
            router.record_outcome(f"user-{i}", metric="error_rate")
    platform.emulator.sagemaker.clear_faults()

    # When the status schedule fires, and again once the endpoint is back on its original config,
    schedule = platform.outputs["AbTestStatusScheduleName"]
    first = platform.emulator.fire_schedule(schedule)
    operations._wait_for(split.original_config, timeout=3600)  # what the next hourly run would find
    second = platform.emulator.fire_schedule(schedule)

    # Then the guardrail stopped it (keeping control), the job ended the split and published the metrics.
    assert not first.errored, first.result
    result = json.loads(first.result)["experiments"][NAME]
    assert result["recommendation"] == "stopped"
    assert result["breached"] == ["error_rate"]
    assert json.loads(second.result)["experiments"][NAME]["split"] == "finished"
    experiment = platform.repository().get_experiment(NAME)
    assert experiment.decision is not None
    assert (experiment.decision.outcome, experiment.decision.decided_by) == ("keep_control", "guardrail")
    assert operations.split(NAME).handover == f"version {platform.candidate.version} rejected in the registry"  # type: ignore[union-attr]
    assert platform.locks().lock_holder(platform.endpoint_name) is None
    cloudwatch = platform.emulator.client("cloudwatch")
    metrics = {
        (m["MetricName"], tuple(sorted((d["Name"], d["Value"]) for d in m["Dimensions"])))
        for m in cloudwatch.list_metrics(Namespace=METRICS_NAMESPACE)["Metrics"]
    }
    assert ("Exposures", (("Arm", "treatment"), ("Experiment", NAME))) in metrics
    assert ("PValue", (("Experiment", NAME),)) in metrics
    assert ("GuardrailsBreached", (("Experiment", NAME),)) in metrics
    stored = platform.repository().get_record("status", NAME)
    assert stored is not None
    assert json.loads(stored[0])["recommendation"] == "stopped"


def test_outcome_events_and_the_http_router_record_what_the_analysis_reads(platform: Platform) -> None:
    plan(platform)
    _, split = platform.operations().start(NAME, candidate=platform.candidate.version)
    lambda_ = platform.emulator.client("lambda")

    def call(method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        parts = path.strip("/").split("/")
        event = {
            "resource": "/experiments/{experiment}/"
            + ("assignments/{user_id}" if "assignments" in parts else "invocations"),
            "path": path,
            "httpMethod": method,
            "headers": {"content-type": "application/json"},
            "pathParameters": {"experiment": parts[1], **({"user_id": parts[3]} if len(parts) > 3 else {})},
            "requestContext": {"identity": {"userArn": "arn:aws:iam::123456789012:role/checkout"}, "stage": "v1"},
            "body": json.dumps(body) if body is not None else None,
            "isBase64Encoded": False,
        }
        response = lambda_.invoke(FunctionName=platform.outputs["AbTestRouterFunctionName"], Payload=json.dumps(event))
        answer = json.loads(response["Payload"].read())
        return answer["statusCode"], json.loads(answer["body"])

    # The HTTP router assigns, invokes the endpoint with TargetVariant and records the exposure,
    status, assigned = call("GET", f"/experiments/{NAME}/assignments/user-7")
    status_post, served = call("POST", f"/experiments/{NAME}/invocations", {"user_id": "user-8", "payload": {"x": 3}})
    assert (status, status_post) == (200, 200)
    assert assigned["target_variant"] in (split.control.variant, split.treatment.variant)
    assert served["variant"] == served["target_variant"]
    assert served["prediction"]["slot"] == served["variant"]
    assert {e.user_id for e in platform.repository().list_exposures(NAME)} == {"user-7", "user-8"}
    assert call("GET", "/experiments/nope/assignments/u")[0] == 404
    bad_status, bad = call("POST", f"/experiments/{NAME}/invocations", {"payload": {"x": 1}})
    assert (bad_status, bad["message"]) == (400, "invalid request: user_id: Field required")

    # and outcome events are recorded for exposed users, refused (without retries) for the others.
    events = platform.emulator.client("events")
    events.put_events(Entries=[outcome_entry(NAME, "user-8", metric="conversion", event_id="order-1")])
    events.put_events(Entries=[outcome_entry(NAME, "stranger", metric="conversion")])
    platform.emulator.settle()
    (outcome,) = platform.repository().list_outcomes(NAME)
    assert (outcome.user_id, outcome.metric, outcome.event_id) == ("user-8", "conversion", "order-1")
    results = [json.loads(r.result) for r in platform.emulator.events.delivered if "Outcome" in r.target_arn]
    assert results[0] == {"recorded": True, "event_id": "order-1"}
    assert results[1]["recorded"] is False
    assert "user 'stranger' has no exposure" in results[1]["reason"]
