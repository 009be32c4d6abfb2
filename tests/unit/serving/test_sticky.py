"""Sticky A/B assignment in the inference container: which requests are forwarded, how, and what is answered."""

from __future__ import annotations

import io
import json
from typing import Any

import botocore.exceptions
import pytest

from mlops_kit.abtest.assignment import Allocation, Variants, assign
from mlops_kit.serving.sticky import FORWARDED_BY, FORWARDED_TO, ForwardError, StickyRouting, user_of


class FakeRuntime:
    """A sagemaker-runtime client: records each InvokeEndpoint call, answers as ``variant`` or with ``error``."""

    class exceptions:  # noqa: N801  (boto3's spelling)
        class ModelError(botocore.exceptions.ClientError):
            pass

        class ValidationError(botocore.exceptions.ClientError):
            pass

    def __init__(self, error: dict[str, Any] | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.error = error

    def invoke_endpoint(self, **arguments: Any) -> dict[str, Any]:
        self.calls.append(arguments)
        if self.error is not None:
            raise self.exceptions.ModelError(self.error, "InvokeEndpoint")
        variant = arguments["TargetVariant"]
        body = {"score": 0.25, "variant": variant}
        return {"Body": io.BytesIO(json.dumps(body).encode()), "InvokedProductionVariant": variant}


def routing(assigned: str | None = "green", runtime: FakeRuntime | None = None) -> StickyRouting:
    return StickyRouting(endpoint_name="ep", variant="blue", router=lambda user: assigned, runtime=runtime)


def test_a_request_whose_user_belongs_to_the_other_variant_is_forwarded_there_once() -> None:
    runtime = FakeRuntime()
    sticky = routing("green", runtime)
    request = {"user_id": "u-1", "transaction": {"amount": 3.0}}

    target = sticky.target(request)
    answer = sticky.forward(request, target) if target else None

    assert target == "green"
    (call,) = runtime.calls
    assert call["TargetVariant"] == "green"
    assert call["EndpointName"] == "ep"
    assert json.loads(call["Body"]) == {**request, FORWARDED_BY: "blue"}
    assert answer == {"score": 0.25, "variant": "green", FORWARDED_TO: "green"}
    # The forwarded copy is served where it lands, whatever that container believes.
    assert sticky.target(json.loads(call["Body"])) is None


@pytest.mark.parametrize(
    ("assigned", "request_"),
    [
        ("blue", {"user_id": "u-1"}),  # the user's own variant
        (None, {"user_id": "u-1"}),  # no experiment running
        ("green", {"transaction": {}}),  # no user: per-request routing
        ("green", {"user_id": None}),
    ],
)
def test_requests_are_served_here_unless_their_user_is_assigned_elsewhere(
    assigned: str | None, request_: dict[str, Any]
) -> None:
    assert routing(assigned).target(request_) is None


def test_the_assignment_is_the_routers_published_hash() -> None:
    from mlops_kit.abtest.routing import Route

    route = Route(
        experiment="checkout-model",
        state="running",
        endpoint_name="ep",
        variants=Variants(control="blue", treatment="green"),
        salt="s1",
        allocation=Allocation(treatment_bp=5000),
    )
    sticky = StickyRouting(
        endpoint_name="ep", variant="blue", router=lambda u: route.assign(u).target_variant, runtime=None
    )
    expected = assign("checkout-model", "s1", "user-1", route.allocation, route.variants)  # treatment (vector)
    assert expected.target_variant == "green"
    assert sticky.target({"user_id": "user-1"}) == "green"
    assert sticky.target({"user_id": "user-2"}) is None  # control: blue serves it


def test_an_unreadable_experiments_table_serves_the_request_here(caplog: pytest.LogCaptureFixture) -> None:
    def broken(user: str) -> str | None:
        raise botocore.exceptions.ClientError({"Error": {"Code": "AccessDeniedException"}}, "Query")

    sticky = StickyRouting(endpoint_name="ep", variant="blue", router=broken, runtime=None)

    assert sticky.target({"user_id": "u-1"}) is None
    assert "sticky assignment failed" in caplog.text


@pytest.mark.parametrize(
    ("value", "shown"), [("", "an empty string"), ("  ", "an empty string"), (42, "int"), ({"id": 1}, "dict")]
)
def test_a_user_id_that_is_not_a_non_empty_string_is_400(value: Any, shown: str) -> None:
    with pytest.raises(ForwardError, match=f"'user_id' must be a non-empty string .*got {shown}") as raised:
        user_of({"user_id": value})
    assert raised.value.status == 400


def test_the_assigned_variants_4xx_is_passed_on_and_its_failure_is_502() -> None:
    refused = {
        "Error": {"Code": "ModelError", "Message": "client error"},
        "OriginalStatusCode": 404,
        "OriginalMessage": "unknown customer_id 'C9'",
    }
    with pytest.raises(ForwardError) as raised:
        routing("green", FakeRuntime(refused)).forward({"user_id": "u"}, "green")
    assert (raised.value.status, raised.value.message) == (404, "unknown customer_id 'C9'")

    failed = {"Error": {"Code": "ModelError", "Message": "server error"}, "OriginalStatusCode": 500}
    with pytest.raises(ForwardError, match="variant green, which this user is assigned to, failed") as raised:
        routing("green", FakeRuntime(failed)).forward({"user_id": "u"}, "green")
    assert raised.value.status == 502


def test_the_environment_turns_it_on_and_names_what_is_missing() -> None:
    assert StickyRouting.from_environment({}) is None
    with pytest.raises(ValueError, match="MLOPS_ENDPOINT_NAME and MLOPS_VARIANT are not"):
        StickyRouting.from_environment({"MLOPS_EXPERIMENT_TABLE": "experiments"})
    sticky = StickyRouting.from_environment(
        {"MLOPS_EXPERIMENT_TABLE": "experiments", "MLOPS_ENDPOINT_NAME": "ep", "MLOPS_VARIANT": "blue"}
    )
    assert sticky is not None
    assert (sticky.endpoint_name, sticky.variant) == ("ep", "blue")
