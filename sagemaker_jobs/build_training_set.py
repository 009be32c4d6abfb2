"""Build the point-in-time training set from the offline feature store: the pipeline's first step.

Inputs (processing-job folders): ``offline`` (a copy of ``s3://<data bucket>/features/``, the offline store's
layout) and ``labels`` (``*.parquet`` label files). Output ``training_set``: ``training_set.parquet`` and
``manifest.json`` (the dataset version). ``--labels-from``/``--labels-to`` (ISO 8601, empty = open) select
the label window. ``--created-before-label`` decides which values count as known at a label's time:
``where_created`` (the default) leaves out values created after the label time in every group with a
created-time column, so late-arriving or backfilled values cannot leak into older rows; ``always`` does so in
every group (a group without a created time counts from its ingestion); ``never`` joins on event time only. The
join itself is ``mlops_kit.features.training.build_training_set``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mlops_kit.features.sql import WHERE_CREATED, CreatedBeforeLabel
from mlops_kit.features.training import build_training_set
from sagemaker_jobs.layout import processing_input, processing_output

MODES: dict[str, CreatedBeforeLabel] = {"always": True, WHERE_CREATED: WHERE_CREATED, "never": False}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--use-case", required=True)
    parser.add_argument("--labels-from", default="")
    parser.add_argument("--labels-to", default="")
    parser.add_argument("--created-before-label", choices=sorted(MODES), default=WHERE_CREATED)
    parser.add_argument("--offline", type=Path, default=None)
    parser.add_argument("--labels", type=Path, default=None)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    manifest = build_training_set(
        args.offline or processing_input("offline"),
        args.labels or processing_input("labels"),
        args.output or processing_output("training_set"),
        use_case=args.use_case,
        labels_from=args.labels_from or None,
        labels_to=args.labels_to or None,
        created_before_label=MODES[args.created_before_label],
    )
    print(f"training set {manifest.dataset_version}: {manifest.rows} rows, matched {manifest.matched}")
    return manifest.to_dict()


if __name__ == "__main__":
    main()
