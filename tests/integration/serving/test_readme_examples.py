"""The README's "Call the endpoint without the kit" examples, run as written against an endpoint in the emulator
that serves ``sagemaker_jobs/inference.py`` (the code bundle the pipeline registers) with an online store.

The cheapest real endpoint: no CDK app, no pipeline; one model (a fitted scikit-learn classifier on the use
case's columns), one endpoint config, the online table holding the README's customer.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import shlex
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from mlops_kit.features import fraud
from mlops_kit.features.online import OnlineStore
from mlops_kit.pipeline.bundle import build_bundle
from mlops_local.emulator import Emulator
from tests.emulator.conftest import make_role
from tests.emulator.test_sagemaker_endpoints import wait_in_service
from tests.support import create_pk_sk_table

README = Path(__file__).resolve().parents[3] / "README.md"
BUCKET, TABLE = "models-bucket", "mlops-kit-online"


def section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def model_archive() -> bytes:
    """model.joblib (fitted on the use case's columns, so the script's load-time check runs) and its meta."""
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(200, len(fraud.MODEL_FEATURES))), columns=fraud.MODEL_FEATURES)
    fitted = LogisticRegression().fit(frame, (frame["amount"] > 0).astype(int))
    meta = {"use_case": "mlops_kit.features.fraud", "features": list(fraud.MODEL_FEATURES)}
    archive = io.BytesIO()
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(fileobj=archive, mode="w:gz") as tar:
        joblib.dump(fitted, Path(tmp) / "model.joblib")
        (Path(tmp) / "model_meta.json").write_text(json.dumps(meta))
        tar.add(Path(tmp) / "model.joblib", arcname="model.joblib")
        tar.add(Path(tmp) / "model_meta.json", arcname="model_meta.json")
    return archive.getvalue()


@pytest.fixture
def endpoint(emulator: Emulator, tmp_path: Path) -> str:
    """``mlops-kit-endpoint`` (the README's name) InService, knowing customer C0000042; returns its name."""
    s3, sagemaker, dynamodb = emulator.client("s3"), emulator.client("sagemaker"), emulator.client("dynamodb")
    s3.create_bucket(Bucket=BUCKET)
    s3.upload_file(str(build_bundle(tmp_path / "bundle")), BUCKET, "code/sourcedir.tar.gz")
    s3.put_object(Bucket=BUCKET, Key="v1/model.tar.gz", Body=model_archive())
    create_pk_sk_table(dynamodb, TABLE)
    now = dt.datetime.now(dt.UTC)
    online = OnlineStore.from_client(fraud.REGISTRY, dynamodb, TABLE)
    online.write(
        fraud.CUSTOMER_PROFILE.name,
        [{"customer_id": "C0000042", "event_timestamp": now - dt.timedelta(days=90), "created_timestamp": now
          - dt.timedelta(days=90), "age": 41, "tenure_days": 900, "country": "DE"}],
    )  # fmt: skip
    online.write(
        fraud.CUSTOMER_ACTIVITY.name,
        [{"customer_id": "C0000042", "event_timestamp": now - dt.timedelta(hours=1), "txn_count_7d": 9,
          "avg_amount_7d": 48.5, "max_amount_7d": 130.0}],
    )  # fmt: skip
    role = make_role(emulator, "model-role", "sagemaker.amazonaws.com", "s3:GetObject", "dynamodb:BatchGetItem")
    sagemaker.create_model(
        ModelName="v1",
        ExecutionRoleArn=role,
        PrimaryContainer={
            "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3",
            "ModelDataUrl": f"s3://{BUCKET}/v1/model.tar.gz",
            "Environment": {
                "SAGEMAKER_PROGRAM": "inference.py",
                "SAGEMAKER_SUBMIT_DIRECTORY": f"s3://{BUCKET}/code/sourcedir.tar.gz",
                "MLOPS_USE_CASE": "mlops_kit.features.fraud",
                "MLOPS_ONLINE_TABLE": TABLE,
                "MLOPS_MODEL_VERSION": "1",
                "MLOPS_VARIANT": "blue",
            },
        },
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="c1",
        ProductionVariants=[
            {
                "VariantName": "blue",
                "ModelName": "v1",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": 1.0,
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName="mlops-kit-endpoint", EndpointConfigName="c1")
    wait_in_service(emulator, "mlops-kit-endpoint")
    return "mlops-kit-endpoint"


def test_the_readme_boto3_example_runs_as_written(endpoint: str, capsys: pytest.CaptureFixture[str]) -> None:
    (example,) = code_blocks(section("Call the endpoint without the kit"), "python")

    exec(compile(example, "README.md", "exec"), {"__name__": "readme_example"})  # the README's code, as written

    served, refused = capsys.readouterr().out.splitlines()
    score, label, version, variant = served.split()
    assert 0 <= float(score) <= 1
    assert (label, version, variant) == (str(int(float(score) >= 0.5)), "1", "blue")
    assert refused.startswith("400 transaction.amount is required: a finite JSON number")


def test_the_readme_cli_example_sends_a_request_the_endpoint_serves(emulator: Emulator, endpoint: str) -> None:
    (example,) = code_blocks(section("Call the endpoint without the kit"), "bash")
    body = re.search(r"<<'EOF'\n(.*?)\nEOF", example, flags=re.DOTALL)
    assert body is not None
    command = shlex.split(example[example.index("aws sagemaker-runtime") :].split("\ncat")[0].replace("\\\n", " "))
    options = dict(zip(command[3:-1:2], command[4:-1:2], strict=True))

    response = emulator.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=options["--endpoint-name"],
        ContentType=options["--content-type"],
        Accept=options["--accept"],
        Body=body.group(1).encode(),
    )

    assert options["--body"] == "fileb://request.json"
    answer: dict[str, Any] = json.loads(response["Body"].read())
    assert (answer["entity"], answer["model_version"], answer["variant"]) == ("C0000042", "1", "blue")


def test_the_readme_label_schema_is_what_the_training_set_step_reads(tmp_path: Path) -> None:
    """The columns the README lists are the demo's labels, and the step joins them (no refused column)."""
    from mlops_kit.features.offline import OfflineStore
    from mlops_kit.features.storage import LocalObjectStore
    from mlops_kit.features.training import build_training_set

    text = section("Labels for training")
    documented = re.findall(r"^\| `([a-z_]+)` \|", text, flags=re.MULTILINE)
    data = fraud.generate(50, 300, seed=3)
    assert set(documented) == set(data.transactions.columns)
    store = OfflineStore(fraud.REGISTRY, LocalObjectStore(tmp_path / "offline"))
    for group, frame in data.feature_rows().items():
        store.write(group, frame)
    (tmp_path / "labels" / "fraud").mkdir(parents=True)
    data.transactions.to_parquet(tmp_path / "labels" / "fraud" / "transactions.parquet", index=False)

    manifest = build_training_set(
        tmp_path / "offline", tmp_path / "labels", tmp_path / "out", use_case="mlops_kit.features.fraud"
    )

    assert manifest.label_rows == 300
