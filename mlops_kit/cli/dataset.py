"""`mlops dataset ...`: DVC-tracked data. Resolve a DVC project's path to its S3 objects; export the training set a
model version saw as a DVC-tracked output that `dvc pull` fetches (:mod:`mlops_kit.datasets.dvc`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from mlops_kit.cli.console import console, fail, table

app = typer.Typer(help="DVC-tracked data: resolve a DVC project's data, export a training set to DVC.")

RemoteOption = Annotated[
    str | None, typer.Option("--remote", help="The DVC remote's name (default: the project's core.remote).")
]
EndpointOption = Annotated[
    str | None,
    typer.Option("--endpoint-url", help="The remote's S3 endpoint, when not in .dvc/config (e.g. the emulator)."),
]


def s3_for(remote: Any, session: Any = None) -> Any:
    """An S3 client for a DVC remote: at its ``endpointurl`` when it has one, else the default endpoint."""
    import boto3

    session = session or boto3.Session()
    return session.client("s3", endpoint_url=remote.endpoint_url) if remote.endpoint_url else session.client("s3")


def resolve_or_fail(
    repo: str, rev: str, path: str, *, remote: str | None, endpoint_url: str | None, verify: bool, session: Any = None
) -> Any:
    """:func:`mlops_kit.datasets.dvc.resolve` (and :func:`~mlops_kit.datasets.dvc.verify` when ``verify``), its
    errors printed as one line saying what to do."""
    from botocore.exceptions import BotoCoreError, ClientError

    from mlops_kit.datasets import dvc

    try:
        dataset = dvc.resolve(
            repo, rev, path, client=lambda r: s3_for(r, session), remote=remote, endpoint_url=endpoint_url
        )
        if verify:
            dvc.verify(dataset, s3_for(dataset.remote, session))
    except dvc.DvcError as exc:
        fail(str(exc))
    except (BotoCoreError, ClientError) as exc:
        fail(f"cannot read the DVC remote of {repo}: {exc}; check its endpoint (--endpoint-url) and credentials")
    return dataset


@app.command()
def resolve(
    repo: Annotated[str, typer.Option(help="The DVC project: a git URL or a local repository's folder.")],
    path: Annotated[str, typer.Option(help="The DVC-tracked file or folder in the project.")],
    rev: Annotated[str, typer.Option(help="Git branch, tag or commit.")] = "HEAD",
    remote: RemoteOption = None,
    endpoint_url: EndpointOption = None,
    verify: Annotated[bool, typer.Option(help="Download every object and check its MD5.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The exact S3 objects a DVC-tracked path is at a git revision (every object checked to be on the remote)."""
    dataset = resolve_or_fail(repo, rev, path, remote=remote, endpoint_url=endpoint_url, verify=verify)
    if as_json:
        files = [{"path": f.path, "md5": f.md5, "uri": f.uri} for f in dataset.files]
        print(json.dumps({**dataset.lineage(), "files": files}, indent=2))
        return
    console.print(
        f"{dataset.path} at {dataset.commit[:12]} ({rev}): md5 {dataset.md5}, {len(dataset.files)} file(s) on "
        f"remote {dataset.remote.name} ({dataset.remote.url})" + (", contents verified" if verify else "")
    )
    console.print(table("Objects", ["path", "md5", "object"], [[f.path, f.md5, f.uri] for f in dataset.files]))


@app.command()
def export(
    repo: Annotated[Path, typer.Option(help="A checkout of the DVC project to write into (dvc init done).")],
    path: Annotated[str, typer.Option(help="Where the training set goes in the project, e.g. data/training_set.")],
    version: Annotated[
        str | None, typer.Option(help="The model version (number or ARN) whose training set to export.")
    ] = None,
    source: Annotated[
        str | None, typer.Option("--from", help="An S3 folder to export instead (a BuildTrainingSet output).")
    ] = None,
    remote: RemoteOption = None,
    endpoint_url: EndpointOption = None,
    project: Annotated[str | None, typer.Option(help="Project name (default: from cdk.json).")] = None,
) -> None:
    """Write the training set a model version saw into a DVC project as a tracked output: the files, the ``.dvc``
    file with their hash, and the objects pushed to the project's remote, so `dvc pull` fetches exactly them."""
    from botocore.exceptions import BotoCoreError, ClientError

    from mlops_kit.datasets import dvc

    if (version is None) == (source is None):
        fail("give either --version (a model version's training set) or --from s3://... (a folder), not both")
    if source is not None and not source.startswith("s3://"):
        fail(f"--from {source!r} is not an S3 folder: give s3://<bucket>/<prefix>/")
    relative = Path(path)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        fail(f"--path {path!r} must be a folder inside the project, e.g. data/training_set")
    target = repo / relative
    if target.exists() and any(target.iterdir() if target.is_dir() else [target]):
        fail(f"{target} already exists: export into a new path, or remove it (and its .dvc file) first")
    try:
        dvc_remote = dvc.workspace_remote(repo, remote)
    except dvc.DvcError as exc:
        fail(str(exc))
    if endpoint_url:
        dvc_remote = dvc.Remote(dvc_remote.name, dvc_remote.url, endpoint_url)
    from mlops_kit.cli.platform import Platform

    platform = Platform.connect(project)
    s3 = platform.client("s3")
    folder = source or _training_set_folder(platform, str(version))
    try:
        copied = _download_folder(s3, folder, target)
        tracked = dvc.track(repo, relative.as_posix())
        uploaded = dvc.push(tracked, dvc_remote, s3_for(dvc_remote, platform.session))
    except dvc.DvcError as exc:
        fail(str(exc))
    except (BotoCoreError, ClientError) as exc:
        fail(f"cannot copy {folder} to the DVC remote {dvc_remote.url}: {exc}")
    console.print(
        f"exported {copied} file(s) from {folder} to {target} (md5 {tracked.output.md5}); "
        f"{len(uploaded)} object(s) pushed to remote {dvc_remote.name} ({dvc_remote.url})"
    )
    dvc_file = tracked.dvc_file.relative_to(repo)
    console.print(
        "commit the .dvc file so others can pull it:\n"
        f"  git -C {repo} add {dvc_file} {dvc_file.parent / '.gitignore'} && git -C {repo} commit -m 'training set'\n"
        f"  dvc pull {relative.as_posix()}   # in any clone"
    )


def _training_set_folder(platform: Any, version: str) -> str:
    """The S3 folder of the training set a version was trained on (its lineage's dataset manifest's folder)."""
    from mlops_kit.registry import LineageDocuments, LineageMismatch, ModelRegistry, UnknownModelVersion

    registry = ModelRegistry(
        platform.client("sagemaker"),
        platform.output("ModelPackageGroupName"),
        documents=LineageDocuments(platform.client("s3")),
    )
    try:
        found = registry.get(version)
        uri = str(registry.full_lineage(found.arn).get("dataset_manifest_uri", ""))
    except (UnknownModelVersion, LineageMismatch) as exc:
        fail(str(exc))
    if not uri.startswith("s3://"):
        fail(f"version {version} records no dataset manifest URI; export its training set with --from s3://...")
    return uri.rsplit("/", 1)[0] + "/"


def _download_folder(s3: Any, uri: str, target: Path) -> int:
    """Copy every object under the S3 folder ``uri`` into ``target`` (relative keys kept); how many."""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    prefix = prefix.rstrip("/") + "/" if prefix.strip("/") else ""
    count = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            relative = item["Key"][len(prefix) :]
            if not relative or relative.endswith("/"):
                continue
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, item["Key"], str(destination))
            count += 1
    if not count:
        fail(f"{uri} holds no objects: check the folder (a BuildTrainingSet output holds training_set.parquet)")
    return count
