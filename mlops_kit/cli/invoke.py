"""`mlops invoke`: send requests to the real-time endpoint; one from options, or a batch from a file."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import re
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.progress import Progress

from mlops_kit.cli.console import console, fail, table
from mlops_kit.cli.platform import Platform

_INFERENCE_ID = re.compile(r"^[\x21-\x7e][\x20-\x7e]{0,63}$")  # SageMaker's InferenceId: 1-64 printable characters


def _fail(message: str) -> NoReturn:
    """:func:`fail` with the message shown as written (a file's content may hold rich markup such as ``[red]``)."""
    from rich.markup import escape

    fail(escape(message))


def _text(path: Path) -> str:
    """The file's text; one clear line (no traceback) for a missing file, a directory or bytes that are not UTF-8."""
    if not path.exists():
        _fail(f"no such file: {path}")
    if path.is_dir():
        _fail(f"{path} is a directory: give one JSON lines (.jsonl) or CSV (.csv) file of requests")
    try:
        data = path.read_bytes()
    except OSError as exc:
        _fail(f"{path}: cannot be read: {exc.strerror or exc}")
    try:
        return data.decode("utf-8-sig")  # a byte-order mark, as spreadsheet programs write, is not content
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        _fail(
            f"{path}:{line}: not UTF-8 text (byte {exc.start}: {data[exc.start : exc.start + 1]!r}); save it as UTF-8"
        )


def _number(path: Path, line: int, name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        _fail(f"{path}:{line}: {name} {text!r} is not a number")
    if not math.isfinite(value):
        _fail(f"{path}:{line}: {name} {text!r} is not a finite number")
    return value


def _csv_rows(path: Path, text: str) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if reader.fieldnames is None or "customer_id" not in reader.fieldnames:
        _fail(f"{path}:1: a CSV needs a header with a customer_id column (and the transaction fields)")
    rows = []
    for record in reader:
        line = reader.line_num
        if None in record:  # more cells than the header names
            _fail(f"{path}:{line}: more cells than the header's {len(reader.fieldnames)} columns")
        customer = record.pop("customer_id")
        transaction: dict[str, Any] = dict(record)
        if "amount" in transaction:
            transaction["amount"] = _number(path, line, "amount", transaction["amount"])
        rows.append({"customer_id": customer, "transaction": transaction})
    return rows


def _rows(path: Path) -> list[dict[str, Any]]:
    """Requests from JSON lines (one request object per line) or CSV (customer_id + transaction columns).

    Every request is read and checked before any is sent: an unreadable file, a JSON array (not JSON lines) or a
    CSV cell that is not a number is one line naming the file and line, with nothing sent.
    """
    text = _text(path)
    rows = _csv_rows(path, text) if path.suffix.lower() == ".csv" else _json_lines(path, text)
    if not rows:
        _fail(f"{path}: no requests in the file")
    return rows


def _json_lines(path: Path, text: str) -> list[dict[str, Any]]:
    requests = []
    for line, content in enumerate(text.splitlines(), start=1):
        if not content.strip():
            continue
        try:
            request = json.loads(content)
        except (ValueError, RecursionError) as exc:
            hint = (
                " (a JSON document over several lines? give one request object per line)"
                if content.strip() in ("[", "{")
                else ""
            )
            _fail(f"{path}:{line}: not JSON{hint}: {exc}")
        if isinstance(request, list):
            _fail(
                f"{path}:{line}: a JSON array; give JSON lines, one request object per line "
                f"(e.g. jq -c '.[]' {path.name} > requests.jsonl)"
            )
        if not isinstance(request, dict):
            _fail(f"{path}:{line}: a JSON {type(request).__name__}, not a request object")
        requests.append(request)
    return requests


def _router(platform: Platform, endpoint: str, experiment: str | None, user_id: str, variant: str | None) -> Any:
    """The experiment's router for ``--user-id``; prints the user's assignment. Fails with one line when there is no
    running experiment (or it is unknown, or planned)."""
    from rich.markup import escape

    from mlops_kit.abtest.errors import ExperimentError
    from mlops_kit.abtest.routing import ExperimentRouter, RouteTable

    if variant:
        fail("give --user-id (routed by the experiment) or --variant (a fixed variant), not both")
    routes = RouteTable(platform.client("dynamodb"), platform.output("ExperimentTableName"))
    try:
        router = ExperimentRouter(routes, experiment) if experiment else ExperimentRouter.for_endpoint(routes, endpoint)
        assignment = router.assign(user_id)
    except (ExperimentError, ValueError) as exc:
        fail(escape(" ".join(str(exc).split())))
    if assignment is None:
        console.print(f"experiment {router.experiment} has stopped: requests go by the endpoint's weights")
    elif assignment.arm is None:
        console.print(
            f"user {user_id} is outside experiment {router.experiment}: served by {assignment.target_variant}"
        )
    else:
        console.print(
            f"user {user_id}: {assignment.arm} arm of {router.experiment}, variant {assignment.target_variant} "
            f"(bucket {assignment.bucket})"
        )
    return router


def invoke(
    customer_id: Annotated[str | None, typer.Option(help="The entity whose online features the model uses.")] = None,
    amount: Annotated[float | None, typer.Option(help="Transaction amount.")] = None,
    merchant_category: Annotated[str | None, typer.Option(help="Transaction merchant category.")] = None,
    timestamp: Annotated[str | None, typer.Option(help="ISO-8601 time with offset (default: now).")] = None,
    file: Annotated[Path | None, typer.Option(help="Batch of requests: JSON lines or CSV.")] = None,
    user_id: Annotated[
        str | None, typer.Option(help="Route by the running A/B experiment's sticky assignment (recorded as exposure).")
    ] = None,
    experiment: Annotated[
        str | None, typer.Option(help="The experiment routing --user-id (default: the one running on the endpoint).")
    ] = None,
    variant: Annotated[str | None, typer.Option(help="Send to this production variant (TargetVariant).")] = None,
    inference_id: Annotated[
        str | None,
        typer.Option(help="InferenceId of a single request: written to its data capture record's eventMetadata."),
    ] = None,
    project: Annotated[str | None, typer.Option(help="Project name (default: from cdk.json).")] = None,
) -> None:
    """Invoke the endpoint and print each prediction with the variant that served it."""
    from mlops_kit.serving.client import EndpointClient, ModelRequestError

    if inference_id is not None and (file is not None or not _INFERENCE_ID.match(inference_id)):
        fail(
            "--inference-id names one request: give it without --file, 1 to 64 printable characters "
            "not starting with a space"
        )
    payloads = _rows(file) if file is not None else []  # read and checked before connecting or sending
    platform = Platform.connect(project)
    endpoint = platform.output("EndpointName")
    if file is None:
        if customer_id is None or amount is None or merchant_category is None:
            fail("give --customer-id, --amount and --merchant-category (or --file with a batch)")
        when = timestamp or dt.datetime.now(dt.UTC).isoformat()
        payloads = [
            {
                "customer_id": customer_id,
                "transaction": {"amount": amount, "merchant_category": merchant_category, "event_timestamp": when},
            }
        ]
    router = None
    if user_id:  # after every check of the request: routing records the user's exposure
        router = _router(platform, endpoint, experiment, user_id, variant)
    client = EndpointClient(endpoint, platform.client("sagemaker-runtime"), router=router)
    single = {"inference_id": inference_id} if inference_id is not None else {}
    results = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("invoking", total=len(payloads))
        for result in client.predict_many(payloads, user_id=user_id, target_variant=variant, **single):
            results.append(result)
            progress.advance(task)
    rows = []
    for payload, result in zip(payloads, results, strict=True):
        if isinstance(result, ModelRequestError):
            rows.append([str(payload.get("customer_id")), "-", "-", "-", f"[red]{result}[/]"])
        else:
            body = result.body
            rows.append(
                [
                    str(payload.get("customer_id")),
                    f"{body.get('score')}",
                    str(body.get("model_version")),
                    result.variant,
                    f"{result.latency_ms:.1f} ms",
                ]
            )
    console.print(table("Predictions", ["customer", "score", "model version", "variant", "latency / error"], rows[:50]))
    failed = sum(isinstance(r, ModelRequestError) for r in results)
    if len(rows) > 50:
        console.print(f"... {len(rows) - 50} more rows not shown")
    if failed:
        console.print(f"{failed} of {len(results)} requests failed")
    if failed == len(results):  # nothing was served: a script running this must notice
        raise typer.Exit(1)
