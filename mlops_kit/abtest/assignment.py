"""Sticky, deterministic assignment of users to the two arms of an experiment.

The hash is a published contract, so a service in any language can reproduce the split without calling us:

1. ``key = f"{experiment}:{salt}:{user_id}"``, encoded as UTF-8. Experiment names and salts cannot contain
   ``:``, so the key is unambiguous whatever the user id holds.
2. ``digest = SHA-256(key)``; ``value`` = the first 8 bytes of the digest read as a big-endian unsigned
   64-bit integer.
3. ``bucket = value % 10000`` (a basis point, 0..9999; the modulo bias is below 1e-15).
4. With an allocation of ``treatment_bp`` and ``coverage_bp`` (basis points of all users,
   ``0 <= treatment_bp <= coverage_bp <= 10000``):
   ``bucket < treatment_bp`` -> treatment; ``treatment_bp <= bucket < coverage_bp`` -> control;
   otherwise the user is outside the experiment (served the control variant, not recorded as an exposure).

Because the arms are consecutive ranges of one fixed bucket, raising ``treatment_bp`` only moves users from
control to treatment (never back), and raising ``coverage_bp`` only moves users from outside into control;
every other user keeps their arm. Lowering either is the only way to move a user "back", which is why the
lifecycle refuses it.

Published test vectors (experiment ``checkout-model``, salt ``s1``; the last two columns are the arm with
``treatment_bp=5000`` and ``coverage_bp`` 10000 and 9000)::

    user id     first 8 bytes (hex)   bucket   coverage 10000   coverage 9000
    user-1      56a060fc020b1399      2889     treatment        treatment
    user-2      ea6a3910c32d0de2      6322     control          control
    alice       b0ec57955a4929c0      9424     control          outside
    42          9b023fabb59273f9      2937     treatment        treatment
    ユーザー    3babf1b4876e39d5      5621     control          control   (UTF-8: e383a6 e383bc e382b6 e383bc)
"""

from __future__ import annotations

import hashlib
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

BUCKETS = 10_000
"""Number of buckets: allocations are expressed in basis points (1/10000) of all users."""

Arm = Literal["control", "treatment"]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
"""Experiment names: letters, digits, ``.``, ``_``, ``-`` (no ``:``, which separates the hash key's parts)."""
SALT_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
VARIANT_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
"""SageMaker's rule for production variant (and endpoint) names."""

_NAME = re.compile(NAME_PATTERN)
_SALT = re.compile(SALT_PATTERN)


class Allocation(BaseModel):
    """Which buckets are in the experiment and which of them get the treatment, in basis points of all users.

    ``treatment_bp`` buckets go to treatment, the next ``coverage_bp - treatment_bp`` to control, the rest are
    outside the experiment. Invalid bounds raise ``ValueError`` (pydantic ``ValidationError``) naming the field.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    treatment_bp: int = Field(ge=0, le=BUCKETS)
    coverage_bp: int = Field(BUCKETS, ge=0, le=BUCKETS)

    @model_validator(mode="after")
    def _treatment_within_coverage(self) -> Allocation:
        if self.treatment_bp > self.coverage_bp:
            raise ValueError(
                f"treatment_bp ({self.treatment_bp}) must not exceed coverage_bp ({self.coverage_bp}): "
                "treatment is a part of the users in the experiment"
            )
        return self

    @classmethod
    def from_shares(cls, treatment_share: float, coverage: float = 1.0) -> Allocation:
        """The allocation giving ``treatment_share`` of the experiment's users the treatment.

        ``coverage`` is the fraction of all users in the experiment. Both are rounded to whole basis points.
        Raises ``ValueError`` when either is outside [0, 1].
        """
        if not 0.0 <= treatment_share <= 1.0:
            raise ValueError(f"treatment_share must be in [0, 1], got {treatment_share}")
        if not 0.0 <= coverage <= 1.0:
            raise ValueError(f"coverage must be in [0, 1], got {coverage}")
        coverage_bp = round(coverage * BUCKETS)
        return cls(treatment_bp=round(treatment_share * coverage_bp), coverage_bp=coverage_bp)

    @property
    def treatment_share(self) -> float:
        """Fraction of the experiment's users (not of all users) in treatment; 0 when coverage is 0."""
        return self.treatment_bp / self.coverage_bp if self.coverage_bp else 0.0


class Variants(BaseModel):
    """The SageMaker production variants behind the two arms (sent as ``TargetVariant`` on invocation)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    control: str = Field(pattern=VARIANT_PATTERN)
    treatment: str = Field(pattern=VARIANT_PATTERN)

    @model_validator(mode="after")
    def _distinct(self) -> Variants:
        if self.control == self.treatment:
            raise ValueError(f"control and treatment must be different production variants, both are {self.control!r}")
        return self

    def of(self, arm: Arm) -> str:
        """The production variant name serving ``arm``."""
        return self.control if arm == "control" else self.treatment


class Assignment(BaseModel):
    """Where one user's requests go: the arm (``None`` outside the experiment) and the ``TargetVariant``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    experiment: str
    user_id: str
    bucket: int
    arm: Arm | None
    target_variant: str

    @property
    def in_experiment(self) -> bool:
        """Whether this request is an exposure to be recorded (users outside the experiment are not)."""
        return self.arm is not None


def bucket_of(experiment: str, salt: str, user_id: str) -> int:
    """The user's bucket in ``[0, 10000)``, per the module's published hash.

    Raises ``ValueError`` when the experiment name or salt could make the hash key ambiguous (a ``:``, other
    characters outside ``[A-Za-z0-9._-]``) or the user id is empty.
    """
    if not _NAME.fullmatch(experiment):
        raise ValueError(f"experiment must match {NAME_PATTERN} (no ':'), got {experiment!r}")
    if not _SALT.fullmatch(salt):
        raise ValueError(f"salt must match {SALT_PATTERN} (no ':'), got {salt!r}")
    if not user_id:
        raise ValueError("user_id must be a non-empty string")
    digest = hashlib.sha256(f"{experiment}:{salt}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def arm_of(bucket: int, allocation: Allocation) -> Arm | None:
    """The arm of a bucket under an allocation, or ``None`` when the bucket is outside the experiment."""
    if bucket < allocation.treatment_bp:
        return "treatment"
    if bucket < allocation.coverage_bp:
        return "control"
    return None


def assign(experiment: str, salt: str, user_id: str, allocation: Allocation, variants: Variants) -> Assignment:
    """Assign ``user_id`` sticky-ly: the same inputs give the same arm, in any process and any language.

    Users outside the experiment are routed to the control variant (the model already in production) with
    ``arm=None``. Raises ``ValueError`` for the inputs :func:`bucket_of` rejects.
    """
    bucket = bucket_of(experiment, salt, user_id)
    arm = arm_of(bucket, allocation)
    return Assignment(
        experiment=experiment,
        user_id=user_id,
        bucket=bucket,
        arm=arm,
        target_variant=variants.of(arm or "control"),
    )
