"""Training and evaluation run the same library versions: exact pins equal to the lock, installed by the launcher
when a container's versions differ, and the versions each job imported recorded with the model."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

from sagemaker_jobs import launch
from sagemaker_jobs.layout import LIBRARIES, library_versions

ROOT = Path(__file__).resolve().parents[3]


def test_job_requirements_are_exact_pins_equal_to_the_lock() -> None:
    pinned = launch.pins((ROOT / "sagemaker_jobs" / "requirements.txt").read_text())
    locked = dict(
        re.findall(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)", (ROOT / "requirements.lock").read_text(), flags=re.MULTILINE)
    )
    locked = {launch._normalise(name): version for name, version in locked.items()}

    assert {name: locked.get(name) for name in pinned} == pinned
    # Every library the model depends on is pinned, so the lineage's versions are the pins.
    assert set(LIBRARIES) <= set(pinned)


@pytest.mark.parametrize("line", ["pandas>=2.2", "pydantic>=2.10,<3", "numpy", "scipy==", "joblib~=1.4"])
def test_a_requirement_that_is_not_an_exact_pin_is_refused(line: str) -> None:
    with pytest.raises(SystemExit, match="is not an exact pin"):
        launch.pins(f"scikit-learn==1.9.1\n{line}\n")


def test_the_launcher_installs_when_a_version_differs_not_only_when_missing() -> None:
    required = launch.pins("scikit-learn==1.9.1\nnumpy==2.4.6  # the model's arrays\nPyArrow==25.0.1\n")

    unmet = launch.unmet(required, {"scikit-learn": "1.8.0", "numpy": "2.4.6", "pyarrow": None})

    assert unmet == {"scikit-learn": ("1.8.0", "1.9.1"), "pyarrow": (None, "25.0.1")}
    assert launch.unmet(required, {"scikit-learn": "1.9.1", "numpy": "2.4.6", "pyarrow": "25.0.1"}) == {}


def test_recorded_versions_are_those_the_process_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    library_versions()  # the real libraries are imported first (scikit-learn imports joblib)
    # A shadowing copy on sys.path is what runs, whatever the installed distribution says.
    monkeypatch.setitem(sys.modules, "joblib", types.SimpleNamespace(__version__="0.0-shadow"))

    versions = library_versions()

    assert versions["joblib"] == "0.0-shadow"
    assert set(versions) == {"python", *LIBRARIES}
    import sklearn

    assert versions["scikit-learn"] == sklearn.__version__
