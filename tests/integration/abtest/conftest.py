"""The experiments table on the emulator: bare (for the repository contract) or with every stack deployed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from mlops_kit.abtest.dynamodb import DynamoDBRepository
from mlops_kit.abtest.endpoint import ExperimentOperations, Serving
from mlops_kit.abtest.routing import ExperimentRouter, RouteTable
from mlops_kit.promotion.store import PromotionStore
from mlops_kit.promotion.trigger import execution_name
from mlops_kit.registry import REQUIRED_LINEAGE, LineageDocuments, ModelRegistry, ModelVersion
from mlops_kit.serving.client import EndpointClient
from mlops_local.deploy import CloudAssembly, LocalDeployer
from mlops_local.emulator import Emulator
from tests.support import create_pk_sk_table, tar_gz


def create_table(emulator: Emulator) -> str:
    """A table with the experiments table's key schema (``pk``/``sk`` strings), as the data stack creates it."""
    name = f"experiments-{uuid.uuid4().hex[:8]}"
    create_pk_sk_table(emulator.client("dynamodb"), name)
    return name


@pytest.fixture
def table_name(emulator: Emulator) -> str:
    return create_table(emulator)


# A toy model served through the real promotion workflow: it answers with its version and slot.
INFERENCE = """
import json, os, pathlib

def model_fn(model_dir):
    return float(pathlib.Path(model_dir, "factor.txt").read_text())

def input_fn(body, content_type):
    return json.loads(body)

def predict_fn(data, factor):
    return {"score": data.get("x", 0) * factor, "model_version": os.environ.get("MLOPS_MODEL_VERSION"),
            "slot": os.environ.get("MLOPS_VARIANT")}

def output_fn(prediction, accept):
    return json.dumps(prediction), "application/json"
"""
# The same toy model with the inference script's sticky assignment (sagemaker_jobs/inference.py wires it the same
# way): a request naming its user is answered by the user's variant, whichever variant SageMaker sent it to.
STICKY_INFERENCE = """
import json, os, pathlib
from mlops_kit.serving.sticky import StickyRouting

def model_fn(model_dir):
    factor = float(pathlib.Path(model_dir, "factor.txt").read_text())
    return factor, StickyRouting.from_environment(os.environ)

def input_fn(body, content_type):
    return json.loads(body)

def predict_fn(data, model):
    factor, sticky = model
    target = sticky.target(data) if sticky is not None else None
    if target is not None:
        return sticky.forward(data, target)
    return {"score": data.get("x", 0) * factor, "model_version": os.environ.get("MLOPS_MODEL_VERSION"),
            "slot": os.environ.get("MLOPS_VARIANT")}

def output_fn(prediction, accept):
    return json.dumps(prediction), "application/json"
"""
LINEAGE = {key.removeprefix("lineage."): f"test-{i}" for i, key in enumerate(REQUIRED_LINEAGE)}


@dataclass
class Platform:
    """Every stack deployed, version 1 Production on the endpoint (through the promotion workflow), version 2 a
    Staging candidate awaiting review."""

    emulator: Emulator
    outputs: dict[str, str]
    registry: ModelRegistry
    production: ModelVersion
    candidate: ModelVersion
    code: str = "toy-code"  # the code bundle under models/ the registered versions are served with

    @property
    def endpoint_name(self) -> str:
        return self.outputs["EndpointName"]

    def repository(self) -> DynamoDBRepository:
        return DynamoDBRepository(self.emulator.client("dynamodb"), self.outputs["ExperimentTableName"])

    def route_table(self) -> RouteTable:
        return RouteTable(self.emulator.client("dynamodb"), self.outputs["ExperimentTableName"])

    def locks(self) -> PromotionStore:
        return PromotionStore(self.emulator.client("dynamodb"), self.outputs["PromotionTableName"])

    def operations(self, **kwargs: Any) -> ExperimentOperations:
        sagemaker = self.emulator.client("sagemaker")
        serving = Serving(
            sagemaker=sagemaker,
            autoscaling=self.emulator.client("application-autoscaling"),
            registry=self.registry,
            locks=self.locks(),
            endpoint_name=self.endpoint_name,
        )
        return ExperimentOperations(self.repository(), serving, poll_seconds=0.02, **kwargs)

    def wait_out_minimum_runtime(self, name: str) -> None:
        """Let the emulator's clock run to the first moment experiment ``name`` may be decided."""
        decidable_at = self.repository().get_experiment(name).decidable_at
        assert decidable_at is not None, f"experiment {name} has not started"
        self.emulator.advance(max(0.0, (decidable_at - self.emulator.now()).total_seconds()))

    def client(self, router: ExperimentRouter | None = None) -> EndpointClient:
        return EndpointClient(self.endpoint_name, self.emulator.client("sagemaker-runtime"), router=router)

    def execution_arn(self, version: ModelVersion, mode: str = "promote") -> str:
        machine = self.outputs["PromotionStateMachineArn"]
        return (
            machine.replace(":stateMachine:", ":execution:") + ":" + execution_name(mode, version.arn, version.version)
        )

    def register(self, factor: float) -> ModelVersion:
        bucket = self.outputs["ArtifactsBucketName"]
        key = f"models/toy-{uuid.uuid4().hex[:8]}/model.tar.gz"
        self.emulator.client("s3").put_object(Bucket=bucket, Key=key, Body=tar_gz({"factor.txt": str(factor)}))
        return self.registry.register(
            model_data_url=f"s3://{bucket}/{key}",
            image="683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3",
            environment={
                "SAGEMAKER_PROGRAM": "inference.py",
                "SAGEMAKER_SUBMIT_DIRECTORY": f"s3://{bucket}/models/{self.code}/sourcedir.tar.gz",
            },
            lineage=LINEAGE,
            metrics={"roc_auc": 0.8 + factor / 100},
        )


def deploy_platform(emulator: Emulator, cloud_assembly: CloudAssembly, *, inference: str, code: str) -> Platform:
    """Every stack deployed, the toy versions served with ``inference`` (uploaded as ``models/<code>/``)."""
    deployer = LocalDeployer(emulator.session(), account=emulator.account, region=emulator.region)
    outputs = {k: v for result in deployer.deploy(cloud_assembly) for k, v in result.outputs.items()}
    emulator.client("s3").put_object(
        Bucket=outputs["ArtifactsBucketName"],
        Key=f"models/{code}/sourcedir.tar.gz",
        Body=tar_gz({"inference.py": inference}),
    )
    documents = LineageDocuments(emulator.client("s3"), outputs["ArtifactsBucketName"])
    registry = ModelRegistry(emulator.client("sagemaker"), outputs["ModelPackageGroupName"], documents=documents)
    platform = Platform(emulator, outputs, registry, production=None, candidate=None, code=code)  # type: ignore[arg-type]
    first = platform.register(1.0)
    registry.approve(first.arn, approver="tests", comment="first deployment")  # the registry trigger promotes it
    emulator.settle()
    described = emulator.wait_for_execution(platform.execution_arn(first))
    assert described["status"] == "SUCCEEDED", described
    platform.production = registry.get(first.arn)
    platform.candidate = platform.register(2.0)
    return platform


@pytest.fixture
def platform(emulator: Emulator, cloud_assembly: CloudAssembly) -> Platform:
    return deploy_platform(emulator, cloud_assembly, inference=INFERENCE, code="toy-code")


@pytest.fixture
def sticky_platform(emulator: Emulator, cloud_assembly: CloudAssembly) -> Platform:
    """The platform with versions whose inference script assigns requests by user (``STICKY_INFERENCE``)."""
    return deploy_platform(emulator, cloud_assembly, inference=STICKY_INFERENCE, code="sticky-code")
