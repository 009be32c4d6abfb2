"""The batch start function in-process: the schedule and the CLI start one job over the right input with the right
model version; a request that cannot run fails naming what to change."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from mlops_kit.batch.start import BatchStartError
from tests.unit.handlers.conftest import FakeLambdaContext, LoadHandler
from tests.unit.handlers.examples import BATCH, DATA, GROUP
from tests.unit.handlers.test_drift_handlers import DriftSageMaker
from tests.unit.monitoring.support import FakeS3

SCHEDULED = dt.datetime(2026, 3, 10, 2, 0, tzinfo=dt.UTC)
INPUT = f"s3://{DATA}/batch/input/"


@pytest.fixture
def aws() -> tuple[DriftSageMaker, FakeS3]:
    sagemaker, s3 = DriftSageMaker(), FakeS3()
    sagemaker.add_package(GROUP, 1, ModelLifeCycle={"Stage": "Archived", "StageStatus": "Archived"})
    sagemaker.add_package(GROUP, 2, ModelLifeCycle={"Stage": "Production", "StageStatus": "Deployed"})
    s3.put_object(Bucket=DATA, Key="batch/input/daily/part-0.csv", Body=b"transaction_id\n1\n")
    s3.put_object(Bucket=DATA, Key="batch/input/daily/_SUCCESS", Body=b"")
    return sagemaker, s3


def call(load_handler: LoadHandler, aws: tuple[Any, Any], event: dict[str, Any]) -> dict[str, Any]:
    module = load_handler("batch_start", BATCH)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(module, "clients", lambda: aws)
        return _handle(module, event)


def _handle(module: Any, event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = module.handler(event, FakeLambdaContext())
    return result


def test_the_schedule_scores_its_input_with_the_production_version_once(load_handler, aws) -> None:
    event = {"source": "schedule", "scheduled_time": SCHEDULED.isoformat()}

    first = call(load_handler, aws, event)
    retried = call(load_handler, aws, event)

    assert first["started"]
    assert first["model_version"] == 2
    assert first["job_name"] == "mlops-kit-batch-20260310T020000"
    assert (first["input_uri"], first["input_format"], first["input_files"]) == (f"{INPUT}daily/", "csv", 1)
    assert first["output_uri"] == f"s3://{DATA}/batch/output/mlops-kit-batch-20260310T020000"
    assert not retried["started"]
    assert "already started" in retried["reason"]
    request = aws[0].jobs[first["job_name"]]
    inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in request["ProcessingInputs"]}
    assert inputs["model"] == "s3://artifacts/models/v2/model.tar.gz"
    assert inputs["data"] == f"{INPUT}daily/"
    arguments = request["AppSpecification"]["ContainerArguments"]
    assert arguments[0] == "batch_score"
    assert arguments[arguments.index("--model-package-arn") + 1].endswith(f"model-package/{GROUP}/2")
    assert request["RoleArn"] == BATCH.job.role_arn


def test_the_cli_names_its_input_and_version_and_each_run_is_a_new_job(load_handler, aws) -> None:
    event = {"source": "cli", "input_uri": f"{INPUT}daily/part-0.csv", "model_version": 1}

    first, second = call(load_handler, aws, event), call(load_handler, aws, event)

    assert first["started"]
    assert second["started"]
    assert first["job_name"] != second["job_name"]
    assert first["model_version"] == 1
    assert first["input_files"] == 1


@pytest.mark.parametrize(
    ("event", "objects", "packages", "message"),
    [
        ({"source": "cli"}, {}, "none", "no Production model version in mlops-kit-models: promote one first"),
        ({"source": "cli", "model_version": 9}, {}, "production", "has no version 9: list the versions"),
        ({"source": "cli", "input_uri": "s3://elsewhere/x.csv"}, {}, "production", "is outside s3://data/batch/input/"),
        ({"source": "cli", "input_uri": f"{INPUT}../features/"}, {}, "production", "is outside"),
        ({"source": "cli", "input_uri": "data/batch/input/x.csv"}, {}, "production", "is not an s3:// URI"),
        ({"source": "cli", "input_uri": f"{INPUT}empty/"}, {}, "production", "holds no data files: upload"),
        ({"source": "cli", "input_uri": f"{INPUT}t/"}, {"t/a.txt": b"x"}, "production", "unknown format '.txt'"),
        (
            {"source": "cli", "input_uri": f"{INPUT}m/"},
            {"m/a.csv": b"x", "m/b.parquet": b"x"},
            "production",
            "mixes formats: csv (batch/input/m/a.csv), parquet",
        ),
        (
            {"source": "cli", "input_uri": f"{INPUT}day-1"},
            {"day-1/a.csv": b"x", "day-10/a.csv": b"x"},
            "production",
            "is also the beginning of 'batch/input/day-10/a.csv' (1 object(s)), which the job would read too",
        ),
    ],
    ids=[
        "no-production",
        "unknown-version",
        "other-bucket",
        "dot-dot",
        "not-s3",
        "empty",
        "unknown-format",
        "mixed",
        "prefix-of-another",
    ],
)
def test_a_request_that_cannot_run_fails_naming_what_to_change(load_handler, event, objects, packages, message) -> None:
    sagemaker, s3 = DriftSageMaker(), FakeS3()
    if packages == "production":
        sagemaker.add_package(GROUP, 1, ModelLifeCycle={"Stage": "Production", "StageStatus": "Deployed"})
    for key, body in objects.items():
        s3.put_object(Bucket=DATA, Key=f"batch/input/{key}", Body=body)

    with pytest.raises(BatchStartError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        call(load_handler, (sagemaker, s3), event)

    assert sagemaker.jobs == {}


def test_an_event_with_an_unknown_field_is_refused(load_handler, aws) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="model"):
        call(load_handler, aws, {"source": "cli", "model": 2})
