"""The promotion steps function's clients: its own with one account; with an environment, the endpoint's through the
environment's deployment role and the rest in the tooling account."""

from __future__ import annotations

from typing import Any

import boto3
from moto import mock_aws

from mlops_kit.promotion.settings import EnvironmentSettings
from tests.unit.handlers.conftest import LoadHandler
from tests.unit.promotion import conftest as promotion

STAGING = "222222222222"
ROLE = f"arn:aws:iam::{STAGING}:role/mlops-kit-deploy-staging"


def _key(client: Any) -> str:
    return str(client._request_signer._credentials.get_frozen_credentials().access_key)


def test_a_single_account_promotion_uses_the_functions_own_clients(load_handler: LoadHandler) -> None:
    settings = promotion.settings()
    module = load_handler("promotion", settings)

    with mock_aws():
        clients = module._clients(settings)

    assert clients.registry is None
    assert clients.stepfunctions is None
    assert _key(clients.sagemaker) == _key(clients.dynamodb)


def test_an_environments_endpoint_calls_go_through_its_deployment_role(load_handler: LoadHandler) -> None:
    settings = promotion.settings().model_copy(
        update={"target_environment": EnvironmentSettings(name="staging", account=STAGING, deployment_role_arn=ROLE)}
    )
    module = load_handler("promotion", settings)

    with mock_aws():
        local = _key(boto3.client("sts", region_name="us-east-1"))
        clients = module._clients(settings)

    remote = {_key(clients.sagemaker), _key(clients.cloudwatch), _key(clients.autoscaling)}
    assert len(remote) == 1
    assert remote != {local}
    assert {_key(c) for c in (clients.registry, clients.dynamodb, clients.sns, clients.s3, clients.stepfunctions)} == {
        local
    }
    assert clients.sagemaker.meta.region_name == "us-east-1"


def test_invocations_reuse_the_functions_clients_and_assume_the_environments_role_each_time(
    load_handler: LoadHandler,
) -> None:
    settings = promotion.settings().model_copy(
        update={"target_environment": EnvironmentSettings(name="staging", account=STAGING, deployment_role_arn=ROLE)}
    )
    module = load_handler("promotion", settings)

    with mock_aws():
        first, second = module._clients(settings), module._clients(settings)

    # A client costs a service model and a connection pool: the function's own are made once per container.
    for name in ("registry", "dynamodb", "sns", "s3", "stepfunctions"):
        assert getattr(first, name) is getattr(second, name)
    # The environment's come from a fresh AssumeRole per invocation, so they never outlive their credentials.
    assert _key(first.sagemaker) != _key(second.sagemaker)
    assert first.sagemaker is not second.sagemaker
