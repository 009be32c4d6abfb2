"""The kit's DVC formats against the real ``dvc`` CLI, with the emulator's S3 as the remote, both ways:

* a project made and pushed by ``dvc`` resolves, in the kit, to exactly the objects ``dvc`` pushed;
* a folder the kit tracks and pushes is fetched byte-identical by ``dvc pull`` in a fresh clone, and ``dvc add``
  of the pulled folder rewrites the kit's ``.dvc`` file to the same bytes.

``dvc`` runs from its own environment (``.venv/dvc``, made by ``make install``), as a separate process that
reaches the emulator through its local server endpoint.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlops_kit.datasets import dvc
from mlops_local.emulator import Emulator

DVC = Path(sys.prefix) / "dvc" / "bin" / "dvc"
BUCKET = "dvc-store"


@pytest.fixture(scope="module")
def aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    assert DVC.exists(), f"the DVC CLI is missing at {DVC}: run `make install` (it creates .venv/dvc)"
    with Emulator(workdir=tmp_path_factory.mktemp("emulator")) as emulator:
        emulator.client("s3").create_bucket(Bucket=BUCKET)
        yield emulator


def run(*args: str, cwd: Path, aws: Emulator) -> str:
    """Run ``git`` or ``dvc`` in ``cwd`` with credentials for the emulator; fails the test with its output."""
    env = {**os.environ, **aws.environment(), "DVC_NO_ANALYTICS": "1", "GIT_TERMINAL_PROMPT": "0"}
    env.pop("AWS_ENDPOINT_URL", None)  # dvc reaches the emulator through the remote's endpointurl only
    command = [str(DVC), *args[1:]] if args[0] == "dvc" else list(args)
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def new_project(root: Path, aws: Emulator, url: str) -> Path:
    """A git repository with DVC initialised and a default S3 remote at ``url`` on the emulator, committed."""
    root.mkdir(parents=True)
    run("git", "init", "--quiet", "--initial-branch", "main", cwd=root, aws=aws)
    run("git", "config", "user.email", "dvc@example.com", cwd=root, aws=aws)
    run("git", "config", "user.name", "DVC test", cwd=root, aws=aws)
    run("dvc", "init", "--quiet", cwd=root, aws=aws)
    run("dvc", "remote", "add", "--default", "store", url, cwd=root, aws=aws)
    run("dvc", "remote", "modify", "store", "endpointurl", aws.job_endpoint(), cwd=root, aws=aws)
    run("git", "add", ".", cwd=root, aws=aws)
    run("git", "commit", "--quiet", "-m", "dvc init", cwd=root, aws=aws)
    return root


def labels(n: int, seed: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [f"c{seed}-{i}" for i in range(n)],
            "event_time": pd.date_range("2026-01-01", periods=n, freq="h", tz="UTC"),
            "label": [(i * seed) % 2 for i in range(n)],
        }
    )


def keys(aws: Emulator, prefix: str) -> set[str]:
    s3 = aws.client("s3")
    return {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])}


def client_for(aws: Emulator) -> Any:
    return lambda remote: aws.client("s3")


@pytest.fixture(scope="module")
def pushed(aws: Emulator, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A project whose ``data/labels`` folder and ``data/notes.csv`` file were added and pushed by ``dvc``:
    tag v1, then a second commit that changes one label file (pushed too)."""
    root = new_project(tmp_path_factory.mktemp("dvc") / "project", aws, f"s3://{BUCKET}/pushed")
    folder = root / "data" / "labels"
    (folder / "2026").mkdir(parents=True)
    labels(20, 3).to_parquet(folder / "january.parquet")
    labels(10, 5).to_parquet(folder / "2026" / "february.parquet")
    (root / "data" / "notes.csv").write_bytes(b"id,note\r\n1,windows line endings stay as they are\r\n")
    run("dvc", "add", "--quiet", "data/labels", "data/notes.csv", cwd=root, aws=aws)
    run("git", "add", ".", cwd=root, aws=aws)
    run("git", "commit", "--quiet", "-m", "labels v1", cwd=root, aws=aws)
    run("git", "tag", "v1", cwd=root, aws=aws)
    run("dvc", "push", "--quiet", cwd=root, aws=aws)
    v1 = {p.relative_to(root).as_posix(): p.read_bytes() for p in (root / "data").rglob("*") if p.is_file()}
    v1_keys = keys(aws, "pushed/")
    labels(30, 7).to_parquet(folder / "january.parquet")
    run("dvc", "add", "--quiet", "data/labels", cwd=root, aws=aws)
    run("git", "commit", "--quiet", "-am", "labels v2", cwd=root, aws=aws)
    run("dvc", "push", "--quiet", cwd=root, aws=aws)
    return {"root": root, "v1": v1, "v1_keys": v1_keys}


def test_a_folder_dvc_pushed_resolves_to_exactly_the_objects_dvc_pushed(aws: Emulator, pushed) -> None:
    root = pushed["root"]

    dataset = dvc.resolve(str(root), "v1", "data/labels", client=client_for(aws))

    tag = run("git", "rev-parse", "v1^{commit}", cwd=root, aws=aws).strip()
    assert dataset.commit == tag
    at_v1 = run("git", "show", "v1:data/labels.dvc", cwd=root, aws=aws)
    assert dataset.output.md5 == dvc.parse_outputs(at_v1, defined_in="data/labels.dvc")[0].md5
    assert dataset.output.is_dir
    manifest_key = dataset.remote.key(dataset.output.md5)
    assert {dataset.remote.key(f.md5) for f in dataset.files} | {manifest_key} | {
        dataset.remote.key(dvc.md5_bytes(pushed["v1"]["data/notes.csv"]))
    } == pushed["v1_keys"]
    assert sorted(f.path for f in dataset.files) == ["data/labels/2026/february.parquet", "data/labels/january.parquet"]
    out = root.parent / "verified"
    dvc.verify(dataset, aws.client("s3"), into=out)
    for f in dataset.files:
        assert (out / f.path).read_bytes() == pushed["v1"][f.path]


def test_the_revision_decides_the_objects_and_a_git_url_works_like_a_folder(aws: Emulator, pushed) -> None:
    root = pushed["root"]
    url = root.as_uri()  # file://...: cloned like any remote repository

    old = dvc.resolve(url, "v1", "data/labels/january.parquet", client=client_for(aws))
    new = dvc.resolve(url, "main", "data/labels/january.parquet", client=client_for(aws))

    assert old.md5 == dvc.md5_bytes(pushed["v1"]["data/labels/january.parquet"])
    assert new.md5 == dvc.md5_file(root / "data" / "labels" / "january.parquet") != old.md5
    assert old.lineage()["rev"] == "v1"
    assert old.lineage()["commit"] != new.lineage()["commit"]


def test_a_single_file_hashes_its_bytes_as_dvc_3_does(aws: Emulator, pushed) -> None:
    # DVC 2 converted CRLF before hashing text files; DVC 3 (`hash: md5`) hashes the bytes as they are.
    dataset = dvc.resolve(str(pushed["root"]), "v1", "data/notes.csv", client=client_for(aws))

    assert dataset.md5 == dvc.md5_bytes(pushed["v1"]["data/notes.csv"])
    assert [f.uri for f in dataset.files] == [f"s3://{BUCKET}/pushed/files/md5/{dataset.md5[:2]}/{dataset.md5[2:]}"]


@pytest.mark.parametrize(
    ("rev", "path", "error", "says"),
    [
        ("v1", "data/nothing.csv", dvc.DvcPathNotTracked, "is not tracked by DVC"),
        ("v1", "data/labels/2027", dvc.DvcPathNotTracked, "is not in the tracked folder data/labels"),
        ("v9", "data/labels", dvc.DvcRevisionNotFound, "revision 'v9' is not in"),
    ],
)
def test_a_path_or_revision_that_is_not_there_is_named(aws: Emulator, pushed, rev, path, error, says) -> None:
    with pytest.raises(error, match=says):
        dvc.resolve(str(pushed["root"]), rev, path, client=client_for(aws))


def test_an_object_missing_on_the_remote_or_overwritten_is_named(aws: Emulator, pushed, tmp_path: Path) -> None:
    s3 = aws.client("s3")
    dataset = dvc.resolve(str(pushed["root"]), "v1", "data/labels", client=client_for(aws))
    victim = dataset.files[0]
    key = dataset.remote.key(victim.md5)
    original = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    try:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"not the labels")
        with pytest.raises(dvc.DvcHashMismatch, match=f"{victim.path}.*dvc push -r store"):
            dvc.verify(dataset, s3, into=tmp_path)
        s3.delete_object(Bucket=BUCKET, Key=key)
        with pytest.raises(dvc.DvcObjectMissing, match=f"{victim.path} .*{victim.uri}.*run `dvc push -r store`"):
            dvc.resolve(str(pushed["root"]), "v1", "data/labels", client=client_for(aws))
    finally:
        s3.put_object(Bucket=BUCKET, Key=key, Body=original)


def test_a_folder_the_kit_tracks_and_pushes_is_pulled_byte_identical_by_dvc(aws: Emulator, tmp_path: Path) -> None:
    root = new_project(tmp_path / "export", aws, f"s3://{BUCKET}/exported")
    target = root / "data" / "training_set"
    (target / "parts").mkdir(parents=True)
    labels(50, 11).to_parquet(target / "training_set.parquet")
    (target / "manifest.json").write_text('{"dataset_hash": "abc"}\n')
    (target / "parts" / "empty.txt").write_bytes(b"")
    written = {p.relative_to(root).as_posix(): p.read_bytes() for p in target.rglob("*") if p.is_file()}

    tracked = dvc.track(root, "data/training_set")
    uploaded = dvc.push(tracked, dvc.workspace_remote(root), aws.client("s3"))
    again = dvc.push(tracked, dvc.workspace_remote(root), aws.client("s3"))
    run("git", "add", ".", cwd=root, aws=aws)
    run("git", "commit", "--quiet", "-m", "training set", cwd=root, aws=aws)
    clone = tmp_path / "clone"
    run("git", "clone", "--quiet", str(root), str(clone), cwd=tmp_path, aws=aws)
    run("dvc", "pull", "--quiet", cwd=clone, aws=aws)

    assert len(uploaded) == 4  # three files and the .dir manifest
    assert again == []  # once
    assert {p.relative_to(clone).as_posix(): p.read_bytes() for p in (clone / "data").rglob("*") if p.is_file()} == {
        **written,
        "data/.gitignore": b"/training_set\n",
        "data/training_set.dvc": tracked.dvc_file.read_bytes(),
    }
    kit_file = (clone / "data" / "training_set.dvc").read_bytes()
    run("dvc", "add", "--quiet", "data/training_set", cwd=clone, aws=aws)
    assert (clone / "data" / "training_set.dvc").read_bytes() == kit_file  # dvc writes the same .dvc file
    assert "in sync" in run("dvc", "status", "--cloud", cwd=clone, aws=aws)
