"""A small world for the drift job: customers' feature history in an offline store, a baseline, and capture
files of served requests, all in an in-memory S3."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import pytest

from mlops_kit.drift.baseline import compute_baseline
from mlops_kit.features import fraud
from mlops_kit.features.offline import OfflineStore
from mlops_kit.features.storage import S3ObjectStore
from mlops_kit.monitoring import naming
from mlops_kit.monitoring.job import DriftInputs
from tests.unit.monitoring.support import FakeS3, capture_line, score

ARTIFACTS = "artifacts"
DATA = "data"
ENDPOINT = "ep"
CUSTOMERS = 120
# The world's clock: features are ingested as they happen (by now at the latest); traffic is served at SERVED.
SERVED = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
HISTORY_START = SERVED - dt.timedelta(days=60)
BASELINE_KEY = "pipelines/run-1/Evaluate/evaluation/baseline.json"


@dataclass
class World:
    s3: FakeS3
    history: fraud.FraudData

    def inputs(self, **overrides: object) -> DriftInputs:
        values: dict[str, object] = {
            "endpoint": ENDPOINT,
            "capture_uri": f"s3://{ARTIFACTS}/capture",
            "baseline_uri": f"s3://{ARTIFACTS}/{BASELINE_KEY}",
            "start": SERVED - dt.timedelta(hours=1),
            "end": SERVED + dt.timedelta(minutes=1),
            "use_case": "mlops_kit.features.fraud",
            "model_version": "3",
            "offline_uri": f"s3://{DATA}/features",
        }
        values.update(overrides)
        return DriftInputs(**values)  # type: ignore[arg-type]

    def requests(self, n: int, *, drift: float = 0.0, seed: int = 0) -> list[dict]:
        data = fraud.generate(CUSTOMERS, n, seed=42, start=HISTORY_START, days=60, drift=drift)
        rows = data.transactions.sample(frac=1.0, random_state=seed)
        return [
            {
                "customer_id": row.customer_id,
                "transaction": {
                    "amount": float(row.amount),
                    "merchant_category": str(row.merchant_category),
                    "event_timestamp": row.event_timestamp.isoformat(),
                },
            }
            for row in rows.itertuples()
        ]

    def serve(
        self,
        requests: list[dict],
        *,
        when: dt.datetime = SERVED,
        variant: str = "blue",
        version: str = "3",
        name: str = "part",
    ) -> str:
        """Write the capture file of ``requests`` answered by model ``version``; returns its key."""
        scores = score(pd.DataFrame([fraud.serving_features(r["transaction"], {}) for r in requests]))
        lines = [
            capture_line(r, {"score": float(s), "label": int(s > 0.5), "model_version": version}, when)
            for r, s in zip(requests, scores, strict=True)
        ]
        key = f"capture/{ENDPOINT}/{variant}/{when:%Y/%m/%d/%H}/{name}.jsonl"
        self.s3.put_object(Bucket=ARTIFACTS, Key=key, Body="\n".join(lines))
        return key


@pytest.fixture(scope="session")
def history() -> fraud.FraudData:
    return fraud.generate(CUSTOMERS, 2500, seed=42, start=HISTORY_START, days=60)


@pytest.fixture(scope="session")
def baseline_json(history: fraud.FraudData) -> str:
    model = fraud.build_model_frame(fraud._as_of(history.transactions, history.profiles, history.activity))
    frame = model[fraud.MODEL_FEATURES].copy()
    frame[naming.PREDICTION] = score(frame)
    return compute_baseline(frame, prediction=naming.PREDICTION, seed=1).to_json()


@pytest.fixture(scope="session")
def stored_history(history: fraud.FraudData, baseline_json: str) -> dict[tuple[str, str], bytes]:
    """The history ingested day by day as it happened (each day's rows at the end of that day, or now)."""
    s3 = FakeS3()
    now = dt.datetime.now(dt.UTC)
    for group, frame in history.feature_rows().items():
        days = frame["event_timestamp"].dt.floor("D")
        for day, rows in frame.groupby(days):
            ingested = min(day.to_pydatetime() + dt.timedelta(days=1), now)
            store = OfflineStore(fraud.REGISTRY, S3ObjectStore(s3, DATA, "features"), clock=lambda at=ingested: at)
            store.write(group, rows)
    s3.put_object(Bucket=ARTIFACTS, Key=BASELINE_KEY, Body=baseline_json)
    return s3.objects


@pytest.fixture
def world(history: fraud.FraudData, stored_history: dict[tuple[str, str], bytes]) -> World:
    s3 = FakeS3()
    s3.objects.update(stored_history)
    return World(s3=s3, history=history)


@pytest.fixture
def served_world(world: World) -> Callable[..., World]:
    def make(normal: int = 300, drifted: int = 0) -> World:
        if normal:
            world.serve(world.requests(normal), name="normal")
        if drifted:
            world.serve(world.requests(drifted, drift=1.0, seed=1), name="drifted")
        return world

    return make
