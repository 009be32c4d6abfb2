"""The batch scoring job: a model package's model over a file of rows, with the endpoint's features and code path.

Started by the ``batch_start`` Lambda (``mlops batch``, or the ``batch.schedule``) as a SageMaker Processing job
(``launch.py batch_score ...``), or run by hand with the same arguments. Inputs (processing inputs):

* ``data`` (``/opt/ml/processing/input/data``): the rows, ``.parquet``, ``.csv`` or ``.jsonl`` files in one
  format (:mod:`mlops_kit.batch.inputs`). Each row has the id column (``--id-column``, unique, joined back to the
  output), the time column (``--time-column``, ISO 8601 with a UTC offset: the "as of" of its features), the use
  case's entity key and its request fields (``REQUEST_FIELDS``; other columns are ignored).
* ``model`` (``/opt/ml/processing/input/model``): the model package's ``model.tar.gz``.

Each row is scored as the endpoint scores a request that carries its features: the offline store's values of the
entity as of the row's time (:meth:`~mlops_kit.features.offline.OfflineStore.get_historical_features`, the join
training sets are built with: latest event time at or before the row's time, within each group's TTL), then the
inference script's own ``model_fn``, ``model_inputs`` (the use case's ``serving_features``) and threshold. With
``--created-before-row`` values created (or, without a created time, ingested) after the row's time are ignored
too: what the online store could have held then, when the store is written as events happen (a backfill of old
events would leave old rows without features).

Output (``predictions``, ``/opt/ml/processing/output/predictions``): ``predictions.<input format>`` with the id
column, the time column, the entity key, ``score``, ``label`` and ``model_version`` in the input's row order, and
``lineage.json`` beside it: model version, package ARN and artifact, the input's files with their SHA-256 and the
manifest hash, the feature snapshot (groups and versions, rows matched per group, the joined set's hash), the
threshold and the library versions.

Exit status: 0 when the predictions were written; 2 when the input is wrong (a missing id, time or request column,
duplicate ids, a time without offset, a value the endpoint would refuse), with the reason as the job's failure
reason.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_kit.batch.inputs import EXTENSIONS, BatchInputError, InputFile, data_files, input_format, manifest_hash
from mlops_kit.batch.naming import LINEAGE_FILE, PREDICTIONS_FILE, PREDICTIONS_OUTPUT
from sagemaker_jobs.layout import extract_model, library_versions, opt_ml, processing_input, processing_output

CHUNK_ROWS = 20_000  # rows through model_inputs at a time: bounds the per-row dictionaries held at once
_OFFSET = r"(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"
_POSITION = re.compile(r"^instances\[(\d+)\]\.")
OUTPUT_COLUMNS = ("score", "label", "model_version")


@dataclass(frozen=True)
class BatchJob:
    """One run's arguments (see :func:`parse_args`)."""

    input_dir: Path
    model_dir: Path
    output_dir: Path
    offline_uri: str
    id_column: str
    time_column: str | None
    model_version: str
    model_package_arn: str
    model_data_url: str
    input_uri: str
    job_name: str
    created_before_row: bool = False


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="batch_score", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--offline-uri", required=True, help="the offline feature store (s3://<data>/features)")
    parser.add_argument("--id-column", required=True, help="the input's unique row id, joined back to the output")
    parser.add_argument("--time-column", default="", help="the rows' time (default: the use case's LABEL_TIME_COLUMN)")
    parser.add_argument("--model-version", required=True, help="recorded with every prediction")
    parser.add_argument("--model-package-arn", required=True, help="recorded in the lineage")
    parser.add_argument("--model-data-url", default="", help="the artifact, recorded in the lineage")
    parser.add_argument("--input-uri", default="", help="where the input came from, recorded in the lineage")
    parser.add_argument("--job-name", default="", help="recorded in the lineage")
    parser.add_argument(
        "--created-before-row", action="store_true", help="ignore feature values created after the row's time"
    )
    parser.add_argument("--input", type=Path, default=None, help="default: the processing job's data input")
    parser.add_argument("--model", type=Path, default=None, help="default: the processing job's model input")
    parser.add_argument("--output", type=Path, default=None, help="default: the processing job's predictions output")
    return parser.parse_args(argv)


def job_from(args: argparse.Namespace) -> BatchJob:
    model = args.model or processing_input("model")
    if not (model / "model_meta.json").exists():  # the package's model.tar.gz, as the processing input delivers it
        model = extract_model(model, opt_ml("model"))
    return BatchJob(
        input_dir=args.input or processing_input("data"),
        model_dir=model,
        output_dir=args.output or processing_output(PREDICTIONS_OUTPUT),
        offline_uri=args.offline_uri,
        id_column=args.id_column,
        time_column=args.time_column or None,
        model_version=args.model_version,
        model_package_arn=args.model_package_arn,
        model_data_url=args.model_data_url,
        input_uri=args.input_uri,
        job_name=args.job_name,
        created_before_row=args.created_before_row,
    )


# -- input ------------------------------------------------------------------------------------------------------
def read_input(folder: Path, string_columns: list[str]) -> tuple[Any, str, list[InputFile]]:
    """(rows as a DataFrame, format, files with their hashes) of every data file under ``folder``.

    ``string_columns`` are read as text from CSV and JSONL (ids like ``007`` stay as written, times keep their
    offsets). Raises
    BatchInputError for no files, unknown or mixed formats, unreadable files and an input with no rows.
    """
    import pandas as pd

    names = data_files(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    fmt = input_format(names, "input")
    files, frames = [], []
    for name in names:
        path = folder / name
        content = path.read_bytes()
        files.append(InputFile(name=name, size=len(content), sha256=hashlib.sha256(content).hexdigest()))
        try:
            if fmt == "parquet":
                frame = pd.read_parquet(path)
            elif fmt == "csv":
                frame = pd.read_csv(path, dtype=dict.fromkeys(string_columns, "str"), keep_default_na=True)
            else:
                frame = pd.read_json(path, lines=True, dtype=dict.fromkeys(string_columns, "str"))
        except Exception as exc:  # each reader raises its own types; the file and the reason are what matter
            raise BatchInputError(f"input file {name} cannot be read as {fmt}: {exc}") from None
        frames.append(frame)
    rows = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if rows.empty:
        raise BatchInputError(f"the input's {len(names)} {fmt} file(s) hold no rows: there is nothing to score")
    return rows, fmt, files


def prepare(rows: Any, *, use_case: Any, id_column: str, time_column: str) -> Any:
    """The rows checked for scoring, with ``time_column`` as UTC timestamps (microseconds).

    Raises BatchInputError naming the missing columns, null or duplicate ids, and times that are missing, not
    ISO 8601 or without a UTC offset (the same instant everywhere is the point of "as of").
    """

    import pandas as pd

    entity = use_case.ENTITY.name
    fields = list(getattr(use_case, "REQUEST_FIELDS", {}))
    needed = list(dict.fromkeys([id_column, time_column, entity, *fields]))
    missing = [c for c in needed if c not in rows.columns]
    if missing:
        roles = {id_column: "id", time_column: "time", entity: "entity key"}
        shown = ", ".join(f"{c!r} ({roles.get(c, 'request field')})" for c in missing)
        raise BatchInputError(
            f"the input lacks column(s) {shown}; it has {list(map(str, rows.columns))}. "
            "Add them, or name the id and time columns with --id-column and --time-column"
        )
    ids = rows[id_column]
    if ids.isna().any():
        raise BatchInputError(
            f"id column {id_column!r} is empty in {int(ids.isna().sum())} row(s) (first: row {_first(ids.isna())}): "
            "every row needs an id to be joined back"
        )
    duplicated = ids.duplicated(keep=False)
    if duplicated.any():
        example = ids[duplicated].iloc[0]
        raise BatchInputError(
            f"id column {id_column!r} has {int(ids.duplicated().sum())} duplicate value(s), e.g. {example!r}: ids must "
            "be unique so each prediction joins back to one row"
        )
    if rows[entity].isna().any():
        raise BatchInputError(
            f"entity key column {entity!r} is empty for id {ids[rows[entity].isna()].iloc[0]!r}: every row needs its "
            f"{entity} to look its features up"
        )
    rows = rows.copy()
    rows[time_column] = _utc_times(rows[time_column], time_column, ids)
    for name, kind in getattr(use_case, "REQUEST_FIELDS", {}).items():
        if kind == "number" and not pd.api.types.is_numeric_dtype(rows[name].dtype):
            rows[name] = _numbers(rows[name], name, ids)
    if entity in rows.columns and use_case.ENTITY.dtype.value != "int64":
        rows[entity] = rows[entity].astype("str").where(rows[entity].notna(), None)
    return rows.reset_index(drop=True)


def _utc_times(column: Any, name: str, ids: Any) -> Any:
    import pandas as pd

    if column.isna().any():
        raise BatchInputError(
            f"time column {name!r} is empty for id {ids[column.isna()].iloc[0]!r}: every row needs one"
        )
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        return column.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    if pd.api.types.is_datetime64_dtype(column.dtype):
        raise BatchInputError(
            f"time column {name!r} holds timestamps without a time zone: store them in UTC (e.g. "
            "tz_localize('UTC') before writing the Parquet file)"
        )
    text = column.astype("str")
    naive = ~text.str.contains(_OFFSET, regex=True)
    if naive.any():
        raise BatchInputError(
            f"time column {name!r} has no UTC offset for id {ids[naive].iloc[0]!r} ({text[naive].iloc[0]!r}): write "
            "ISO 8601 with an offset, e.g. 2026-11-26T10:15:00+00:00"
        )
    try:
        return pd.to_datetime(text, format="ISO8601", utc=True).astype("datetime64[us, UTC]")
    except (ValueError, TypeError) as exc:
        raise BatchInputError(f"time column {name!r} is not ISO 8601 throughout: {exc}") from None


def _numbers(column: Any, name: str, ids: Any) -> Any:
    """A number column a CSV or JSONL file gave as text because one value is not a number: that value is the error
    (the endpoint would refuse it), not the whole column."""
    import pandas as pd

    converted = pd.to_numeric(column, errors="coerce")
    bad = converted.isna() & column.notna()
    if bad.any():
        raise BatchInputError(
            f"request field {name!r} is not a number for id {ids[bad].iloc[0]!r} ({column[bad].iloc[0]!r}): fix or "
            "remove the row and run again"
        )
    return converted


def _first(mask: Any) -> int:
    return int(mask.to_numpy().nonzero()[0][0])


# -- scoring ----------------------------------------------------------------------------------------------------
def score(
    rows: Any, *, model: Any, offline: Any, id_column: str, time_column: str, created_before_row: bool = False
) -> tuple[Any, Any]:
    """(predictions, the point-in-time join): each row scored as the endpoint scores a request carrying its
    features as of the row's time. Raises BatchInputError naming the row id for a value the endpoint refuses."""
    import pandas as pd

    from sagemaker_jobs.inference import InferenceError, Request, decision_threshold, model_inputs

    use_case = model.use_case
    entity = use_case.ENTITY.name
    fields = list(getattr(use_case, "REQUEST_FIELDS", {}))
    labels = rows[[entity, time_column]]
    joined = offline.get_historical_features(
        labels, use_case.FEATURE_REFS, label_time_column=time_column, created_before_label=created_before_row
    )
    features = joined.table.select(list(joined.feature_columns)).to_pylist()
    transactions = rows[fields].copy()
    for name in fields:  # the endpoint receives times as ISO 8601 strings; so does the batch
        if isinstance(transactions[name].dtype, pd.DatetimeTZDtype):
            transactions[name] = transactions[name].map(lambda t: t.isoformat())
    records = transactions.to_dict(orient="records")
    entities = rows[entity].tolist()
    scores = []
    for start in range(0, len(rows), CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, len(rows))
        request = Request(
            transactions=records[start:stop],
            instances=[{entity: _plain(v)} for v in entities[start:stop]],
            given_features=features[start:stop],
            batch=True,
        )
        try:
            inputs = model_inputs(request, model)
        except InferenceError as exc:
            raise BatchInputError(_row_problem(str(exc), rows[id_column], start, id_column)) from None
        scores.extend(model.estimator.predict_proba(inputs)[:, 1].tolist())
    threshold = decision_threshold()
    output = pd.DataFrame(
        {
            id_column: rows[id_column],
            time_column: rows[time_column],
            entity: rows[entity],
            "score": [round(float(s), 6) for s in scores],
            "label": [int(s >= threshold) for s in scores],
        }
    )
    output = output.loc[:, ~output.columns.duplicated()]
    return output, joined


def _plain(value: Any) -> Any:
    """numpy scalars as Python values (the inference script checks types as JSON gives them)."""
    return value.item() if hasattr(value, "item") else value


def _row_problem(message: str, ids: Any, offset: int, id_column: str) -> str:
    match = _POSITION.match(message)
    if not match:
        return f"the rows cannot be scored: {message}"
    position = offset + int(match.group(1))
    return (
        f"row {position} ({id_column}={ids.iloc[position]!r}): {message[match.end() :]}; "
        "fix or remove the row and run again"
    )


# -- output -----------------------------------------------------------------------------------------------------
def write_predictions(frame: Any, folder: Path, fmt: str) -> Path:
    path = folder / f"{PREDICTIONS_FILE}{EXTENSIONS[fmt]}"
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        frame.to_parquet(path, index=False)
    elif fmt == "csv":
        frame.to_csv(path, index=False, date_format="%Y-%m-%dT%H:%M:%S.%f%z")
    else:
        frame.to_json(path, orient="records", lines=True, date_format="iso", date_unit="us")
    return path


def lineage(job: BatchJob, *, fmt: str, files: list[InputFile], joined: Any, output: Path, rows: int) -> dict:
    """What the predictions were made from (written as ``lineage.json`` next to them)."""
    from sagemaker_jobs.inference import decision_threshold

    manifest = joined.manifest
    times = joined.table.column(joined.label_time_column)
    return {
        "job_name": job.job_name,
        "scored_at": dt.datetime.now(dt.UTC).isoformat(),
        "model": {
            "version": job.model_version,
            "package_arn": job.model_package_arn,
            "model_data_url": job.model_data_url,
            "threshold": decision_threshold(),
        },
        "input": {
            "uri": job.input_uri,
            "format": fmt,
            "rows": rows,
            "id_column": job.id_column,
            "files": [f.__dict__ for f in files],
            "manifest_hash": manifest_hash(files),
        },
        "feature_snapshot": {
            "offline_uri": job.offline_uri,
            "as_of_column": manifest.label_time_column,
            "as_of_min": str(min(times.to_pylist())),
            "as_of_max": str(max(times.to_pylist())),
            "created_before_label": manifest.created_before_label,
            "feature_refs": manifest.feature_refs,
            "feature_groups": manifest.feature_groups,
            "matched_rows": manifest.matched,
            "joined_hash": manifest.dataset_hash,
        },
        "output": {
            "file": output.name,
            "rows": rows,
            "sha256": hashlib.sha256(output.read_bytes()).hexdigest(),
        },
        "library_versions": library_versions(),
    }


def run(job: BatchJob, s3: Any = None) -> dict[str, Any]:
    """Score ``job``'s input and write its outputs; returns the lineage. Raises BatchInputError for bad input."""
    from mlops_kit.features.offline import OfflineStore
    from mlops_kit.features.records import InvalidRecordsError
    from mlops_kit.features.storage import object_store
    from sagemaker_jobs.inference import model_fn

    model = model_fn(str(job.model_dir))
    use_case = model.use_case
    time_column = str(job.time_column or getattr(use_case, "LABEL_TIME_COLUMN", "event_timestamp"))
    # Text stays text: ids like 007, string entity keys, and times (parsed with their offsets in prepare).
    strings = [job.id_column, time_column] + ([use_case.ENTITY.name] if use_case.ENTITY.dtype.value != "int64" else [])
    raw, fmt, files = read_input(job.input_dir, strings)
    rows = prepare(raw, use_case=use_case, id_column=job.id_column, time_column=time_column)
    offline = OfflineStore(use_case.REGISTRY, object_store(job.offline_uri, s3))
    try:
        predictions, joined = score(
            rows,
            model=model,
            offline=offline,
            id_column=job.id_column,
            time_column=time_column,
            created_before_row=job.created_before_row,
        )
    except InvalidRecordsError as exc:  # the point-in-time join's own checks (e.g. a key of the wrong type)
        raise BatchInputError(f"the rows cannot be joined with the offline store: {exc}") from None
    predictions["model_version"] = job.model_version
    path = write_predictions(predictions, job.output_dir, fmt)
    document = lineage(job, fmt=fmt, files=files, joined=joined, output=path, rows=len(predictions))
    (job.output_dir / LINEAGE_FILE).write_text(json.dumps(document, indent=2, sort_keys=True, default=str))
    return document


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    s3 = None
    if args.offline_uri.startswith("s3://"):
        import boto3

        s3 = boto3.client("s3")
    try:
        document = run(job_from(args), s3)
    except BatchInputError as exc:
        print(f"batch_score: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    snapshot = document["feature_snapshot"]
    print(
        f"batch_score: {document['input']['rows']} rows of {document['input']['format']} scored by model version "
        f"{document['model']['version']}; features as of {snapshot['as_of_min']} .. {snapshot['as_of_max']}, "
        f"matched per group {snapshot['matched_rows']}; input manifest {document['input']['manifest_hash'][:16]}"
    )
    return document


if __name__ == "__main__":
    main()
