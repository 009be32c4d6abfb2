"""The one observability setup of the kit's Lambda handlers: Powertools Logger, Metrics (EMF) and Tracer (X-Ray).

Every handler module makes its instruments here, once, at import, and wraps its entry point in
:meth:`Observability.handler`::

    observability = Observability.of_function()
    logger, metrics = observability.logger, observability.metrics

    @observability.handler
    def handler(event, context): ...

Their configuration comes from the environment :class:`cdk.constructs.python_function.PythonFunction` gives every
function, so it is set in one place too: ``POWERTOOLS_SERVICE_NAME`` (the capability: ``abtest``,
``feature-store``, ...), ``POWERTOOLS_METRICS_NAMESPACE`` (``MlopsKit``) and ``POWERTOOLS_LOG_LEVEL``. Powertools
reads it when the instruments are made, which is why each handler module makes its own: the local emulator runs
every function in one interpreter, each handler module loaded under its function's environment.

Log with structured keys, not f-strings: ``logger.info("outcome recorded", extra={"experiment": name})``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from aws_lambda_powertools import Logger, Metrics, Tracer

from mlops_kit.tracing import XRayProvider

# Most invocations count nothing (a scheduled job that found no work, a step that only moved state); Powertools
# warns on every such invocation. The filter is the one its documentation gives.
warnings.filterwarnings("ignore", "No application metrics to publish*")

Handler = TypeVar("Handler", bound=Callable[..., Any])
_TRACED_MODULES = ("botocore",)


@dataclass(frozen=True)
class Observability:
    """One function's logger, metrics and tracer."""

    logger: Logger
    metrics: Metrics
    tracer: Tracer

    @classmethod
    def of_function(cls) -> Observability:
        """The instruments of the function this module runs in, configured from its environment."""
        # Only botocore is patched (the AWS calls a function makes are what its trace shows). Powertools' default
        # patches every library the X-Ray SDK supports that is installed, importing each at cold start: where
        # SQLAlchemy is installed (the test environment, through MLflow), 0.1-0.2 s of a 0.5 s import. The
        # provider sends the same subsegments without the X-Ray SDK, whose import was 30-40 ms of every cold start
        # (mlops_kit.tracing says what it sends and what it leaves out).
        provider = XRayProvider()
        tracer = Tracer(patch_modules=_TRACED_MODULES, provider=provider)
        provider.enabled = not tracer.disabled  # outside Lambda, or POWERTOOLS_TRACE_DISABLED
        return cls(logger=Logger(), metrics=Metrics(), tracer=tracer)

    @overload
    def handler(self, function: Handler, *, correlation_id_path: str | None = None) -> Handler: ...

    @overload
    def handler(
        self, function: None = None, *, correlation_id_path: str | None = None
    ) -> Callable[[Handler], Handler]: ...

    def handler(self, function: Any = None, *, correlation_id_path: str | None = None) -> Any:
        """Instrument a Lambda entry point, as ``@observability.handler`` or with ``correlation_id_path``.

        Every log line of the invocation carries the request id, the function name and whether it was a cold
        start (keys appended in one invocation do not leak into the next); the invocation is one X-Ray segment
        (tracing turns itself off outside Lambda, e.g. in tests); the metrics it added are flushed as one EMF
        record, with a ``ColdStart`` count on a container's first invocation. ``correlation_id_path`` is a
        JMESPath into the event (``aws_lambda_powertools.logging.correlation_paths``) logged as ``correlation_id``.
        """

        def instrument(entry_point: Handler) -> Handler:
            traced = self.tracer.capture_lambda_handler(entry_point)
            measured = self.metrics.log_metrics(traced, capture_cold_start_metric=True)
            return self.logger.inject_lambda_context(  # type: ignore[return-value]
                measured, correlation_id_path=correlation_id_path, clear_state=True
            )

        return instrument if function is None else instrument(function)
