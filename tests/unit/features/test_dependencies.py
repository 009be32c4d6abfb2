"""What each runtime must carry: the ingest Lambda has no numpy, an inference container may lack pyarrow and
pandas. Each check runs in a fresh interpreter where importing the missing packages fails."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def run_without(packages: list[str], code: str) -> subprocess.CompletedProcess[str]:
    blocker = "import sys\n" + "".join(f"sys.modules[{p!r}] = None\n" for p in packages)
    return subprocess.run(
        [sys.executable, "-c", blocker + textwrap.dedent(code)],
        cwd=ROOT, capture_output=True, text=True, check=False, env={"PYTHONPATH": str(ROOT), "PATH": ""},
    )  # fmt: skip


def test_ingestion_into_both_stores_needs_no_numpy(tmp_path: Path) -> None:
    result = run_without(
        ["numpy", "pandas"],
        f"""
        from mlops_kit.features.ingest import FeatureRecords, load_registry
        from mlops_kit.features.offline import OfflineStore
        from mlops_kit.features.online import OnlineStore
        from mlops_kit.features.storage import LocalObjectStore
        from mlops_kit.features.store import FeatureStore
        from tests.unit.features.conftest import FakeTable

        registry = load_registry("mlops_kit.features.fraud_definitions:FEATURE_GROUPS")
        store = FeatureStore(registry, offline=OfflineStore(registry, LocalObjectStore({str(tmp_path)!r})),
                             online=OnlineStore(registry, FakeTable()))
        batch = FeatureRecords(group="customer_activity", records=[
            {{"customer_id": "C1", "event_timestamp": "2025-01-01T00:00:00Z", "txn_count_7d": 3,
              "avg_amount_7d": 1.5, "max_amount_7d": 2.5}}])
        print(store.ingest(batch.group, batch.records).summary())
        """,
    )

    assert result.returncode == 0, result.stderr
    assert "'online_written': 1" in result.stdout
    assert "'offline_rows': 1" in result.stdout


def test_online_reads_and_serving_transformations_need_no_pyarrow_or_pandas() -> None:
    result = run_without(
        ["pyarrow", "pandas"],
        """
        from mlops_kit.features import fraud
        from mlops_kit.features.encoding import encode_item
        from mlops_kit.features.online import OnlineStore
        from tests.unit.features.conftest import FakeTable

        table = FakeTable()
        item = encode_item(fraud.CUSTOMER_PROFILE, ["C1"], 1, None, {"age": 40, "tenure_days": 9, "country": "DE"})
        table.put_if_newer(item, "", {":et": {"N": "1"}})
        online = OnlineStore(fraud.REGISTRY, table).get([{"customer_id": "C1"}], fraud.FEATURE_REFS)
        request = {"amount": 10.0, "merchant_category": "fuel", "event_timestamp": "2025-01-01T03:00:00+00:00"}
        print(fraud.serving_features(request, online.rows[0]))
        """,
    )

    assert result.returncode == 0, result.stderr
    assert "'age': 40.0" in result.stdout
    assert "'hour_of_day': 3.0" in result.stdout
