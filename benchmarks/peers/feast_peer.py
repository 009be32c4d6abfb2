"""Feast, run in its own virtualenv (benchmarks/.venvs/feast) by benchmarks/bench_features.py.

Two workloads, each a function ``benchmarks.harness.run_isolated`` calls in a fresh process:

* :func:`historical` -- the file offline store's point-in-time join of a labels Parquet file against one
  feature view over a features Parquet file (TTL given), result written to Parquet for comparison;
* :func:`online` -- Feast's DynamoDB online store against the local emulator (``endpoint_url``): load the
  feature views, then read 1 and 100 entities across every view, counting DynamoDB API calls client-side.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from pathlib import Path
from typing import Any

_CALLS: dict[str, int] = {}


def _count_aws_calls() -> None:
    """Count every botocore API call in this process (Feast creates its own clients and sessions)."""
    from botocore.client import BaseClient

    original = BaseClient._make_api_call

    def counted(self: Any, operation_name: str, api_params: Any) -> Any:
        _CALLS[operation_name] = _CALLS.get(operation_name, 0) + 1
        return original(self, operation_name, api_params)

    BaseClient._make_api_call = counted  # type: ignore[method-assign]


def _store(repo: Path, online_store: dict[str, Any]) -> Any:
    from feast import FeatureStore
    from feast.repo_config import RepoConfig

    repo.mkdir(parents=True, exist_ok=True)
    config = RepoConfig(
        project="bench",
        registry=str(repo / "registry.db"),
        provider="local",
        offline_store={"type": "file"},
        online_store=online_store,
        entity_key_serialization_version=3,
        repo_path=str(repo),
    )
    return FeatureStore(config=config)


def _view(name: str, path: str, features: list[str], ttl_days: float) -> tuple[Any, Any]:
    from feast import Entity, FeatureView, Field, FileSource
    from feast.types import Float64
    from feast.value_type import ValueType

    entity = Entity(name="entity", join_keys=["entity_id"], value_type=ValueType.STRING)
    source = FileSource(name=f"{name}_source", path=path, timestamp_field="event_timestamp")
    view = FeatureView(
        name=name,
        entities=[entity],
        ttl=dt.timedelta(days=ttl_days),
        schema=[Field(name=f, dtype=Float64) for f in features],
        source=source,
        online=True,
    )
    return entity, view


def historical(
    labels: str, features: str, output: str, repo: str, ttl_days: float, names: list[str], warm_calls: int
) -> dict[str, Any]:
    import pandas as pd

    store = _store(Path(repo), {"type": "sqlite", "path": str(Path(repo) / "online.db")})
    entity, view = _view("fv", features, names, ttl_days)
    store.apply([entity, view])
    entity_df = pd.read_parquet(labels)
    times = []
    for _ in range(1 + warm_calls):  # the first call in this fresh process (cold), then warm calls
        started = time.perf_counter()
        result = store.get_historical_features(entity_df=entity_df, features=[f"fv:{n}" for n in names]).to_df()
        times.append(time.perf_counter() - started)
    result.to_parquet(output, index=False)
    return {"cold": times[0], "seconds": statistics.median(times[1:]), "warm": times[1:], "rows": len(result),
            "feast": __import__("feast").__version__}  # fmt: skip


def online(
    endpoint_url: str,
    repo: str,
    views: dict[str, str],
    features: list[str],
    entities: list[str],
    ttl_days: float,
    counts: list[int],
) -> dict[str, Any]:
    """Load each view's Parquet into DynamoDB (through Feast), then read ``counts`` entities across all views."""
    import pandas as pd

    _count_aws_calls()
    store = _store(Path(repo), {"type": "dynamodb", "region": "us-east-1", "endpoint_url": endpoint_url})
    objects = []
    for name, path in views.items():
        entity, view = _view(name, path, features, ttl_days)
        objects += [entity, view] if not objects else [view]
    store.apply(objects)
    for name, path in views.items():
        store.write_to_online_store(name, pd.read_parquet(path))
    refs = [f"{name}:{f}" for name in views for f in features]
    reads = {}
    for count in counts:
        rows = [{"entity_id": e} for e in entities[:count]]
        seconds = float("inf")
        for _ in range(5):  # best of five, as for ours; calls counted on the last
            _CALLS.clear()
            started = time.perf_counter()
            result = store.get_online_features(features=refs, entity_rows=rows, full_feature_names=True).to_dict()
            seconds = min(seconds, time.perf_counter() - started)
        reads[f"{count}x{len(views)}"] = {
            "requests": sum(_CALLS.values()),
            "calls": dict(_CALLS),
            "ms": seconds * 1000,
            "values": {k: v for k, v in result.items() if k != "entity_id"},
        }
    return reads
