"""Tearing the endpoint down when the serving stack is deleted (``cdk destroy``).

The endpoint, its models and configs and their autoscaling are made at runtime by the promotion workflow and A/B
tests, so CloudFormation does not know them. A custom resource of the serving stack (``Custom::ServingTeardown``,
:mod:`cdk.constructs.serving_teardown`) runs :func:`tear_down` on Delete: the stack's deletion waits until the
endpoint is gone, and fails (DELETE_FAILED, the reason in the stack's events) rather than leave it billing.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlops_kit.environment import HandlerSettings
from mlops_kit.serving import cleanup, naming
from mlops_kit.serving.deploy import BUSY, EndpointDeployer
from mlops_kit.waiting import poll

# SageMaker takes minutes to delete an endpoint; the function's 15-minute limit bounds the whole teardown.
DELETE_TIMEOUT_SECONDS = 12 * 60
POLL_SECONDS = 15


class TeardownSettings(HandlerSettings):
    """The teardown function's settings: the one endpoint it may remove."""

    VARIABLE = "MLOPS_TEARDOWN_SETTINGS"

    endpoint_name: str


@dataclass
class TeardownReport:
    """What :func:`tear_down` removed (every list empty on a second run)."""

    endpoint_deleted: bool = False
    autoscaling_removed: list[str] = field(default_factory=list)
    configs_deleted: list[str] = field(default_factory=list)
    models_deleted: list[str] = field(default_factory=list)
    alarms_deleted: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint_deleted": self.endpoint_deleted,
            "autoscaling_removed": self.autoscaling_removed,
            "configs_deleted": self.configs_deleted,
            "models_deleted": self.models_deleted,
            "alarms_deleted": self.alarms_deleted,
        }


def tear_down(
    deployer: EndpointDeployer,
    *,
    cloudwatch: Any = None,
    timeout: float = DELETE_TIMEOUT_SECONDS,
    every: float = POLL_SECONDS,
) -> TeardownReport:
    """Remove the endpoint and everything the kit made for it; idempotent (nothing left, nothing done).

    In this order: each variant's scaling policies and scalable target (they outlive the endpoint otherwise);
    the endpoint, once no change is in progress (a promotion's update is waited for, not raced), waiting until
    SageMaker has deleted it; then every endpoint config and model the kit named for it
    (:func:`mlops_kit.serving.cleanup.everything_of`), configs first; then, with ``cloudwatch`` (a client), the
    canary's business-metric alarms a promotion stopped mid-canary left behind (their names are the endpoint's).
    Raises TimeoutError when the endpoint is still there after ``timeout`` seconds.
    """
    report = TeardownReport()
    for variant in deployer.autoscaled_variants():
        deployer.stop_autoscaling(variant)
        report.autoscaling_removed.append(variant)
    name = deployer.endpoint_name

    def settled() -> dict[str, Any] | bool | None:
        endpoint = deployer.describe()
        if endpoint is None:
            return True
        return None if endpoint["EndpointStatus"] in BUSY else endpoint

    endpoint = poll(settled, every=every, timeout=timeout, what=f"endpoint {name} to finish its change")
    if endpoint is not True:
        deployer.delete()
        report.endpoint_deleted = True
        poll(
            lambda: True if deployer.describe() is None else None,
            every=every,
            timeout=timeout,
            what=f"endpoint {name} to be deleted",
        )
    doomed = cleanup.everything_of(name, deployer.configs_with_models(), deployer.model_names())
    deployer.delete_configs_and_models(doomed.configs, doomed.models)
    report.configs_deleted, report.models_deleted = list(doomed.configs), list(doomed.models)
    if cloudwatch is not None:
        report.alarms_deleted = delete_business_alarms(cloudwatch, name)
    return report


def business_alarm_names(endpoint_name: str) -> list[str]:
    """The canary's business-metric alarms endpoint ``endpoint_name`` may have, one per variant slot."""
    return [naming.business_alarm(endpoint_name, slot) for slot in naming.SLOTS]


def delete_business_alarms(cloudwatch: Any, endpoint_name: str) -> list[str]:
    """Delete the endpoint's business-metric alarms that exist (a promotion deletes its own when it ends; one
    stopped mid-canary, or whose tooling stack was deleted, leaves it); returns the names deleted."""
    described = cloudwatch.describe_alarms(AlarmNames=business_alarm_names(endpoint_name))
    found = [alarm["AlarmName"] for alarm in described["MetricAlarms"]]
    if found:
        cloudwatch.delete_alarms(AlarmNames=found)
    return found


# -- the CloudFormation custom resource protocol ---------------------------------------------------------------
Sender = Callable[[str, bytes], None]


def put_response(url: str, body: bytes) -> None:
    """PUT the response to the pre-signed URL CloudFormation gave (an empty content type, as it signs it)."""
    request = urllib.request.Request(  # noqa: S310  (the URL is CloudFormation's own pre-signed one)
        url, data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        answer.read()


def handle_event(
    event: dict[str, Any],
    *,
    endpoint_name: str,
    deployer: Callable[[], EndpointDeployer],
    send: Sender = put_response,
    log_stream: str = "",
    cloudwatch: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """Answer one custom resource request: Create and Update do nothing (the endpoint comes with the first
    promotion), Delete runs :func:`tear_down` (with ``cloudwatch()``'s client, when given). The answer is always
    sent (FAILED with the reason when the teardown fails), or CloudFormation would wait an hour for it. Returns the
    answer sent."""
    request_type = event.get("RequestType")
    physical_id = str(event.get("PhysicalResourceId") or f"{endpoint_name}-teardown")
    answer: dict[str, Any] = {
        "Status": "SUCCESS",
        "PhysicalResourceId": physical_id,
        "StackId": event.get("StackId", ""),
        "RequestId": event.get("RequestId", ""),
        "LogicalResourceId": event.get("LogicalResourceId", ""),
        "Data": {"EndpointName": endpoint_name},
    }
    try:
        if request_type == "Delete":
            report = tear_down(deployer(), cloudwatch=cloudwatch() if cloudwatch else None)
            answer["Data"] = {"EndpointName": endpoint_name, **_flat(report.to_dict())}
        elif request_type not in ("Create", "Update"):
            raise ValueError(f"unknown RequestType {request_type!r}; CloudFormation sends Create, Update or Delete")
    except Exception as exc:  # the answer must be sent whatever went wrong
        answer["Status"] = "FAILED"
        where = f" (log stream {log_stream})" if log_stream else ""
        answer["Reason"] = f"tearing down endpoint {endpoint_name} failed: {type(exc).__name__}: {exc}{where}"[:3900]
    send(str(event["ResponseURL"]), json.dumps(answer).encode())
    return answer


def _flat(report: dict[str, Any]) -> dict[str, str]:
    """Custom resource Data values are strings (Fn::GetAtt returns them as such)."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in report.items()}
