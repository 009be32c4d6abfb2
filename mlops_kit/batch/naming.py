"""Names and places of batch scoring, derived once (the construct, the start function, the job and the CLI)."""

from __future__ import annotations

import datetime as dt

INPUT_PREFIX = "batch/input"  # in the data bucket: the job role may read inputs only under it
OUTPUT_PREFIX = "batch/output"  # in the data bucket: one folder per job
PREDICTIONS_OUTPUT = "predictions"  # the processing job's output name
LINEAGE_FILE = "lineage.json"
PREDICTIONS_FILE = "predictions"  # + the input's extension (.parquet, .csv, .jsonl)


def job_prefix(project: str) -> str:
    """Every batch job's name starts with this (the start function may create only such jobs)."""
    return f"{project}-batch"


def schedule_name(project: str) -> str:
    """The EventBridge Scheduler schedule of ``batch.schedule`` (at most 64 characters: the project has 25)."""
    return f"{project}-batch"


def job_name(project: str, when: dt.datetime, suffix: str = "") -> str:
    """``<project>-batch-<UTC time to the second>[-<suffix>]``: a schedule's retried invocation maps to the same
    name (so starts nothing twice); a CLI run adds a random suffix. At most 25 + 6 + 15 + 9 = 55 characters,
    within CreateProcessingJob's 63."""
    stamp = when.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S")
    return f"{job_prefix(project)}-{stamp}" + (f"-{suffix}" if suffix else "")


def output_uri(data_bucket: str, job: str) -> str:
    return f"s3://{data_bucket}/{OUTPUT_PREFIX}/{job}"
