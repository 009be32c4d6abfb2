"""`mlops invoke`: send requests to the real-time endpoint; one from options, or a batch from a file."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress

from mlops_kit.cli.console import console, fail, table
from mlops_kit.cli.platform import Platform

_INFERENCE_ID = re.compile(r"^[\x21-\x7e][\x20-\x7e]{0,63}$")  # SageMaker's InferenceId: 1-64 printable characters


def _rows(path: Path) -> list[dict[str, Any]]:
    """Requests from JSON lines (one request object per line) or CSV (customer_id + transaction columns)."""
    if not path.exists():
        fail(f"no such file: {path}")
    if path.suffix == ".csv":
        with path.open() as handle:
            rows = []
            for line, record in enumerate(csv.DictReader(handle), start=2):
                if "customer_id" not in record:
                    fail(f"{path}:{line}: a CSV needs a customer_id column (and the transaction fields)")
                customer = record.pop("customer_id")
                transaction: dict[str, Any] = dict(record)
                if "amount" in transaction:
                    transaction["amount"] = float(transaction["amount"])
                rows.append({"customer_id": customer, "transaction": transaction})
            return rows
    requests = []
    for line, text in enumerate(path.read_text().splitlines(), start=1):
        if text.strip():
            try:
                requests.append(json.loads(text))
            except json.JSONDecodeError as exc:
                fail(f"{path}:{line}: not JSON: {exc}")
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
    else:
        payloads = _rows(file)
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
        console.print(f"... {len(rows) - 50} more; {failed} errors in total")
    if failed and file is None:
        raise typer.Exit(1)
