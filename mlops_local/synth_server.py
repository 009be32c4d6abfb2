"""Many synths of one app in one process: Node (jsii) and the app's imports start once, not once per synth.

A synth of the app in its own process (:func:`mlops_local.deploy.synthesize`) is about 13 s of CPU, of which
starting Node, loading aws-cdk-lib into it and importing the app are most; a second synth in the same process
is about 2.5 s. The test suite synthesizes about ten variants of the app (each config it deploys), so
:class:`SynthServers` keeps one such process per repository and environment and sends it one synth after
another. What the process writes is what ``python app.py`` writes: it runs the same ``main()`` with the same two
variables set per synth (``CDK_OUTDIR``, ``MLOPS_CONTEXT_OVERRIDES``), and a contract test compares the two.

What the process keeps between synths is what Python keeps: the modules it imported. Before each synth it checks
that none of their files changed since it started (an edit during a test run); if one did, it stops and a new
process synthesizes. A synth that fails stops the process too, and the synth runs again as ``python app.py`` does,
so a failure reports exactly what that reports.

Run as a script (``python -c "import runpy; runpy.run_path('.../synth_server.py', run_name='__main__')" ROOT
REPLY_FD`` in ``ROOT``: with ``-c`` the import path starts where ``python app.py``'s does, not in this folder, whose
``requests.py`` would stand for the library of that name): requests (JSON lines: the :data:`PER_SYNTH` variables of
:func:`mlops_local.deploy.synthesis_environment`) on standard input, one reply line each on ``REPLY_FD`` (Node's
own output goes to standard output and error). As a script it imports nothing but the standard library and the app.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from mlops_local.deploy import CloudAssembly

# The variables that differ from one synth to the next in one process; any other difference in the environment
# needs its own process (Node reads its environment once, when it starts).
PER_SYNTH = ("CDK_OUTDIR", "MLOPS_CONTEXT_OVERRIDES")
# Synths one process serves before a fresh one takes over: jsii keeps every construct of every app alive.
SYNTHS_PER_PROCESS = 24
_RUN_THIS_FILE = f"import runpy; runpy.run_path({__file__!r}, run_name='__main__')"


def _module_files(*more: Path) -> dict[str, tuple[int, int]]:
    """(mtime, size) of the file of every module imported so far, and of ``more``."""
    files = {}
    for path in [*(getattr(m, "__file__", None) for m in list(sys.modules.values())), *map(str, more)]:
        if path:
            try:
                stat = os.stat(path)
            except OSError:
                continue
            files[path] = (stat.st_mtime_ns, stat.st_size)
    return files


def _changed(files: dict[str, tuple[int, int]]) -> list[str]:
    changed = []
    for path, seen in files.items():
        try:
            stat = os.stat(path)
        except OSError:
            changed.append(path)
            continue
        if (stat.st_mtime_ns, stat.st_size) != seen:
            changed.append(path)
    return changed


def serve(root: Path, replies: TextIO, requests: TextIO) -> None:
    """Synthesize the app in ``root`` once per request line, as ``python app.py`` in ``root`` would, until the
    requests end, a synth fails or an imported module's file changes."""
    import runpy

    os.chdir(root)
    sys.path[0] = str(root)  # as `python app.py` has it
    entry = root / "app.py"
    loaded = _module_files(entry)  # app.py is run, not imported: no module names its file
    app = runpy.run_path(str(entry), run_name="mlops_app")
    for line in requests:
        request = json.loads(line)
        if stale := _changed(loaded):
            replies.write(json.dumps({"ok": False, "stale": stale[:5]}) + "\n")
            replies.flush()
            return
        os.environ.update({name: request[name] for name in PER_SYNTH})
        try:
            app["main"]()
        except BaseException as exc:  # SystemExit(2) of a config error too: reported, then stop
            replies.write(json.dumps({"ok": False, "error": "".join(traceback.format_exception(exc))[-4000:]}) + "\n")
            replies.flush()
            return
        loaded = {**_module_files(), **loaded}  # each file as it was when its module was first seen
        replies.write(json.dumps({"ok": True}) + "\n")
        replies.flush()


class _Process:
    """One server process and the lock that gives it one synth at a time."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        read, write = os.pipe()
        try:
            self.popen = subprocess.Popen(
                [sys.executable, "-c", _RUN_THIS_FILE, str(root), str(write)],
                cwd=root,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(write,),
                text=True,
            )
        finally:
            os.close(write)
        self.replies = os.fdopen(read, "r")
        self.lock = threading.Lock()
        self.served = 0

    def synth(self, variables: dict[str, str]) -> bool:
        """Whether the process synthesized with the :data:`PER_SYNTH` ``variables`` (False: it failed or stopped)."""
        assert self.popen.stdin is not None
        try:
            self.popen.stdin.write(json.dumps(variables) + "\n")
            self.popen.stdin.flush()
        except OSError:  # the process is gone
            return False
        line = self.replies.readline()
        self.served += 1
        return bool(line) and bool(json.loads(line).get("ok"))

    def close(self) -> None:
        if self.popen.stdin is not None:
            with suppress(OSError):
                self.popen.stdin.close()
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        self.replies.close()


class SynthServers:
    """:func:`mlops_local.deploy.synthesize` (same arguments, same result) through long-lived processes: one per
    repository and environment (but :data:`PER_SYNTH`), each serving one synth at a time. A synth that fails in a
    process runs again as ``python app.py``, whose error is the one raised."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._processes: dict[tuple[str, tuple[tuple[str, str], ...]], _Process] = {}
        atexit.register(self.close)

    @contextmanager
    def _process(self, root: Path, env: dict[str, str]) -> Iterator[_Process]:
        shared = {k: v for k, v in env.items() if k not in PER_SYNTH}
        key = (str(root), tuple(sorted(shared.items())))
        with self._lock:
            process = self._processes.get(key)
            if process is None:
                process = self._processes[key] = _Process(root, shared)
        with process.lock:
            try:
                yield process
            except BaseException:
                process.served = SYNTHS_PER_PROCESS  # in an unknown state (a reply half read): never used again
                raise
            finally:
                if process.served >= SYNTHS_PER_PROCESS or process.popen.poll() is not None:
                    with self._lock:
                        if self._processes.get(key) is process:
                            del self._processes[key]
                    process.close()

    def synthesize(
        self,
        outdir: Path,
        *,
        project_root: Path | None = None,
        context_overrides: dict[str, Any] | None = None,
        extra_env: dict[str, str] | None = None,
        base_env: dict[str, str] | None = None,
    ) -> CloudAssembly:
        from mlops_local.deploy import PROJECT_ROOT, CloudAssembly, synthesis_environment, synthesize

        root = (project_root or PROJECT_ROOT).resolve()
        env = synthesis_environment(outdir, context_overrides=context_overrides, extra_env=extra_env, base_env=base_env)
        with self._process(root, env) as process:
            done = process.synth({name: env[name] for name in PER_SYNTH})
            if not done:
                process.served = SYNTHS_PER_PROCESS  # stopped or failed: the next synth starts a fresh process
        if done:
            return CloudAssembly.load(outdir)
        return synthesize(
            outdir,
            project_root=root,
            context_overrides=context_overrides,
            extra_env=extra_env,
            base_env=base_env,
        )

    def close(self) -> None:
        with self._lock:
            processes, self._processes = list(self._processes.values()), {}
        for process in processes:
            process.close()


if __name__ == "__main__":
    with os.fdopen(int(sys.argv[2]), "w") as reply_stream:
        serve(Path(sys.argv[1]), reply_stream, sys.stdin)
