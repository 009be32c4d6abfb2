"""Demo stage: model quality on ground truth -- transactions served, their labels arriving days later
(chargebacks), and the scheduled quality window that joins the two.

The story: the endpoint serves a day of transactions, each row carrying its transaction id (the business key
the labels are keyed by, ``quality.key``; its capture record holds it). Three days later (``quality.label_delay_hours``,
emulated time: no one waits) the chargeback feed drops a label file with most of those transactions' outcomes,
one of them garbled. The quality schedule fires; the run joins labels with captured predictions and publishes the
window's ROC AUC, calibration and positive rate with their sample sizes, per variant and for the Production
version, against its evaluation-time figure (the drop alarm's metric). The garbled row is reported, not lost; the
requests whose labels have not arrived yet wait for a later window.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from mlops_kit.cli.console import step, table
from mlops_kit.cli.quality import window_rows
from mlops_kit.environment import read_settings
from mlops_kit.features import fraud
from mlops_kit.quality import naming
from mlops_kit.quality.job import read_reports
from mlops_kit.quality.settings import QualitySettings
from mlops_kit.serving.client import EndpointClient
from mlops_local.demo.context import DemoContext, DemoStageError
from mlops_local.demo.features import N_CUSTOMERS, SEED

REQUESTS = 300
BATCH = 50  # rows per request: each row is joined with its label by the transaction id in it
LABELLED_SHARE = 0.9  # the rest of the chargeback outcomes are still pending when the window is scored
HISTORY_DAYS = 90


def _transactions(now: dt.datetime) -> list[tuple[str, dict[str, Any], int]]:
    """(transaction id, request, label) of ``REQUESTS`` transactions of the demo's customers."""
    data = fraud.generate(
        N_CUSTOMERS, REQUESTS, seed=SEED + 18, start=now - dt.timedelta(days=HISTORY_DAYS), days=HISTORY_DAYS
    )
    return [
        (
            f"txn-{i:05d}",
            {
                "customer_id": row.customer_id,
                "transaction": {
                    "transaction_id": f"txn-{i:05d}",
                    "amount": float(row.amount),
                    "merchant_category": str(row.merchant_category),
                    "event_timestamp": row.event_timestamp.isoformat(),
                },
            },
            int(getattr(row, fraud.LABEL)),
        )
        for i, row in enumerate(data.transactions.itertuples())
    ]


def run(context: DemoContext) -> dict[str, Any]:
    aws = context.emulator
    began = time.monotonic()
    outputs = {k: v for s in context.stacks for k, v in s.outputs.items()}
    if "QualityScheduleName" not in outputs:
        context.console.print('[dim]no "quality" section in the config: model quality is not deployed[/]')
        return {"deployed": False}
    function = aws.client("lambda").get_function_configuration(FunctionName=outputs["QualityFunctionName"])
    settings = read_settings(QualitySettings, function["Environment"]["Variables"])
    endpoint = EndpointClient(outputs["EndpointName"], aws.client("sagemaker-runtime"))
    transactions = _transactions(aws.now())
    by_id = settings.key == "inference_id"
    with step(
        f"Serving {REQUESTS} transactions "
        + ("one per request, each with its transaction id as InferenceId" if by_id else f"in batches of {BATCH}")
    ):
        if by_id:  # an InferenceId names one request: one row each
            for key, request, _ in transactions:
                endpoint.predict(request, inference_id=key)
        for first in range(0, 0 if by_id else len(transactions), BATCH):
            endpoint.predict({"instances": [request for _, request, _ in transactions[first : first + BATCH]]})
        aws.sagemaker.flush_capture()
    arrived = transactions[: int(len(transactions) * LABELLED_SHARE)]
    with step(
        f"{settings.label_delay_hours} h later (emulated) the chargeback feed delivers {len(arrived)} labels "
        "(one garbled); the quality schedule fires"
    ):
        aws.advance(settings.label_delay_hours * 3600)
        rows = [{settings.key_column: key, settings.label_column: label} for key, _, label in arrived]
        rows.append({settings.key_column: "txn-garbled", settings.label_column: "chargeback?"})
        bucket, _, prefix = settings.labels_uri.removeprefix("s3://").partition("/")
        aws.client("s3").put_object(
            Bucket=bucket,
            Key=f"{prefix}/chargebacks-{aws.now():%Y%m%d}.jsonl",
            Body="\n".join(json.dumps(r) for r in rows).encode(),
        )
        # The window holding the requests ends label_delay_hours before the run: fire once it has closed.
        aws.advance(settings.window_hours * 3600 / 2)
        record = aws.fire_schedule(outputs["QualityScheduleName"])
        result = json.loads(record.result)
        if record.errored:
            raise DemoStageError(f"the quality run failed: {result}")
        aws.advance(60)  # the drop alarm evaluates on the minute
    report = read_reports(aws.client("s3"), outputs["ArtifactsBucketName"], outputs["EndpointName"], last=1)[0]
    primary = report["primary_metric"]
    context.console.print(
        table(
            f"Quality window {report['window']['start'][5:16]} – {report['window']['end'][5:16]} UTC "
            f"(evaluation-time {primary} {report['evaluation_figure']:.3f})",
            ["rows of", "labelled", primary, "Brier", "ECE", "pos. rate", "verdict"],
            # The report's table without the window (in the title) and label columns (below): 80 columns wide.
            [row[1:7] + row[8:] for row in window_rows([report])],
        )
    )
    alarm = aws.client("cloudwatch").describe_alarms(AlarmNames=[naming.quality_alarm(outputs["EndpointName"])])
    state = alarm["MetricAlarms"][0]["StateValue"]
    capture = report["capture"]
    context.console.print(
        f"[dim]{sum(capture['awaiting_label'].values())} requests await their labels (a later window scores them); "
        f"{report['labels']['bad_rows']} bad label row reported: "
        f"{report['labels']['bad_row_examples'][0].removeprefix(settings.labels_uri + '/')}; "
        f"drop alarm {state}; `mlops quality report` shows the windows[/]"
    )
    return {
        "deployed": True,
        "served": len(transactions),
        "labels_delivered": len(arrived),
        "window": report["window"],
        "groups": report["groups"],
        "drop": report["drop"],
        "alarm": state,
        "seconds": round(time.monotonic() - began, 1),
    }
