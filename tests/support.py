"""Helpers shared by tests in several folders."""

from __future__ import annotations

import io
import tarfile
from typing import Any


def tar_gz(files: dict[str, str]) -> bytes:
    """A gzipped tar of text files (a SageMaker ``model.tar.gz`` or ``sourcedir.tar.gz``), built in memory."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def create_pk_sk_table(dynamodb: Any, name: str) -> str:
    """An on-demand table keyed like the kit's tables (string ``pk`` hash key, string ``sk`` range key)."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return name
