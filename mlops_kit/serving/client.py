"""A small client for the real-time endpoint (works against AWS or the emulator's local server).

    client = EndpointClient("mlops-kit-endpoint")
    prediction = client.predict({"customer_id": "C0000042", "transaction": {...}}, user_id="u-17")
    prediction.body["score"], prediction.variant, prediction.latency_ms

With ``user_id`` and an experiment router (``router=``), the request goes to the user's assigned variant
(``TargetVariant``); otherwise SageMaker splits traffic by variant weights.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any


class ModelRequestError(RuntimeError):
    """The model rejected or failed the request, or the endpoint could not take it.

    ``status`` is the model's own HTTP status when the model answered (SageMaker's ModelError carries it as
    ``OriginalStatusCode``), ``None`` otherwise; ``detail`` is the model's own message (``OriginalMessage``).
    """

    def __init__(self, message: str, status: int | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail if detail is not None else message

    @property
    def client_error(self) -> bool:
        """The model refused the request as the caller's mistake (a 4xx): fix the request, do not retry."""
        return self.status is not None and 400 <= self.status < 500


@dataclass(frozen=True)
class Prediction:
    body: dict[str, Any]
    variant: str
    latency_ms: float


class EndpointClient:
    def __init__(
        self,
        endpoint_name: str,
        runtime: Any = None,
        *,
        router: Callable[[str], str | None] | None = None,
    ) -> None:
        if runtime is None:
            import boto3

            runtime = boto3.client("sagemaker-runtime")
        self.endpoint_name = endpoint_name
        self._runtime = runtime
        self._router = router

    def predict(
        self,
        payload: dict[str, Any],
        *,
        user_id: str | None = None,
        target_variant: str | None = None,
        inference_id: str | None = None,
    ) -> Prediction:
        """Send one JSON request; raises ModelRequestError with the model's status and message on a model error
        (a 4xx is the caller's mistake, ``client_error``), or when the endpoint refuses the call.

        ``inference_id`` (SageMaker ``InferenceId``, 1-64 printable characters) is written to the request's data
        capture record (``eventMetadata.inferenceId``), so the request can be found there, e.g. to join model
        outputs with an experiment's users or with ground truth.
        """
        arguments: dict[str, Any] = {
            "EndpointName": self.endpoint_name,
            "Body": json.dumps(payload),
            "ContentType": "application/json",
            "Accept": "application/json",
        }
        if inference_id is not None:
            arguments["InferenceId"] = inference_id
        variant = target_variant or (self._router(user_id) if self._router and user_id else None)
        if variant:
            arguments["TargetVariant"] = variant
        started = time.perf_counter()
        try:
            response = self._runtime.invoke_endpoint(**arguments)
        except self._runtime.exceptions.ModelError as exc:
            raise _model_error(exc.response) from exc
        except self._runtime.exceptions.ValidationError as exc:
            raise ModelRequestError(f"the endpoint refused the request: {exc}") from exc
        body = json.loads(response["Body"].read())
        return Prediction(
            body=body,
            variant=response.get("InvokedProductionVariant", ""),
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    def predict_many(
        self, payloads: Iterable[dict[str, Any]], **kwargs: Any
    ) -> Iterator[Prediction | ModelRequestError]:
        """Predict each payload in turn; errors are yielded (not raised) so one bad row does not stop a batch.

        ``kwargs`` go to every :meth:`predict` call (so not ``inference_id``, which names one request).
        """
        for payload in payloads:
            try:
                yield self.predict(payload, **kwargs)
            except ModelRequestError as exc:
                yield exc


def _model_error(response: dict[str, Any]) -> ModelRequestError:
    """A ModelError as the model's own answer: a 4xx is a refused request, a 5xx (or no status) a failure."""
    status = response.get("OriginalStatusCode")
    status = int(status) if isinstance(status, int | str) and str(status).isdigit() else None
    detail = response.get("OriginalMessage") or response.get("Error", {}).get("Message") or "no message"
    if status is not None and 400 <= status < 500:
        return ModelRequestError(f"the model refused the request ({status}): {detail}", status, detail)
    shown = f" ({status})" if status is not None else ""
    return ModelRequestError(f"the model failed{shown}: {detail}", status, detail)
