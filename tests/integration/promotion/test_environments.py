"""Cross-account promotion on the emulator, with the environment stacks as synthesized: the tooling account's
promotion steps of an environment reach that environment's endpoint through its deployment role, and nothing else;
a missing grant is an AccessDenied, as on AWS."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mlops_kit.promotion.context import environment_session
from mlops_kit.serving import naming
from mlops_local.deploy import LocalDeployer
from mlops_local.emulator import Emulator
from mlops_local.iam import acting_as
from tests.infrastructure.test_environments import ENVIRONMENTS, PRODUCTION, STAGING, TOOLING

ACCOUNTS = {"staging": STAGING, "production": PRODUCTION}
ENDPOINT = "mlops-kit-endpoint-staging"


def _promotion_role(emulator: Emulator, name: str, *assumable: str) -> str:
    """The tooling account's promotion steps role of environment ``name``, as the serving stack grants it
    (``sts:AssumeRole`` of ``assumable``, its environment's deployment role)."""
    iam = emulator.client("iam", account=TOOLING)
    trust = {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    role_name = f"mlops-kit-promotion-{name}"
    arn = str(
        iam.create_role(
            RoleName=role_name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [trust]})
        )["Role"]["Arn"]
    )
    if assumable:
        grant = {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": list(assumable)}
        iam.put_role_policy(
            RoleName=role_name,
            PolicyName="assume",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [grant]}),
        )
    return arn


def _deployment_role(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNTS[name]}:role/mlops-kit-deploy-{name}"


@pytest.fixture
def deployed(emulator: Emulator, assembly_with: Any) -> Emulator:
    """Both environment stacks deployed to their accounts."""
    app = assembly_with("environments", ENVIRONMENTS)
    deployer = LocalDeployer(emulator.session(), account=emulator.account, region=emulator.region)
    deployer.deploy(app, stacks=["mlops-kit-serving-staging", "mlops-kit-serving-production"])
    return emulator


def _code(call: Any) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    return str(raised.value.response["Error"]["Code"])


def test_the_staging_steps_reach_the_staging_endpoint_through_its_deployment_role(deployed: Emulator) -> None:
    steps = _promotion_role(deployed, "staging", _deployment_role("staging"))

    with acting_as(steps):
        session = environment_session(deployed.client("sts", account=TOOLING), _deployment_role("staging"), "staging")
        identity = session.client("sts").get_caller_identity()
        sagemaker, cloudwatch = session.client("sagemaker"), session.client("cloudwatch")
        # Allowed, and absent until the first promotion creates it.
        missing = _code(lambda: sagemaker.describe_endpoint(EndpointName=ENDPOINT))
        names = [naming.error_rate_alarm(ENDPOINT, slot) for slot in naming.SLOTS]
        names += [naming.latency_alarm(ENDPOINT, slot) for slot in naming.SLOTS]
        alarms = cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]  # as CheckAlarms reads them
        # Only its rollback alarms: a prefix is every alarm of the account.
        listing = _code(lambda: cloudwatch.describe_alarms(AlarmNamePrefix=ENDPOINT))
        # Another endpoint's name, even in this account, is not this role's.
        other = _code(lambda: sagemaker.describe_endpoint(EndpointName="mlops-kit-endpoint-production"))

    assert identity["Arn"] == f"arn:aws:sts::{STAGING}:assumed-role/mlops-kit-deploy-staging/promotion-staging"
    assert missing == "ValidationException"
    assert len(alarms) == 4
    assert listing == "AccessDenied"
    assert other == "AccessDeniedException"  # SageMaker's code for it (CloudWatch's and STS': AccessDenied)


def test_productions_steps_cannot_assume_the_staging_deployment_role(deployed: Emulator) -> None:
    # Even allowed by its own policy: the staging role trusts exactly the staging steps role.
    steps = _promotion_role(deployed, "production", _deployment_role("production"), _deployment_role("staging"))

    with acting_as(steps):
        sts = deployed.client("sts", account=TOOLING)
        code = _code(lambda: environment_session(sts, _deployment_role("staging"), "staging"))
        session = environment_session(sts, _deployment_role("production"), "production")

    assert code == "AccessDenied"
    assert session.client("sts").get_caller_identity()["Account"] == PRODUCTION


def test_steps_without_the_assume_role_grant_cannot_reach_their_environment(deployed: Emulator) -> None:
    steps = _promotion_role(deployed, "staging")  # the grant the serving stack gives is missing

    with acting_as(steps):
        sts = deployed.client("sts", account=TOOLING)
        code = _code(lambda: environment_session(sts, _deployment_role("staging"), "staging"))

    assert code == "AccessDenied"
