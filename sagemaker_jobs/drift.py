"""The scheduled drift job: capture of a window compared with the Production model's baseline.

Started by the ``drift_start`` Lambda as a SageMaker Processing job (``launch.py drift ...``), or run by hand
with the same arguments. Reads the endpoint's capture files of ``[--start, --end)`` and the baseline from S3,
rebuilds the model's inputs (``mlops_kit.monitoring.served``: request fields plus the online features as of each
inference, through the use case's ``serving_features``), and writes to the ``report`` output
(``/opt/ml/processing/output/report``, uploaded to ``s3://<artifacts>/drift/<endpoint>/reports/<job>/``):
``statistics.json``, ``constraints.json``, ``constraint_violations.json`` (Model Monitor's formats),
``drift_report.json`` (the kit's), ``report.html`` and ``run.json``.

Exit status: 0 when a report was written, drift or not (the publish Lambda turns it into metrics and alarms);
2 when the inputs are wrong (the baseline is missing, a time has no zone), with the reason as the job's
failure reason.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mlops_kit.drift.stats import DEFAULT_MIN_BASELINE_ROWS, DEFAULT_MIN_WINDOW_ROWS, Thresholds
from mlops_kit.monitoring.job import DriftInputError, DriftInputs, parse_time, run_drift, write_outputs
from mlops_kit.monitoring.naming import REPORT_OUTPUT
from sagemaker_jobs.layout import processing_output


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="drift", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--use-case", required=True, help="the use-case module (e.g. mlops_kit.features.fraud)")
    parser.add_argument("--endpoint", required=True, help="the endpoint whose capture is read")
    parser.add_argument("--capture-uri", required=True, help="the endpoint's capture destination (s3://...)")
    parser.add_argument("--baseline-uri", required=True, help="the drift baseline JSON (s3://...)")
    parser.add_argument("--start", required=True, help="window start, ISO 8601 with a zone (inclusive)")
    parser.add_argument("--end", required=True, help="window end, ISO 8601 with a zone (exclusive)")
    parser.add_argument("--model-version", default="", help="keep only rows this model version served")
    parser.add_argument("--offline-uri", default="", help="the offline feature store (s3://<data>/features)")
    parser.add_argument("--psi-investigate", type=float, default=0.1)
    parser.add_argument("--psi-act", type=float, default=0.2)
    parser.add_argument("--min-window-rows", type=int, default=DEFAULT_MIN_WINDOW_ROWS, help="fewer: insufficient_data")
    parser.add_argument(
        "--min-baseline-rows", type=int, default=DEFAULT_MIN_BASELINE_ROWS, help="fewer: insufficient_data"
    )
    parser.add_argument("--baseline-mode", choices=("training", "last_year", "rolling"), default="training")
    parser.add_argument("--rolling-days", type=int, default=28)
    parser.add_argument("--output", type=Path, default=None, help="default: the processing job's report output")
    return parser.parse_args(argv)


def inputs_from(args: argparse.Namespace) -> DriftInputs:
    """The run's inputs from parsed arguments; raises DriftInputError naming a bad one."""
    try:
        thresholds = Thresholds(
            investigate=args.psi_investigate,
            act=args.psi_act,
            min_window_rows=args.min_window_rows,
            min_baseline_rows=args.min_baseline_rows,
        )
    except ValueError as exc:
        raise DriftInputError(str(exc)) from None
    return DriftInputs(
        endpoint=args.endpoint,
        capture_uri=args.capture_uri,
        baseline_uri=args.baseline_uri,
        start=parse_time(args.start, "--start"),
        end=parse_time(args.end, "--end"),
        use_case=args.use_case,
        model_version=args.model_version or None,
        offline_uri=args.offline_uri or None,
        thresholds=thresholds,
        baseline_mode=args.baseline_mode,
        rolling_days=args.rolling_days,
    )


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """What the job prints (its log): rows read, left out, severity and the PSI of every column."""
    capture = summary["capture"]
    lines = [
        f"drift: {summary['current_rows']} rows from {capture['files']} capture files "
        f"({capture['records']} records; left out: {capture['unanswered']} unanswered, "
        f"{sum(capture['other_model_versions'].values())} other model versions, "
        f"{sum(capture['malformed'].values())} malformed)",
        f"drift: severity {summary['severity']}; baseline {summary['baseline_source']}; "
        f"drifted {', '.join(summary['drifted']) or 'none'}",
    ]
    lines += [f"drift:   {name:<24} PSI {'-' if psi is None else f'{psi:.4f}'}" for name, psi in summary["psi"].items()]
    lines += [f"drift: note: {note}" for note in summary["notes"]]
    return lines


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import boto3

    args = parse_args(argv)
    try:
        inputs = inputs_from(args)
        run = run_drift(inputs, boto3.client("s3"))
    except DriftInputError as exc:
        print(f"drift: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    write_outputs(run, args.output or processing_output(REPORT_OUTPUT))
    summary = run.summary()
    print("\n".join(summary_lines(summary)))
    return summary


if __name__ == "__main__":
    main()
