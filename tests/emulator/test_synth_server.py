"""Many synths in one process (mlops_local/synth_server.py): each writes what `python app.py` writes."""

from __future__ import annotations

import filecmp
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_local.demo.scenarios import SERVERLESS_OVERRIDES
from mlops_local.deploy import SynthError, synthesize
from mlops_local.synth_server import SynthServers

# A repository whose app writes, into the output folder, an assembly with no stacks and what it saw: its overrides,
# its process, the first import path, where `requests` comes from and a value of a module of its own.
_APP = """
import json, os, sys
from collections.abc import Iterator
from pathlib import Path

import lib


def main():
    overrides = json.loads(os.environ.get("MLOPS_CONTEXT_OVERRIDES", "{}"))
    if overrides.get("fail"):
        print("error: the app refuses " + overrides["fail"], file=sys.stderr)
        raise SystemExit(2)
    out = Path(os.environ["CDK_OUTDIR"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").write_text(json.dumps({"artifacts": {}}))
    import requests
    (out / "seen.json").write_text(json.dumps({
        "overrides": overrides, "pid": os.getpid(), "path0": sys.path[0], "requests": requests.__file__,
        "value": lib.VALUE, "mode": os.environ.get("MODE"),
    }))


if __name__ == "__main__":
    main()
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "app.py").write_text(_APP)
    (root / "lib.py").write_text("VALUE = 1\n")
    return root


@pytest.fixture
def servers() -> Iterator[SynthServers]:
    servers = SynthServers()
    yield servers
    servers.close()


def _seen(outdir: Path) -> dict:
    return json.loads((outdir / "seen.json").read_text())


def test_one_process_serves_each_synth_its_own_folder_and_overrides_as_python_app_py_would(
    tmp_path: Path, repo: Path, servers: SynthServers
) -> None:
    for n in (1, 2):
        servers.synthesize(tmp_path / f"out{n}", project_root=repo, context_overrides={"n": n})

    first, second = _seen(tmp_path / "out1"), _seen(tmp_path / "out2")
    assert (first["overrides"], second["overrides"]) == ({"n": 1}, {"n": 2})
    assert first["pid"] == second["pid"]
    # The import path starts at the repository, as `python app.py` has it: not in mlops_local/, whose requests.py
    # would stand for the library.
    assert first["path0"] == str(repo)
    assert "site-packages" in first["requests"]


def test_another_environment_gets_another_process(tmp_path: Path, repo: Path, servers: SynthServers) -> None:
    servers.synthesize(tmp_path / "a", project_root=repo, extra_env={"MODE": "a"})
    servers.synthesize(tmp_path / "b", project_root=repo, extra_env={"MODE": "b"})

    assert (_seen(tmp_path / "a")["mode"], _seen(tmp_path / "b")["mode"]) == ("a", "b")
    assert _seen(tmp_path / "a")["pid"] != _seen(tmp_path / "b")["pid"]


def test_a_module_changed_since_the_process_imported_it_is_synthesized_afresh(
    tmp_path: Path, repo: Path, servers: SynthServers
) -> None:
    servers.synthesize(tmp_path / "before", project_root=repo)
    (repo / "lib.py").write_text("VALUE = 22\n")  # another size: seen whatever the file system's time resolution
    servers.synthesize(tmp_path / "after", project_root=repo)
    servers.synthesize(tmp_path / "later", project_root=repo)

    before, after, later = _seen(tmp_path / "before"), _seen(tmp_path / "after"), _seen(tmp_path / "later")
    assert (before["value"], after["value"], later["value"]) == (1, 22, 22)
    assert len({before["pid"], after["pid"], later["pid"]}) == 3  # the stale process stopped; a new one serves


def test_a_failing_synth_raises_what_python_app_py_says_and_the_next_synth_works(
    tmp_path: Path, repo: Path, servers: SynthServers
) -> None:
    servers.synthesize(tmp_path / "ok", project_root=repo)

    with pytest.raises(SynthError, match="error: the app refuses this config"):
        servers.synthesize(tmp_path / "bad", project_root=repo, context_overrides={"fail": "this config"})
    servers.synthesize(tmp_path / "again", project_root=repo, context_overrides={"n": 3})

    assert _seen(tmp_path / "again")["overrides"] == {"n": 3}


def test_a_process_that_died_between_synths_is_replaced(tmp_path: Path, repo: Path, servers: SynthServers) -> None:
    servers.synthesize(tmp_path / "first", project_root=repo)
    os.kill(_seen(tmp_path / "first")["pid"], signal.SIGKILL)

    servers.synthesize(tmp_path / "after", project_root=repo, context_overrides={"n": 2})  # python app.py's
    servers.synthesize(tmp_path / "later", project_root=repo, context_overrides={"n": 3})  # a new process's

    assert (_seen(tmp_path / "after")["overrides"], _seen(tmp_path / "later")["overrides"]) == ({"n": 2}, {"n": 3})
    assert _seen(tmp_path / "later")["pid"] not in (_seen(tmp_path / "first")["pid"], _seen(tmp_path / "after")["pid"])


def _same_tree(left: Path, right: Path) -> list[str]:
    """Files that differ or exist on one side only, recursively."""
    comparison = filecmp.dircmp(left, right)
    differences = [*comparison.left_only, *comparison.right_only, *comparison.diff_files, *comparison.funny_files]
    for name in comparison.common_dirs:
        differences += [f"{name}/{d}" for d in _same_tree(left / name, right / name)]
    return differences


@pytest.mark.slow
def test_the_app_synthesized_after_another_config_in_one_process_equals_its_own_synth(
    tmp_path: Path, servers: SynthServers
) -> None:
    """The contract of reusing a process: nothing of one synth of the real app reaches the next."""
    overrides = {"mlops": SERVERLESS_OVERRIDES}
    servers.synthesize(tmp_path / "default", context_overrides=None)
    after_default = servers.synthesize(tmp_path / "serverless", context_overrides=overrides)
    alone = synthesize(tmp_path / "alone", context_overrides=overrides)

    assert {s.stack_name for s in after_default.stacks} == {s.stack_name for s in alone.stacks}
    assert _same_tree(after_default.directory, alone.directory) == []
