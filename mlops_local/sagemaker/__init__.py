"""The SageMaker behaviours the kit relies on, made real in the emulator (registry, pipelines, endpoints)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any


def fetch_object(s3: Any, bucket: str, key: str, target: Path) -> None:
    """One S3 object into the file ``target``, with one GetObject on this thread: as the role acting here, as SageMaker
    fetches a model or a job's input. (boto3's ``download_file`` is a transfer manager: a HeadObject, then threads that
    act as nobody, so the role's access would go unchecked, and futures and queues per object, 8% of the demo's
    interpreter time for a job's many small capture files.)"""
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    with target.open("wb") as file:
        shutil.copyfileobj(body, file)
