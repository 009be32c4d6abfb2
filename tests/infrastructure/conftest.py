"""CDK assertions on the synthesized templates (never on logical IDs)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Template


@pytest.fixture(scope="session")
def stack_template(templates: dict[str, dict[str, Any]]) -> Any:
    """``stack_template("data")``: the CDK assertions Template of the stack ``<project>-data``."""
    cache: dict[str, Template] = {}

    def get(unit: str) -> Template:
        name = next(n for n in templates if n.endswith(f"-{unit}"))
        if name not in cache:
            cache[name] = Template.from_json(templates[name])
        return cache[name]

    return get
