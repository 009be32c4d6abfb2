"""Assignment: the published hash, stickiness, monotone ramps, and allocation accuracy tested statistically."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from mlops_kit.abtest import assignment
from mlops_kit.abtest.assignment import (
    BUCKETS,
    NAME_PATTERN,
    SALT_PATTERN,
    Allocation,
    Variants,
    arm_of,
    assign,
    bucket_of,
)

VARIANTS = Variants(control="production", treatment="candidate")

# The vectors published in the assignment module's docstring: user id, first 8 digest bytes, bucket, and the
# arm with treatment_bp=5000 at coverage 10000 and at coverage 9000 (experiment "checkout-model", salt "s1").
VECTORS = [
    ("user-1", "56a060fc020b1399", 2889, "treatment", "treatment"),
    ("user-2", "ea6a3910c32d0de2", 6322, "control", "control"),
    ("alice", "b0ec57955a4929c0", 9424, "control", None),
    ("42", "9b023fabb59273f9", 2937, "treatment", "treatment"),
    ("ユーザー", "3babf1b4876e39d5", 5621, "control", "control"),
]

# A false failure of one chi-squared test below needs its p-value under 1e-6: for a uniform hash and a fresh
# set of ids that happens with probability 1e-6 per test (the ids here are fixed, so the run is deterministic).
P_FLOOR = 1e-6
IDS = [f"user-{i}" for i in range(100_000)]

experiments = st.from_regex(NAME_PATTERN, fullmatch=True)
salts = st.from_regex(SALT_PATTERN, fullmatch=True)
user_ids = st.text(min_size=1, max_size=40)
basis_points = st.integers(min_value=0, max_value=BUCKETS)


@pytest.fixture(scope="module")
def buckets() -> list[int]:
    return [bucket_of("allocation-test", "s1", user) for user in IDS]


@pytest.mark.parametrize(("user", "digest", "bucket", "full", "partial"), VECTORS)
def test_published_vectors(user: str, digest: str, bucket: int, full: str, partial: str | None) -> None:
    raw = hashlib.sha256(f"checkout-model:s1:{user}".encode()).digest()[:8]

    assert raw.hex() == digest
    assert int.from_bytes(raw, "big") % BUCKETS == bucket
    assert bucket_of("checkout-model", "s1", user) == bucket
    assert assign("checkout-model", "s1", user, Allocation(treatment_bp=5000), VARIANTS).arm == full
    assert arm_of(bucket, Allocation(treatment_bp=5000, coverage_bp=9000)) == partial


def test_the_vectors_are_the_ones_the_docstring_publishes() -> None:
    doc = assignment.__doc__ or ""
    for user, digest, bucket, full, partial in VECTORS:
        row = next(line for line in doc.splitlines() if line.strip().startswith(user + " "))
        assert row.split()[:5] == [user, digest, str(bucket), full, partial or "outside"]


def test_assignment_routes_to_the_arms_production_variant() -> None:
    treated = assign("checkout-model", "s1", "user-1", Allocation(treatment_bp=5000), VARIANTS)
    control = assign("checkout-model", "s1", "user-2", Allocation(treatment_bp=5000), VARIANTS)
    outside = assign("checkout-model", "s1", "alice", Allocation(treatment_bp=5000, coverage_bp=9000), VARIANTS)

    assert (treated.target_variant, treated.in_experiment) == ("candidate", True)
    assert (control.target_variant, control.in_experiment) == ("production", True)
    assert (outside.arm, outside.target_variant, outside.in_experiment) == (None, "production", False)


@given(experiment=experiments, salt=salts, user=user_ids, share=basis_points)
def test_assignment_is_sticky(experiment: str, salt: str, user: str, share: int) -> None:
    first = assign(experiment, salt, user, Allocation(treatment_bp=share), VARIANTS)
    again = assign(experiment, salt, user, Allocation(treatment_bp=share), VARIANTS)

    assert first == again
    assert 0 <= first.bucket < BUCKETS


@given(experiment=experiments, salt=salts, user=user_ids, a=basis_points, b=basis_points)
def test_ramping_treatment_up_only_moves_control_users_to_treatment(
    experiment: str, salt: str, user: str, a: int, b: int
) -> None:
    low, high = sorted((a, b))
    before = assign(experiment, salt, user, Allocation(treatment_bp=low), VARIANTS)
    after = assign(experiment, salt, user, Allocation(treatment_bp=high), VARIANTS)

    if before.arm == "treatment":
        assert after.arm == "treatment"
    if before.arm != after.arm:
        assert (before.arm, after.arm) == ("control", "treatment")
        assert low <= before.bucket < high  # only users inside the change move
    else:
        assert not low <= before.bucket < high


@given(experiment=experiments, salt=salts, user=user_ids, treatment=basis_points, a=basis_points, b=basis_points)
def test_widening_coverage_only_moves_outside_users_into_control(
    experiment: str, salt: str, user: str, treatment: int, a: int, b: int
) -> None:
    low, high = sorted((max(a, treatment), max(b, treatment)))
    before = assign(experiment, salt, user, Allocation(treatment_bp=treatment, coverage_bp=low), VARIANTS)
    after = assign(experiment, salt, user, Allocation(treatment_bp=treatment, coverage_bp=high), VARIANTS)

    assert before.arm is None or before.arm == after.arm
    if before.arm != after.arm:
        assert (before.arm, after.arm) == (None, "control")


@pytest.mark.parametrize(
    ("treatment_bp", "coverage_bp"),
    [(100, 10_000), (500, 10_000), (2_500, 10_000), (5_000, 10_000), (9_000, 10_000), (1_000, 2_000)],
)
def test_allocation_matches_the_weights(buckets: list[int], treatment_bp: int, coverage_bp: int) -> None:
    allocation = Allocation(treatment_bp=treatment_bp, coverage_bp=coverage_bp)
    arms = [arm_of(b, allocation) for b in buckets]
    observed = [arms.count("treatment"), arms.count("control"), arms.count(None)]
    shares = [treatment_bp, coverage_bp - treatment_bp, BUCKETS - coverage_bp]
    expected = [len(IDS) * s / BUCKETS for s in shares]
    kept = [i for i, e in enumerate(expected) if e > 0]

    result = stats.chisquare([observed[i] for i in kept], [expected[i] for i in kept])

    assert result.pvalue > P_FLOOR, (observed, expected)
    assert all(observed[i] == 0 for i in range(3) if i not in kept)


def test_buckets_are_uniform(buckets: list[int]) -> None:
    counts = [0] * 100
    for bucket in buckets:
        counts[bucket // 100] += 1

    assert stats.chisquare(counts).pvalue > P_FLOOR


def test_a_new_salt_reshuffles_users_independently(buckets: list[int]) -> None:
    allocation = Allocation(treatment_bp=5000)
    first = [arm_of(b, allocation) == "treatment" for b in buckets]
    second = [arm_of(bucket_of("allocation-test", "s2", user), allocation) == "treatment" for user in IDS]
    table = [[0, 0], [0, 0]]
    for a, b in zip(first, second, strict=True):
        table[a][b] += 1

    assert stats.chi2_contingency(table).pvalue > P_FLOOR


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: bucket_of("bad:name", "s1", "u"), "experiment must match"),
        (lambda: bucket_of("exp", "bad:salt", "u"), "salt must match"),
        (lambda: bucket_of("exp", "", "u"), "salt must match"),
        (lambda: bucket_of("exp", "s1", ""), "user_id must be a non-empty string"),
        (lambda: Allocation(treatment_bp=6000, coverage_bp=5000), r"treatment_bp \(6000\) must not exceed coverage_bp"),
        (lambda: Allocation(treatment_bp=-1), "treatment_bp"),
        (lambda: Allocation(treatment_bp=10_001), "treatment_bp"),
        (lambda: Allocation.from_shares(1.5), r"treatment_share must be in \[0, 1\]"),
        (lambda: Allocation.from_shares(0.5, coverage=-0.1), r"coverage must be in \[0, 1\]"),
        (lambda: Variants(control="v1", treatment="v1"), "must be different production variants"),
        (lambda: Variants(control="bad_name", treatment="v1"), "control"),
    ],
)
def test_bad_inputs_are_rejected_with_a_clear_message(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_shares_round_to_basis_points() -> None:
    allocation = Allocation.from_shares(0.5, coverage=0.2)

    assert (allocation.treatment_bp, allocation.coverage_bp) == (1000, 2000)
    assert allocation.treatment_share == 0.5
