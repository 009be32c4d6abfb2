"""Inference script for the SageMaker scikit-learn container (``model_fn``/``input_fn``/``predict_fn``/``output_fn``).

Request (``application/json``), one transaction or ``{"instances": [...]}`` of them::

    {"customer_id": "C0000042",                       # the use case's entity key: features come from the
     "transaction": {"amount": 129.9,                  # online feature store when "features" is absent
                     "merchant_category": "travel",
                     "event_timestamp": "2026-11-26T10:15:00+00:00"},
     "features": {...}}                                # optional: the online features, given instead

Response: ``{"score": 0.07, "label": 0, "model_version": "3", "variant": "green", "entity": "C0000042"}``
(``{"predictions": [...], ...}`` for ``instances``). The features pass through the use case's
``serving_features``: the same transformations as training, so there is no training/serving skew.

Every field is checked with strict types before it is scored: ``amount`` a finite JSON number (not a string,
a boolean, null, NaN or Infinity), ``merchant_category`` a non-empty string, ``event_timestamp`` an ISO 8601
string with a UTC offset; the entity key a non-empty string (an integer for an int64 key); ``features``, when
given, an object with every online feature (``null`` for one the caller does not know) and nothing else.

Errors are 4xx with a message naming the field and what is allowed: a malformed request or value (400), an
entity the feature store does not know (404), an unsupported content or accept type (415). No request can
cause a 5xx: 5xx feeds the canary rollback alarm, so a few bad requests must not roll back a good model.

Sticky A/B assignment for plain clients: a request may name its user with a top-level ``"user_id"`` (a non-empty
string). While an A/B test runs on the endpoint, a request whose user is assigned to the other variant is answered
by that variant (this container invokes the endpoint with ``TargetVariant``; the answer then carries
``"mlops_forwarded_to"``), so a user sees one model for the whole test, even without the kit's router; see
:mod:`mlops_kit.serving.sticky`. A request without ``"user_id"`` is served where SageMaker's weights sent it.

Environment: ``MLOPS_USE_CASE`` (module), optional ``MLOPS_ONLINE_TABLE`` (the online store's DynamoDB table),
``MLOPS_MODEL_VERSION`` and ``MLOPS_VARIANT`` (set by the promotion workflow), ``MLOPS_THRESHOLD`` (default 0.5),
optional ``MLOPS_EXPERIMENT_TABLE`` and ``MLOPS_ENDPOINT_NAME`` (sticky A/B assignment; unset, nothing is forwarded).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from mlops_kit.features.definitions import FeatureStoreError, ValueType
from mlops_kit.features.transformations import InvalidValueError
from mlops_kit.serving.sticky import ForwardError, StickyRouting, user_of

try:  # the SageMaker inference toolkit maps these to the HTTP status; locally a plain exception does
    from sagemaker_inference.errors import GenericInferenceToolkitError as _ToolkitError
except ImportError:

    class _ToolkitError(Exception):  # type: ignore[no-redef]
        def __init__(self, status_code: int, message: str = "", phrase: str = "") -> None:
            super().__init__(message)
            self.status_code = status_code
            self.message = message
            self.phrase = phrase


class InferenceError(_ToolkitError):
    """A request error with its HTTP status (4xx): the caller can act on the message."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(status_code, message, message)
        self.status_code = status_code

    def __str__(self) -> str:
        return str(self.args[1] if len(self.args) > 1 else self.args[0])


@dataclass
class LoadedModel:
    estimator: Any
    meta: dict[str, Any]
    use_case: Any
    online: Any | None
    timings: dict[str, float] = field(default_factory=dict)
    sticky: StickyRouting | None = None  # set when the endpoint runs A/B tests (MLOPS_EXPERIMENT_TABLE)
    threadpools: Any | None = None  # threadpoolctl's controller of the loaded native libraries (see predict_fn)


@dataclass
class Request:
    transactions: list[dict[str, Any]]
    instances: list[Mapping[str, Any]]  # as sent: the entity key is read once the use case is known
    given_features: list[dict[str, Any] | None]
    batch: bool
    entities: list[Any] = field(default_factory=list)  # the entity key's value per instance (model_inputs)
    document: Mapping[str, Any] = field(default_factory=dict)  # the request as sent (forwarded as it came)


def model_fn(model_dir: str) -> LoadedModel:
    """Load the estimator and its metadata, the use case, and (when configured) the online feature store."""
    from mlops_kit.pipeline.usecase import load_use_case

    directory = Path(model_dir)
    meta = json.loads((directory / "model_meta.json").read_text())
    use_case = load_use_case(os.environ.get("MLOPS_USE_CASE", meta["use_case"]))
    online = None
    table = os.environ.get("MLOPS_ONLINE_TABLE")
    if table:
        import boto3

        from mlops_kit.features.online import OnlineStore

        online = OnlineStore.from_client(use_case.REGISTRY, boto3.client("dynamodb"), table)
    estimator = accept_arrays(joblib.load(directory / "model.joblib"), meta["features"])
    sticky = StickyRouting.from_environment(os.environ)
    from threadpoolctl import ThreadpoolController  # scikit-learn's own dependency

    return LoadedModel(
        estimator=estimator,
        meta=meta,
        use_case=use_case,
        online=online,
        sticky=sticky,
        threadpools=ThreadpoolController(),  # after the estimator's load: it finds the OpenMP runtime loaded
    )


def accept_arrays(estimator: Any, features: list[str]) -> Any:
    """Check once, at load, that the estimator was fitted on ``features`` in this order; then let it take plain
    float64 arrays. scikit-learn re-validates a DataFrame's column names on every call, which costs about as
    much as predicting one row; the script always builds the columns in ``features`` order."""
    fitted = getattr(estimator, "feature_names_in_", None)
    if fitted is None:
        return estimator
    if list(fitted) != list(features):
        raise ValueError(
            f"model.joblib was fitted on columns {list(fitted)}, but model_meta.json lists {list(features)}: "
            "re-run the training job so both come from the same run"
        )
    del estimator.feature_names_in_
    return estimator


def media_types(header: str | None) -> list[tuple[str, float]]:
    """The media ranges of a Content-Type or Accept header, lower case, with their q-values (RFC 9110 12.4.2)."""
    ranges = []
    for part in (header or "").split(","):
        media, *parameters = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for parameter in parameters:
            key, _, value = parameter.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 0.0  # a malformed q-value accepts nothing
        if media:
            ranges.append((media.lower(), quality if math.isfinite(quality) else 0.0))
    return ranges


def accepts_json(accept: str | None) -> bool:
    """Whether an Accept header lets the answer be ``application/json`` (no header, or ``*/*``, does)."""
    ranges = media_types(accept)
    return not ranges or any(
        media in ("application/json", "application/*", "*/*") and quality > 0 for media, quality in ranges
    )


def parse_request(body: bytes | str, content_type: str) -> Request:
    """Parse a JSON request into transactions; raises InferenceError (400/415) naming what is wrong.

    Checks the shape (objects where objects belong); the entity key and the values of the fields are checked
    against the use case in :func:`model_inputs`.
    """
    types = [media for media, _ in media_types(content_type)]
    if types and types != ["application/json"]:
        raise InferenceError(415, f"content type {content_type!r} is not supported; send application/json")
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError, or an integer beyond Python's digit limit
        raise InferenceError(400, f"the request body is not valid JSON: {exc}") from exc
    except RecursionError:
        raise InferenceError(400, "the request body is nested too deeply to be a request") from None
    batch = isinstance(document, Mapping) and "instances" in document
    items = document["instances"] if batch else [document]
    if not isinstance(items, list) or not items or not all(isinstance(i, Mapping) for i in items):
        raise InferenceError(400, 'expected a JSON object, or {"instances": [objects]}')
    transactions, instances, given = [], [], []
    for position, item in enumerate(items):
        where = f"instances[{position}]." if batch else ""
        transaction = item.get("transaction")
        if not isinstance(transaction, Mapping):
            raise InferenceError(
                400, f"{where}'transaction' (an object with the request fields) is missing or not an object"
            )
        features = item.get("features")
        if features is not None and not isinstance(features, Mapping):
            raise InferenceError(400, f"{where}'features' must be an object of feature name -> value")
        transactions.append(dict(transaction))
        instances.append(item)
        given.append(dict(features) if features is not None else None)
    try:
        user_of(document)
    except ForwardError as exc:
        raise InferenceError(exc.status, exc.message) from None
    return Request(transactions=transactions, instances=instances, given_features=given, batch=batch, document=document)


def _entities(request: Request, key: Any) -> list[Any]:
    """Each instance's entity key value (None when absent), checked against the key's type (400 otherwise)."""
    integer = key.dtype == ValueType.INT64
    allowed = "an integer of at most 19 digits" if integer else "a non-empty string"
    entities = []
    for position, item in enumerate(request.instances):
        value = item.get(key.name)
        valid = value is None or (
            isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63
            if integer
            else isinstance(value, str) and value != ""
        )
        if not valid:
            shown = type(value).__name__ if isinstance(value, Mapping | list | bool) else repr(value)[:40]
            raise InferenceError(400, f"{_where(request, position)}'{key.name}' must be {allowed}; got {shown}")
        if isinstance(value, str) and not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:  # JSON can escape a lone surrogate (\ud800); no key can hold one
                raise InferenceError(
                    400,
                    f"{_where(request, position)}'{key.name}' holds an unpaired surrogate escape: send Unicode text",
                ) from None
        entities.append(value)
    return entities


def _given_features(features: dict[str, Any], expected: list[str], where: str) -> None:
    """Refuse given features that are not exactly the online features (400): a misspelt or forgotten name would
    otherwise be scored silently as a customer with no history."""
    unknown = sorted(set(features) - set(expected))
    missing = [name for name in expected if name not in features]
    if unknown or missing:
        problems = ([f"unknown {unknown}"] if unknown else []) + ([f"missing {missing}"] if missing else [])
        raise InferenceError(
            400,
            f"{where}'features' must carry exactly the online features {expected} (null for one you do not know); "
            + ", ".join(problems),
        )


def _online_rows(request: Request, model: LoadedModel) -> dict[int, dict[str, Any]]:
    """The online features of each instance that has no given ``features``, by position (404 for an unknown
    entity, 400 when the instance names none or the endpoint has no store)."""
    use_case = model.use_case
    entity_key = use_case.ENTITY.name
    lookups = [i for i, given in enumerate(request.given_features) if given is None]
    online_rows: dict[int, dict[str, Any]] = {}
    if lookups:
        if model.online is None:
            raise InferenceError(400, "no 'features' given and the endpoint has no online feature store configured")
        missing_ids = [i for i in lookups if request.entities[i] is None]
        if missing_ids:
            raise InferenceError(400, f"{_where(request, missing_ids[0])}send '{entity_key}' or 'features'")
        started = time.perf_counter()
        try:
            found = model.online.get([{entity_key: request.entities[i]} for i in lookups], use_case.FEATURE_REFS)
        except FeatureStoreError as exc:  # a key the store cannot hold (e.g. over DynamoDB's 2,048 bytes)
            raise InferenceError(400, f"'{entity_key}' cannot be looked up: {exc}") from exc
        model.timings["feature_lookup"] = time.perf_counter() - started
        for position, row, status in zip(lookups, found.rows, found.status, strict=True):
            if all(state == "missing" for state in status.values()):
                raise InferenceError(
                    404,
                    f"unknown {entity_key} {request.entities[position]!r}: the feature store has no features for it",
                )
            online_rows[position] = row
    return online_rows


def model_inputs(request: Request, model: LoadedModel) -> Any:
    """The model's input rows (float64, one column per ``meta["features"]``, in that order): online (or given)
    features + request fields through the shared transformations."""
    use_case = model.use_case
    request.entities = _entities(request, use_case.ENTITY)
    expected = list(getattr(use_case, "ONLINE_FEATURES", []))
    for position, given in enumerate(request.given_features):
        if given is not None and expected:
            _given_features(given, expected, _where(request, position))
    online_rows = _online_rows(request, model)
    started = time.perf_counter()
    rows = []
    for position, transaction in enumerate(request.transactions):
        online = (
            request.given_features[position] if request.given_features[position] is not None else online_rows[position]
        )
        where = _where(request, position)
        try:
            values = use_case.serving_features(transaction, online)
        except KeyError as exc:
            detail = str(exc.args[0]) if exc.args and " " in str(exc.args[0]) else f"missing field {exc.args[0]!r}"
            raise InferenceError(400, f"{where}'transaction': {detail}") from exc
        except InvalidValueError as exc:
            part = "transaction" if exc.field in transaction else "features"
            raise InferenceError(400, f"{where}{part}.{exc.field} {exc.reason}") from exc
        except (ValueError, TypeError) as exc:
            raise InferenceError(400, f"{where}{exc}") from exc
        rows.append([values[name] for name in model.meta["features"]])
    inputs = np.asarray(rows, dtype="float64")  # columns in model_meta.json's order (see accept_arrays)
    model.timings["transform"] = time.perf_counter() - started
    return inputs


def _where(request: Request, position: int) -> str:
    return f"instances[{position}]." if request.batch else ""


def input_fn(request_body: bytes | str, request_content_type: str) -> Request:
    return parse_request(request_body, request_content_type)


def decision_threshold() -> float:
    """The score at or above which the label is 1 (``MLOPS_THRESHOLD``, default 0.5): the endpoint's and the batch
    job's."""
    return float(os.environ.get("MLOPS_THRESHOLD", "0.5"))


# A request of up to this many rows is scored on one OpenMP thread. Starting OpenMP's thread team for a row or two
# costs far more than the trees: one-row requests to the default model took 121 ms of wall and 50 ms of CPU with
# OpenMP's default team on 2 busy cores, 4 ms and 1.6 ms on one thread. The server answers requests on threads of
# its own, so the cores stay busy; larger batches keep OpenMP's team.
ONE_THREAD_ROWS = 64


def _threads_for(rows: int, model: LoadedModel) -> contextlib.AbstractContextManager[Any]:
    if model.threadpools is None or rows > ONE_THREAD_ROWS:
        return contextlib.nullcontext()
    return model.threadpools.limit(limits=1, user_api="openmp")  # this thread's OpenMP setting, restored on exit


def predict_fn(request: Request, model: LoadedModel) -> dict[str, Any]:
    if model.sticky is not None:
        try:
            target = model.sticky.target(request.document)
            if target is not None:  # the user is assigned to the other variant of the running A/B test
                return model.sticky.forward(request.document, target)
        except ForwardError as exc:
            raise InferenceError(exc.status, exc.message) from exc
    features = model_inputs(request, model)
    started = time.perf_counter()
    with _threads_for(len(features), model):
        scores = model.estimator.predict_proba(features)[:, 1]
    model.timings["predict"] = time.perf_counter() - started
    threshold = decision_threshold()
    version, variant = os.environ.get("MLOPS_MODEL_VERSION", "unregistered"), os.environ.get("MLOPS_VARIANT", "local")
    predictions = [
        {"score": round(float(score), 6), "label": int(score >= threshold), "entity": entity}
        for score, entity in zip(scores, request.entities, strict=True)
    ]
    if request.batch:
        return {"predictions": predictions, "model_version": version, "variant": variant}
    return {**predictions[0], "model_version": version, "variant": variant}


def output_fn(prediction: dict[str, Any], accept: str) -> tuple[str, str]:
    if not accepts_json(accept):
        raise InferenceError(415, f"accept type {accept!r} is not supported; ask for application/json")
    return json.dumps(prediction), "application/json"
