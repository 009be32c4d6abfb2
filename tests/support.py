"""Helpers shared by tests in several folders."""

from __future__ import annotations

import contextlib
import io
import tarfile
from collections.abc import Iterator
from pathlib import Path
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


@contextlib.contextmanager
def platform_with_production(assembly: Any, workdir: Path) -> Iterator[tuple[Any, Any]]:
    """Every stack of ``assembly`` deployed on a fresh emulator with version 1 promoted to Production; yields the
    demo context and the scenario data (the fixture of the promotion integration tests)."""
    from rich.console import Console

    from mlops_local.demo.context import DemoContext
    from mlops_local.demo.scenarios import _first, fixture_data
    from mlops_local.deploy import LocalDeployer
    from mlops_local.emulator import Emulator

    with Emulator(workdir=workdir / "emulator") as aws:
        context = DemoContext(emulator=aws, assembly=assembly, console=Console(quiet=True), workdir=workdir)
        context.stacks = LocalDeployer(aws.session(), account=aws.account, region=aws.region).deploy(assembly)
        data = fixture_data()
        _first(context, data)
        yield context, data


# A key policy that leaves every decision to IAM (the emulator's KMS tests create keys with it).
ALLOW_ALL_KEY_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*"}],
}
