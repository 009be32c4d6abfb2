"""DVC-tracked data, read and written in DVC's own formats, without the ``dvc`` package.

The ``dvc`` package cannot live in the kit's environment (``dvc[s3]`` pins botocore below what the kit's boto3
needs; plain ``dvc`` pulls a hydra-core that downgrades antlr4 under moto's Step Functions parser), so the kit
implements the small, stable part of DVC 3 it needs, and the tests prove it against the real ``dvc`` CLI:

* **hashes**: an output's ``md5`` is the MD5 of the file's bytes (DVC 3's ``hash: md5``; DVC 2's
  ``md5-dos2unix`` is refused). A directory's is ``<md5 of its .dir manifest>.dir``;
* **the .dir manifest**: ``json.dumps(sorted entries, sort_keys=True)`` of ``{"md5", "relpath"}`` per file,
  sorted by ``relpath`` (posix paths relative to the directory), stored on the remote as an object itself;
* **outputs**: ``outs`` of a ``<path>.dvc`` file (paths relative to the file's folder) or of a ``dvc.lock``
  stage (paths relative to the lock file's folder): ``md5``, ``size``, ``nfiles`` (directories), ``hash: md5``;
* **the remote**: ``.dvc/config``'s ``core.remote`` and ``['remote "<name>"']`` sections (``url``,
  ``endpointurl``); DVC 3 stores an object with MD5 ``abcdef...`` at ``<url>/files/md5/ab/cdef...``.

A project is read at a git revision (``git`` on the PATH): a local repository is read in place, a URL is cloned
bare into a temporary folder. S3 is reached through a client the caller passes (:func:`resolve`'s ``client``).

Errors are :class:`DvcError` subclasses whose message names what is wrong and what to do.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import posixpath
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HASH_NAME = "md5"
OBJECTS_DIR = "files/md5"  # DVC 3's layout under a remote's URL (DVC 2 kept objects at the URL's root)
DIR_SUFFIX = ".dir"
_CHUNK = 1 << 20


class DvcError(ValueError):
    """A DVC project, output, remote or object is not what the kit can use; the message says what to do."""


class DvcRevisionNotFound(DvcError):  # noqa: N818  (named for what happened)
    """The git repository or the revision in it cannot be read."""


class DvcPathNotTracked(DvcError):  # noqa: N818  (named for what happened)
    """No ``.dvc`` file or ``dvc.lock`` output tracks the path at the revision."""


class DvcRemoteError(DvcError):
    """The project has no usable S3 remote."""


class DvcObjectMissing(DvcError):  # noqa: N818  (named for what happened)
    """An object the output names is not on the remote."""


class DvcHashMismatch(DvcError):  # noqa: N818  (named for what happened)
    """An object's content does not have the MD5 it is stored under."""


# -- hashes and the .dir manifest -------------------------------------------------------------------------
def md5_file(path: Path) -> str:
    """MD5 of the file's bytes, as DVC 3 hashes a file (no line-ending conversion)."""
    digest = hashlib.md5()  # noqa: S324  (DVC's content address, not a security hash)
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def md5_bytes(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()  # noqa: S324  (DVC's content address)


@dataclass(frozen=True)
class DirEntry:
    """One file of a tracked directory: its path inside the directory and its MD5."""

    relpath: str
    md5: str


def dir_manifest(entries: Iterable[DirEntry]) -> bytes:
    """The ``.dir`` object's bytes for ``entries``, exactly as DVC 3 writes it (so its MD5 is DVC's)."""
    listing = sorted(({"md5": e.md5, "relpath": e.relpath} for e in entries), key=lambda item: item["relpath"])
    return json.dumps(listing, sort_keys=True).encode("utf-8")


def dir_hash(manifest: bytes) -> str:
    """The directory's hash as ``.dvc`` files and dvc.lock record it: ``<md5 of the manifest>.dir``."""
    return md5_bytes(manifest) + DIR_SUFFIX


def parse_dir_manifest(data: bytes, *, what: str) -> list[DirEntry]:
    """The entries of a ``.dir`` object; raises :class:`DvcError` for anything else (``what`` names it)."""
    try:
        listing = json.loads(data)
        return [DirEntry(str(item["relpath"]), str(item["md5"])) for item in listing]
    except (ValueError, TypeError, KeyError) as exc:
        raise DvcError(f"{what} is not a DVC .dir manifest ({exc}); push it again with `dvc push`") from exc


def scan(path: Path) -> tuple[str, int, list[DirEntry], bytes | None]:
    """Hash a file or directory as ``dvc add`` would: ``(md5, size, entries, manifest)``; for a file the entries
    are empty and the manifest ``None``, for a directory ``md5`` ends in ``.dir`` and ``size`` is the files' total.
    Raises :class:`DvcError` when ``path`` is missing or an empty directory (DVC tracks no empty directory)."""
    if path.is_file():
        return md5_file(path), path.stat().st_size, [], None
    if not path.is_dir():
        raise DvcError(f"{path} does not exist: write the data there first")
    files = sorted(p for p in path.rglob("*") if p.is_file())
    if not files:
        raise DvcError(f"{path} is an empty directory: DVC does not track empty directories")
    entries = [DirEntry(p.relative_to(path).as_posix(), md5_file(p)) for p in files]
    manifest = dir_manifest(entries)
    return dir_hash(manifest), sum(p.stat().st_size for p in files), entries, manifest


# -- outputs: .dvc files and dvc.lock ----------------------------------------------------------------------
@dataclass(frozen=True)
class Output:
    """One DVC output: its path from the repository root (posix), hash, size and file count (directories)."""

    path: str
    md5: str
    size: int | None = None
    nfiles: int | None = None
    defined_in: str = ""  # the .dvc or dvc.lock file that records it

    @property
    def is_dir(self) -> bool:
        return self.md5.endswith(DIR_SUFFIX)


def parse_outputs(text: str, *, defined_in: str) -> list[Output]:
    """The outputs a ``.dvc`` file or ``dvc.lock`` (``defined_in``: its path from the repository root) records,
    with paths made relative to the repository root. Raises :class:`DvcError` for an output DVC 3 did not hash
    (``hash: md5`` missing: DVC 2's dos2unix MD5 and flat remote layout) or with no ``md5``."""
    import yaml

    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise DvcError(f"{defined_in} is not valid YAML ({exc}); fix or regenerate it with dvc") from exc
    if not isinstance(document, dict):
        raise DvcError(f"{defined_in} is not a DVC file (expected a mapping at the top)")
    base = posixpath.dirname(defined_in)
    if posixpath.basename(defined_in) == "dvc.lock":
        stages = document.get("stages") or {}
        raw = [out for stage in stages.values() if isinstance(stage, dict) for out in stage.get("outs") or []]
    else:
        raw = list(document.get("outs") or [])
    outputs = []
    for item in raw:
        path = posixpath.normpath(posixpath.join(base, str(item.get("path", ""))))
        if item.get("hash") != HASH_NAME:
            raise DvcError(
                f"output {path} in {defined_in} was hashed by DVC 2 (no `hash: md5`): run "
                "`dvc cache migrate --dvc-files` with DVC 3, `dvc push`, and commit the updated file"
            )
        if not item.get("md5"):
            raise DvcError(f"output {path} in {defined_in} has no md5: run `dvc commit` (or `dvc repro`) and commit")
        size, nfiles = item.get("size"), item.get("nfiles")
        outputs.append(
            Output(
                path=path,
                md5=str(item["md5"]),
                size=None if size is None else int(size),
                nfiles=None if nfiles is None else int(nfiles),
                defined_in=defined_in,
            )
        )
    return outputs


def dvc_file_text(output: Output) -> str:
    """A ``.dvc`` file for ``output`` in the layout ``dvc add`` writes (the path is relative to the file)."""
    lines = ["outs:", f"- md5: {output.md5}"]
    if output.size is not None:
        lines.append(f"  size: {output.size}")
    if output.nfiles is not None:
        lines.append(f"  nfiles: {output.nfiles}")
    lines += [f"  hash: {HASH_NAME}", f"  path: {posixpath.basename(output.path)}"]
    return "\n".join(lines) + "\n"


# -- the remote ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Remote:
    """An S3 remote: its name in the project's config, URL (``s3://bucket/prefix``) and optional endpoint."""

    name: str
    url: str
    endpoint_url: str | None = None

    @property
    def bucket(self) -> str:
        return self.url.removeprefix("s3://").split("/", 1)[0]

    @property
    def prefix(self) -> str:
        _, _, prefix = self.url.removeprefix("s3://").partition("/")
        return prefix.strip("/")

    def key(self, md5: str) -> str:
        """The object key of ``md5`` (a file's MD5, or a directory's ending in ``.dir``) in DVC 3's layout."""
        return "/".join(part for part in (self.prefix, OBJECTS_DIR, md5[:2], md5[2:]) if part)

    def uri(self, md5: str) -> str:
        return f"s3://{self.bucket}/{self.key(md5)}"


def _config_sections(text: str, source: str) -> dict[str, dict[str, str]]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, source=source)
    except configparser.Error as exc:
        raise DvcRemoteError(f"{source} is not a DVC config file ({exc}); fix it with `dvc remote` commands") from exc
    # DVC writes section names as ['remote "store"'] (configobj quoting): keep `remote "store"`.
    return {name.strip("'"): dict(parser[name]) for name in parser.sections()}


def parse_remote(texts: Iterable[tuple[str, str]], name: str | None = None) -> Remote:
    """The remote ``name`` (default: ``core.remote``) from DVC config files ``(source, text)``, later ones
    overriding earlier ones (``.dvc/config``, then ``.dvc/config.local``). Raises :class:`DvcRemoteError`
    when there is no such remote or it is not on S3."""
    sections: dict[str, dict[str, str]] = {}
    sources = []
    for source, text in texts:
        sources.append(source)
        for section, values in _config_sections(text, source).items():
            sections.setdefault(section, {}).update(values)
    name = name or sections.get("core", {}).get("remote")
    if not name:
        raise DvcRemoteError(
            f"no default remote in {' or '.join(sources)}: name one with --dvc-remote, or set it with "
            "`dvc remote add -d <name> s3://<bucket>/<prefix>` and commit .dvc/config"
        )
    values = sections.get(f'remote "{name}"', {})
    if not values.get("url"):
        raise DvcRemoteError(
            f"remote {name!r} is not defined in {' or '.join(sources)}: add it with "
            f"`dvc remote add {name} s3://<bucket>/<prefix>` and commit .dvc/config"
        )
    if not values["url"].startswith("s3://"):
        raise DvcRemoteError(
            f"remote {name!r} is {values['url']}, not S3: the kit reads DVC data from S3 remotes; add one with "
            "`dvc remote add <name> s3://<bucket>/<prefix>`, `dvc push -r <name>`, and name it with --dvc-remote"
        )
    return Remote(name=name, url=values["url"].rstrip("/"), endpoint_url=values.get("endpointurl") or None)


# -- git ------------------------------------------------------------------------------------------------------
def _git(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise DvcRevisionNotFound("git is not installed: install git to read DVC projects") from exc


@dataclass
class GitTree:
    """The files of one commit of a repository (read with ``git show``, no checkout)."""

    git_dir: Path
    commit: str

    def read(self, path: str) -> bytes | None:
        """The file's bytes at the commit, or ``None`` when it is not there."""
        done = _git("--git-dir", str(self.git_dir), "show", f"{self.commit}:{path}")
        return done.stdout if done.returncode == 0 else None


@contextmanager
def git_tree(repo: str, rev: str) -> Iterator[GitTree]:
    """The tree of ``rev`` in ``repo`` (a local repository's folder, or a URL git can clone). Raises
    :class:`DvcRevisionNotFound` when the repository cannot be read or has no such revision."""
    # Neither may pass for one of git's options (`--upload-pack=...` runs a command).
    if repo.startswith("-") or rev.startswith("-"):
        raise DvcRevisionNotFound(f"repository {repo!r} at revision {rev!r}: neither may start with '-'")
    local = Path(repo).expanduser()
    tmp: str | None = None
    try:
        if local.exists():
            done = _git("-C", str(local), "rev-parse", "--absolute-git-dir")
            if done.returncode != 0:
                raise DvcRevisionNotFound(f"{repo} is not a git repository: pass the folder of a DVC project's repo")
            git_dir = Path(done.stdout.decode().strip())
        else:
            tmp = tempfile.mkdtemp(prefix="mlops-dvc-")
            done = _git("clone", "--quiet", "--bare", "--", repo, tmp)
            if done.returncode != 0:
                message = done.stderr.decode().strip()
                raise DvcRevisionNotFound(f"cannot clone {repo}: {message}; check the URL and your git credentials")
            git_dir = Path(tmp)
        done = _git("--git-dir", str(git_dir), "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
        if done.returncode != 0:
            raise DvcRevisionNotFound(
                f"revision {rev!r} is not in {repo}: pass a branch, tag or commit that exists there "
                "(`git log --oneline` lists commits; push the commit if it is only local elsewhere)"
            )
        yield GitTree(git_dir, done.stdout.decode().strip())
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


# -- resolution ------------------------------------------------------------------------------------------------
def _ancestors(path: str) -> list[str]:
    """``a/b/c`` -> ``["a/b/c", "a/b", "a"]``."""
    parts = path.split("/")
    return ["/".join(parts[:n]) for n in range(len(parts), 0, -1)]


def find_output(tree: GitTree, path: str) -> tuple[Output, str]:
    """The output that tracks ``path`` at the tree's commit, and ``path``'s place inside it ("" when ``path`` is
    the output itself, else a path inside a tracked directory). Looks at ``<ancestor>.dvc`` files, then at the
    ``dvc.lock`` of every folder above ``path``. Raises :class:`DvcPathNotTracked`."""
    for candidate in _ancestors(path):
        text = tree.read(f"{candidate}.dvc")
        if text is None:
            continue
        for output in parse_outputs(text.decode(), defined_in=f"{candidate}.dvc"):
            if output.path == candidate:
                return output, path[len(candidate) :].lstrip("/")
    for folder in ["", *reversed(_ancestors(path)[1:])]:
        lock = posixpath.join(folder, "dvc.lock")
        text = tree.read(lock)
        if text is None:
            continue
        for output in parse_outputs(text.decode(), defined_in=lock):
            if path == output.path or path.startswith(output.path + "/"):
                return output, path[len(output.path) :].lstrip("/")
    raise DvcPathNotTracked(
        f"{path} is not tracked by DVC at commit {tree.commit[:12]}: no {path}.dvc (or one for a folder above it) "
        "and no dvc.lock output for it; track it with `dvc add` (or a stage's outs), commit the .dvc file or "
        "dvc.lock, and push the commit"
    )


@dataclass(frozen=True)
class DvcFile:
    """One file of a resolved dataset: its path in the project, MD5, and S3 object."""

    path: str
    md5: str
    uri: str


@dataclass(frozen=True)
class DvcDataset:
    """A DVC-tracked path resolved to the exact S3 objects of one git commit."""

    repo: str
    rev: str
    commit: str
    path: str
    output: Output
    remote: Remote
    files: tuple[DvcFile, ...] = field(default=())

    @property
    def md5(self) -> str:
        """The hash of what was asked for: the output's, or the file's when ``path`` is one file of a directory."""
        if self.path == self.output.path or len(self.files) != 1 or self.files[0].path != self.path:
            return self.output.md5
        return self.files[0].md5

    def lineage(self) -> dict[str, str]:
        """What a model's lineage records of the dataset: repository, revision asked for, commit, path, hash."""
        return {
            "repo": self.repo,
            "rev": self.rev,
            "commit": self.commit,
            "path": self.path,
            "md5": self.md5,
            "output": self.output.path,
            "output_md5": self.output.md5,
            "remote": self.remote.url,
        }


def _get(s3: Any, remote: Remote, md5: str, *, what: str) -> bytes:
    from botocore.exceptions import ClientError

    try:
        body: bytes = s3.get_object(Bucket=remote.bucket, Key=remote.key(md5))["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NoSuchBucket"):
            raise DvcObjectMissing(
                f"{what} ({remote.uri(md5)}) is not on remote {remote.name!r}: run `dvc push -r {remote.name}` "
                "in the project, then retry"
            ) from exc
        raise
    return body


def _listed_keys(s3: Any, remote: Remote, md5s: Iterable[str]) -> set[str]:
    """The keys present among ``md5``'s objects, listed per two-letter folder (one request per folder)."""
    present: set[str] = set()
    paginator = s3.get_paginator("list_objects_v2")
    for folder in sorted({m[:2] for m in md5s}):
        prefix = remote.key(folder + "x")[:-1]  # .../files/md5/<2 hex>/
        for page in paginator.paginate(Bucket=remote.bucket, Prefix=prefix):
            present.update(item["Key"] for item in page.get("Contents", []))
    return present


def resolve(
    repo: str,
    rev: str,
    path: str,
    *,
    client: Callable[[Remote], Any],
    remote: str | None = None,
    endpoint_url: str | None = None,
) -> DvcDataset:
    """Resolve ``path`` of the DVC project in ``repo`` at ``rev`` to its S3 objects.

    ``client(remote)`` returns an S3 client for the remote; ``remote`` names a remote other than the project's
    default; ``endpoint_url`` replaces the remote's ``endpointurl`` (a setting usually kept in the uncommitted
    ``.dvc/config.local``). A directory's ``.dir`` manifest is read from the remote and checked against its hash.
    Every object must be on the remote. Raises :class:`DvcRevisionNotFound`, :class:`DvcPathNotTracked`,
    :class:`DvcRemoteError`, :class:`DvcObjectMissing` or :class:`DvcHashMismatch`.
    """
    path = posixpath.normpath(path.strip().removeprefix("./") or ".")
    if path in (".", "") or path.startswith(".."):
        raise DvcPathNotTracked(f"--dvc-path {path!r} must name a tracked file or folder inside the project")
    with git_tree(repo, rev) as tree:
        config = tree.read(".dvc/config")
        if config is None:
            raise DvcPathNotTracked(
                f"{repo} at {rev} is not a DVC project (no .dvc/config): run `dvc init` there and commit, or pass "
                "the repository and revision of the DVC project"
            )
        output, inside = find_output(tree, path)
        found = parse_remote([(".dvc/config", config.decode())], remote)
        commit = tree.commit
    if endpoint_url:
        found = Remote(found.name, found.url, endpoint_url)
    s3 = client(found)
    if output.is_dir:
        manifest = _get(s3, found, output.md5, what=f"the .dir manifest of {output.path}")
        if dir_hash(manifest) != output.md5:
            raise DvcHashMismatch(
                f"the .dir manifest {found.uri(output.md5)} hashes to {dir_hash(manifest)}, not {output.md5}: the "
                f"remote object was changed; run `dvc push -r {found.name}` from a checkout of {commit[:12]}"
            )
        entries = parse_dir_manifest(manifest, what=found.uri(output.md5))
        if inside:
            entries = [e for e in entries if e.relpath == inside or e.relpath.startswith(inside + "/")]
            if not entries:
                raise DvcPathNotTracked(
                    f"{path} is not in the tracked folder {output.path} at commit {commit[:12]}; "
                    f"`dvc ls {repo} {output.path} --rev {rev}` lists what is"
                )
        files = [DvcFile(f"{output.path}/{e.relpath}", e.md5, found.uri(e.md5)) for e in entries]
    else:
        files = [DvcFile(output.path, output.md5, found.uri(output.md5))]
    present = _listed_keys(s3, found, [f.md5 for f in files])
    missing = [f for f in files if found.key(f.md5) not in present]
    if missing:
        shown = ", ".join(f"{f.path} ({f.uri})" for f in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise DvcObjectMissing(
            f"{len(missing)} object(s) of {path} at {commit[:12]} are not on remote {found.name!r}: {shown}{more}; "
            f"run `dvc push -r {found.name}` in a checkout of that commit, then retry"
        )
    return DvcDataset(repo, rev, commit, path, output, found, tuple(files))


def verify(dataset: DvcDataset, s3: Any, *, into: Path | None = None) -> None:
    """Download every object of ``dataset`` and check its MD5 (and write it under ``into`` by its project path
    when given). Raises :class:`DvcHashMismatch` naming the first object whose content does not match."""
    for f in dataset.files:
        data = _get(s3, dataset.remote, f.md5, what=f.path)
        if md5_bytes(data) != f.md5:
            raise DvcHashMismatch(
                f"{f.uri} ({f.path}) has MD5 {md5_bytes(data)}, not {f.md5}: the remote object was overwritten; "
                f"run `dvc push -r {dataset.remote.name}` from a checkout of {dataset.commit[:12]}"
            )
        if into is not None:
            target = into / f.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)


# -- export: track a folder and push it -----------------------------------------------------------------------
def workspace_remote(root: Path, name: str | None = None) -> Remote:
    """The remote of the DVC project checked out at ``root`` (``.dvc/config`` then ``.dvc/config.local``).
    Raises :class:`DvcRemoteError` (also when ``root`` is not a DVC project)."""
    config = root / ".dvc" / "config"
    if not config.exists():
        raise DvcRemoteError(f"{root} is not a DVC project (no .dvc/config): run `dvc init` there first")
    texts = [(str(config), config.read_text())]
    local = root / ".dvc" / "config.local"
    if local.exists():
        texts.append((str(local), local.read_text()))
    return parse_remote(texts, name)


@dataclass(frozen=True)
class Tracked:
    """A path tracked by :func:`track`: its output, its ``.dvc`` file and the objects it consists of."""

    output: Output
    dvc_file: Path
    objects: dict[str, Path]  # md5 -> a file with that content (the .dir manifest under its own hash)


def track(root: Path, path: str) -> Tracked:
    """Track ``root/path`` (a file or folder) as ``dvc add`` does: write ``<path>.dvc`` beside it and add the
    path to the folder's ``.gitignore``. The ``.dir`` manifest is kept in ``root/.dvc/tmp``. Raises
    :class:`DvcError` when the path is missing or empty."""
    target = root / path
    md5, size, entries, manifest = scan(target)
    output = Output(path=Path(path).as_posix(), md5=md5, size=size, nfiles=len(entries) if manifest else None)
    dvc_file = target.with_name(target.name + ".dvc")
    dvc_file.write_text(dvc_file_text(output))
    ignore = target.parent / ".gitignore"
    line = f"/{target.name}"
    existing = ignore.read_text().splitlines() if ignore.exists() else []
    if line not in existing:
        ignore.write_text("".join(f"{x}\n" for x in [*existing, line]))
    objects = {e.md5: target / e.relpath for e in entries} if manifest else {md5: target}
    if manifest is not None:
        kept = root / ".dvc" / "tmp" / "mlops-kit" / md5
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.write_bytes(manifest)
        objects[md5] = kept
    return Tracked(output, dvc_file, objects)


def push(tracked: Tracked, remote: Remote, s3: Any) -> list[str]:
    """Upload the tracked objects missing from ``remote`` (DVC 3 layout); the URIs uploaded."""
    present = _listed_keys(s3, remote, tracked.objects)
    uploaded = []
    for md5, source in sorted(tracked.objects.items()):
        if remote.key(md5) in present:
            continue
        s3.upload_file(str(source), remote.bucket, remote.key(md5))
        uploaded.append(remote.uri(md5))
    return uploaded


# -- the pipeline's side: a SageMaker manifest of the exact objects, and the files laid out again --------------
def sagemaker_manifest(dataset: DvcDataset) -> bytes:
    """A SageMaker ``ManifestFile`` input listing exactly the dataset's objects (and a directory's ``.dir``
    manifest, so the job can name and check the files): the prefix is the remote's ``files/md5/`` folder, so
    each object lands in the job as ``<2 hex>/<rest of the MD5>``."""
    remote = dataset.remote
    prefix = f"s3://{remote.bucket}/{remote.key('00')[:-2]}"
    md5s = {f.md5 for f in dataset.files} | ({dataset.output.md5} if dataset.output.is_dir else set())
    return json.dumps([{"prefix": prefix}, *(f"{m[:2]}/{m[2:]}" for m in sorted(md5s))]).encode()


def lay_out(objects: Path, source: dict[str, str], into: Path) -> list[Path]:
    """Lay the dataset ``source`` (:meth:`DvcDataset.lineage`) out under ``into`` by file name, from ``objects``
    (a folder of DVC objects as ``<2 hex>/<rest>``, as a :func:`sagemaker_manifest` input downloads them),
    checking every MD5 on the way. Paths are relative to the output ``source["output"]`` (a single file keeps its
    name). Raises :class:`DvcObjectMissing` or :class:`DvcHashMismatch` naming the object."""

    def read(md5: str, what: str) -> Path:
        found = objects / md5[:2] / md5[2:]
        if not found.is_file():
            raise DvcObjectMissing(f"{what} (object {md5}) was not downloaded into {objects}: resolve it again")
        return found

    output, output_md5, path = source["output"], source["output_md5"], source["path"]
    if output_md5.endswith(DIR_SUFFIX):
        data = read(output_md5, f"the .dir manifest of {output}").read_bytes()
        if dir_hash(data) != output_md5:
            raise DvcHashMismatch(f"the .dir manifest of {output} hashes to {dir_hash(data)}, not {output_md5}")
        inside = path[len(output) :].lstrip("/")
        entries = [
            e
            for e in parse_dir_manifest(data, what=f"the .dir manifest of {output}")
            if not inside or e.relpath == inside or e.relpath.startswith(inside + "/")
        ]
        wanted = [(e.relpath, e.md5) for e in entries]
    else:
        wanted = [(posixpath.basename(output), output_md5)]
    written = []
    for relpath, md5 in wanted:
        found = read(md5, f"{output}/{relpath}")
        actual = md5_file(found)
        if actual != md5:
            raise DvcHashMismatch(f"{output}/{relpath} has MD5 {actual}, not {md5}: the remote object was changed")
        target = into / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(found, target)
        written.append(target)
    return written


PARAMETER_LIMIT = 1024  # SageMaker Pipelines' longest parameter value


def pipeline_parameters(dataset: DvcDataset, s3: Any, bucket: str, prefix: str) -> dict[str, str]:
    """The training pipeline's parameters that make ``dataset`` its labels: its :func:`sagemaker_manifest`,
    stored content-addressed at ``s3://bucket/prefix/<sha256>.manifest`` (``s3`` writes it), as ``LabelsUri``
    (``LabelsDataType`` ``ManifestFile``) and its :meth:`~DvcDataset.lineage` as ``LabelsSource``. Raises
    :class:`DvcError` when the lineage is longer than a pipeline parameter can be."""
    manifest = sagemaker_manifest(dataset)
    key = f"{prefix.strip('/')}/{hashlib.sha256(manifest).hexdigest()}.manifest"
    source = json.dumps(dataset.lineage(), sort_keys=True, separators=(",", ":"))
    if len(source) > PARAMETER_LIMIT:
        raise DvcError(
            f"the DVC dataset's description is {len(source)} characters, more than a pipeline parameter holds "
            f"({PARAMETER_LIMIT}): use a shorter repository URL or path"
        )
    s3.put_object(Bucket=bucket, Key=key, Body=manifest, ContentType="application/json")
    return {"LabelsUri": f"s3://{bucket}/{key}", "LabelsDataType": "ManifestFile", "LabelsSource": source}
