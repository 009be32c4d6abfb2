"""Sticky A/B assignment for plain clients: requests sent without the kit's router, split by SageMaker's weights,
still reach each user's assigned variant when they name the user (the inference container forwards them), with the
exposure recorded, so outcomes are recorded for them too. Requests without a user keep per-request routing."""

from __future__ import annotations

import json
from collections import defaultdict

from mlops_kit.abtest.assignment import Allocation, assign
from mlops_kit.abtest.events import outcome_entry
from mlops_kit.serving.naming import capture_prefix
from mlops_kit.serving.sticky import FORWARDED_BY, FORWARDED_TO
from tests.integration.abtest.conftest import Platform
from tests.integration.abtest.test_endpoint_experiments import NAME, plan, variants


def captured(platform: Platform) -> list[tuple[str, dict, dict]]:
    """(capture variant, request, response) of every captured request."""
    platform.emulator.sagemaker.flush_capture()
    s3, bucket = platform.emulator.client("s3"), platform.outputs["ArtifactsBucketName"]
    prefix = f"{capture_prefix(platform.endpoint_name)}/"
    records = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            variant = item["Key"].removeprefix(prefix).split("/")[0]
            for line in s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode().splitlines():
                data = json.loads(line)["captureData"]
                request = json.loads(data["endpointInput"]["data"])
                records.append((variant, request, json.loads(data["endpointOutput"]["data"])))
    return records


def test_a_plain_clients_requests_for_one_user_land_on_the_users_variant(sticky_platform: Platform) -> None:
    platform = sticky_platform
    # Given an experiment running half and half on the endpoint, and a client without the kit's router,
    plan(platform)
    allocation = Allocation(treatment_bp=5000)
    experiment, split = platform.operations().start(NAME, candidate=platform.candidate.version, allocation=allocation)
    assert experiment.launch is not None
    assert set(variants(platform).values()) == {0.5}
    client = platform.client()

    # When 30 users send four requests each, naming the user in the request body (SageMaker picks a variant per
    # request by weight),
    answers: dict[str, list] = defaultdict(list)
    for round_ in range(4):
        for i in range(30):
            user = f"user-{i}"
            answers[user].append(client.predict({"x": round_, "user_id": user}))

    # Then every answer for a user comes from the variant the published hash assigns the user to,
    expected = {u: assign(NAME, experiment.launch.salt, u, allocation, experiment.launch.variants) for u in answers}
    for user, predictions in answers.items():
        assert {p.body["slot"] for p in predictions} == {expected[user].target_variant}, user
        version = split.treatment.version if expected[user].arm == "treatment" else split.control.version
        assert {p.body["model_version"] for p in predictions} == {str(version)}
    # although SageMaker delivered some of them to the other variant, which forwarded them, once,
    forwarded = [p for ps in answers.values() for p in ps if FORWARDED_TO in p.body]
    assert forwarded
    assert all(p.variant != p.body[FORWARDED_TO] for p in forwarded)
    assert all(p.body[FORWARDED_TO] == p.body["slot"] for p in forwarded)
    records = captured(platform)
    copies = [(variant, request) for variant, request, _ in records if FORWARDED_BY in request]
    assert len(copies) == len(forwarded)
    assert all(variant != request[FORWARDED_BY] for variant, request in copies)
    # each user's exposure is recorded once, with the arm the hash gives,
    exposures = platform.repository().list_exposures(NAME)
    assert sorted((e.user_id, e.arm) for e in exposures) == sorted((u, a.arm) for u, a in expected.items())

    # and so an outcome sent for one of these users is recorded for the experiment's analysis.
    events = platform.emulator.client("events")
    events.put_events(Entries=[outcome_entry(NAME, "user-3", metric="conversion", event_id="order-3")])
    platform.emulator.settle()
    (outcome,) = platform.repository().list_outcomes(NAME)
    assert (outcome.user_id, outcome.metric) == ("user-3", "conversion")


def test_requests_without_a_user_keep_per_request_routing(sticky_platform: Platform) -> None:
    platform = sticky_platform
    # Given a running experiment,
    plan(platform)
    platform.operations().start(NAME, candidate=platform.candidate.version, allocation=Allocation(treatment_bp=5000))
    client = platform.client()

    # When a client sends requests that name no user,
    served = [client.predict({"x": i}) for i in range(40)]

    # Then each is answered where SageMaker's weights sent it (both variants serve, nothing is forwarded) and no
    # exposure is recorded.
    assert {p.variant for p in served} == set(variants(platform))
    assert all(p.body["slot"] == p.variant and FORWARDED_TO not in p.body for p in served)
    assert platform.repository().list_exposures(NAME) == []
