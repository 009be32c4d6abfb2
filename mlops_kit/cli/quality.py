"""`mlops quality run|report`: run the model-quality window now, and show the windows the schedule scored.

Both find the deployed monitoring stack through its outputs (``Platform.connect``), with the environment's AWS
credentials and region (``AWS_ENDPOINT_URL`` for the local emulator). The stack has the quality monitor only
when the config has a ``quality`` section.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlops_kit.cli.console import console, fail, table

if TYPE_CHECKING:
    from mlops_kit.cli.platform import Platform

app = typer.Typer(
    help="Model quality on ground truth: late labels joined with captured predictions, per window and variant.",
    no_args_is_help=True,
)

ProjectOption = Annotated[str | None, typer.Option(help="Project name (default: cdk.json's mlops.project_name).")]


def _output(platform: Platform, key: str) -> str:
    if key not in platform.outputs:
        fail(f'the monitoring stack has no {key} output: add a "quality" section to cdk.json and redeploy')
    return platform.output(key)


def _figure(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def window_rows(reports: list[dict[str, Any]]) -> list[list[str]]:
    """One row per window and group (the Production version first, then each variant), newest window first."""
    rows = []
    for report in reports:
        end = report["window"]["end"][:16].replace("T", " ")
        labels = report["labels"]
        bad = labels["bad_rows"] + len(labels["bad_files"])
        drop = report["drop"]
        for name, group in sorted(report["groups"].items(), key=lambda g: (g[0] != "production", g[0])):
            verdict = ""
            if name == "production":
                verdict = (
                    f"[bold red]drop {drop['value']:.3f} > {report['max_drop']}[/]"
                    if drop["breached"]
                    else (f"drop {drop['value']:.3f}" if drop["value"] is not None else f"[dim]{drop['reason']}[/]")
                )
            rows.append(
                [
                    end,
                    name if name != "production" else f"production (v{report['production_version']})",
                    str(group["samples"]),
                    _figure(group["primary"]),
                    _figure(group["brier"]),
                    _figure(group["expected_calibration_error"]),
                    _figure(group["positive_rate"]),
                    f"{labels['labels']} ({bad} bad)" if name == "production" else "",
                    verdict,
                ]
            )
    return rows


@app.command()
def report(
    project: ProjectOption = None,
    last: Annotated[int, typer.Option(min=1, max=1000, help="How many windows, newest first.")] = 10,
) -> None:
    """Show the last quality windows: per variant and for the Production version, the primary metric, Brier
    score, expected calibration error, positive rate and the labelled rows they rest on, and the drop."""
    from mlops_kit.cli.platform import Platform
    from mlops_kit.quality.job import read_reports

    platform = Platform.connect(project)
    _output(platform, "QualityFunctionName")
    endpoint = platform.output("EndpointName")
    reports = read_reports(platform.client("s3"), platform.output("ArtifactsBucketName"), endpoint, last=last)
    if not reports:
        fail(
            f"no quality window of {endpoint} yet: put label files under {_output(platform, 'QualityLabelsUri')}/ "
            "and wait for the schedule, or run `mlops quality run`"
        )
    primary = reports[0]["primary_metric"]
    console.print(
        table(
            f"Model quality of {endpoint} on labels (evaluation-time {primary}: "
            f"{_figure(reports[0]['evaluation_figure'])}, alarm on a drop above {reports[0]['max_drop']} with at "
            f"least {reports[0]['min_samples']} labels)",
            ["window end (UTC)", "rows of", "labelled", primary, "Brier", "ECE", "positive rate", "labels", "verdict"],
            window_rows(reports),
        )
    )


@app.command()
def run(project: ProjectOption = None) -> None:
    """Score the window that ends the configured label delay before now, publish its metrics, print its figures."""
    from mlops_kit.cli.platform import Platform

    platform = Platform.connect(project)
    function = _output(platform, "QualityFunctionName")
    result, failed = platform.invoke(function, {"source": "cli"})
    if failed:
        fail(f"the quality function {function} failed: {result.get('errorMessage', result)}")
    console.print_json(data=result)
