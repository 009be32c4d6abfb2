"""What a promotion cost: the instance-hours each variant ran, from the promotion's own milestones, and an estimate
priced from the platform's table (``cost.instance_prices`` in cdk.json: per instance type, per hour).

The milestones (``plan.times``, seconds on the workflow's clock, set by the steps as they happen):

``started``
    Validate took the lock.
``shadow_requested`` / ``shadow_removed``
    StartShadow asked for the shadow variant / EndShadow's check saw production alone again.
``candidate_requested`` / ``previous_removed``
    The candidate's variant or fleet was asked for (PrepareCanary, StartGuardrails, DeployDirect) / the update that
    leaves the candidate alone was seen done (CompleteRollout, the guarded or direct update).
``restored``
    Abort's restore of the original config was seen done.

Instance-hours are counted at the configured initial instance count per variant (capacity autoscaling added is
not counted); a variant runs from the request that adds it to the check that sees it gone, or to the record's time
when the promotion ended first. The serving variant runs the whole promotion (from ``started``) when the endpoint
existed; a first deployment has only the candidate.

A serverless endpoint (``serving.serverless``) has no instances: SageMaker bills it per inference duration (by the
memory size) and data processed, which the promotion does not meter, plus provisioned concurrency by memory,
concurrency and the time it is provisioned. Its record (:func:`serverless_estimate`) carries no instance-hours and
no estimate, and says so; with provisioned concurrency it carries the provisioned GB-hours the promotion's
variants held.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

SECONDS_PER_HOUR = 3600.0


def _span(start: float | None, end: float) -> float:
    return max(0.0, end - start) if start is not None else 0.0


def instance_hours(
    times: Mapping[str, float], *, finished: float, instance_count: int, endpoint_existed: bool
) -> dict[str, float]:
    """``{"production", "shadow", "candidate", "total"}`` instance-hours (rounded to 4 decimals).

    Raises ValueError when ``started`` is missing, a time is not finite, or ``instance_count`` is below 1.
    """
    if instance_count < 1:
        raise ValueError(f"instance_count must be at least 1, got {instance_count}")
    if "started" not in times:
        raise ValueError("the promotion's times have no 'started' (set by Validate)")
    bad = {k: v for k, v in times.items() if not math.isfinite(float(v))}
    if bad or not math.isfinite(finished):
        raise ValueError(f"promotion times must be finite numbers of seconds, got {bad or {'finished': finished}}")
    started = float(times["started"])

    def first(*names: str) -> float:
        return min((float(times[n]) for n in names if n in times), default=finished)

    production = _span(started, finished) if endpoint_existed else 0.0
    shadow = _span(times.get("shadow_requested"), first("shadow_removed", "restored"))
    candidate = _span(times.get("candidate_requested"), first("previous_removed", "restored") if endpoint_existed
                      else finished)  # fmt: skip
    hours = {
        "production": production * instance_count / SECONDS_PER_HOUR,
        "shadow": shadow * instance_count / SECONDS_PER_HOUR,
        "candidate": candidate * instance_count / SECONDS_PER_HOUR,
    }
    hours["total"] = sum(hours.values())
    return {k: round(v, 4) for k, v in hours.items()}


def estimate(hours: Mapping[str, float], instance_type: str, prices: Mapping[str, float]) -> dict[str, Any]:
    """The record's ``cost``: the instance-hours, and ``estimate`` (hours x the price of ``instance_type``, in the
    currency the table is in) or None with ``unpriced`` saying which price is missing."""
    result: dict[str, Any] = {"instance_type": instance_type, "instance_hours": dict(hours)}
    price = prices.get(instance_type)
    if price is None:
        result["estimate"] = None
        result["unpriced"] = f"no price for {instance_type} in cost.instance_prices"
    else:
        result["price_per_hour"] = price
        result["estimate"] = round(float(hours["total"]) * price, 4)
    return result


SERVERLESS_UNPRICED = (
    "serverless: billed per inference duration and data processed (not metered by the promotion) and per "
    "provisioned-concurrency GB-hour; cost.instance_prices prices instances only"
)


def serverless_estimate(
    times: Mapping[str, float], *, finished: float, endpoint_existed: bool, serverless: Mapping[str, int]
) -> dict[str, Any]:
    """The record's ``cost`` for a serverless endpoint: no instance-hours and no estimate (``unpriced`` says why),
    the variant's ``serverless`` settings, and ``provisioned_gb_hours``: provisioned concurrency x memory (GB) x
    the hours each variant of the promotion held it (as :func:`instance_hours` spans them), or None when the
    endpoint is on demand. Raises ValueError as :func:`instance_hours` does."""
    spans = instance_hours(times, finished=finished, instance_count=1, endpoint_existed=endpoint_existed)
    provisioned = serverless.get("ProvisionedConcurrency")
    gb_hours = None
    if provisioned:
        gb_hours = round(spans["total"] * provisioned * serverless["MemorySizeInMB"] / 1024, 4)
    return {
        "serving": "serverless",
        "serverless": dict(serverless),
        "instance_hours": None,
        "provisioned_gb_hours": gb_hours,
        "estimate": None,
        "unpriced": SERVERLESS_UNPRICED,
    }
