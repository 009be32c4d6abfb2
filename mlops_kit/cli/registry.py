"""`mlops registry ...`: versions, stages, metrics and lineage of the model registry."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from mlops_kit.cli.console import console, fail, table
from mlops_kit.cli.platform import Platform

app = typer.Typer(help="The model registry: versions, stages, metrics, lineage, rollback.", no_args_is_help=True)
ProjectOption = Annotated[str | None, typer.Option(help="Project name (default: cdk.json's mlops.project_name).")]


def _registry(project: str | None):
    from mlops_kit.registry import LineageDocuments, ModelRegistry

    platform = Platform.connect(project)
    documents = LineageDocuments(platform.client("s3"))
    return ModelRegistry(platform.client("sagemaker"), platform.output("ModelPackageGroupName"), documents=documents)


@app.command("list")
def list_versions(project: ProjectOption = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every version with its stage, approval and headline metric."""
    versions = _registry(project).versions()
    # With environments, where each version serves (or served until replaced); a single account has none.
    environments = any(v.environments for v in versions)
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "version": v.version,
                        "arn": v.arn,
                        "stage": v.stage,
                        "status": v.stage_status,
                        "approval": v.approval_status,
                        "metrics": v.metrics,
                        **({"environments": v.environments} if environments else {}),
                    }
                    for v in versions
                ],
                indent=2,
            )
        )
        return
    console.print(
        table(
            "Model versions",
            [
                "version",
                "stage",
                "status",
                "approval",
                *(["environments"] if environments else []),
                "metrics",
                "created",
            ],
            [
                [
                    str(v.version),
                    v.stage,
                    v.stage_status,
                    v.approval_status,
                    *([environments_cell(v.environments)] if environments else []),
                    ", ".join(f"{k}={x:.4f}" for k, x in v.metrics.items()),
                    v.created.strftime("%Y-%m-%d %H:%M"),
                ]
                for v in versions
            ],
        )
    )


def environments_cell(environments: dict[str, str]) -> str:
    """``staging: serving, production: archived`` (``-`` for a version never promoted)."""
    return ", ".join(f"{name}: {status}" for name, status in environments.items()) or "-"


def _version(ref: str, project: str | None) -> Any:
    """The registry version ``ref`` names (number or ARN); exits with the registry's message when unknown."""
    from mlops_kit.registry import UnknownModelVersion

    try:
        return _registry(project).get(ref)
    except UnknownModelVersion as exc:
        fail(str(exc))


@app.command()
def show(
    version: Annotated[str, typer.Argument(help="Version number or model package ARN.")], project: ProjectOption = None
) -> None:
    """One version: stage history note, metrics, model data and where its reports are."""
    v = _version(version, project)
    rows = [
        ["arn", v.arn], ["stage", f"{v.stage} / {v.stage_status}"], ["approval", v.approval_status],
        ["note", v.description], ["model data", v.model_data_url], ["metrics report", v.metrics_uri or "-"],
        *[[f"metric {k}", f"{x:.6f}"] for k, x in v.metrics.items()],
        *[[k, val] for k, val in sorted(v.properties.items()) if not k.startswith(("lineage.", "metrics."))],
    ]  # fmt: skip
    console.print(table(f"Version {v.version}", ["field", "value"], rows))


@app.command()
def lineage(
    version: Annotated[str, typer.Argument(help="Version number or model package ARN.")], project: ProjectOption = None
) -> None:
    """What the version was built from: dataset manifest, features, code, images, libraries, parameters, seed.

    Every value comes from the version's lineage document in S3, checked against the SHA-256 the registry recorded.
    """
    from botocore.exceptions import ClientError

    from mlops_kit.registry import LineageMismatch, UnknownModelVersion

    registry = _registry(project)
    try:
        v = registry.get(version)
    except UnknownModelVersion as exc:
        fail(str(exc))
    try:
        values = registry.full_lineage(v.arn)
    except LineageMismatch as exc:
        fail(str(exc))
    except ClientError as exc:
        fail(f"cannot read the lineage document of version {v.version}: {exc}")
    rows = [
        [k, json.dumps(val, sort_keys=True) if isinstance(val, dict | list) else str(val)]
        for k, val in sorted(values.items())
    ]
    if v.lineage_document is not None:
        rows += [["document", v.lineage_document.uri], ["document sha256", v.lineage_document.sha256]]
    console.print(table(f"Lineage of version {v.version}", ["what", "value"], rows))
