"""``StartShadow``, ``BeginShadowBake``, ``CompareShadow``, ``EndShadow``: the candidate answers a copy of live
traffic as the shadow variant (never served), is compared with production over the bake window, and the shadow
variant is removed as soon as the comparison passed, before the approval wait (a second fleet for up to the approval
timeout otherwise). A failed comparison goes to Abort, which restores the original config the same way."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator
from typing import Any

from mlops_kit.promotion.context import Promotion, passed
from mlops_kit.promotion.shadow import ShadowPairs, compare
from mlops_kit.promotion.steps import endpoint as endpoints
from mlops_kit.serving import naming

# At most this many requests are paired: plenty for a correlation, and it bounds the Lambda's memory and reads
# however busy the endpoint (a bake window of full capture can be gigabytes).
MAX_PAIRS = 20_000


def start_shadow(promotion: Promotion, state: dict[str, Any]) -> dict[str, Any]:
    """Serve production as before and give the candidate a copy of every request as the shadow variant."""
    plan = state["plan"]
    model = endpoints.candidate_model(promotion, state, plan["candidate_slot"])
    production = endpoints.variant(promotion, plan["current_slot"], endpoints.current_model(promotion, state), 1.0)
    shadow = endpoints.variant(promotion, naming.SHADOW, model, 1.0)
    config = endpoints.config(promotion, "shadow", [production], shadow)
    endpoints.mark(promotion, state, "shadow_requested")
    promotion.deployer.update(config)
    plan["shadow_config"] = config
    endpoints.await_change(promotion, state, config)
    return passed(state, "StartShadow")


def begin_shadow_bake(promotion: Promotion, state: dict[str, Any]) -> dict[str, Any]:
    """The shadow serves: the bake window starts now."""
    state["plan"]["shadow_started"] = promotion.clock()
    return passed(state, "ShadowServing")


def bake_window(since: float, now: float) -> tuple[dt.datetime, dt.datetime, int]:
    """(start, end, period) for GetMetricData over the bake window as one datapoint.

    SageMaker's endpoint metrics have one-minute resolution, and GetMetricData wants a ``Period`` that is a
    multiple of 60 and rounds a recent ``StartTime`` down to the minute; so the window is widened to whole
    minutes (start rounded down, end rounded up) and the period is its length.
    """
    start = math.floor(since / 60) * 60
    end = max(start + 60, math.ceil(now / 60) * 60)
    return dt.datetime.fromtimestamp(start, dt.UTC), dt.datetime.fromtimestamp(end, dt.UTC), int(end - start)


def _records(promotion: Promotion, variant: str, since: float, until: float) -> Iterator[dict[str, Any]]:
    """Capture records of ``variant`` with an inference time in [since, until], oldest file first, streamed.

    Only the hourly prefixes of the window are listed (capture files land under ``.../yyyy/mm/dd/hh/``, named
    by the time they were started, so a file started in the hour before may hold records of this one)."""
    endpoint = promotion.settings.endpoint
    bucket, _, root = f"{endpoint.capture_uri.rstrip('/')}/{endpoint.name}/{variant}".removeprefix("s3://").partition(
        "/"
    )
    s3 = promotion.aws.s3
    hour = math.floor(since / 3600) * 3600 - 3600
    while hour <= until:
        prefix = f"{root}/{dt.datetime.fromtimestamp(hour, dt.UTC):%Y/%m/%d/%H}/"
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                for line in s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].iter_lines():
                    if not line.strip():
                        continue
                    record = json.loads(line)
                    stamp = record.get("eventMetadata", {}).get("inferenceTime", "")
                    when = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() if stamp else since
                    if since <= when <= until:
                        yield record
        hour += 3600


def _pairs(promotion: Promotion, production_slot: str, since: float, until: float) -> list[tuple[float, float]]:
    pairing = ShadowPairs(limit=MAX_PAIRS)
    for record in _records(promotion, production_slot, since, until):
        if not pairing.add_production(record):
            break
    for record in _records(promotion, naming.SHADOW, since, until):
        if not pairing.add_shadow(record):
            break
    return pairing.pairs


def _stat(promotion: Promotion, variant: str, metric: str, stat: str, since: float, now: float) -> float | None:
    start, end, period = bake_window(since, now)
    result = promotion.aws.cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/SageMaker",
                        "MetricName": metric,
                        "Dimensions": [
                            {"Name": "EndpointName", "Value": promotion.endpoint_name},
                            {"Name": "VariantName", "Value": variant},
                        ],
                    },
                    "Period": period,
                    "Stat": stat,
                },
            }
        ],
        StartTime=start,
        EndTime=end,
    )["MetricDataResults"][0]
    values = result.get("Values", [])
    if not values:
        return None
    return float(sum(values)) if stat == "Sum" else float(max(values))


def compare_shadow(promotion: Promotion, state: dict[str, Any]) -> dict[str, Any]:
    """Errors, p99 latency and agreement of the shadow versus production over the bake window; a failed check
    sets ``failure`` (ShadowCheckFailed), which the state machine routes to Abort."""
    plan = state["plan"]
    since, now = float(plan["shadow_started"]), promotion.clock()
    slot = plan["current_slot"]
    production_p99 = _stat(promotion, slot, "ModelLatency", "p99", since, now)
    shadow_p99 = _stat(promotion, naming.SHADOW, "ModelLatency", "p99", since, now)
    comparison = compare(
        _pairs(promotion, slot, since, now),
        shadow_invocations=_stat(promotion, naming.SHADOW, "Invocations", "Sum", since, now) or 0.0,
        shadow_errors=_stat(promotion, naming.SHADOW, "Invocation5XXErrors", "Sum", since, now) or 0.0,
        production_p99_ms=production_p99 / 1000 if production_p99 is not None else None,
        shadow_p99_ms=shadow_p99 / 1000 if shadow_p99 is not None else None,
        limits=promotion.settings.rollout.shadow.limits(),
    )
    state["shadow"] = comparison.to_dict()
    if not comparison.passed:
        state["failure"] = {
            "Error": "ShadowCheckFailed",
            "Cause": "shadow comparison failed: " + "; ".join(comparison.reasons),
        }
    return passed(state, "CompareShadow")


def end_shadow(promotion: Promotion, state: dict[str, Any]) -> dict[str, Any]:
    """Production alone again, on the config the promotion started from (its instance count retained); the
    check that sees it done marks ``shadow_removed``."""
    original = state["plan"]["original_config"]
    promotion.deployer.update(original)
    endpoints.await_change(promotion, state, original, milestone="shadow_removed")
    return passed(state, "EndShadow")
