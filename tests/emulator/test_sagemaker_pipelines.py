"""Patch points sagemaker-*-pipeline-*: a deployed pipeline definition really runs, step by step."""

from __future__ import annotations

import json

import pytest

from mlops_local.emulator import Emulator
from tests.emulator.conftest import make_role

JOB = """
import json, os, pathlib, sys
root = pathlib.Path(os.environ["MLOPS_OPT_ML"])
value = float(pathlib.Path(root, "processing/input/data/value.txt").read_text())
threshold = float(sys.argv[sys.argv.index("--threshold") + 1])
out = root / "processing/output/result"
out.mkdir(parents=True, exist_ok=True)
(out / "result.json").write_text(json.dumps({"score": value * 2, "ok": value * 2 >= threshold}))
print("doubled", value)
if "--crash" in sys.argv:
    raise SystemExit("job crashed on purpose")
"""


def _definition(*, crash: bool = False) -> dict:
    arguments = ["--threshold", {"Get": "Parameters.Threshold"}, *(["--crash"] if crash else [])]
    process = {
        "Name": "Double",
        "Type": "Processing",
        "Arguments": {
            "AppSpecification": {
                "ImageUri": "123.dkr.ecr.us-east-1.amazonaws.com/x:1",
                "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/job.py"],
                "ContainerArguments": arguments,
            },
            "ProcessingInputs": [
                {
                    "InputName": "code",
                    "S3Input": {
                        "S3Uri": "s3://pipeline-test/code/job.py",
                        "LocalPath": "/opt/ml/processing/input/code",
                        "S3DataType": "S3Prefix",
                        "S3InputMode": "File",
                    },
                },
                {
                    "InputName": "data",
                    "S3Input": {
                        "S3Uri": "s3://pipeline-test/data/",
                        "LocalPath": "/opt/ml/processing/input/data",
                        "S3DataType": "S3Prefix",
                        "S3InputMode": "File",
                    },
                },
            ],
            "ProcessingOutputConfig": {
                "Outputs": [
                    {
                        "OutputName": "result",
                        "S3Output": {
                            "S3Uri": {
                                "Std:Join": {
                                    "On": "/",
                                    "Values": ["s3://pipeline-test/runs", {"Get": "Execution.PipelineExecutionId"}],
                                }
                            },
                            "LocalPath": "/opt/ml/processing/output/result",
                            "S3UploadMode": "EndOfJob",
                        },
                    }
                ]
            },
            "ProcessingResources": {
                "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.t3.medium", "VolumeSizeInGB": 1}
            },
            "RoleArn": "arn:aws:iam::123456789012:role/r",
        },
        "PropertyFiles": [{"PropertyFileName": "Result", "OutputName": "result", "FilePath": "result.json"}],
    }
    score = {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Double.PropertyFiles.Result"}, "Path": "score"}}
    register = {
        "Name": "Register",
        "Type": "RegisterModel",
        "Arguments": {
            "ModelPackageGroupName": "toy",
            "ModelApprovalStatus": "PendingManualApproval",
            "InferenceSpecification": {
                "Containers": [
                    {
                        "Image": "123.dkr.ecr.us-east-1.amazonaws.com/x:1",
                        "ModelDataUrl": {
                            "Std:Join": {
                                "On": "",
                                "Values": [
                                    {"Get": "Steps.Double.ProcessingOutputConfig.Outputs['result'].S3Output.S3Uri"},
                                    "/model.tar.gz",
                                ],
                            }
                        },
                    }
                ],
                "SupportedContentTypes": ["application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
            "CustomerMetadataProperties": {"score": score},
            "ModelLifeCycle": {"Stage": "Staging", "StageStatus": "PendingApproval"},
        },
    }
    fail = {
        "Name": "TooLow",
        "Type": "Fail",
        "Arguments": {"ErrorMessage": {"Std:Join": {"On": " ", "Values": ["score", score, "is below the threshold"]}}},
    }
    gate = {
        "Name": "Gate",
        "Type": "Condition",
        "Arguments": {
            "Conditions": [
                {"Type": "GreaterThanOrEqualTo", "LeftValue": score, "RightValue": {"Get": "Parameters.Threshold"}}
            ],
            "IfSteps": [register],
            "ElseSteps": [fail],
        },
    }
    return {
        "Version": "2020-12-01",
        "Parameters": [{"Name": "Threshold", "Type": "Float", "DefaultValue": 5.0}],
        "Steps": [process, gate],
    }


def pipeline_role(emulator: Emulator) -> str:
    """The toy pipeline's role: it creates its jobs (passing itself to them), runs them and registers the model."""
    grants = ("sagemaker:CreateProcessingJob", "sagemaker:CreateModelPackage", "iam:PassRole", "s3:GetObject")
    return make_role(emulator, "r", "sagemaker.amazonaws.com", *grants, "s3:ListBucket", "s3:PutObject", "logs:*")


@pytest.fixture
def pipeline(emulator: Emulator):
    s3 = emulator.client("s3")
    s3.create_bucket(Bucket="pipeline-test")
    s3.put_object(Bucket="pipeline-test", Key="code/job.py", Body=JOB.encode())
    s3.put_object(Bucket="pipeline-test", Key="data/value.txt", Body=b"3")
    emulator.client("sagemaker").create_model_package_group(ModelPackageGroupName="toy")
    pipeline_role(emulator)

    def create(**kwargs) -> str:
        emulator.client("sagemaker").create_pipeline(
            PipelineName="toy",
            PipelineDefinition=json.dumps(_definition(**kwargs)),
            RoleArn="arn:aws:iam::123456789012:role/r",
        )
        return "toy"

    return create


def _run(emulator: Emulator, parameters: list[dict] | None = None) -> dict:
    sagemaker = emulator.client("sagemaker")
    arn = sagemaker.start_pipeline_execution(PipelineName="toy", PipelineParameters=parameters or [])[
        "PipelineExecutionArn"
    ]

    def ended() -> dict | None:
        described = sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)
        return described if described["PipelineExecutionStatus"] != "Executing" else None

    described = emulator.wait_until(ended, description=f"pipeline run {arn}")
    steps = sagemaker.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"]
    return {"described": described, "steps": {s["StepName"]: s for s in steps}, "arn": arn}


def test_the_definition_runs_and_registers_when_the_condition_holds(emulator: Emulator, pipeline) -> None:
    pipeline()

    run = _run(emulator)

    assert run["described"]["PipelineExecutionStatus"] == "Succeeded", run["described"]["FailureReason"]
    assert {name: s["StepStatus"] for name, s in run["steps"].items()} == {
        "Double": "Succeeded", "Gate": "Succeeded", "Register": "Succeeded",
    }  # fmt: skip
    assert run["steps"]["Gate"]["Metadata"]["Condition"]["Outcome"] == "True"
    package_arn = run["steps"]["Register"]["Metadata"]["RegisterModel"]["Arn"]
    package = emulator.client("sagemaker").describe_model_package(ModelPackageName=package_arn)
    assert package["CustomerMetadataProperties"] == {"score": "6.0"}
    execution_id = run["arn"].rsplit("/", 1)[-1]
    result = emulator.client("s3").get_object(Bucket="pipeline-test", Key=f"runs/{execution_id}/result.json")
    assert json.loads(result["Body"].read()) == {"score": 6.0, "ok": True}


def test_a_fail_step_fails_the_execution_with_its_message(emulator: Emulator, pipeline) -> None:
    pipeline()

    run = _run(emulator, [{"Name": "Threshold", "Value": "10"}])

    assert run["described"]["PipelineExecutionStatus"] == "Failed"
    assert run["described"]["FailureReason"] == "score 6.0 is below the threshold"
    assert "Register" not in run["steps"]
    assert run["steps"]["TooLow"]["StepStatus"] == "Failed"


def test_a_crashing_job_fails_the_step_with_its_output(emulator: Emulator, pipeline) -> None:
    pipeline(crash=True)

    run = _run(emulator)

    assert run["described"]["PipelineExecutionStatus"] == "Failed"
    assert "job crashed on purpose" in run["steps"]["Double"]["FailureReason"]
    assert "Gate" not in run["steps"]


def test_unknown_parameters_are_refused_at_start(emulator: Emulator, pipeline) -> None:
    pipeline()

    with pytest.raises(Exception, match=r"no parameters \['Treshold'\]"):
        emulator.client("sagemaker").start_pipeline_execution(
            PipelineName="toy", PipelineParameters=[{"Name": "Treshold", "Value": "1"}]
        )


def test_concurrent_jobs_share_one_job_endpoint_and_the_emulator_stops(tmp_path) -> None:
    import threading

    from mlops_local.emulator import Emulator

    aws = Emulator(workdir=tmp_path / "emulator")
    aws.start()
    urls: list[str] = []
    threads = [threading.Thread(target=lambda: urls.append(aws.job_endpoint())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stopper = threading.Thread(target=aws.stop, daemon=True)
    stopper.start()
    stopper.join(timeout=30)

    assert len(set(urls)) == 1
    assert not stopper.is_alive()  # stop() shut down the one side server it started
