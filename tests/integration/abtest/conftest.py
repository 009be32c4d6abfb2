"""The experiments table on the emulator: bare (for the repository contract) or with every stack deployed."""

from __future__ import annotations

import uuid

import pytest

from mlops_kit.local.emulator import Emulator


def create_table(emulator: Emulator) -> str:
    """A table with the experiments table's key schema (``pk``/``sk`` strings), as the data stack creates it."""
    name = f"experiments-{uuid.uuid4().hex[:8]}"
    emulator.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


@pytest.fixture
def table_name(emulator: Emulator) -> str:
    return create_table(emulator)
