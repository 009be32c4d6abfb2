"""The IAM-authorized HTTP router (API Gateway REST API, AWS_IAM): A/B routing for services that cannot embed
the Python client.

* ``GET /experiments/{experiment}/assignments/{user_id}``: the user's arm and ``TargetVariant``; the first one
  is recorded as the exposure (ask only when you are about to serve the user).
* ``POST /experiments/{experiment}/invocations`` with ``{"user_id": ..., "payload": {...}}``: invokes the
  experiment's endpoint with the user's ``TargetVariant``, records the exposure, returns the model's answer.

Errors are JSON ``{"message": ...}``: 400 for a bad request, 404 for an unknown experiment, 409 for a planned
one. When the model refuses the payload (its 4xx: 400 for an invalid field, 404 for an unknown entity, 415...),
the model's status and message are passed through, so the caller can fix the request; only a real upstream
failure (the model's 5xx, an endpoint that cannot be called) is 502. A stopped experiment no longer routes
(``arm`` is null; invocations follow the endpoint's weights). Only :mod:`mlops_kit.abtest.routing` is loaded:
no numpy or scipy at cold start.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlops_kit.abtest.assignment import Assignment
from mlops_kit.abtest.errors import ExperimentNotFoundError, IllegalTransitionError
from mlops_kit.abtest.routing import ExperimentRouter, RouteTable
from mlops_kit.abtest.settings import RouterSettings
from mlops_kit.environment import read_settings
from mlops_kit.observability import Observability
from mlops_kit.serving.client import EndpointClient, ModelRequestError

observability = Observability.of_function()
logger, tracer = observability.logger, observability.tracer

app = APIGatewayRestResolver()
_routers: dict[str, ExperimentRouter] = {}


class InvocationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(min_length=1)
    payload: dict[str, Any]


@cache
def settings() -> RouterSettings:
    """Read once per container; a bad deployment fails the first call, naming the field."""
    return read_settings(RouterSettings)


@cache
def route_table() -> RouteTable:
    return RouteTable(boto3.client("dynamodb"), settings().experiment_table)


@cache
def runtime() -> Any:
    """The SageMaker runtime client the invocations go through."""
    return boto3.client("sagemaker-runtime")


def router(experiment: str) -> ExperimentRouter:
    """One router per experiment and container: routes are cached for 30 s, known users are not re-recorded."""
    if experiment not in _routers:
        _routers[experiment] = ExperimentRouter(route_table(), experiment)
    return _routers[experiment]


def _assignment(experiment: str, assignment: Assignment | None) -> dict[str, Any]:
    return {
        "experiment": experiment,
        "arm": assignment.arm if assignment else None,
        "target_variant": assignment.target_variant if assignment and assignment.arm else None,
        "bucket": assignment.bucket if assignment else None,
    }


@app.get("/experiments/<experiment>/assignments/<user_id>")
@tracer.capture_method
def get_assignment(experiment: str, user_id: str) -> dict[str, Any]:
    return {**_assignment(experiment, router(experiment).assign(user_id)), "user_id": user_id}


@app.post("/experiments/<experiment>/invocations")
@tracer.capture_method
def invoke(experiment: str) -> dict[str, Any]:
    request = InvocationRequest.model_validate(app.current_event.json_body or {})
    experiment_router = router(experiment)
    assignment = experiment_router.assign(request.user_id)
    endpoint = experiment_router.route().endpoint_name
    client = EndpointClient(endpoint, runtime())
    target = assignment.target_variant if assignment else None
    prediction = client.predict(request.payload, target_variant=target)
    return {
        **_assignment(experiment, assignment),
        "user_id": request.user_id,
        "variant": prediction.variant,
        "prediction": prediction.body,
    }


def _error(status: int, message: str) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body={"message": message})


@app.exception_handler(ExperimentNotFoundError)
def _not_found(exc: ExperimentNotFoundError) -> Response:
    return _error(404, str(exc))


@app.exception_handler(IllegalTransitionError)
def _not_started(exc: IllegalTransitionError) -> Response:
    return _error(409, str(exc))


@app.exception_handler(ModelRequestError)
def _model_failed(exc: ModelRequestError) -> Response:
    if exc.client_error and exc.status is not None:  # the caller's mistake, in the model's words
        return _error(exc.status, exc.detail)
    return _error(502, str(exc))


@app.exception_handler(ValidationError)
def _invalid(exc: ValidationError) -> Response:
    problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())
    return _error(400, f"invalid request: {problems}")


@app.exception_handler(ValueError)
def _bad_value(exc: ValueError) -> Response:
    return _error(400, str(exc))


@observability.handler(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings()
    caller = (event.get("requestContext") or {}).get("identity", {}).get("userArn")
    logger.append_keys(caller=caller)
    return app.resolve(event, context)
