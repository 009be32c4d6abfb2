"""DVC 3's formats as the kit reads and writes them: hashes, .dir manifests, .dvc files, dvc.lock, the config's
remotes, the remote layout, finding an output at a git revision, and laying out downloaded objects.

The expected hashes below are what `dvc add` 3.67.1 wrote for the same files (the interop tests in
tests/integration/datasets check the same against the real CLI, live)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from mlops_kit.datasets import dvc

# `dvc add labels` of a folder holding a.txt ("x\n") and sub/b.txt ("y\n"), and `dvc add one.csv` ("a,b\n1,2\r\n").
DIR_MD5 = "9f64c32bb417e126dc0aedf0b30095a4.dir"
A_MD5, B_MD5, CSV_MD5 = (
    "401b30e3b8b5d629635a5c613cdb7919",
    "009520053b00386d1173f3988c55d192",
    "c7bec6a2edc60b03ab6ef7c9df4093ba",
)
DVC_FILE = "outs:\n- md5: 9f64c32bb417e126dc0aedf0b30095a4.dir\n  size: 4\n  nfiles: 2\n  hash: md5\n  path: labels\n"


def folder(root: Path) -> Path:
    (root / "labels" / "sub").mkdir(parents=True)
    (root / "labels" / "a.txt").write_text("x\n")
    (root / "labels" / "sub" / "b.txt").write_text("y\n")
    (root / "one.csv").write_bytes(b"a,b\n1,2\r\n")
    return root


def test_files_and_folders_hash_as_dvc_3_hashes_them(tmp_path: Path) -> None:
    root = folder(tmp_path)

    md5, size, entries, manifest = dvc.scan(root / "labels")

    assert md5 == DIR_MD5
    assert size == 4
    assert entries == [dvc.DirEntry("a.txt", A_MD5), dvc.DirEntry("sub/b.txt", B_MD5)]
    assert manifest == json.dumps([{"md5": A_MD5, "relpath": "a.txt"}, {"md5": B_MD5, "relpath": "sub/b.txt"}]).encode()
    assert dvc.scan(root / "one.csv")[:2] == (CSV_MD5, 9)  # CRLF kept: DVC 3 hashes the bytes


def test_tracking_writes_the_dvc_file_dvc_add_writes_and_ignores_the_data(tmp_path: Path) -> None:
    root = folder(tmp_path)

    tracked = dvc.track(root, "labels")
    dvc.track(root, "labels")  # twice: one .gitignore line

    assert (root / "labels.dvc").read_text() == DVC_FILE
    assert (root / ".gitignore").read_text() == "/labels\n"
    assert set(tracked.objects) == {A_MD5, B_MD5, DIR_MD5}
    assert dvc.parse_outputs(DVC_FILE, defined_in="labels.dvc") == [
        dvc.Output("labels", DIR_MD5, size=4, nfiles=2, defined_in="labels.dvc")
    ]


def test_an_empty_or_missing_folder_cannot_be_tracked(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(dvc.DvcError, match="empty directory"):
        dvc.track(tmp_path, "empty")
    with pytest.raises(dvc.DvcError, match="does not exist"):
        dvc.track(tmp_path, "nothing")


def test_dvc_lock_outputs_are_relative_to_the_lock_files_folder() -> None:
    lock = (
        "schema: '2.0'\nstages:\n  prepare:\n    cmd: python prepare.py\n    outs:\n"
        f"    - path: out/labels\n      hash: md5\n      md5: {DIR_MD5}\n      size: 4\n      nfiles: 2\n"
    )

    assert dvc.parse_outputs(lock, defined_in="pipelines/fraud/dvc.lock") == [
        dvc.Output("pipelines/fraud/out/labels", DIR_MD5, size=4, nfiles=2, defined_in="pipelines/fraud/dvc.lock")
    ]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (f"outs:\n- md5: {CSV_MD5}\n  path: one.csv\n", "hashed by DVC 2 .*dvc cache migrate --dvc-files"),
        ("outs:\n- hash: md5\n  path: one.csv\n", "has no md5: run `dvc commit`"),
        ("outs: [unclosed\n", "is not valid YAML"),
        ("- just a list\n", "is not a DVC file"),
    ],
)
def test_outputs_the_kit_cannot_use_are_refused_saying_what_to_do(text: str, says: str) -> None:
    with pytest.raises(dvc.DvcError, match=says):
        dvc.parse_outputs(text, defined_in="one.csv.dvc")


CONFIG = """[core]
    remote = store
['remote "store"']
    url = s3://team-data/dvc/
['remote "backup"']
    url = s3://backup-bucket
['remote "shared"']
    url = /mnt/shared/dvc
"""


def test_the_remote_is_the_default_or_the_named_one_with_the_local_config_on_top() -> None:
    local = "['remote \"store\"']\n    endpointurl = http://localhost:4566\n"

    store = dvc.parse_remote([(".dvc/config", CONFIG), (".dvc/config.local", local)])
    backup = dvc.parse_remote([(".dvc/config", CONFIG)], "backup")

    assert store == dvc.Remote("store", "s3://team-data/dvc", "http://localhost:4566")
    assert store.uri(A_MD5) == "s3://team-data/dvc/files/md5/40/1b30e3b8b5d629635a5c613cdb7919"
    assert backup.key(DIR_MD5) == "files/md5/9f/64c32bb417e126dc0aedf0b30095a4.dir"


@pytest.mark.parametrize(
    ("config", "name", "says"),
    [
        ("[core]\n    autostage = true\n", None, "no default remote in .dvc/config: name one with --dvc-remote"),
        (CONFIG, "elsewhere", "remote 'elsewhere' is not defined in .dvc/config: add it with `dvc remote add"),
        (CONFIG, "shared", "remote 'shared' is /mnt/shared/dvc, not S3"),
        ("not = a section\n", None, "is not a DVC config file"),
    ],
)
def test_a_remote_the_kit_cannot_read_is_named(config: str, name: str | None, says: str) -> None:
    with pytest.raises(dvc.DvcRemoteError, match=says):
        dvc.parse_remote([(".dvc/config", config)], name)


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with labels.dvc at the root and a stage's output in sub/dvc.lock, committed and tagged."""
    root = folder(tmp_path / "repo")
    git(root, "init", "--quiet")
    dvc.track(root, "labels")
    (root / "sub").mkdir()
    (root / "sub" / "dvc.lock").write_text(
        f"schema: '2.0'\nstages:\n  s:\n    cmd: x\n    outs:\n    - path: model.pkl\n      hash: md5\n"
        f"      md5: {CSV_MD5}\n      size: 9\n"
    )
    git(root, "add", ".")
    git(root, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "--quiet", "-m", "data")
    git(root, "tag", "v1")
    return root


@pytest.mark.parametrize(
    ("path", "output", "inside"),
    [
        ("labels", "labels", ""),
        ("labels/sub/b.txt", "labels", "sub/b.txt"),
        ("sub/model.pkl", "sub/model.pkl", ""),
    ],
)
def test_a_path_is_found_in_a_dvc_file_or_a_dvc_lock_at_the_revision(repo: Path, path, output, inside) -> None:
    with dvc.git_tree(str(repo), "v1") as tree:
        found, rest = dvc.find_output(tree, path)

    assert (found.path, rest) == (output, inside)
    assert tree.commit == git(repo, "rev-parse", "v1")


def test_an_untracked_path_and_an_unknown_revision_are_named(repo: Path, tmp_path: Path) -> None:
    with dvc.git_tree(str(repo), "v1") as tree, pytest.raises(dvc.DvcPathNotTracked, match=r"one\.csv is not tracked"):
        dvc.find_output(tree, "one.csv")
    with pytest.raises(dvc.DvcRevisionNotFound, match="revision 'v2' is not in"), dvc.git_tree(str(repo), "v2"):
        pass
    (tmp_path / "plain").mkdir()
    with (
        pytest.raises(dvc.DvcRevisionNotFound, match="is not a git repository"),
        dvc.git_tree(str(tmp_path / "plain"), "HEAD"),
    ):
        pass
    with pytest.raises(dvc.DvcRevisionNotFound, match="neither may start with '-'"), dvc.git_tree(str(repo), "--all"):
        pass
    with (
        pytest.raises(dvc.DvcRevisionNotFound, match="neither may start with '-'"),
        dvc.git_tree("--upload-pack=touch /tmp/pwned", "HEAD"),
    ):
        pass
    with (
        pytest.raises(dvc.DvcRevisionNotFound, match="cannot clone"),
        dvc.git_tree((tmp_path / "absent").as_uri(), "HEAD"),
    ):
        pass


def source(path: str = "labels") -> dict[str, str]:
    return {"output": "labels", "output_md5": DIR_MD5, "path": path}


def objects(tmp_path: Path) -> Path:
    """A folder of DVC objects as a SageMaker manifest input downloads them: <2 hex>/<rest of the MD5>."""
    root = folder(tmp_path / "work")
    tracked = dvc.track(root, "labels")
    into = tmp_path / "objects"
    for md5, file in tracked.objects.items():
        (into / md5[:2]).mkdir(parents=True, exist_ok=True)
        (into / md5[:2] / md5[2:]).write_bytes(file.read_bytes())
    return into


def test_downloaded_objects_are_laid_out_by_name_and_checked(tmp_path: Path) -> None:
    laid = dvc.lay_out(objects(tmp_path), source(), tmp_path / "out")
    only_b = dvc.lay_out(objects(tmp_path / "again"), source("labels/sub"), tmp_path / "sub-only")

    assert [p.relative_to(tmp_path / "out").as_posix() for p in laid] == ["a.txt", "sub/b.txt"]
    assert (tmp_path / "out" / "sub" / "b.txt").read_text() == "y\n"
    assert [p.name for p in only_b] == ["b.txt"]


def test_a_changed_or_missing_object_is_refused_when_laid_out(tmp_path: Path) -> None:
    store = objects(tmp_path)
    (store / B_MD5[:2] / B_MD5[2:]).write_text("z\n")
    with pytest.raises(dvc.DvcHashMismatch, match=f"labels/sub/b.txt has MD5 .*, not {B_MD5}"):
        dvc.lay_out(store, source(), tmp_path / "out")
    (store / B_MD5[:2] / B_MD5[2:]).unlink()
    with pytest.raises(dvc.DvcObjectMissing, match=r"labels/sub/b\.txt"):
        dvc.lay_out(store, source(), tmp_path / "out2")


def test_the_sagemaker_manifest_lists_exactly_the_objects_and_the_dir_manifest() -> None:
    remote = dvc.Remote("store", "s3://team-data/dvc")
    output = dvc.Output("labels", DIR_MD5, 4, 2)
    files = (dvc.DvcFile("labels/a.txt", A_MD5, remote.uri(A_MD5)), dvc.DvcFile("labels/sub/b.txt", B_MD5, ""))
    dataset = dvc.DvcDataset("repo", "v1", "c" * 40, "labels", output, remote, files)

    manifest = json.loads(dvc.sagemaker_manifest(dataset))

    assert manifest == [
        {"prefix": "s3://team-data/dvc/files/md5/"},
        f"{B_MD5[:2]}/{B_MD5[2:]}",
        f"{A_MD5[:2]}/{A_MD5[2:]}",
        f"{DIR_MD5[:2]}/{DIR_MD5[2:]}",
    ]
