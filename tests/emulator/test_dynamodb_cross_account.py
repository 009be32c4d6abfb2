"""A DynamoDB table of another account, named by its ARN: the request acts on that account's table, and only when
both the caller's identity policy and the table's resource-based policy allow it (and, for a table encrypted with
a customer managed key, that key's policy lets the caller decrypt through DynamoDB), as on AWS (DynamoDB developer
guide, "Cross-account access with resource-based policies"). This is how an environment's models read the
tooling account's online features and experiments. CloudFormation applies a table's ``ResourcePolicy``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mlops_local.emulator import Emulator
from mlops_local.iam import acting_as

ENVIRONMENT = "222222222222"
ROLE = "models-staging"
KEY = {"pk": {"S": "experiment"}, "sk": {"S": "checkout"}}


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _role_arn() -> str:
    return f"arn:aws:iam::{ENVIRONMENT}:role/{ROLE}"


@pytest.fixture
def tooling(emulator: Emulator) -> dict[str, str]:
    """The tooling account (the emulator's own): a key, and a table encrypted with it holding two items."""
    key_arn = emulator.client("kms").create_key(Description="platform key")["KeyMetadata"]["Arn"]
    dynamodb = emulator.client("dynamodb")
    table_arn = dynamodb.create_table(
        TableName="experiments",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key_arn},
    )["TableDescription"]["TableArn"]
    dynamodb.put_item(TableName="experiments", Item={**KEY, "route": {"S": "v1"}})
    dynamodb.put_item(TableName="experiments", Item={"pk": {"S": "outcome#checkout"}, "sk": {"S": "e1"}})
    return {"key": key_arn, "table": table_arn}


def _environment_role(emulator: Emulator, tooling: dict[str, str], *, allowed: bool = True) -> str:
    """The environment's model role; ``allowed``: its identity policy grants what the tooling account shares."""
    iam = emulator.client("iam", account=ENVIRONMENT)
    trust = _policy(
        {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
    )
    iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=trust)
    if allowed:
        document = _policy(
            {
                "Effect": "Allow",
                "Action": ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"],
                "Resource": f"arn:aws:dynamodb:us-east-1:{tooling['table'].split(':')[4]}:table/*",
            },
            {
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": tooling["key"],
                "Condition": {"StringEquals": {"kms:ViaService": "dynamodb.us-east-1.amazonaws.com"}},
            },
        )
        iam.put_role_policy(RoleName=ROLE, PolicyName="tooling-tables", PolicyDocument=document)
    return _role_arn()


def _share(emulator: Emulator, tooling: dict[str, str], *, table: bool = True, key: bool = True) -> None:
    """The tooling account's grants (what ExperimentStore.share_routing_with and share_tables_with deploy)."""
    root = f"arn:aws:iam::{ENVIRONMENT}:root"
    role = {"ArnEquals": {"aws:PrincipalArn": _role_arn()}}
    if table:
        emulator.client("dynamodb").put_resource_policy(
            ResourceArn=tooling["table"],
            Policy=_policy(
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": root},
                    "Action": ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"],
                    "Resource": "*",
                    "Condition": {**role, "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["experiment"]}},
                }
            ),
        )
    owner = f"arn:aws:iam::{emulator.account}:root"
    statements: list[dict[str, Any]] = [
        {"Effect": "Allow", "Principal": {"AWS": owner}, "Action": "kms:*", "Resource": "*"}
    ]
    if key:
        statements.append(
            {
                "Effect": "Allow",
                "Principal": {"AWS": root},
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": {**role, "StringEquals": {"kms:ViaService": "dynamodb.us-east-1.amazonaws.com"}},
            }
        )
    emulator.client("kms").put_key_policy(KeyId=tooling["key"], PolicyName="default", Policy=_policy(*statements))


def _get(emulator: Emulator, role: str, table: str, key: dict[str, Any] = KEY) -> dict[str, Any]:
    with acting_as(role):
        return dict(emulator.client("dynamodb").get_item(TableName=table, Key=key))


def _denial(emulator: Emulator, role: str, table: str, key: dict[str, Any] = KEY) -> str:
    with pytest.raises(ClientError) as raised:
        _get(emulator, role, table, key)
    assert raised.value.response["Error"]["Code"] == "AccessDeniedException"
    return str(raised.value.response["Error"]["Message"])


def test_a_role_of_another_account_reads_a_table_by_its_arn_when_both_accounts_allow_it(
    emulator: Emulator, tooling: dict[str, str]
) -> None:
    role = _environment_role(emulator, tooling)
    _share(emulator, tooling)

    assert _get(emulator, role, tooling["table"])["Item"]["route"] == {"S": "v1"}
    with acting_as(role):
        dynamodb = emulator.client("dynamodb")
        batch = dynamodb.batch_get_item(RequestItems={tooling["table"]: {"Keys": [KEY]}})
        queried = dynamodb.query(
            TableName=tooling["table"],
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "experiment"}},
        )
    assert batch["Responses"][tooling["table"]][0]["route"] == {"S": "v1"}  # keyed as the request named it
    assert [item["sk"] for item in queried["Items"]] == [{"S": "checkout"}]


def test_a_table_name_alone_names_the_callers_own_table(emulator: Emulator, tooling: dict[str, str]) -> None:
    role = _environment_role(emulator, tooling)
    _share(emulator, tooling)

    with pytest.raises(ClientError) as raised:
        _get(emulator, role, "experiments")

    # The environment account has no such table (its own role may not even look: either way, not the tooling one).
    assert raised.value.response["Error"]["Code"] in ("ResourceNotFoundException", "AccessDeniedException")


def test_without_the_tables_resource_policy_the_identity_policy_alone_is_not_enough(
    emulator: Emulator, tooling: dict[str, str]
) -> None:
    role = _environment_role(emulator, tooling)
    _share(emulator, tooling, table=False)

    message = _denial(emulator, role, tooling["table"])

    assert f"{ENVIRONMENT}:assumed-role/{ROLE}/" in message
    assert f"dynamodb:GetItem on resource: {tooling['table']}" in message
    assert "because no resource-based policy allows the dynamodb:GetItem action" in message


def test_without_the_roles_own_policy_the_tables_policy_alone_is_not_enough(
    emulator: Emulator, tooling: dict[str, str]
) -> None:
    role = _environment_role(emulator, tooling, allowed=False)
    _share(emulator, tooling)

    assert "because no identity-based policy allows the dynamodb:GetItem action" in _denial(
        emulator, role, tooling["table"]
    )


def test_without_the_key_policy_grant_the_encrypted_table_cannot_be_read(
    emulator: Emulator, tooling: dict[str, str]
) -> None:
    role = _environment_role(emulator, tooling)
    _share(emulator, tooling, key=False)

    message = _denial(emulator, role, tooling["table"])

    assert f"kms:Decrypt on resource: {tooling['key']}" in message


def test_the_tables_policy_conditions_are_evaluated_on_the_requests_partition_keys(
    emulator: Emulator, tooling: dict[str, str]
) -> None:
    role = _environment_role(emulator, tooling)
    _share(emulator, tooling)

    outcome = {"pk": {"S": "outcome#checkout"}, "sk": {"S": "e1"}}
    assert "because no resource-based policy allows the dynamodb:GetItem action" in _denial(
        emulator, role, tooling["table"], outcome
    )


def test_a_request_naming_tables_of_two_accounts_is_refused_with_a_clear_error(
    emulator: Emulator, tooling: dict[str, str]
) -> None:
    with pytest.raises(ClientError) as raised:
        emulator.client("dynamodb").batch_get_item(
            RequestItems={
                tooling["table"]: {"Keys": [KEY]},
                f"arn:aws:dynamodb:us-east-1:{ENVIRONMENT}:table/other": {"Keys": [KEY]},
            }
        )

    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert "send one request per account" in raised.value.response["Error"]["Message"]


TEMPLATE: dict[str, Any] = {
    "Resources": {
        "Table": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "BillingMode": "PAY_PER_REQUEST",
                "ResourcePolicy": {
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "EnvironmentsReadFeatures",
                                "Effect": "Allow",
                                "Principal": {"AWS": f"arn:aws:iam::{ENVIRONMENT}:root"},
                                "Action": "dynamodb:BatchGetItem",
                                "Resource": "*",
                            }
                        ],
                    }
                },
            },
        }
    },
    "Outputs": {"TableArn": {"Value": {"Fn::GetAtt": ["Table", "Arn"]}}},
}


def test_cloudformation_gives_a_table_its_resource_policy_and_an_update_changes_it(emulator: Emulator) -> None:
    cloudformation, dynamodb = emulator.client("cloudformation"), emulator.client("dynamodb")
    cloudformation.create_stack(StackName="tables", TemplateBody=json.dumps(TEMPLATE))
    (output,) = cloudformation.describe_stacks(StackName="tables")["Stacks"][0]["Outputs"]
    table_arn = output["OutputValue"]

    policy = json.loads(dynamodb.get_resource_policy(ResourceArn=table_arn)["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["EnvironmentsReadFeatures"]

    without = json.loads(json.dumps(TEMPLATE))
    del without["Resources"]["Table"]["Properties"]["ResourcePolicy"]
    cloudformation.update_stack(StackName="tables", TemplateBody=json.dumps(without))

    with pytest.raises(ClientError) as raised:
        dynamodb.get_resource_policy(ResourceArn=table_arn)
    assert raised.value.response["Error"]["Code"] == "PolicyNotFoundException"
