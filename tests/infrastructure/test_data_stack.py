"""The stateful data stack: KMS key, buckets, notification topic."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match


def test_the_platform_key_rotates_and_is_retained(stack_template: Any) -> None:
    data = stack_template("data")

    data.has_resource(
        "AWS::KMS::Key",
        {
            "Properties": {"EnableKeyRotation": True},
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )


def test_data_buckets_are_kms_encrypted_versioned_private_and_logged(stack_template: Any) -> None:
    data = stack_template("data")

    kms_buckets = data.find_resources(
        "AWS::S3::Bucket",
        {
            "Properties": {
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {
                            "ServerSideEncryptionByDefault": {
                                "SSEAlgorithm": "aws:kms",
                                "KMSMasterKeyID": Match.any_value(),
                            }
                        }
                    ]
                },
                "VersioningConfiguration": {"Status": "Enabled"},
                "LoggingConfiguration": {"DestinationBucketName": Match.any_value()},
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
            }
        },
    )
    assert len(kms_buckets) == 2  # data and artifacts; the access-log bucket uses SSE-S3


def test_every_bucket_denies_requests_without_tls(stack_template: Any) -> None:
    data = stack_template("data")

    buckets = data.find_resources("AWS::S3::Bucket")
    policies = data.find_resources(
        "AWS::S3::BucketPolicy",
        {
            "Properties": {
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {
                                    "Effect": "Deny",
                                    "Action": "s3:*",
                                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                }
                            )
                        ]
                    )
                }
            }
        },
    )
    assert len(policies) == len(buckets) == 3


def test_notification_topic_is_encrypted_with_the_platform_key(stack_template: Any) -> None:
    data = stack_template("data")

    data.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})


def test_outputs_name_the_shared_resources(stack_template: Any) -> None:
    data = stack_template("data")

    outputs = data.find_outputs("*")
    assert {"DataBucketName", "ArtifactsBucketName", "PlatformKeyArn", "NotificationTopicArn"} <= set(outputs)
