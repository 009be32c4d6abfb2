"""While the emulator runs, botocore's header signer writes SigV4's headers without computing the signature."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import NoCredentialsError

from mlops_local.emulator import Emulator
from mlops_local.signing import UNVERIFIED_SIGNATURE, header_auth

NOW = dt.datetime(2026, 12, 8, 10, 30, 15)


@pytest.fixture(autouse=True)
def _fixed_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: NOW)
    monkeypatch.setattr("mlops_local.signing.get_current_datetime", lambda: NOW)


def _request() -> AWSRequest:
    request = AWSRequest(
        method="POST",
        url="https://dynamodb.eu-west-1.amazonaws.com/",
        data=b'{"TableName": "t"}',
        headers={"X-Amz-Target": "DynamoDB_20120810.PutItem", "Content-Type": "application/x-amz-json-1.0"},
    )
    request.context["payload_signing_enabled"] = True
    return request


def _signed(signer: SigV4Auth, add_auth: Any) -> dict[str, str]:
    request = _request()
    request.headers["Authorization"] = "a retry's old header"
    add_auth(signer, request)
    return dict(request.headers.items())


@pytest.mark.parametrize("token", [None, "session-token"], ids=["keys", "session"])
def test_the_headers_are_botocores_but_for_the_signature(token: str | None) -> None:
    signer = SigV4Auth(Credentials("AKIDEXAMPLE", "secret", token), "dynamodb", "eu-west-1")

    signed = _signed(signer, SigV4Auth.add_auth)
    unsigned = _signed(signer, header_auth(SigV4Auth.add_auth))

    real_signature = signed["Authorization"].rsplit("Signature=", 1)[1]
    assert len(real_signature) == len(UNVERIFIED_SIGNATURE)
    assert real_signature != UNVERIFIED_SIGNATURE
    expected = signed["Authorization"].replace(real_signature, UNVERIFIED_SIGNATURE)
    assert unsigned == {**signed, "Authorization": expected}
    assert unsigned["Authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261208/eu-west-1/dynamodb/aws4_request, SignedHeaders="
    )
    assert unsigned["X-Amz-Date"] == "20261208T103015Z"
    assert unsigned.get("X-Amz-Security-Token") == token


@pytest.mark.parametrize("signer_class", [S3SigV4Auth, SigV4QueryAuth], ids=lambda c: c.__name__)
def test_s3s_signer_and_presigned_urls_are_botocores_own(signer_class: type[SigV4Auth]) -> None:
    calls = []
    signer = signer_class(Credentials("AKIDEXAMPLE", "secret"), "s3", "eu-west-1")

    header_auth(lambda self, request: calls.append((self, request)))(signer, request := _request())

    assert calls == [(signer, request)]


def test_without_credentials_it_refuses_as_botocore_does() -> None:
    signer = SigV4Auth(None, "dynamodb", "eu-west-1")

    with pytest.raises(NoCredentialsError):
        header_auth(SigV4Auth.add_auth)(signer, _request())


def test_while_the_emulator_runs_a_request_is_unsigned_and_the_caller_still_known(emulator: Emulator) -> None:
    sent: list[str] = []
    sts = emulator.client("sts")
    sts.meta.events.register("before-send", lambda request, **_: sent.append(request.headers["Authorization"].decode()))

    identity = sts.get_caller_identity()

    assert len(sent) == 1
    assert sent[0].endswith(f"Signature={UNVERIFIED_SIGNATURE}")
    assert identity["Account"] == "123456789012"
