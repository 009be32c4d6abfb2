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
from tests.infrastructure.test_environments import (
    ENVIRONMENTS,
    PRODUCTION,
    SERVERLESS_STAGING,
    STAGING,
    STAGING_SERVERLESS,
    TOOLING,
)

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


# -- an environment's models read the tooling account's online features and A/B routes --------------------------

STAGING_MODELS = f"arn:aws:iam::{STAGING}:role/mlops-kit-models-staging"
EXPERIMENT = "checkout"


@pytest.fixture
def shared_tables(emulator: Emulator, assembly_with: Any) -> dict[str, Any]:
    """The tooling data stack and staging's stack deployed as synthesized; the online table holds one customer's
    features and the experiments table a running experiment on staging's endpoint. The tables' ARNs (what the
    environment's models are given) and the customer."""
    from mlops_kit.abtest.assignment import Allocation, Variants
    from mlops_kit.abtest.routing import Route
    from mlops_kit.features import fraud
    from mlops_kit.features.online import OnlineStore

    app = assembly_with("environments", ENVIRONMENTS)
    deployer = LocalDeployer(emulator.session(), account=emulator.account, region=emulator.region)
    results = {r.stack_name: r for r in deployer.deploy(app, stacks=["mlops-kit-data", "mlops-kit-serving-staging"])}
    outputs = results["mlops-kit-data"].outputs
    dynamodb = emulator.client("dynamodb", account=TOOLING)
    data = fraud.generate(3, 30, seed=1)
    store = OnlineStore.from_client(fraud.REGISTRY, dynamodb, outputs["FeatureTableName"])
    for group, frame in data.feature_rows().items():
        assert store.write(group, frame).ok
    route = Route(
        experiment=EXPERIMENT,
        state="running",
        endpoint_name=ENDPOINT,
        variants=Variants(control="Production", treatment="Candidate"),
        salt="s1",
        allocation=Allocation(treatment_bp=5000),
    )
    dynamodb.put_item(
        TableName=outputs["ExperimentTableName"],
        Item={"pk": {"S": "experiment"}, "sk": {"S": EXPERIMENT}, "route": {"S": route.model_dump_json()}},
    )

    def arn(name: str) -> str:
        return str(dynamodb.describe_table(TableName=name)["Table"]["TableArn"])

    return {
        "features": arn(outputs["FeatureTableName"]),
        "experiments": arn(outputs["ExperimentTableName"]),
        "customer": str(data.profiles["customer_id"].iloc[0]),
    }


def _lookup(emulator: Emulator, tables: dict[str, Any]) -> dict[str, str]:
    """What the inference script does for a request without features: the customer's online features, read as the
    environment's model role from the tooling account's table named by ARN (its MLOPS_ONLINE_TABLE)."""
    from mlops_kit.features import fraud
    from mlops_kit.features.online import OnlineStore

    with acting_as(STAGING_MODELS):
        store = OnlineStore.from_client(fraud.REGISTRY, emulator.client("dynamodb"), tables["features"])
        found = store.get([{"customer_id": tables["customer"]}], fraud.FEATURE_REFS)
    return found.status[0]


def _sticky(emulator: Emulator, tables: dict[str, Any], user: str = "u-17") -> str:
    """What the inference script does for a request naming its user: the variant it is assigned to (the exposure
    recorded), as the environment's model role with the tooling account's experiments table (MLOPS_EXPERIMENT_TABLE)."""
    from mlops_kit.abtest.routing import EndpointRouter, RouteTable
    from mlops_kit.serving.sticky import StickyRouting

    with acting_as(STAGING_MODELS):
        router = EndpointRouter(RouteTable(emulator.client("dynamodb"), tables["experiments"]), ENDPOINT)
        sticky = StickyRouting(endpoint_name=ENDPOINT, variant="Production", router=router, runtime=None)
        return sticky.target({"user_id": user}) or "Production"  # None: served by this container's variant


def test_an_environments_models_read_features_by_entity_and_assign_users_from_the_tooling_account(
    shared_tables: dict[str, Any], emulator: Emulator
) -> None:
    status = _lookup(emulator, shared_tables)
    variant = _sticky(emulator, shared_tables)

    assert "missing" not in status.values(), status  # read: found (or expired by its group's TTL)
    assert variant in ("Production", "Candidate")
    exposures = emulator.client("dynamodb", account=TOOLING).scan(TableName=shared_tables["experiments"])["Items"]
    assert [(i["sk"]["S"], i["variant"]["S"]) for i in exposures if i["pk"]["S"].startswith("exposure#")] == [
        ("u-17", variant)
    ]  # recorded once, in the tooling account's table
    assert _sticky(emulator, shared_tables) == variant  # sticky


def test_without_the_tables_resource_policy_an_environments_models_cannot_read_it(
    shared_tables: dict[str, Any], emulator: Emulator
) -> None:
    emulator.client("dynamodb", account=TOOLING).delete_resource_policy(ResourceArn=shared_tables["features"])

    with pytest.raises(ClientError) as raised:
        _lookup(emulator, shared_tables)

    assert raised.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "because no resource-based policy allows the dynamodb:BatchGetItem action" in str(raised.value)


def test_without_the_roles_grant_an_environments_models_cannot_read_the_tooling_tables(
    shared_tables: dict[str, Any], emulator: Emulator
) -> None:
    iam = emulator.client("iam", account=STAGING)
    for name in iam.list_role_policies(RoleName="mlops-kit-models-staging")["PolicyNames"]:
        document = iam.get_role_policy(RoleName="mlops-kit-models-staging", PolicyName=name)["PolicyDocument"]
        kept = [s for s in document["Statement"] if not any(a.startswith("dynamodb:") for a in _listed(s["Action"]))]
        iam.put_role_policy(
            RoleName="mlops-kit-models-staging",
            PolicyName=name,
            PolicyDocument=json.dumps({**document, "Statement": kept}),
        )

    with pytest.raises(ClientError) as features:
        _lookup(emulator, shared_tables)
    with pytest.raises(ClientError) as routes:
        _running_on(emulator, shared_tables)

    assert "because no identity-based policy allows the dynamodb:BatchGetItem action" in str(features.value)
    assert "because no identity-based policy allows the dynamodb:Query action" in str(routes.value)


def _listed(actions: Any) -> list[str]:
    return [actions] if isinstance(actions, str) else list(actions)


def _running_on(emulator: Emulator, tables: dict[str, Any]) -> Any:
    """The experiment running on staging's endpoint, read as its model role (what sticky assignment reads first)."""
    from mlops_kit.abtest.routing import RouteTable

    with acting_as(STAGING_MODELS):
        return RouteTable(emulator.client("dynamodb"), tables["experiments"]).running_on(ENDPOINT)


# -- a serverless staging in front of an instance-backed production ------------------------------------------------


def _serving_config(emulator: Emulator, environment: str) -> dict[str, Any]:
    """The environment's endpoint config, read in its account: its variants and data capture."""
    sagemaker = emulator.client("sagemaker", account=ACCOUNTS[environment])
    endpoint = sagemaker.describe_endpoint(EndpointName=f"mlops-kit-endpoint-{environment}")
    return sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])


@pytest.mark.slow
def test_a_version_goes_to_a_serverless_staging_at_once_then_to_production_with_shadow_and_canary(
    assembly_with: Any, tmp_path: Any
) -> None:
    from rich.console import Console

    from mlops_local.demo import environments as staged
    from mlops_local.demo.context import DemoContext
    from mlops_local.demo.scenarios import fixture_data, register_model

    assembly = assembly_with("environments-serverless-staging", SERVERLESS_STAGING)
    with Emulator(workdir=tmp_path / "emulator") as aws:
        context = DemoContext(emulator=aws, assembly=assembly, console=Console(quiet=True), workdir=tmp_path)
        context.stacks = LocalDeployer(aws.session(), account=aws.account, region=aws.region).deploy(assembly)
        data = fixture_data()
        first = staged.promote_through(context, register_model(context, data, name="v1", seed=1), ACCOUNTS, [])
        second = staged.promote_through(
            context, register_model(context, data, name="v2", seed=2), ACCOUNTS, data.payloads
        )
        staging, production = _serving_config(aws, "staging"), _serving_config(aws, "production")
        serving = {name: staged.serving_in(context, name, account) for name, account in ACCOUNTS.items()}

    assert {name: p["status"] for name, p in first.items()} == {"staging": "SUCCEEDED", "production": "SUCCEEDED"}
    assert {name: p["status"] for name, p in second.items()} == {"staging": "SUCCEEDED", "production": "SUCCEEDED"}
    # Staging: approved, then the candidate replaces production in one update and bakes; no shadow, no canary.
    states = second["staging"]["states"]
    milestones = ["Validate", "WaitForHumanApproval", "DeployDirect", "SwapBake", "SwapCheckAlarms", "Finalize"]
    assert [s for s in states if s in milestones] == milestones, states
    assert not {"StartShadow", "PrepareCanary", "ShiftTraffic", "StartGuardrails"} & set(states)
    assert second["staging"]["traffic"]["errors"] == 0
    # Production: the platform's staged path, shadow and canary on instances.
    states = second["production"]["states"]
    milestones = ["StartShadow", "CompareShadow", "WaitForHumanApproval", "PrepareCanary", "Finalize"]
    assert [s for s in states if s in milestones] == milestones, states
    # Staging's endpoint is serverless (one variant, no data capture); production's serves on instances with capture.
    (variant,) = staging["ProductionVariants"]
    assert variant["ServerlessConfig"] == {
        "MemorySizeInMB": STAGING_SERVERLESS["memory_size_in_mb"],
        "MaxConcurrency": STAGING_SERVERLESS["max_concurrency"],
        "ProvisionedConcurrency": STAGING_SERVERLESS["provisioned_concurrency"],
    }
    assert "InstanceType" not in variant
    assert not staging.get("DataCaptureConfig")
    assert [v["InstanceType"] for v in production["ProductionVariants"]] == ["ml.m5.large"]
    assert production["DataCaptureConfig"]["EnableCapture"] is True
    assert {name: s["version"] if s else None for name, s in serving.items()} == {"staging": 2, "production": 2}
