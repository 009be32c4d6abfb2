"""Job containers start from a Python that has already imported the heavy libraries: a fork server.

Every SageMaker job the emulator runs (pipeline steps, drift and processing jobs) is a fresh Python that imports
pandas, pyarrow, scikit-learn and boto3 before doing any work: about 1.3 s of CPU per job on this kind of machine,
more than most jobs' own work, and the demo alone runs some twenty. A fork server imports them once; each job is a
fork of it that runs the container's script as ``python script.py args`` would (its own environment, working
folder, ``sys.argv`` and ``sys.path[0]``; output to a file; the exit status reported back), so a job costs its
own work only.

The server is one child process per emulator process, started on first use and shared by every emulator in it.
It starts no thread of its own (a fork copies locks in whatever state other threads left them; the one native
thread the preloaded libraries start, pyarrow's jemalloc background thread, is made fork-safe by jemalloc's own
fork handlers) and imports only third-party libraries, never the kit: jobs import the kit from their code
bundle. It talks over its stdin and stdout, one JSON message per line. A job ends as a Python program ends
(non-daemon threads joined, ``atexit`` handlers run, its objects finalized). The server freezes its objects
(``gc.freeze``) once the libraries are loaded: otherwise each job's garbage collections, the last one at exit
above all, walked the whole inherited heap and so copied every page of it, 1.1 s of every job's life (0.2 s
frozen), more than most jobs' own work. :class:`ForkedProcess` gives the host the part of
``subprocess.Popen`` it uses. ``MLOPS_LOCAL_FORKSERVER=0`` runs every job as a plain subprocess instead.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import importlib.machinery
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import traceback
import types
from pathlib import Path
from typing import Any

# What job scripts import, heaviest first; a library that is not installed is skipped.
PRELOAD: tuple[str, ...] = (
    "sklearn.ensemble",
    "sklearn.metrics",
    "sklearn.calibration",
    "pyarrow.parquet",
    "pandas",
    "numpy",
    "joblib",
    "scipy.stats",
    "boto3",
    "mlflow",  # the evaluation step logs to MLflow: 3 s of imports
    "mlflow.store.tracking.sqlalchemy_store",  # and its SQLite store (SQLAlchemy, Alembic): 1 s more per job
    "matplotlib.pyplot",  # the evaluation step's curves; the drift report's charts use its Figure and Agg canvas
    "pyarrow.dataset",  # the offline store's reads
)


class ForkServerError(RuntimeError):
    """The fork server could not start or stopped answering."""


class ForkedProcess:
    """A job forked by the server: the part of ``subprocess.Popen`` :class:`ContainerHost` uses."""

    def __init__(self, pid: int, output: Path) -> None:
        self.pid = pid
        self._output = output
        self.returncode: int | None = None
        self._ended = threading.Event()

    def _exited(self, code: int) -> None:
        self.returncode = code
        self._ended.set()

    def wait(self, timeout: float | None = None) -> int:
        if not self._ended.wait(timeout):
            raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0)
        assert self.returncode is not None
        return self.returncode

    def communicate(self, timeout: float | None = None) -> tuple[str, None]:
        """Wait for the job to end; its output (stdout and stderr together), as ``Popen.communicate`` gives it."""
        self.wait(timeout)
        return self._output.read_text(errors="replace"), None

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def _signal(self, number: int) -> None:
        if not self._ended.is_set():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, number)


class ForkServer:
    """The host's side: starts the server, sends it jobs and hands each exit status to its process."""

    def __init__(self, environment: dict[str, str], preload: tuple[str, ...] | None = None) -> None:
        """Start a server that has imported ``preload`` (default :data:`PRELOAD`, as read now)."""
        self._process = subprocess.Popen(
            # This file as a script, -P: not its package (which imports the kit) and not its folder on sys.path.
            [sys.executable, "-P", __file__, *(PRELOAD if preload is None else preload)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=environment,
            text=True,
            bufsize=1,
            cwd=Path(__file__).parent,
        )
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._requests, self._answers = self._process.stdin, self._process.stdout
        self._lock = threading.Lock()
        self._started = threading.Condition(self._lock)
        self._pids: dict[str, int] = {}
        self._jobs: dict[int, ForkedProcess] = {}
        self._exits: dict[int, int] = {}
        self._alive = self._answers.readline().strip() == "ready"
        if not self._alive:
            self._process.kill()
            raise ForkServerError("the job fork server did not start")
        threading.Thread(target=self._read, name="forkserver-answers", daemon=True).start()

    def spawn(self, argv: list[str], *, env: dict[str, str], cwd: Path, output: Path) -> ForkedProcess:
        """Run ``argv`` (``[python, script, *args]``) as a fork of the server; its output goes to ``output``."""
        request: dict[str, Any] = {
            "id": os.urandom(8).hex(),
            "argv": argv,
            "env": env,
            "cwd": str(cwd),
            "output": str(output),
        }
        with self._lock:
            if not self._alive:
                raise ForkServerError("the job fork server has stopped")
            self._requests.write(json.dumps(request) + "\n")
            self._requests.flush()
            if not self._started.wait_for(lambda: request["id"] in self._pids or not self._alive, timeout=60):
                raise ForkServerError("the job fork server did not start the job within 60 s")
            if not self._alive:
                raise ForkServerError("the job fork server stopped before starting the job")
            pid = self._pids.pop(request["id"])
            process = ForkedProcess(pid, output)
            self._jobs[pid] = process
            if pid in self._exits:  # it ended before we registered it
                process._exited(self._exits.pop(pid))
                del self._jobs[pid]
            return process

    def _read(self) -> None:
        for line in self._answers:
            answer = json.loads(line)
            with self._lock:
                if "started" in answer:
                    self._pids[answer["started"]] = answer["pid"]
                    self._started.notify_all()
                    continue
                pid, code = answer["pid"], answer["exit"]
                process = self._jobs.pop(pid, None)
                if process is None:
                    self._exits[pid] = code
                else:
                    process._exited(code)
        with self._lock:  # the server ended: every job it ran has ended with it
            self._alive = False
            self._started.notify_all()
            for process in self._jobs.values():
                process._exited(-signal.SIGKILL)
            self._jobs.clear()

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._requests.close()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()


_SHARED: dict[str, ForkServer] = {}  # "server": this process's fork server, once started
_SHARED_LOCK = threading.Lock()


def enabled() -> bool:
    return os.environ.get("MLOPS_LOCAL_FORKSERVER", "1") != "0"


def shared(environment: dict[str, str]) -> ForkServer:
    """This process's fork server, started with ``environment`` on first use (jobs bring their own)."""
    with _SHARED_LOCK:
        server = _SHARED.get("server")
        if server is None or not server._alive:
            server = _SHARED["server"] = ForkServer(environment)
        return server


# -- the server process ------------------------------------------------------------------------------------------
def _exit_code(error: SystemExit) -> int:
    if error.code is None:
        return 0
    if isinstance(error.code, int):
        return error.code
    print(error.code, file=sys.stderr)
    return 1


def _run_job(request: dict[str, Any], inherited: tuple[int, ...]) -> int:
    """In the forked child: become ``python script args``; the exit status. The caller then exits as Python does
    (non-daemon threads joined, ``atexit`` handlers run, streams flushed)."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for descriptor in inherited:  # the server's pipes are not the job's (0 and 1 are replaced below)
        if descriptor > 2:
            os.close(descriptor)
    output = os.open(request["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    nothing = os.open(os.devnull, os.O_RDONLY)
    os.dup2(nothing, 0)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(nothing)
    os.close(output)
    sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    _, script, *arguments = request["argv"]
    sys.argv = [script, *arguments]
    sys.path.insert(0, str(Path(script).resolve().parent))  # as `python script.py` puts it
    try:
        # As `python script.py` runs it: in a module that is sys.modules["__main__"] to the end, so Python clears it
        # first when it exits and its objects are finalized then (runpy.run_path puts the server's __main__ back:
        # a job's globals kept alive by a cycle lasted to the last collection, and an open file's buffer was lost).
        main = types.ModuleType("__main__")
        loader = importlib.machinery.SourceFileLoader("__main__", script)
        main.__dict__.update(__file__=script, __cached__=None, __package__=None, __spec__=None, __loader__=loader)
        sys.modules["__main__"] = main
        exec(compile(Path(script).read_bytes(), script, "exec"), main.__dict__)  # noqa: S102 -- the job is the script
    except SystemExit as error:
        return _exit_code(error)
    except BaseException as error:  # reported as Python reports it, from the script's first frame on
        frames = error.__traceback__
        while frames is not None and frames.tb_frame.f_code.co_filename != script:
            frames = frames.tb_next
        traceback.print_exception(type(error), error, frames or error.__traceback__)
        return 1
    return 0


def _answer(answers: int, message: dict[str, Any]) -> None:
    os.write(answers, (json.dumps(message) + "\n").encode())


def _reap(answers: int, *, block: bool) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _answer(answers, {"pid": pid, "exit": os.waitstatus_to_exitcode(status)})


def serve(requests: int = 0, answers: int = 1, preload: tuple[str, ...] = PRELOAD) -> None:
    """The server's loop on two file descriptors: import ``preload``, then fork a job per request line, report each
    job's start and exit; when ``requests`` closes (the host has gone), wait for the jobs still running and end."""
    sys.stdout = sys.stderr  # a library that prints while it loads must not write into the answers
    for name in preload:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    gc.freeze()  # the loaded libraries' objects: a job's collections leave them (and their pages) alone
    wakeup_read, wakeup_write = os.pipe()
    os.set_blocking(wakeup_write, False)
    signal.set_wakeup_fd(wakeup_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a Python handler, so the signal reaches the wakeup pipe
    selector = selectors.DefaultSelector()
    selector.register(requests, selectors.EVENT_READ, "request")
    selector.register(wakeup_read, selectors.EVENT_READ, "child")
    os.write(answers, b"ready\n")
    pending = b""
    while True:
        for key, _ in selector.select():
            if key.data == "child":
                os.read(wakeup_read, 4096)
                _reap(answers, block=False)
                continue
            chunk = os.read(requests, 65536)
            if not chunk:
                _reap(answers, block=True)
                return
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    selector.close()
                    code = 1
                    try:
                        code = _run_job(request, (requests, answers, wakeup_read, wakeup_write))
                    finally:
                        sys.exit(code)  # unwinds out of this loop: the child ends as a Python program ends
                _answer(answers, {"started": request["id"], "pid": pid})


if __name__ == "__main__":
    serve(preload=tuple(sys.argv[1:]))
