"""`mlops features ...`: ingest, read online, build point-in-time training sets, materialize.

Every command finds the feature store through the outputs of the deployed ``<project>-data`` stack, with the
AWS credentials and region of the environment; ``AWS_ENDPOINT_URL`` (or ``--endpoint-url``) points it at the
local emulator (`mlops local serve`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from mlops_kit.cli.console import console, fail, step, table

app = typer.Typer(
    help="The feature store: ingest, read online, build training sets, materialize.", no_args_is_help=True
)

DEFAULT_REGISTRY = "mlops_kit.features.fraud_definitions:FEATURE_GROUPS"

ProjectOption = Annotated[str, typer.Option(envvar="MLOPS_PROJECT", help="Project name (stacks are <project>-data).")]
EndpointOption = Annotated[
    str | None, typer.Option(envvar="AWS_ENDPOINT_URL", help="AWS endpoint (the local emulator's URL).")
]
RegistryOption = Annotated[str, typer.Option(help="Feature groups as module:attribute (what the data stack deployed).")]


def _connect(project: str, endpoint_url: str | None, registry_spec: str) -> Any:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from mlops_kit.features.definitions import FeatureStoreError
    from mlops_kit.features.ingest import load_registry
    from mlops_kit.features.store import deployed, deployed_names, stack_outputs

    session = boto3.Session(region_name=os.environ.get("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION")))
    try:
        outputs = stack_outputs(session.client("cloudformation", endpoint_url=endpoint_url), f"{project}-data")
        names = deployed_names(outputs)
        registry = load_registry(registry_spec)
    except (FeatureStoreError, ImportError, AttributeError) as exc:
        fail(str(exc))
    except (BotoCoreError, ClientError) as exc:
        fail(f"cannot reach AWS{f' at {endpoint_url}' if endpoint_url else ''}: {exc}")
    return registry, names, deployed(registry, session, names, endpoint_url=endpoint_url), session


_FORMATS = {".parquet": "Parquet", ".jsonl": "JSON lines", ".ndjson": "JSON lines", ".json": "JSON", ".csv": "CSV"}


def read_frame(path: Path) -> Any:
    """A DataFrame from CSV, Parquet or JSON lines (by extension); timestamps in CSV are parsed as ISO 8601.

    Fails (one line naming the file) when it does not exist, is a directory, has another extension, or cannot
    be read as its format (corrupt or truncated Parquet, text that is not UTF-8, malformed CSV or JSON).
    """
    if not path.exists():
        fail(f"{path} does not exist")
    if path.is_dir():
        fail(f"{path} is a directory; pass a file")
    kind = _FORMATS.get(path.suffix.lower())
    if kind is None:
        fail(f"{path}: expected .csv, .parquet or .jsonl")
    try:
        return _read(path, path.suffix.lower())
    except (
        OSError,
        ValueError,
    ) as exc:  # ArrowInvalid, ParserError, UnicodeDecodeError and JSON errors are ValueErrors
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        fail(f"{path} is not a readable {kind} file ({detail[:200]})")
    return None


def _read(path: Path, suffix: str) -> Any:
    import pandas as pd

    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix in (".jsonl", ".ndjson", ".json"):
        return pd.read_json(path, lines=suffix != ".json")
    frame = pd.read_csv(path)
    for column in frame.columns:
        if "timestamp" in column or column.endswith(("_time", "_at")):
            frame[column] = pd.to_datetime(frame[column], format="ISO8601")
    return frame


@app.command()
def groups(registry: RegistryOption = DEFAULT_REGISTRY) -> None:
    """List the feature groups with their versions, keys, features and TTL (no AWS needed)."""
    from mlops_kit.features.ingest import load_registry

    rows = [
        [g.name, g.version, ", ".join(g.key_names), ", ".join(f"{f.name}:{f.dtype.value}" for f in g.features),
         "-" if g.ttl is None else str(g.ttl)]
        for g in load_registry(registry)
    ]  # fmt: skip
    console.print(table("Feature groups", ["group", "version", "entity key", "features", "ttl"], rows))


@app.command()
def ingest(
    group: Annotated[str, typer.Argument(help="Feature group name.")],
    path: Annotated[Path, typer.Argument(help="Records: .csv, .parquet or .jsonl with the group's columns.")],
    online: Annotated[bool, typer.Option(help="Write the online store (DynamoDB).")] = True,
    offline: Annotated[bool, typer.Option(help="Write the offline store (S3 Parquet).")] = True,
    batch_size: Annotated[int, typer.Option(min=1, help="Records per write.")] = 5000,
    project: ProjectOption = "mlops-kit",
    endpoint_url: EndpointOption = None,
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Validate a file of records and write them to both stores, reporting written and stale counts."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from mlops_kit.features.definitions import FeatureStoreError
    from mlops_kit.features.store import IngestError, RefusedRecord

    frame = read_frame(path)
    _, _, store, _ = _connect(project, endpoint_url, registry)
    try:
        validated = store.validate(group, frame)  # all or nothing: types and DynamoDB limits before any write
    except FeatureStoreError as exc:
        fail(str(exc))
    refused: list[RefusedRecord] = []
    totals = {"offline_rows": 0, "offline_files": 0, "online_written": 0, "online_stale": 0, "online_failed": 0}
    started = time.monotonic()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"ingesting {group}", total=validated.num_rows)
        for start in range(0, validated.num_rows, batch_size):
            chunk = validated.slice(start, batch_size)
            try:
                report = store.ingest(group, chunk, online=online, offline=offline)
            except IngestError as exc:
                report = exc.report
                totals["online_failed"] += len(exc.report.online.failed) if exc.report.online else 0
            refused += [RefusedRecord(r.index + start, r.entity, r.event_time, r.reason) for r in report.refused]
            for key, value in report.summary().items():
                if key in totals and key != "online_failed":
                    totals[key] += value
            progress.advance(task, chunk.num_rows)
    totals["refused"] = len(refused)
    rows = [[k, str(v)] for k, v in totals.items()]
    console.print(
        table(f"{group}: {validated.num_rows} records in {time.monotonic() - started:.1f} s", ["", "count"], rows)
    )
    if refused:
        first = refused[0]
        fail(
            f"{len(refused)} records were refused and written nowhere (first: row {first.index}, entity "
            f"{first.entity}, event time {first.event_time}: {first.reason})"
        )
    if totals["online_failed"]:
        fail(f"{totals['online_failed']} records were not written online; run `mlops features materialize`")


@app.command()
def get(
    features: Annotated[list[str], typer.Argument(help="Feature references group:feature (repeatable).")],
    entity: Annotated[
        list[str], typer.Option("--entity", "-e", help="Entity key, e.g. -e customer_id=C0000001 (repeatable).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    project: ProjectOption = "mlops-kit",
    endpoint_url: EndpointOption = None,
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Read the latest feature values of entities from the online store (TTL applied)."""
    from mlops_kit.features.definitions import FeatureStoreError, ValueType

    entities: list[dict[str, Any]] = []
    for pair in entity:
        parts = [part.partition("=") for part in pair.split(",")]
        if any(not sep or not key for key, sep, _ in parts):
            raise typer.BadParameter(f"expected KEY=VALUE[,KEY=VALUE], got {pair!r}")
        entities.append({key: value for key, _, value in parts})
    _, _, store, _ = _connect(project, endpoint_url, registry)
    try:
        for group in store.registry.resolve(features).groups:  # int64 key columns: convert the typed value
            for key in group.entity_keys:
                for row in entities:
                    if key.dtype is ValueType.INT64 and isinstance(row.get(key.name), str):
                        row[key.name] = int(row[key.name])
        with step(f"Reading {len(entities)} entities x {len(features)} features"):
            result = store.online.get(entities, features)
    except (FeatureStoreError, ValueError) as exc:
        fail(str(exc))
    triples = list(zip(entities, result.rows, result.status, strict=True))
    if as_json:
        print(json.dumps([{**e, **r, "_status": s} for e, r, s in triples], default=str, indent=2))
        return
    rows = [
        [", ".join(str(v) for v in e.values()), *[_show(r[c]) for c in result.columns], _status(s)]
        for e, r, s in triples
    ]
    console.print(table("Online features", ["entity", *result.columns, "status"], rows))
    console.print(
        f"{result.requests} DynamoDB request(s) for {result.keys} keys in {result.seconds * 1000:.1f} ms "
        f"(decoding {result.decode_seconds * 1e6 / max(len(entities), 1):.0f} µs per entity)"
    )


def _status(status: dict[str, str]) -> str:
    return ", ".join(f"{group}:{state}" for group, state in status.items())


def _show(value: Any) -> str:
    return "—" if value is None else str(value)


@app.command("training-set")
def training_set(
    labels: Annotated[Path, typer.Argument(help="Label rows: .csv, .parquet or .jsonl with keys and a timestamp.")],
    output: Annotated[
        str, typer.Option(help="Where to write training_set.parquet and manifest.json (s3://... or a folder).")
    ],
    feature: Annotated[
        list[str] | None, typer.Option("--feature", "-f", help="group:feature (default: fraud refs).")
    ] = None,
    label_time_column: Annotated[str, typer.Option(help="The labels' event-time column.")] = "event_timestamp",
    created_before_label: Annotated[bool, typer.Option(help="Ignore values created after the label time.")] = False,
    engine: Annotated[
        str, typer.Option(help="'local' (this machine, numpy/Arrow) or 'athena' (the same join as Athena SQL).")
    ] = "local",
    project: ProjectOption = "mlops-kit",
    endpoint_url: EndpointOption = None,
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Build a point-in-time-correct training set from the offline store and write it with its manifest."""
    from mlops_kit.features import fraud
    from mlops_kit.features.definitions import FeatureStoreError
    from mlops_kit.features.offline import write_training_set
    from mlops_kit.features.sql import AthenaRunner
    from mlops_kit.features.storage import S3ObjectStore

    if engine not in ("local", "athena"):
        raise typer.BadParameter(f"--engine must be 'local' or 'athena', got {engine!r}")
    frame = read_frame(labels)
    _, names, store, session = _connect(project, endpoint_url, registry)
    runner = None
    if engine == "athena":
        staging = S3ObjectStore(
            session.client("s3", endpoint_url=endpoint_url), names.artifacts_bucket, "athena/features"
        )
        athena = session.client("athena", endpoint_url=endpoint_url)
        runner = AthenaRunner(athena, staging, database=names.database, workgroup=names.workgroup)
    try:
        with step(f"Joining {len(frame)} label rows point-in-time ({engine})"):
            result = store.offline.get_historical_features(
                frame, feature or fraud.FEATURE_REFS, label_time_column=label_time_column,
                created_before_label=created_before_label, runner=runner,
            )  # fmt: skip
        with step(f"Writing to {output}"):
            uris = write_training_set(result, output, s3_client=session.client("s3", endpoint_url=endpoint_url))
    except FeatureStoreError as exc:
        fail(str(exc))
    manifest = result.manifest
    console.print(
        table(
            "Training set",
            ["", ""],
            [
                ["dataset version", manifest.dataset_version],
                ["rows", str(manifest.rows)],
                ["matched per group", json.dumps(manifest.matched)],
                ["feature groups", json.dumps(manifest.feature_groups)],
                ["data", uris["data"]],
                ["manifest", uris["manifest"]],
            ],
        )
    )


@app.command()
def materialize(
    group: Annotated[list[str] | None, typer.Option("--group", "-g", help="Only these groups (repeatable).")] = None,
    as_of: Annotated[str | None, typer.Option(help="ISO 8601 time with offset; default: everything stored.")] = None,
    project: ProjectOption = "mlops-kit",
    endpoint_url: EndpointOption = None,
    registry: RegistryOption = DEFAULT_REGISTRY,
) -> None:
    """Copy the latest offline value of every entity into the online store (never replacing newer values)."""
    from mlops_kit.features.definitions import FeatureStoreError

    when = None
    if as_of is not None:
        when = dt.datetime.fromisoformat(as_of)
        if when.tzinfo is None:
            raise typer.BadParameter(f"--as-of needs a time zone offset, got {as_of!r}")
    _, _, store, _ = _connect(project, endpoint_url, registry)
    try:
        with step("Materializing the latest offline values"):
            report = store.materialize(group, as_of=when)
    except FeatureStoreError as exc:
        fail(str(exc))
    rows = [[n, str(r.records), str(r.written), str(r.stale), str(len(r.failed))] for n, r in report.groups.items()]
    console.print(table("Materialized", ["group", "entities", "written", "stale", "failed"], rows))
