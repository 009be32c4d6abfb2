"""The synth cache (tests/synth_cache.py) reuses an assembly only for the same inputs: any file the app can read, the
context overrides, the environment; never for a change it cannot see."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests import synth_cache
from tests.synth_cache import SynthCache, input_key


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A repository-shaped folder: app code, tests, tool caches."""
    for name, text in {
        "app.py": "print('app')",
        "cdk.json": "{}",
        "mlops_kit/__init__.py": "",
        "mlops_kit/drift/stats.py": "PSI = 0.2",
        "lambdas/promotion/handler.py": "def handler(event, context): ...",
        "tests/unit/test_x.py": "def test_x(): ...",
    }.items():
        path = tmp_path / "repo" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path / "repo"


def _write(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize(
    "change",
    [
        "mlops_kit/drift/stats.py",  # domain code the constructs import and every function's asset holds
        "lambdas/promotion/handler.py",
        "cdk.json",
        "mlops_kit/drift/notes.txt",  # a new (even git-ignored) file is copied into the functions' assets
        "step_functions/promotion.asl.json",
    ],
)
def test_a_change_to_any_file_the_app_can_read_changes_the_key(root: Path, change: str) -> None:
    before = input_key({}, root)

    _write(root, change, "changed")

    assert input_key({}, root) != before


@pytest.mark.parametrize(
    "change",
    [
        "tests/unit/test_x.py",
        "mlops_kit/drift/__pycache__/stats.cpython-311.pyc",
        ".pytest_cache/v",
        "cdk.out/x",
        "mlops_local/clock.py",
        "docs/notes.md",
        "README.md",
    ],
)
def test_tests_bytecode_outputs_the_emulator_and_documents_do_not_change_the_key(root: Path, change: str) -> None:
    before = input_key({}, root)

    _write(root, change, "changed")

    assert input_key({}, root) == before


def _environment(**changes: str | None) -> dict[str, str]:
    """This process's environment with ``changes`` (None: unset), passed to the cache instead of set in os.environ
    (the session's background synths read that)."""
    environment = dict(os.environ)
    for name, value in changes.items():
        environment.pop(name, None)
        if value is not None:
            environment[name] = value
    return environment


def test_the_overrides_and_the_environment_change_the_key(root: Path) -> None:
    plain = input_key({}, root, _environment(CDK_DEFAULT_ACCOUNT=None))

    assert input_key({"mlops": {"drift": {"psi_act": 0.3}}}, root, _environment(CDK_DEFAULT_ACCOUNT=None)) != plain
    assert input_key({}, root, _environment(CDK_DEFAULT_ACCOUNT="111111111111")) != plain


def test_how_python_runs_leaves_the_key_as_it_is(root: Path) -> None:
    # `make` unsets PYTHONDONTWRITEBYTECODE; a shell may set it: one cache for `make fast` and a plain `pytest`.
    plain = input_key({}, root, _environment(PYTHONDONTWRITEBYTECODE=None, PYTHONUNBUFFERED=None, PYTHONHASHSEED=None))

    assert (
        input_key({}, root, _environment(PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1", PYTHONHASHSEED=None))
        == plain
    )
    assert (
        input_key({}, root, _environment(PYTHONDONTWRITEBYTECODE=None, PYTHONUNBUFFERED=None, PYTHONHASHSEED="1"))
        != plain
    )


def test_the_recorded_commit_changes_the_key(root: Path) -> None:
    plain = SynthCache(root=root, code_commit=lambda: "0123abc").key({})

    assert SynthCache(root=root, code_commit=lambda: "0123abc-dirty").key({}) != plain


class FakeSynth:
    """Stands for ``python app.py``: writes a one-stack assembly naming its overrides, counts its runs."""

    def __init__(self) -> None:
        self.runs = 0
        self.environments: list[dict[str, str] | None] = []

    def __call__(
        self, outdir: Path, *, context_overrides: dict[str, Any] | None = None, base_env: dict[str, str] | None = None
    ) -> Any:
        from mlops_local.deploy import CloudAssembly

        self.runs += 1
        self.environments.append(base_env)
        outdir.mkdir(parents=True)
        (outdir / "Data.template.json").write_text(json.dumps({"Description": json.dumps(context_overrides)}))
        artifact = {"type": "aws:cloudformation:stack", "properties": {"templateFile": "Data.template.json"}}
        (outdir / "manifest.json").write_text(json.dumps({"artifacts": {"Data": artifact}}))
        return CloudAssembly.load(outdir)


# The environment of the tests that expect caching: the cache on, whatever the run's own MLOPS_SYNTH_CACHE says.
CACHING = _environment(MLOPS_SYNTH_CACHE=None)


@pytest.fixture
def fake_synth() -> FakeSynth:
    return FakeSynth()


@pytest.fixture
def cache(tmp_path: Path, root: Path, fake_synth: FakeSynth) -> SynthCache:
    """The cache of the fake repository ``root``, in the test's folder, synthesizing with ``fake_synth``."""
    return SynthCache(root=root, folder=tmp_path / "cache", synthesize=fake_synth, code_commit=lambda: "0123abc")


def _description(assembly: Any) -> str:
    description: str = assembly.stacks[0].template()["Description"]
    return description


def test_the_same_inputs_link_the_cached_assembly_and_changed_ones_synthesize(
    tmp_path: Path, root: Path, fake_synth: FakeSynth, cache: SynthCache
) -> None:
    first = cache.synthesized(tmp_path / "run1" / "cdk.out", {"a": 1}, CACHING)
    again = cache.synthesized(tmp_path / "run2" / "cdk.out", {"a": 1}, CACHING)

    assert fake_synth.runs == 1
    assert (tmp_path / "run2" / "cdk.out").is_symlink()
    assert _description(again) == _description(first) == '{"a": 1}'

    _write(root, "mlops_kit/drift/stats.py", "PSI = 0.25")
    changed = cache.synthesized(tmp_path / "run3" / "cdk.out", {"a": 1}, CACHING)
    other = cache.synthesized(tmp_path / "run4" / "cdk.out", {"a": 2}, CACHING)

    assert fake_synth.runs == 3
    assert _description(changed) == '{"a": 1}'
    assert _description(other) == '{"a": 2}'


def test_only_the_most_recently_used_assemblies_of_a_name_are_kept(
    tmp_path: Path, root: Path, fake_synth: FakeSynth, cache: SynthCache
) -> None:
    for run in range(4):
        cache.synthesized(tmp_path / f"run{run}" / "cdk.out", {"run": run}, CACHING)

    assert len(list((tmp_path / "cache" / "cdk.out").iterdir())) == synth_cache.KEEP
    assert _description(cache.synthesized(tmp_path / "again" / "cdk.out", {"run": 3}, CACHING)) == '{"run": 3}'
    assert fake_synth.runs == 4


def test_an_input_changed_during_the_synth_is_not_cached(
    tmp_path: Path, root: Path, fake_synth: FakeSynth, cache: SynthCache
) -> None:
    def synth_while_a_file_is_saved(outdir: Path, *, context_overrides: dict[str, Any] | None = None, **_: Any) -> Any:
        _write(root, "mlops_kit/drift/stats.py", f"PSI = 0.{fake_synth.runs + 3}")
        return fake_synth(outdir, context_overrides=context_overrides)

    replace(cache, synthesize=synth_while_a_file_is_saved).synthesized(tmp_path / "run1" / "cdk.out", {}, CACHING)

    assert not (tmp_path / "run1" / "cdk.out").is_symlink()
    assert not [p for p in (tmp_path / "cache" / "cdk.out").iterdir() if not p.name.startswith(".")]


def test_cache_off_and_overrides_naming_test_code_always_synthesize(
    tmp_path: Path, fake_synth: FakeSynth, cache: SynthCache
) -> None:
    test_code = {"mlops": {"training": {"use_case": "tests.unit.cases"}}}
    cache.synthesized(tmp_path / "run1" / "cdk.out", test_code, _environment(MLOPS_SYNTH_CACHE=None))
    cache.synthesized(tmp_path / "run2" / "cdk.out", test_code, _environment(MLOPS_SYNTH_CACHE=None))
    cache.synthesized(tmp_path / "run3" / "cdk.out", {}, _environment(MLOPS_SYNTH_CACHE="0"))
    cache.synthesized(tmp_path / "run4" / "cdk.out", {}, _environment(MLOPS_SYNTH_CACHE="0"))

    assert fake_synth.runs == 4
    assert not (tmp_path / "cache").exists()


def test_the_synth_runs_in_the_environment_the_key_was_computed_from(
    tmp_path: Path, fake_synth: FakeSynth, cache: SynthCache
) -> None:
    cache.synthesized(tmp_path / "run1" / "cdk.out", {}, _environment(CDK_DEFAULT_ACCOUNT="111111111111"))

    (environment,) = fake_synth.environments
    assert environment is not None
    assert environment["CDK_DEFAULT_ACCOUNT"] == "111111111111"


def test_a_cache_a_test_makes_leaves_the_repositorys_own_alone(tmp_path: Path, cache: SynthCache) -> None:
    # The session synthesizes this repository's app in the background while tests of the cache run: they make their
    # own SynthCache (fake repository, folder, synth and commit), and what the repository's synths read is unchanged.
    cache.synthesized(tmp_path / "run1" / "cdk.out", {})

    own = SynthCache()
    assert (own.root, own.folder) == (synth_cache.ROOT, synth_cache.CACHE)
    assert own.synthesize is synth_cache._synthesize
    assert own.code_commit is synth_cache._code_commit
    assert "code_commit" in synth_cache._app()  # the app's namespace is this repository's, whatever a test's root


def test_the_app_never_imports_the_emulator_so_its_code_may_stay_out_of_the_key() -> None:
    import ast

    root = synth_cache.ROOT
    app_code = [root / "app.py"] + [
        path
        for folder in ("cdk", "lambdas", "sagemaker_jobs", "mlops_kit", "step_functions")
        for path in (root / folder).rglob("*.py")
        if "cli" not in path.relative_to(root).parts  # the CLI runs the emulator; the app never imports it
    ]
    importing = []
    for path in app_code:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n.split(".")[0] == "mlops_local" or n.startswith("mlops_kit.cli") for n in names):
                importing.append(path.relative_to(root).as_posix())
    assert importing == []


def test_the_commit_is_the_last_to_change_what_is_deployed_and_dirty_only_with_changes_to_it(tmp_path: Path) -> None:
    import runpy
    import shutil
    import subprocess

    repo = tmp_path / "repo"
    for name in ("cdk/stacks.py", "mlops_kit/drift/README.md", "tests/test_x.py", "mlops_local/clock.py", "README.md"):
        _write(repo, name, "one\n")
    shutil.copy(synth_cache.ROOT / "app.py", repo / "app.py")

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=repo, check=True)

    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "first")
    code_commit = runpy.run_path(str(repo / "app.py"), run_name="_mlops_app_entry")["code_commit"]

    for name in ("tests/test_x.py", "mlops_local/clock.py", "README.md"):
        _write(repo, name, "two\n")
        assert not code_commit().endswith("-dirty"), name
    for name in ("mlops_kit/drift/README.md", "cdk/stacks.py"):  # a document inside deployed code is deployed
        _write(repo, name, "two\n")
        assert code_commit().endswith("-dirty"), name
        git("checkout", "-q", "--", name)
    first = code_commit()

    # A commit of what is not deployed deploys the same code: the recorded commit stays the one that made it.
    git("commit", "-qam", "tests, emulator and README")
    assert code_commit() == first
    _write(repo, "cdk/stacks.py", "three\n")
    git("commit", "-qam", "deployed code")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True)
    assert code_commit() == head.stdout.strip() != first


def test_the_sessions_synths_run_in_the_environment_it_started_with(monkeypatch: pytest.MonkeyPatch) -> None:
    # A synth may start in the background while this test has changed the environment.
    from tests.support import session_environment

    started = session_environment().get("CDK_DEFAULT_ACCOUNT")
    monkeypatch.setenv("CDK_DEFAULT_ACCOUNT", "999999999999")

    assert session_environment().get("CDK_DEFAULT_ACCOUNT") == started != "999999999999"
