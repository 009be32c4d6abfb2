"""The whole app deployed into the emulator, with a Production model version, its baseline, the offline
feature store and captured traffic written the way the platform writes them."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest

from mlops_kit.drift.baseline import compute_baseline
from mlops_kit.features import fraud
from mlops_kit.features.offline import OfflineStore
from mlops_kit.features.storage import S3ObjectStore
from mlops_kit.monitoring import naming
from mlops_local.deploy import CloudAssembly, LocalDeployer
from mlops_local.emulator import Emulator
from tests.unit.monitoring.support import capture_line, score

CUSTOMERS = 150
NOW = dt.datetime.now(dt.UTC)
HISTORY_START = NOW - dt.timedelta(days=60)


@dataclass
class Platform:
    emulator: Emulator
    outputs: dict[str, str]

    @property
    def endpoint(self) -> str:
        return self.outputs["EndpointName"]

    @property
    def artifacts(self) -> str:
        return self.outputs["ArtifactsBucketName"]

    def lambda_result(self, record: Any) -> dict[str, Any]:
        return json.loads(record.result)


@pytest.fixture
def platform(emulator: Emulator, cloud_assembly: CloudAssembly) -> Platform:
    deployer = LocalDeployer(emulator.session(), account=emulator.account, region=emulator.region)
    results = deployer.deploy(cloud_assembly)
    return Platform(emulator, {k: v for r in results for k, v in r.outputs.items()})


@pytest.fixture(scope="session")
def history() -> fraud.FraudData:
    return fraud.generate(CUSTOMERS, 3000, seed=42, start=HISTORY_START, days=60)


@pytest.fixture
def features(platform: Platform, history: fraud.FraudData) -> None:
    """The offline feature store holds the customers' history (ingested now, before any inference)."""
    s3 = platform.emulator.client("s3")
    store = OfflineStore(fraud.REGISTRY, S3ObjectStore(s3, platform.outputs["DataBucketName"], "features"))
    for group, frame in history.feature_rows().items():
        store.write(group, frame)


@pytest.fixture
def production(platform: Platform, history: fraud.FraudData) -> Callable[..., str]:
    """Register a Production version (with a baseline of the history, unless told otherwise); returns its ARN."""

    def register(*, baseline: bool = True, baseline_uri: str | None = None) -> str:
        s3 = platform.emulator.client("s3")
        model = fraud.build_model_frame(fraud._as_of(history.transactions, history.profiles, history.activity))
        frame = model[fraud.MODEL_FEATURES].copy()
        frame[naming.PREDICTION] = score(frame)
        uri = baseline_uri or f"s3://{platform.artifacts}/pipelines/seeded/Evaluate/evaluation/baseline.json"
        if baseline and baseline_uri is None:
            body = compute_baseline(frame, prediction=naming.PREDICTION, seed=1).to_json()
            s3.put_object(Bucket=platform.artifacts, Key=uri.split("/", 3)[3], Body=body.encode())
        sagemaker = platform.emulator.client("sagemaker")
        properties = {"drift.baseline_uri": uri} if baseline else {}
        created = sagemaker.create_model_package(
            ModelPackageGroupName=platform.outputs["ModelPackageGroupName"],
            InferenceSpecification={
                "Containers": [
                    {"Image": "123.dkr.ecr.us-east-1.amazonaws.com/x:1", "ModelDataUrl": "s3://m/model.tar.gz"}
                ],
                "SupportedContentTypes": ["application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
            ModelApprovalStatus="Approved",
            CustomerMetadataProperties=properties or {"note": "no baseline"},
            ModelLifeCycle={"Stage": "Production", "StageStatus": "Deployed"},
        )
        platform.emulator.settle()  # the promotion trigger sees the approval and ignores it
        return str(created["ModelPackageArn"])

    return register


@pytest.fixture
def traffic(platform: Platform, history: fraud.FraudData) -> Callable[..., int]:
    """Write captured traffic (requests for the history's customers) as the endpoint would; returns rows written."""

    def write(n: int, *, drift: float = 0.0, seed: int = 5, variant: str = "blue", version: str = "1") -> int:
        data = fraud.generate(CUSTOMERS, n, seed=42, start=HISTORY_START, days=60, drift=drift)
        transactions = data.transactions.sample(n=n, random_state=seed)
        requests = [
            {
                "customer_id": row.customer_id,
                "transaction": {
                    "amount": float(row.amount),
                    "merchant_category": str(row.merchant_category),
                    "event_timestamp": row.event_timestamp.isoformat(),
                },
            }
            for row in transactions.itertuples()
        ]
        when = dt.datetime.now(dt.UTC)  # after the features were ingested: the endpoint would have read them
        model = pd.DataFrame(
            [fraud.serving_features(r["transaction"], {}) for r in requests], columns=fraud.MODEL_FEATURES
        )
        scores = score(model)
        lines = [
            capture_line(
                r, {"score": float(s), "label": int(s > 0.5), "model_version": version, "variant": variant}, when
            )
            for r, s in zip(requests, scores, strict=True)
        ]
        key = f"capture/{platform.endpoint}/{variant}/{when:%Y/%m/%d/%H}/{uuid.uuid4()}.jsonl"
        platform.emulator.client("s3").put_object(Bucket=platform.artifacts, Key=key, Body="\n".join(lines).encode())
        platform.emulator.advance(60)  # the requests were served over a minute; a window ending now holds them
        return n

    return write
