"""s3:prefix on ListBucket (ListObjects and ListObjectsV2): a listing is allowed under the prefixes a condition
names and refused elsewhere, and a listing without a prefix has no s3:prefix (so a StringLike on it fails), as on
AWS ("Amazon S3 condition key examples", S3 User Guide)."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from mlops_local.emulator import Emulator
from mlops_local.iam import acting_as
from tests.emulator.conftest import make_role


def test_a_listing_is_allowed_only_under_the_prefix_the_condition_names(emulator: Emulator) -> None:
    s3 = emulator.client("s3")
    s3.create_bucket(Bucket="data-bucket")
    s3.put_object(Bucket="data-bucket", Key="batch/input/day/a.csv", Body=b"id\n1\n")
    role = make_role(emulator, "lister", "lambda.amazonaws.com")
    statement = {
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": "arn:aws:s3:::data-bucket",
        "Condition": {"StringLike": {"s3:prefix": ["batch/input/*"]}},
    }
    document = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    emulator.client("iam").put_role_policy(RoleName="lister", PolicyName="list", PolicyDocument=document)

    with acting_as(role):
        listed = s3.list_objects_v2(Bucket="data-bucket", Prefix="batch/input/day/")
        assert [o["Key"] for o in listed["Contents"]] == ["batch/input/day/a.csv"]
        assert s3.list_objects(Bucket="data-bucket", Prefix="batch/input/")["Contents"]
        for other in ({"Prefix": "features/"}, {}):
            with pytest.raises(ClientError) as raised:
                s3.list_objects_v2(Bucket="data-bucket", **other)
            assert "s3:ListBucket" in raised.value.response["Error"]["Message"]


def test_the_s3_user_guides_prefix_example_allows_that_prefix_only(emulator: Emulator) -> None:
    # "Amazon S3 condition key examples" (S3 User Guide), s3:prefix: allow a listing whose prefix equals
    # "projects", and deny any other, a listing without a prefix included (a negated operator on an absent key
    # holds, so the deny applies).
    s3 = emulator.client("s3")
    s3.create_bucket(Bucket="examples")
    s3.put_object(Bucket="examples", Key="projects/a.txt", Body=b"a")
    role = make_role(emulator, "projects-lister", "lambda.amazonaws.com")
    bucket = "arn:aws:s3:::examples"
    statements = [
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket,
            "Condition": {"StringEquals": {"s3:prefix": "projects"}},
        },
        {
            "Effect": "Deny",
            "Action": "s3:ListBucket",
            "Resource": bucket,
            "Condition": {"StringNotEquals": {"s3:prefix": "projects"}},
        },
    ]
    document = json.dumps({"Version": "2012-10-17", "Statement": statements})
    emulator.client("iam").put_role_policy(RoleName="projects-lister", PolicyName="list", PolicyDocument=document)

    with acting_as(role):
        assert [o["Key"] for o in s3.list_objects_v2(Bucket="examples", Prefix="projects")["Contents"]] == [
            "projects/a.txt"
        ]
        for other in ({"Prefix": "projects/"}, {"Prefix": "private"}, {}):
            with pytest.raises(ClientError) as raised:
                s3.list_objects_v2(Bucket="examples", **other)
            assert "s3:ListBucket" in raised.value.response["Error"]["Message"]
