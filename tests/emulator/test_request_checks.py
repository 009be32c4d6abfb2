"""Patch point request-checks: a registered check sees every request, parsed, and its refusal reaches the client
as the service's own error, for each protocol the kit's services use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from mlops_local import requests
from mlops_local.emulator import Emulator
from mlops_local.requests import ApiError, ApiRequest


@pytest.fixture
def seen(emulator: Emulator) -> Iterator[list[ApiRequest]]:
    requests_seen: list[ApiRequest] = []

    def check(request: ApiRequest) -> None:
        requests_seen.append(request)
        if request.headers.get("x-refuse") or request.params().get("EndpointName") == "refused":
            raise ApiError("AccessDeniedException", f"refused {request.service}:{request.action}")

    requests.register("test", check)
    yield requests_seen
    requests.unregister("test")


def test_a_check_sees_the_service_the_action_and_the_parsed_input(emulator: Emulator, seen: list) -> None:
    with pytest.raises(ClientError):
        emulator.client("sagemaker").describe_endpoint(EndpointName="missing")

    request = seen[-1]
    assert (request.service, request.action) == ("sagemaker", "DescribeEndpoint")
    assert request.params() == {"EndpointName": "missing"}
    assert request.account == emulator.account
    assert request.region == emulator.region


@pytest.mark.parametrize(
    ("service", "call"),
    [
        ("sagemaker", lambda c: c.describe_endpoint(EndpointName="refused")),  # json
        ("lambda", lambda c: c.list_functions()),  # rest-json
        ("cloudwatch", lambda c: c.describe_alarms()),  # query (and smithy-rpc-v2-cbor in newer models)
        ("sns", lambda c: c.list_topics()),  # query
        ("s3", lambda c: c.list_buckets()),  # rest-xml
    ],
)
def test_a_refusal_reaches_the_client_as_the_service_error(emulator: Emulator, seen: list, service, call) -> None:
    client = emulator.client(service)
    if service != "sagemaker":
        client.meta.events.register("before-sign.*.*", _refuse_header)

    with pytest.raises(ClientError) as raised:
        call(client)

    assert raised.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "refused" in raised.value.response["Error"]["Message"]
    assert raised.value.response["ResponseMetadata"].get("RequestId")  # as every AWS response has
    if service != "sagemaker":
        client.meta.events.unregister("before-sign.*.*", _refuse_header)


def _refuse_header(request, **_kwargs) -> None:
    request.headers["x-refuse"] = "1"


def test_without_checks_requests_pass_untouched(emulator: Emulator) -> None:
    assert "test" not in requests.checks()
    assert emulator.client("sns").list_topics()["Topics"] == []


def test_the_local_server_dates_its_answers_by_the_wall_clock(tmp_path) -> None:
    # SDKs correct their clock from the Date header (the CDK CLI retries an error it takes for clock skew, with
    # backoff): emulated time, here years away, must not show there.
    import datetime as dt
    import email.utils
    import urllib.error
    import urllib.request

    from mlops_local.emulator import Emulator, free_port

    with Emulator(server=True, port=free_port(), workdir=tmp_path, start=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)) as aws:
        assert aws.now().year == 2020
        request = urllib.request.Request(f"{aws.endpoint_url}/no-such-bucket-here", method="GET")
        try:
            with urllib.request.urlopen(request) as answer:
                date = answer.headers["Date"]
        except urllib.error.HTTPError as error:
            date = error.headers["Date"]

    answered = email.utils.parsedate_to_datetime(date)
    assert abs((answered - dt.datetime.now(dt.UTC)).total_seconds()) < 120, date
