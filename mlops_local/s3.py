"""S3 on the emulator: bucket policies are evaluated with their conditions."""

from __future__ import annotations

import json
from typing import Any

from mlops_local.patching import Patcher, PatchPoint, points_by_name

PATCH_POINTS: tuple[PatchPoint, ...] = (
    PatchPoint(
        name="s3-policy-conditions",
        module="moto.s3.models",
        attribute="FakeBucket.get_permission",
        signature="(self, action: 'str', resource: 'str') -> 'Any'",
        why=(
            "S3 bucket policies are evaluated ignoring Conditions, so CDK's enforce-TLS statement "
            "(Deny s3:* when aws:SecureTransport is false) denies every request; evaluate that condition"
        ),
    ),
)


def _applies(statement: dict[str, Any]) -> bool:
    """Whether a bucket-policy statement's Condition holds for emulator requests.

    Requests to the emulator count as TLS (in-process calls use https URLs; the local server listens on
    loopback only), so ``aws:SecureTransport`` is true. A statement with any other condition is treated as
    not applying: moto does not evaluate principals either, so such statements cannot be judged here.
    """
    condition = statement.get("Condition")
    if not condition:
        return True
    for operator, clauses in condition.items():
        for key, expected in clauses.items():
            if key != "aws:SecureTransport" or operator != "Bool":
                return False
            values = expected if isinstance(expected, list) else [expected]
            if "true" not in [str(v).lower() for v in values]:
                return False
    return True


def apply(patcher: Patcher) -> None:
    def bucket_permission(bucket: Any, action: str, resource: str) -> Any:
        from moto.iam.access_control import IAMPolicy, PermissionResult

        if bucket.policy is None:
            return PermissionResult.NEUTRAL
        document = json.loads(bucket.policy.decode())
        statements = document.get("Statement", [])
        statements = [s for s in (statements if isinstance(statements, list) else [statements]) if _applies(s)]
        return IAMPolicy(json.dumps({**document, "Statement": statements})).is_action_permitted(action, resource)

    patcher.replace(points_by_name(PATCH_POINTS)["s3-policy-conditions"], bucket_permission)
