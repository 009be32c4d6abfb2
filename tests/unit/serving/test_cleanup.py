"""Which models and endpoint configs a successful promotion, and the teardown, may delete; the custom resource
answers CloudFormation whatever happens."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlops_kit.serving.cleanup import everything_of, label_of, unused_after_promotion
from mlops_kit.serving.deploy import unique_name
from mlops_kit.serving.teardown import handle_event

ENDPOINT = "fraud-endpoint"


def named(label: str, n: int = 0) -> str:
    return unique_name(ENDPOINT, label, {"n": n})


def test_labels_are_read_back_only_from_this_endpoints_names() -> None:
    assert label_of(ENDPOINT, named("canary")) == "canary"
    assert label_of(ENDPOINT, named("v3-green")) == "v3-green"
    assert label_of(ENDPOINT, unique_name("other", "canary", {})) is None
    assert label_of(ENDPOINT, "fraud-endpoint-by-hand") is None


def test_after_a_promotion_only_the_promotions_unused_configs_and_models_go() -> None:
    # Given version 2 served from "final" after a shadow and a canary, version 1's config kept for rollback,
    # and an A/B config that still uses version 1's model
    v1, v2, v1_ab = named("v1-blue"), named("v2-green"), named("v1-green-ab")
    original, shadow, canary, final = named("final", 1), named("shadow"), named("canary"), named("final", 2)
    older, ab = named("direct"), named("ab")
    configs = {
        original: [v1],
        shadow: [v1, v2],
        canary: [v1, v2],
        final: [v2],
        older: [named("v0-green")],
        ab: [v1, v1_ab],
    }
    models = [v1, v2, v1_ab, named("v0-green"), "fraud-endpoint-hand-made"]

    # When the promotion cleans up, keeping the served config and the one it started from
    unused = unused_after_promotion(ENDPOINT, configs, models, keep=[final, original])

    # Then its shadow and canary configs and the older promotion's config and model go; nothing any kept config
    # uses, no A/B config or model, nothing not named by the kit
    assert set(unused.configs) == {shadow, canary, older}
    assert unused.models == (named("v0-green"),)


def test_a_model_a_kept_config_uses_is_never_chosen() -> None:
    model = named("v1-blue")
    unused = unused_after_promotion(ENDPOINT, {named("final"): [model]}, [model], keep=[named("final")])

    assert unused.configs == ()
    assert unused.models == ()


def test_teardown_takes_everything_the_kit_named_for_the_endpoint_and_nothing_else() -> None:
    mine = [named("final"), named("ab"), named("shadow")]
    others = [unique_name("fraud-endpoint-2", "final", {}), "fraud-endpoint-by-hand"]

    doomed = everything_of(ENDPOINT, [*mine, *others], [named("v1-blue"), named("v2-green-ab"), "x-model"])

    assert set(doomed.configs) == set(mine)
    assert set(doomed.models) == {named("v1-blue"), named("v2-green-ab")}


def _event(request_type: str) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "ResponseURL": "https://cloudformation-custom-resource-response.example/presigned",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/serving/1",
        "RequestId": "r-1",
        "LogicalResourceId": "TeardownResource",
        "PhysicalResourceId": "fraud-endpoint-teardown",
    }


@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_create_and_update_touch_nothing_and_succeed(request_type: str) -> None:
    sent: list[tuple[str, bytes]] = []

    def no_deployer() -> Any:
        raise AssertionError("Create and Update must not touch the endpoint")

    answer = handle_event(
        _event(request_type), endpoint_name=ENDPOINT, deployer=no_deployer, send=lambda u, b: sent.append((u, b))
    )

    assert answer["Status"] == "SUCCESS"
    assert json.loads(sent[0][1])["PhysicalResourceId"] == "fraud-endpoint-teardown"


def test_a_failed_teardown_is_answered_failed_with_the_reason() -> None:
    sent: list[bytes] = []

    def broken() -> Any:
        raise RuntimeError("AccessDenied on sagemaker:DeleteEndpoint")

    answer = handle_event(_event("Delete"), endpoint_name=ENDPOINT, deployer=broken, send=lambda u, b: sent.append(b))

    assert answer["Status"] == "FAILED"
    assert "AccessDenied on sagemaker:DeleteEndpoint" in json.loads(sent[0])["Reason"]
    assert "fraud-endpoint" in answer["Reason"]


def test_the_teardown_deletes_a_business_alarm_a_stopped_canary_left_and_no_other_alarm() -> None:
    from mlops_kit.serving import naming
    from mlops_kit.serving.teardown import delete_business_alarms
    from tests.unit.promotion.fakes import FakeCloudWatch

    cloudwatch = FakeCloudWatch()
    left = naming.business_alarm(ENDPOINT, "green")  # a promotion stopped mid-canary: it never deleted it
    kept = [naming.error_rate_alarm(ENDPOINT, "blue"), naming.business_alarm("fraud-endpoint-2", "green")]
    for name in (left, *kept):
        cloudwatch.put_metric_alarm(AlarmName=name)

    deleted = delete_business_alarms(cloudwatch, ENDPOINT)
    again = delete_business_alarms(cloudwatch, ENDPOINT)

    assert deleted == [left]
    assert sorted(cloudwatch.alarms) == sorted(kept)  # the stack's rollback alarms are CloudFormation's to delete
    assert again == []  # idempotent: nothing left, nothing done
