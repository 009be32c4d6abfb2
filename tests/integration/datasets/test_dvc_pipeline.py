"""A training run whose labels are a DVC project's, on the emulator, through the CLI a user types:

`mlops pipeline run --dvc-repo ... --dvc-rev v1 --dvc-path data/labels` resolves the path to the objects `dvc push`
wrote, the pipeline reads exactly those, `mlops registry lineage` shows the DVC commit and hash beside the training
set's own hash, and `mlops dataset export` writes that training set into a DVC project so that `dvc pull` in a fresh
clone fetches it byte-identical.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mlops_kit.cli.main import app
from mlops_kit.datasets import dvc
from mlops_local.deploy import CloudAssembly
from mlops_local.emulator import Emulator
from tests.integration.datasets.test_dvc_interop import DVC, new_project, run
from tests.support import deploy_with_features

pytestmark = pytest.mark.slow
REMOTE_BUCKET = "team-dvc-remote"
runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_kit.cli import console

    monkeypatch.setattr(console.console, "_width", 600)
    monkeypatch.setattr(console.err_console, "_width", 600)


@pytest.fixture(scope="module")
def assembly(assembly_with: Any) -> CloudAssembly:
    """The app with the team's DVC remote in ``training.dvc_remotes`` (the pipeline role may read its objects)."""
    return assembly_with("dvc", {"mlops": {"training": {"dvc_remotes": [f"s3://{REMOTE_BUCKET}/fraud"]}}})


@pytest.fixture(scope="module")
def platform(assembly: CloudAssembly, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The platform deployed with its feature store filled, an empty labels/ folder, and a DVC project whose
    ``data/labels`` (the transactions with their labels) was pushed by ``dvc`` to an S3 bucket of the emulator."""
    assert DVC.exists(), f"the DVC CLI is missing at {DVC}: run `make install` (it creates .venv/dvc)"
    with Emulator(workdir=tmp_path_factory.mktemp("dvc-pipeline")) as aws:
        outputs, data = deploy_with_features(aws, assembly)
        aws.client("s3").create_bucket(Bucket=REMOTE_BUCKET)
        root = new_project(tmp_path_factory.mktemp("team") / "labels-project", aws, f"s3://{REMOTE_BUCKET}/fraud")
        (root / "data" / "labels").mkdir(parents=True)
        data.transactions.iloc[: len(data.transactions) // 2].to_parquet(root / "data/labels/first.parquet")
        data.transactions.iloc[len(data.transactions) // 2 :].to_parquet(root / "data/labels/second.parquet")
        run("dvc", "add", "--quiet", "data/labels", cwd=root, aws=aws)
        run("git", "add", ".", cwd=root, aws=aws)
        run("git", "commit", "--quiet", "-m", "fraud labels", cwd=root, aws=aws)
        run("git", "tag", "v1", cwd=root, aws=aws)
        run("dvc", "push", "--quiet", cwd=root, aws=aws)
        yield aws, outputs, root


def test_a_run_on_dvc_labels_records_the_dvc_commit_and_hash_and_exports_back_to_dvc(
    platform: Any, tmp_path: Path
) -> None:
    aws, outputs, root = platform
    commit = run("git", "rev-parse", "v1^{commit}", cwd=root, aws=aws).strip()
    labels_md5 = dvc.parse_outputs((root / "data/labels.dvc").read_text(), defined_in="data/labels.dvc")[0].md5

    started = runner.invoke(
        app, ["pipeline", "run", "--dvc-repo", str(root), "--dvc-rev", "v1", "--dvc-path", "data/labels"]
    )

    assert started.exit_code == 0, started.output
    assert f"labels: DVC data/labels at {commit[:12]} (v1), md5 {labels_md5}, 2 file(s)" in started.output
    assert "registered version 1" in started.output
    shown = runner.invoke(app, ["registry", "lineage", "1"])
    assert shown.exit_code == 0, shown.output
    document = _lineage_document(aws, outputs)
    source = document["labels_source"]
    assert source["dvc"] == {
        "repo": str(root), "rev": "v1", "commit": commit, "path": "data/labels", "md5": labels_md5,
        "output": "data/labels", "output_md5": labels_md5, "remote": f"s3://{REMOTE_BUCKET}/fraud",
    }  # fmt: skip
    assert source["uri"].endswith(".manifest")
    assert commit in shown.output
    assert labels_md5 in shown.output
    assert document["dataset_manifest_hash"] in shown.output

    # The training set it saw goes back into a DVC project; `dvc pull` in a fresh clone gets the same bytes.
    export_root = new_project(tmp_path / "exports", aws, f"s3://{REMOTE_BUCKET}/exports")
    exported = runner.invoke(
        app, ["dataset", "export", "--version", "1", "--repo", str(export_root), "--path", "data/training_set"]
    )
    assert exported.exit_code == 0, exported.output
    run("git", "add", ".", cwd=export_root, aws=aws)
    run("git", "commit", "--quiet", "-m", "training set of version 1", cwd=export_root, aws=aws)
    clone = tmp_path / "clone"
    run("git", "clone", "--quiet", str(export_root), str(clone), cwd=tmp_path, aws=aws)
    run("dvc", "pull", "--quiet", cwd=clone, aws=aws)
    folder = document["dataset_manifest_uri"].rsplit("/", 1)[0]
    bucket, _, prefix = folder.removeprefix("s3://").partition("/")
    s3 = aws.client("s3")
    in_s3 = {
        o["Key"][len(prefix) + 1 :]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
        for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix + "/")["Contents"]
    }
    pulled = clone / "data" / "training_set"
    assert {p.relative_to(pulled).as_posix(): p.read_bytes() for p in pulled.rglob("*") if p.is_file()} == in_s3
    assert "training_set.parquet" in in_s3


def test_the_pipeline_role_reads_only_the_dvc_objects_of_the_listed_remote(assembly: CloudAssembly) -> None:
    granted = [
        (action, resource)
        for stack in assembly.stacks
        for template in [json.loads(stack.template_file.read_text())]
        for item in template["Resources"].values()
        if item["Type"] == "AWS::IAM::Policy"
        for statement in item["Properties"]["PolicyDocument"]["Statement"]
        for action in (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
        for resource in (statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]])
        if REMOTE_BUCKET in json.dumps(resource)
    ]

    objects = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":s3:::{REMOTE_BUCKET}/fraud/files/md5/*"]]}
    assert granted == [("s3:GetObject", objects)]


def _lineage_document(aws: Emulator, outputs: dict[str, str]) -> dict[str, Any]:
    from mlops_kit.registry import LineageDocuments, ModelRegistry

    registry = ModelRegistry(
        aws.client("sagemaker"), outputs["ModelPackageGroupName"], documents=LineageDocuments(aws.client("s3"))
    )
    return dict(json.loads(json.dumps(registry.full_lineage(registry.get("1").arn))))
