"""Job containers forked from the preloaded server behave as ``python script.py args`` would."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_local.sagemaker import forkserver
from mlops_local.sagemaker.forkserver import ForkServer

SCRIPT = """
import os, sys
print("argv", sys.argv[1:])
print("cwd", os.getcwd())
print("env", os.environ.get("JOB_SETTING"), "HOME" in os.environ)
print("path0", sys.path[0])
print("preloaded", "pandas" in sys.modules, "kit", "mlops_kit" in sys.modules or "sagemaker_jobs" in sys.modules)
print("to stderr", file=sys.stderr)
sys.exit(int(sys.argv[1]))
"""


@pytest.fixture(scope="module")
def server() -> Iterator[ForkServer]:
    # One preloaded library is enough to show preloading: the full list costs seconds per server.
    started = ForkServer({"PATH": os.environ["PATH"], "OMP_NUM_THREADS": "1"}, preload=("pandas",))
    yield started
    started.close()


def _job(tmp_path: Path, text: str) -> Path:
    script = tmp_path / "code" / "job.py"
    script.parent.mkdir(exist_ok=True)
    script.write_text(text)
    return script


def test_a_job_gets_its_own_arguments_folder_environment_and_path(server: ForkServer, tmp_path: Path) -> None:
    script = _job(tmp_path, SCRIPT)

    process = server.spawn(
        [sys.executable, str(script), "0"], env={"JOB_SETTING": "x"}, cwd=tmp_path, output=tmp_path / "out"
    )
    output, _ = process.communicate(timeout=60)

    assert process.returncode == 0
    assert sorted(output.splitlines()) == sorted(
        [
            "argv ['0']",
            f"cwd {tmp_path}",
            "env x False",
            f"path0 {script.parent}",
            "preloaded True kit False",
            "to stderr",
        ]
    )


@pytest.mark.parametrize(
    ("body", "code", "last_line"),
    [
        ("import sys; sys.exit(3)", 3, None),
        ("import sys; sys.exit('no input given')", 1, "no input given"),
        ("raise ValueError('bad row 7')", 1, "ValueError: bad row 7"),
    ],
)
def test_a_failing_job_reports_its_exit_status_and_message(
    server: ForkServer, tmp_path: Path, body: str, code: int, last_line: str | None
) -> None:
    script = _job(tmp_path, body)

    process = server.spawn([sys.executable, str(script)], env={}, cwd=tmp_path, output=tmp_path / "out")
    output, _ = process.communicate(timeout=60)

    assert process.returncode == code
    assert (output.splitlines()[-1] if output.strip() else None) == last_line
    if "raise" in body:  # the traceback starts at the script, as Python's own does
        assert output.splitlines()[1] == f'  File "{script}", line 1, in <module>'


def test_a_job_ends_as_a_python_program_ends(server: ForkServer, tmp_path: Path) -> None:
    # The server's own objects are frozen (a job's collections leave them alone); the job's are collected and
    # finalized as ever.
    script = _job(
        tmp_path,
        "import atexit, gc, threading, time\n"
        "print('frozen', gc.get_freeze_count() > 0, 'collecting', gc.isenabled())\n"
        "class Noted:\n"
        "    def __del__(self): print('finalized')\n"
        "noted = Noted()\n"
        "left_open = open('written.txt', 'w')\n"
        "left_open.write('never flushed by the job')\n"
        "atexit.register(lambda: print('atexit ran'))\n"
        "threading.Thread(target=lambda: (time.sleep(0.2), print('thread finished'))).start()\n"
        "print('main returned')\n",
    )

    process = server.spawn([sys.executable, str(script)], env={}, cwd=tmp_path, output=tmp_path / "out")
    output, _ = process.communicate(timeout=60)

    assert process.returncode == 0
    assert output.splitlines() == [
        "frozen True collecting True",
        "main returned",
        "thread finished",
        "atexit ran",
        "finalized",
    ]
    assert (tmp_path / "written.txt").read_text() == "never flushed by the job"  # flushed as Python exits


def test_a_job_can_be_stopped_and_start_its_own_subprocesses(server: ForkServer, tmp_path: Path) -> None:
    child = _job(
        tmp_path, "import subprocess, sys, time\nsubprocess.run([sys.executable, '-c', 'print(7)'])\ntime.sleep(600)\n"
    )

    process = server.spawn([sys.executable, str(child)], env={}, cwd=tmp_path, output=tmp_path / "out")
    process.terminate()

    assert process.wait(timeout=60) == -signal.SIGTERM


def test_jobs_end_with_the_server_and_the_next_job_starts_a_new_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The servers of this test need no preloaded libraries (the full list costs seconds per server).
    monkeypatch.setattr(forkserver, "PRELOAD", ())
    first = forkserver.shared({"PATH": os.environ["PATH"]})
    job = first.spawn(
        [sys.executable, str(_job(tmp_path, "import time; time.sleep(600)"))],
        env={},
        cwd=tmp_path,
        output=tmp_path / "o",
    )

    first._process.kill()

    assert job.wait(timeout=60) == -signal.SIGKILL
    second = forkserver.shared({"PATH": os.environ["PATH"]})
    assert second is not first
    # The process's next job starts a preloaded server, not this one.
    forkserver._SHARED.pop("server", None)
    second.close()


def test_the_host_runs_jobs_as_plain_subprocesses_when_the_server_is_off(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from mlops_local.sagemaker.processing import ContainerHost

    monkeypatch.setenv("MLOPS_LOCAL_FORKSERVER", "0")
    host = ContainerHost.__new__(ContainerHost)
    process = host._start([sys.executable, str(_job(tmp_path, "print('plain')"))], {}, tmp_path)

    assert not isinstance(process, forkserver.ForkedProcess)
    assert process.communicate(timeout=60)[0].strip() == "plain"
