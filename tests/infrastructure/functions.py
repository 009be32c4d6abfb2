"""Finding a synthesized Lambda function by the ``lambdas/<name>`` it was built from, and reading its settings."""

from __future__ import annotations

import re
from typing import Any

from mlops_kit.environment import T, read_settings

# What a deploy-time value (a reference, an import, an attribute) reads as once resolved.
TOKEN = "deploy-time-value"


def resolved(value: Any) -> str:
    """A synthesized string as it would read once deployed, each deploy-time reference written as :data:`TOKEN`."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(resolved(part) for part in parts)
    if isinstance(value, dict) and "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
        return re.sub(r"\$\{[^}]+\}", TOKEN, value["Fn::Sub"])
    return TOKEN


def function(templates: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    """The properties of the one function built from ``lambdas/<name>`` (in any stack), found by its role's
    description, which :class:`cdk.constructs.python_function.PythonFunction` writes."""
    found = []
    for template in templates.values():
        resources = template["Resources"]
        roles = [
            k
            for k, r in resources.items()
            if r["Type"] == "AWS::IAM::Role" and r["Properties"].get("Description") == f"{name} Lambda function"
        ]
        found += [
            r["Properties"]
            for r in resources.values()
            if r["Type"] == "AWS::Lambda::Function"
            and r["Properties"].get("Role") in [{"Fn::GetAtt": [role, "Arn"]} for role in roles]
        ]
    assert len(found) == 1, f"{len(found)} functions are built from lambdas/{name}"
    return found[0]


def environment(templates: dict[str, dict[str, Any]], name: str) -> dict[str, str]:
    """The environment of the function built from ``lambdas/<name>``, as deployed."""
    variables = function(templates, name).get("Environment", {}).get("Variables", {})
    return {key: resolved(value) for key, value in variables.items()}


def deployed_settings(templates: dict[str, dict[str, Any]], name: str, model: type[T]) -> T:
    """The function's settings, parsed by its handler's model exactly as the handler does."""
    return read_settings(model, environment(templates, name))
