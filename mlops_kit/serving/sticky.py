"""Sticky A/B assignment inside the inference container, for clients that call the endpoint without the kit's router.

During an A/B test SageMaker splits a plain client's requests by the variants' weights, request by request, so
one user would see both models. A request that names its user (a top-level ``"user_id"``, a non-empty string, beside
``"transaction"`` or ``"instances"``) is assigned here with the router's own function
(:class:`mlops_kit.abtest.routing.EndpointRouter`: the published hash of :mod:`mlops_kit.abtest.assignment`, the
exposure recorded once per user). When the user belongs to the other variant, the container that received the
request invokes the endpoint again with ``TargetVariant`` set to it and answers with that variant's answer:

* the forwarded copy carries :data:`FORWARDED_BY` (the variant that forwarded it), and a container never forwards
  a request that carries it, so a request is forwarded at most once, whatever the two containers believe;
* the answer returned to the client carries :data:`FORWARDED_TO` (the variant that scored it), so whoever reads
  the forwarding variant's data capture (the quality join does) attributes the prediction to the variant that
  made it; the forwarded copy in the other variant's capture carries :data:`FORWARDED_BY` and is the duplicate.

What is not forwarded, and served by whichever variant SageMaker chose: a request without ``"user_id"`` (per-request
routing, as before), any request while no experiment runs on the endpoint (or after it stopped), a request the
kit's router already sent to the user's variant, and every request when the experiments table cannot be read (the
request is served and the failure logged: an unreadable table must not turn every request into an error).

Environment (the promotion workflow's serving environment): ``MLOPS_EXPERIMENT_TABLE`` (unset: nothing is
forwarded), ``MLOPS_ENDPOINT_NAME`` and ``MLOPS_VARIANT``. The model role needs ``dynamodb:GetItem``/``Query`` on
the experiment items, ``dynamodb:PutItem`` on exposure items and ``sagemaker:InvokeEndpoint`` on the endpoint
(``cdk/constructs/abtest.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

USER_FIELD = "user_id"
FORWARDED_BY = "mlops_forwarded_by"
FORWARDED_TO = "mlops_forwarded_to"

LOG = logging.getLogger(__name__)


class ForwardError(Exception):
    """The request cannot be forwarded or the assigned variant failed it; ``status`` is the HTTP status to answer
    with (the variant's own 4xx, 400 for a bad ``user_id``, 502 otherwise)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def user_of(document: Any) -> str | None:
    """The request's user key (top-level ``user_id``), or ``None`` when the request names none.

    Raises ``ForwardError`` (400) when ``user_id`` is present but not a non-empty string.
    """
    if not isinstance(document, Mapping) or document.get(USER_FIELD) is None:
        return None
    user = document[USER_FIELD]
    if not isinstance(user, str) or not user.strip():
        shown = type(user).__name__ if not isinstance(user, str) else "an empty string"
        raise ForwardError(
            400, f"'{USER_FIELD}' must be a non-empty string (the user the A/B test assigns); got {shown}"
        )
    return user


@dataclass
class StickyRouting:
    """Assigns requests by user and forwards those that belong to the other variant (see the module doc).

    ``router`` gives a user's ``TargetVariant`` (``None`` while no experiment runs); ``runtime`` is a
    ``sagemaker-runtime`` client; ``variant`` is this container's production variant.
    """

    endpoint_name: str
    variant: str
    router: Callable[[str], str | None]
    runtime: Any

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> StickyRouting | None:
        """The routing this container's environment configures, or ``None`` when ``MLOPS_EXPERIMENT_TABLE`` is unset.

        Raises ``ValueError`` naming the variable when the table is set but the endpoint or variant is not.
        """
        table = environ.get("MLOPS_EXPERIMENT_TABLE")
        if not table:
            return None
        missing = [name for name in ("MLOPS_ENDPOINT_NAME", "MLOPS_VARIANT") if not environ.get(name)]
        if missing:
            raise ValueError(
                f"MLOPS_EXPERIMENT_TABLE is set but {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                "not: sticky A/B assignment needs the "
                "endpoint and this container's variant (the promotion workflow sets them)"
            )
        import boto3

        from mlops_kit.abtest.routing import EndpointRouter, RouteTable

        router = EndpointRouter(RouteTable(boto3.client("dynamodb"), table), environ["MLOPS_ENDPOINT_NAME"])
        return cls(
            endpoint_name=environ["MLOPS_ENDPOINT_NAME"],
            variant=environ["MLOPS_VARIANT"],
            router=router,
            runtime=boto3.client("sagemaker-runtime"),
        )

    def target(self, document: Any) -> str | None:
        """The variant the request must be forwarded to, or ``None`` to serve it here.

        Records the user's exposure when the user is in a running experiment. Raises ``ForwardError`` (400) for a
        bad ``user_id``.
        """
        if isinstance(document, Mapping) and FORWARDED_BY in document:
            return None  # already forwarded once: never again
        user = user_of(document)
        if user is None:
            return None
        try:
            assigned = self.router(user)
        except Exception:  # an unreadable experiments table must not fail the request: it is served here, logged
            LOG.exception(
                "sticky assignment failed; serving the request on this variant", extra={"variant": self.variant}
            )
            return None
        return assigned if assigned and assigned != self.variant else None

    def forward(self, document: Mapping[str, Any], target: str) -> dict[str, Any]:
        """Invoke the endpoint's ``target`` variant with the request (marked :data:`FORWARDED_BY`); its answer, with
        :data:`FORWARDED_TO`.

        Raises ``ForwardError``: the variant's own status and message for its 4xx (the caller's mistake), 502 when
        it failed or the endpoint refused the call.
        """
        from mlops_kit.serving.client import EndpointClient, ModelRequestError

        client = EndpointClient(self.endpoint_name, self.runtime)
        try:
            prediction = client.predict({**document, FORWARDED_BY: self.variant}, target_variant=target)
        except ModelRequestError as exc:
            if exc.client_error and exc.status is not None:
                raise ForwardError(exc.status, exc.detail) from exc
            raise ForwardError(
                502, f"variant {target}, which this user is assigned to, failed the request: {exc}"
            ) from exc
        if not isinstance(prediction.body, dict):
            raise ForwardError(502, f"variant {target} answered with {type(prediction.body).__name__}, not an object")
        return {**prediction.body, FORWARDED_TO: target}


def forwarded_copy(request: Any) -> bool:
    """Whether a captured request is a copy another variant forwarded (its prediction is captured there too)."""
    return isinstance(request, Mapping) and FORWARDED_BY in request


def scored_by(response: Any, default: str) -> str:
    """The variant that scored a captured response: :data:`FORWARDED_TO` when the request was forwarded."""
    if isinstance(response, Mapping) and isinstance(response.get(FORWARDED_TO), str):
        return str(response[FORWARDED_TO])
    return default
