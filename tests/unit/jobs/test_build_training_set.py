"""The pipeline's training set is point-in-time by default: a value created after the label time (late-arriving
or backfilled) does not leak into older rows where its group has a created time."""

from __future__ import annotations

import datetime as dt
import json
import sys
import types
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlops_kit.features.definitions import EntityKey, Feature, FeatureGroup, FeatureRegistry, ValueType
from mlops_kit.features.offline import OfflineStore
from mlops_kit.features.storage import LocalObjectStore
from sagemaker_jobs import build_training_set

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
PROFILE = FeatureGroup(
    name="profile",
    entity_keys=(EntityKey("customer_id"),),
    features=(Feature("score", ValueType.INT64),),
    created_time_column="created_timestamp",
)
ACTIVITY = FeatureGroup(  # no created time: its history was backfilled (ingested) after every label
    name="activity", entity_keys=(EntityKey("customer_id"),), features=(Feature("count", ValueType.INT64),)
)


def hours(n: float) -> pd.Timestamp:
    return pd.Timestamp(T0 + dt.timedelta(hours=n))


@pytest.fixture
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    use_case = types.ModuleType("pit_use_case")
    use_case.REGISTRY = FeatureRegistry([PROFILE, ACTIVITY])  # type: ignore[attr-defined]
    use_case.FEATURE_REFS = ["profile:score", "activity:count"]  # type: ignore[attr-defined]
    use_case.LABEL_TIME_COLUMN = "event_timestamp"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pit_use_case", use_case)
    offline, labels = tmp_path / "offline", tmp_path / "labels"
    store = OfflineStore(use_case.REGISTRY, LocalObjectStore(offline), clock=lambda: T0 + dt.timedelta(days=30))
    store.write(
        "profile",
        pd.DataFrame(
            {
                "customer_id": ["c1", "c1"],
                "event_timestamp": [hours(0), hours(1)],
                # The second value is effective from hour 1 but only became known at hour 5 (a correction).
                "created_timestamp": [hours(0), hours(5)],
                "score": [1, 2],
            }
        ),
    )
    store.write("activity", pd.DataFrame({"customer_id": ["c1"], "event_timestamp": [hours(0)], "count": [7]}))
    labels.mkdir()
    pd.DataFrame({"customer_id": ["c1"], "event_timestamp": [hours(2)], "label": [1]}).to_parquet(
        labels / "labels.parquet"
    )
    return {"offline": offline, "labels": labels, "out": tmp_path}


def _run(folders: dict[str, Path], *mode: str) -> tuple[dict[str, Any], dict[str, Any]]:
    output = folders["out"] / "-".join(mode or ("default",))
    arguments = ["--use-case", "pit_use_case", "--offline", str(folders["offline"]), "--labels", str(folders["labels"])]
    build_training_set.main([*arguments, "--output", str(output), *mode])
    row = {str(k): v for k, v in pd.read_parquet(output / "training_set.parquet").iloc[0].items()}
    return row, json.loads((output / "manifest.json").read_text())


def test_a_value_created_after_the_label_does_not_leak_by_default(folders: dict[str, Path]) -> None:
    row, manifest = _run(folders)

    assert row["score"] == 1  # the value known at hour 2, not the correction created at hour 5
    assert row["count"] == 7  # a group without a created time still joins on event time
    assert manifest["created_before_label"] == "where_created"


def test_the_other_modes_are_explicit_choices(folders: dict[str, Path]) -> None:
    never, _ = _run(folders, "--created-before-label", "never")
    always, _ = _run(folders, "--created-before-label", "always")

    assert never["score"] == 2  # event time only: the late value leaks
    assert always["score"] == 1
    assert pd.isna(always["count"])  # counted from its ingestion, after the label
    with pytest.raises(SystemExit):
        _run(folders, "--created-before-label", "sometimes")


def test_labels_from_a_dvc_project_are_checked_laid_out_and_recorded(folders: dict[str, Path]) -> None:
    from mlops_kit.datasets import dvc

    # The labels as a DVC project tracks them, downloaded as the SageMaker manifest input lays DVC objects out.
    tracked = dvc.track(folders["out"], "labels")
    objects = folders["out"] / "objects"
    for md5, file in tracked.objects.items():
        (objects / md5[:2]).mkdir(parents=True, exist_ok=True)
        (objects / md5[:2] / md5[2:]).write_bytes(file.read_bytes())
    source = {"repo": "git@example.com:team/labels.git", "rev": "v1", "commit": "c" * 40, "path": "labels"}
    source |= {"md5": tracked.output.md5, "output": "labels", "output_md5": tracked.output.md5, "remote": "s3://r"}
    output = folders["out"] / "dvc"
    arguments = ["--use-case", "pit_use_case", "--offline", str(folders["offline"]), "--labels", str(objects)]

    build_training_set.main(
        [
            *arguments,
            "--output",
            str(output),
            "--labels-uri",
            "s3://a/x.manifest",
            "--labels-source",
            json.dumps(source),
        ]
    )

    assert pd.read_parquet(output / "training_set.parquet")["score"].tolist() == [1]
    assert json.loads((output / "labels_source.json").read_text()) == {"uri": "s3://a/x.manifest", "dvc": source}
    changed = next(p for p in objects.rglob("*") if p.is_file() and not p.name.endswith(".dir"))
    changed.write_bytes(b"not parquet")
    with pytest.raises(dvc.DvcHashMismatch, match=r"labels/labels\.parquet has MD5"):
        build_training_set.main([*arguments, "--output", str(output), "--labels-source", json.dumps(source)])
