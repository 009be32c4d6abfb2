"""Who is calling: a thread acting as a role, the principal header, and the administrator."""

from __future__ import annotations

import pytest

from mlops_local.iam.identity import PRINCIPAL_HEADER, Identity, acting_as, current, of_request

ROLE = "arn:aws:iam::123456789012:role/app"
OTHER = "arn:aws:iam::123456789012:role/model"


def test_blocks_nest_and_restore_the_outer_identity() -> None:
    assert current() is None
    with acting_as(ROLE, "fn"):
        assert current() == Identity(ROLE, "fn")
        with acting_as(OTHER, "SageMaker"):
            assert current() == Identity(OTHER, "SageMaker")
        with acting_as(None):  # the emulator acting for AWS while a caller's identity is bound
            assert current() is None
        assert current() == Identity(ROLE, "fn")
    assert current() is None


def test_the_session_name_defaults_to_the_role_name() -> None:
    with acting_as(ROLE) as identity:
        assert identity == Identity(ROLE, "app")


def test_only_a_role_arn_can_be_acted_as() -> None:
    with pytest.raises(ValueError, match="IAM role ARN"), acting_as("arn:aws:iam::123456789012:user/someone"):
        pass


def test_a_request_is_made_by_its_header_then_the_thread_then_its_credentials() -> None:
    header = {PRINCIPAL_HEADER: f"{OTHER} SageMaker"}

    assert of_request({}, "", "123456789012") is None  # the administrator
    assert of_request(header, "", "123456789012") == Identity(OTHER, "SageMaker")
    with acting_as(ROLE, "fn"):
        assert of_request({}, "", "123456789012") == Identity(ROLE, "fn")
        assert of_request(header, "", "123456789012") == Identity(OTHER, "SageMaker")


def test_a_malformed_header_is_refused() -> None:
    with pytest.raises(ValueError, match=PRINCIPAL_HEADER):
        Identity.from_header("not-an-arn session")
