"""KMS asymmetric signing as the approval page uses it: moto signs and verifies ECC_NIST_P256 keys, and the
emulator's IAM evaluates the conditions the page's grants carry (kms:SigningAlgorithm, kms:MessageType)."""

from __future__ import annotations

import hashlib
import json

import pytest
from botocore.exceptions import ClientError

from mlops_local.emulator import Emulator
from mlops_local.iam.authorizations import authorizations
from tests.emulator.conftest import make_role
from tests.support import ALLOW_ALL_KEY_POLICY

ACCOUNT, REGION = "123456789012", "us-east-1"


@pytest.mark.parametrize(("operation", "message_type"), [("Sign", "RAW"), ("Verify", None)])
def test_sign_and_verify_carry_their_algorithm_and_message_type(operation: str, message_type: str | None) -> None:
    params = {"KeyId": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/k", "SigningAlgorithm": "ECDSA_SHA_256", "Message": b"m"}
    if message_type:
        params["MessageType"] = message_type

    (found,) = authorizations("kms", operation, params, region=REGION, account=ACCOUNT)

    assert found.keys["kms:signingalgorithm"] == ("ECDSA_SHA_256",)
    assert found.keys["kms:messagetype"] == ("RAW",)  # RAW is the API's default


def test_a_signature_verifies_only_for_its_message_and_fails_otherwise_as_aws_does(emulator: Emulator) -> None:
    kms = emulator.client("kms")
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    signature = kms.sign(KeyId=key, Message=b"claims", MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256")["Signature"]

    def verify(message: bytes) -> dict:
        return dict(
            kms.verify(
                KeyId=key, Message=message, MessageType="RAW", Signature=signature, SigningAlgorithm="ECDSA_SHA_256"
            )
        )

    assert verify(b"claims")["SignatureValid"] is True
    # AWS fails the call rather than answering false (patch point kms-verify-invalid-signature).
    with pytest.raises(kms.exceptions.KMSInvalidSignatureException):
        verify(b"claimz")


def test_a_role_allowed_only_ecdsa_raw_cannot_sign_otherwise(emulator: Emulator) -> None:
    kms = emulator.client("kms")
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    role = make_role(emulator, "signer", "lambda.amazonaws.com")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "kms:Sign",
                "Resource": key,
                "Condition": {"StringEquals": {"kms:SigningAlgorithm": "ECDSA_SHA_256", "kms:MessageType": "RAW"}},
            }
        ],
    }
    emulator.client("iam").put_role_policy(RoleName="signer", PolicyName="sign", PolicyDocument=json.dumps(policy))
    credentials = emulator.client("sts").assume_role(RoleArn=role, RoleSessionName="signer")["Credentials"]
    as_role = emulator.session().client(
        "kms",
        endpoint_url=emulator.endpoint_url,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    signed = as_role.sign(KeyId=key, Message=b"m", MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256")
    with pytest.raises(ClientError) as refused:
        as_role.sign(
            KeyId=key, Message=hashlib.sha256(b"m").digest(), MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256"
        )

    assert signed["Signature"]
    assert refused.value.response["Error"]["Code"] in ("AccessDeniedException", "AccessDenied")


def test_cloudformation_creates_an_asymmetric_signing_key_as_declared(emulator: Emulator) -> None:
    from tests.emulator.test_cloudformation import _create

    policy = ALLOW_ALL_KEY_POLICY
    outputs = _create(
        emulator,
        {
            "Key": {
                "Type": "AWS::KMS::Key",
                "Properties": {"KeyPolicy": policy, "KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"},
            }
        },
        {"KeyId": {"Value": {"Ref": "Key"}}},
    )
    kms = emulator.client("kms")
    described = kms.describe_key(KeyId=outputs["KeyId"])["KeyMetadata"]
    signed = kms.sign(KeyId=outputs["KeyId"], Message=b"m", MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256")

    assert (described["KeySpec"], described["KeyUsage"]) == ("ECC_NIST_P256", "SIGN_VERIFY")
    assert signed["Signature"]
