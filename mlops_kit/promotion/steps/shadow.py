"""``StartShadow``, ``BeginShadowBake``, ``CompareShadow``: the candidate answers a copy of live traffic as the
shadow variant (never served), then is compared with production over the bake window."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from mlops_kit.promotion.context import Promotion, passed
from mlops_kit.promotion.shadow import compare, paired_scores
from mlops_kit.promotion.steps import endpoint as endpoints
from mlops_kit.serving import naming


def start_shadow(promotion: Promotion, state: dict[str, Any]) -> dict[str, Any]:
    """Serve production as before and give the candidate a copy of every request as the shadow variant."""
    plan = state["plan"]
    model = endpoints.candidate_model(promotion, state, plan["candidate_slot"])
    production = endpoints.variant(promotion, plan["current_slot"], endpoints.current_model(promotion, state), 1.0)
    shadow = endpoints.variant(promotion, naming.SHADOW, model, 1.0)
    config = endpoints.create_config(promotion, state, "shadow", [production], shadow)
    endpoints.update(promotion, config)
    plan["shadow_config"] = config
    return passed(state, "StartShadow")


def begin_shadow_bake(promotion: Promotion, state: dict[str, Any]) -> dict[str, Any]:
    """The shadow serves: the bake window starts now."""
    state["plan"]["shadow_started"] = promotion.clock()
    return passed(state, "ShadowServing")


def _capture(promotion: Promotion, variant: str, since: float) -> list[dict[str, Any]]:
    endpoint = promotion.settings.endpoint
    uri = f"{endpoint.capture_uri.rstrip('/')}/{endpoint.name}/{variant}/"
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    s3 = promotion.aws.s3
    records: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["LastModified"].timestamp() < since - 3600:
                continue
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode()
            for line in body.splitlines():
                if not line.strip():
                    continue
                record = json.loads(line)
                stamp = record.get("eventMetadata", {}).get("inferenceTime", "")
                when = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() if stamp else since
                if when >= since:
                    records.append(record)
    return records


def _stat(promotion: Promotion, variant: str, metric: str, stat: str, since: float) -> float | None:
    now = promotion.clock()
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
                    "Period": max(60, int(now - since) + 60),
                    "Stat": stat,
                },
            }
        ],
        StartTime=dt.datetime.fromtimestamp(since, dt.UTC),
        EndTime=dt.datetime.fromtimestamp(now, dt.UTC) + dt.timedelta(seconds=60),
    )["MetricDataResults"][0]
    values = result.get("Values", [])
    if not values:
        return None
    return float(sum(values)) if stat == "Sum" else float(max(values))


def compare_shadow(promotion: Promotion, state: dict[str, Any]) -> dict[str, Any]:
    """Errors, p99 latency and agreement of the shadow versus production over the bake window; a failed check
    sets ``failure`` (ShadowCheckFailed), which the state machine routes to Abort."""
    plan = state["plan"]
    since = float(plan["shadow_started"])
    production = _capture(promotion, plan["current_slot"], since)
    shadow = _capture(promotion, naming.SHADOW, since)
    production_p99 = _stat(promotion, plan["current_slot"], "ModelLatency", "p99", since)
    shadow_p99 = _stat(promotion, naming.SHADOW, "ModelLatency", "p99", since)
    comparison = compare(
        paired_scores(production, shadow),
        shadow_invocations=_stat(promotion, naming.SHADOW, "Invocations", "Sum", since) or 0.0,
        shadow_errors=_stat(promotion, naming.SHADOW, "Invocation5XXErrors", "Sum", since) or 0.0,
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
