"""Build the point-in-time training set from the offline feature store: the pipeline's first step.

Inputs (processing-job folders): ``offline`` (a copy of ``s3://<data bucket>/features/``, the offline store's
layout) and ``labels`` (``*.parquet`` label files). Output ``training_set``: ``training_set.parquet`` and
``manifest.json`` (the dataset version). ``--labels-from``/``--labels-to`` (ISO 8601, empty = open) select
the label window. ``--created-before-label`` decides which values count as known at a label's time:
``where_created`` (the default) leaves out values created after the label time in every group with a
created-time column, so late-arriving or backfilled values cannot leak into older rows; ``always`` does so in
every group (a group without a created time counts from its ingestion); ``never`` joins on event time only. The
join itself is ``mlops_kit.features.training.build_training_set``.

``--labels-source`` (JSON, empty for the data bucket's labels) says the labels are a DVC project's files, downloaded
as DVC objects through a SageMaker manifest (:func:`mlops_kit.datasets.dvc.sagemaker_manifest`): they are checked
against their MD5s and laid out by name first (:func:`mlops_kit.datasets.dvc.lay_out`). Either way the output
also holds ``labels_source.json`` (where the labels came from: ``--labels-uri``, and the DVC project, revision,
commit, path and hash), which the evaluation step records in the lineage.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from mlops_kit.datasets.dvc import lay_out
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
    parser.add_argument("--labels-uri", default="")
    parser.add_argument("--labels-source", default="", help="JSON: the DVC dataset the labels are (empty: none)")
    parser.add_argument("--offline", type=Path, default=None)
    parser.add_argument("--labels", type=Path, default=None)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    labels = args.labels or processing_input("labels")
    output = args.output or processing_output("training_set")
    source: dict[str, Any] = {"uri": args.labels_uri}
    with tempfile.TemporaryDirectory(prefix="dvc-labels-") as laid_out:
        if args.labels_source:
            dvc = json.loads(args.labels_source)
            files = lay_out(labels, dvc, Path(laid_out))
            labels = Path(laid_out)
            source["dvc"] = dvc
            print(
                f"labels from DVC {dvc['repo']}@{dvc['commit'][:12]}:{dvc['path']} ({dvc['md5']}): {len(files)} files"
            )
        manifest = _build(args, labels, output)
    (output / "labels_source.json").write_text(json.dumps(source, indent=2, sort_keys=True))
    return manifest


def _build(args: argparse.Namespace, labels: Path, output: Path) -> dict[str, Any]:
    manifest = build_training_set(
        args.offline or processing_input("offline"),
        labels,
        output,
        use_case=args.use_case,
        labels_from=args.labels_from or None,
        labels_to=args.labels_to or None,
        created_before_label=MODES[args.created_before_label],
    )
    print(f"training set {manifest.dataset_version}: {manifest.rows} rows, matched {manifest.matched}")
    return manifest.to_dict()


if __name__ == "__main__":
    main()
