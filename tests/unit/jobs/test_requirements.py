"""Training and evaluation run the same library versions: exact pins equal to the lock, installed by the launcher
when a container's versions differ, and the versions each job imported recorded with the model."""

from __future__ import annotations

import re
import sys
import types
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from sagemaker_jobs import launch
from sagemaker_jobs.layout import LIBRARIES, library_versions

ROOT = Path(__file__).resolve().parents[3]


JOBS = ROOT / "sagemaker_jobs"


def _locked() -> dict[str, str]:
    locked = re.findall(
        r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)", (ROOT / "requirements.lock").read_text(), flags=re.MULTILINE
    )
    return {launch._normalise(name): version for name, version in locked}


@pytest.mark.parametrize("name", launch.REQUIREMENTS)
def test_job_requirements_are_exact_pins_equal_to_the_lock(name: str) -> None:
    pinned = launch.pins((ROOT / name.replace("requirements.txt", "sagemaker_jobs/requirements.txt", 1)).read_text())
    locked = _locked()

    assert pinned
    assert {name: locked.get(name) for name in pinned} == pinned


def test_every_library_the_model_depends_on_is_in_the_models_requirements() -> None:
    # The lineage's versions are the pins the training and serving containers install from the bundle's root.
    assert set(LIBRARIES) <= set(launch.pins((JOBS / "requirements.txt").read_text()))


def _requires(distribution: str) -> set[str]:
    """Every distribution ``distribution`` needs here, transitively, by its installed metadata (no extras)."""
    seen: set[str] = set()
    todo = [distribution]
    while todo:
        name = launch._normalise(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        for line in metadata.requires(name) or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen - {launch._normalise(distribution)}


def test_the_model_requirements_leave_the_serving_containers_protobuf_alone() -> None:
    # The serving container installs the bundle's requirements.txt on its first request, after it has imported its
    # own protobuf 3.20.2 generated code (sagemaker-containers' record_pb2); a package needing protobuf >= 5
    # (mlflow-skinny, through opentelemetry-proto) would replace it under the next worker.
    model = launch.pins((JOBS / "requirements.txt").read_text())
    needing = {name for name in model if "protobuf" in _requires(name)}

    assert needing == set()
    assert "protobuf" in _requires("mlflow-skinny")  # the check sees what it guards against


def test_the_launcher_installs_tracking_only_where_its_pins_are_unmet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sagemaker_jobs").mkdir()
    (tmp_path / "requirements.txt").write_text(f"numpy=={metadata.version('numpy')}\n")
    (tmp_path / "sagemaker_jobs" / "requirements-tracking.txt").write_text("mlflow-skinny==0.0.1\n")
    installed: list[list[str]] = []
    monkeypatch.setattr(launch.subprocess, "run", lambda command, check: installed.append(command))

    launch._ensure_requirements(tmp_path)

    assert [command[-1] for command in installed] == [str(tmp_path / "sagemaker_jobs" / "requirements-tracking.txt")]


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
