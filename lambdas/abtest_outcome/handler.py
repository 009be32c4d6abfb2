"""EventBridge ``mlops.abtest`` / ``Experiment Outcome`` events -> the experiment's outcomes.

An outcome that can never be recorded (unknown experiment or metric, a user the experiment never served, a bad
field) is logged and counted, not retried; anything else (a throttled table) raises, so Lambda retries it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from mlops_kit.abtest.dynamodb import DynamoDBRepository
from mlops_kit.abtest.errors import ExperimentError
from mlops_kit.abtest.events import OutcomeDetail
from mlops_kit.abtest.service import ExperimentService
from mlops_kit.abtest.settings import OutcomeSettings
from mlops_kit.environment import read_settings
from mlops_kit.eventbridge import EventBridgeEvent
from mlops_kit.observability import Observability

observability = Observability.of_function()
logger, metrics = observability.logger, observability.metrics

# EventBridge stamps events to the second: an outcome without its own ``at`` happened within that second, so its
# end is used (else an outcome sent the same second as the exposure would look earlier than the exposure), but
# never later than now, when it is recorded (else a status computed within that second would not count it yet).
_WITHIN_THE_SECOND = timedelta(seconds=1) - timedelta(microseconds=1)


class OutcomeEvent(EventBridgeEvent):
    detail: OutcomeDetail


@cache
def settings() -> OutcomeSettings:
    """Read once per container; a bad deployment fails the first call, naming the field."""
    return read_settings(OutcomeSettings)


@cache
def service() -> ExperimentService:
    return ExperimentService(DynamoDBRepository(boto3.client("dynamodb"), settings().experiment_table))


@observability.handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings()
    try:
        parsed = OutcomeEvent.model_validate(event)
        detail = parsed.detail
        outcome = service().record_outcome(
            detail.experiment,
            detail.user_id,
            metric=detail.metric,
            value=detail.value,
            at=detail.at or min(parsed.time + _WITHIN_THE_SECOND, datetime.now(UTC)),
            event_id=detail.event_id,
        )
    except (ExperimentError, ValidationError, ValueError) as exc:
        reason = " ".join(str(exc).split())
        logger.warning("outcome rejected", extra={"reason": reason, "event_id": event.get("id")})
        metrics.add_metric(name="OutcomesRejected", unit=MetricUnit.Count, value=1)
        return {"recorded": False, "reason": reason}
    logger.info("outcome recorded", extra={"experiment": outcome.experiment, "event_id": outcome.event_id})
    metrics.add_metric(name="OutcomesRecorded", unit=MetricUnit.Count, value=1)
    return {"recorded": True, "event_id": outcome.event_id}
