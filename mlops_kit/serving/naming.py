"""Names that CDK, the promotion workflow and the CLI must agree on.

A promotion deploys the candidate into whichever of two production variant *slots* is not serving
(``blue``/``green``), so CloudWatch alarms, which need fixed dimensions, exist for both slots before any
deployment. The shadow variant is always ``shadow``. In ``guardrails`` mode SageMaker keeps the serving slot's
name for the new fleet, so the same alarms watch it.
"""

from __future__ import annotations

SLOTS = ("blue", "green")
SHADOW = "shadow"
ROLLOUT_NAMESPACE = "MlopsKit/Rollout"
ROLLOUT_METRIC = "CandidateTrafficPercent"


def other_slot(slot: str | None) -> str:
    """The slot a candidate goes into when ``slot`` serves (blue when nothing serves yet)."""
    if slot is None:
        return SLOTS[0]
    if slot not in SLOTS:
        raise ValueError(f"unknown variant slot {slot!r}; slots are {SLOTS}")
    return SLOTS[1] if slot == SLOTS[0] else SLOTS[0]


def error_rate_alarm(endpoint: str, slot: str) -> str:
    return f"{endpoint}-{slot}-5xx-rate"


def latency_alarm(endpoint: str, slot: str) -> str:
    return f"{endpoint}-{slot}-p99-latency"


def business_alarm(endpoint: str, slot: str) -> str:
    """The business-metric alarm of a canary of ``slot`` (it exists only while that canary runs)."""
    return f"{endpoint}-{slot}-business-drop"


def rollback_alarms(endpoint: str, slot: str, *, business: bool) -> list[str]:
    """The alarms that roll a candidate in ``slot`` back (``business``: with the canary's business alarm)."""
    names = [error_rate_alarm(endpoint, slot), latency_alarm(endpoint, slot)]
    return [*names, business_alarm(endpoint, slot)] if business else names


# Where an environment's promotion copies a candidate's inference code bundle: under the artifacts bucket's
# models/ prefix, which the bucket and key policies share with the environment accounts.
SHARED_CODE_PREFIX = "models/code"
CAPTURE_ROOT = "capture"  # the endpoint's DestinationS3Uri is s3://<artifacts bucket>/capture


def capture_prefix(endpoint: str) -> str:
    """Where the endpoint's capture files land: SageMaker adds /<endpoint>/<variant>/yyyy/mm/dd/hh/ to the
    destination URI."""
    return f"{CAPTURE_ROOT}/{endpoint}"
