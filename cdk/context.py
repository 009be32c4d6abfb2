"""The `cdk.json` context, for synthesizing without the CDK CLI (tests, `mlops local deploy`).

The CDK CLI reads ``cdk.json`` and passes its context to the app in ``CDK_CONTEXT_JSON``; running ``python
app.py`` directly would otherwise lose every feature flag and the ``mlops`` config.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def file_context(cdk_json: Path = PROJECT_ROOT / "cdk.json") -> dict[str, Any]:
    """The ``context`` object of ``cdk.json``."""
    context = json.loads(cdk_json.read_text()).get("context", {})
    if not isinstance(context, dict):
        raise ValueError(f"{cdk_json}: 'context' must be a JSON object")
    return context


def merged_context(
    overrides: dict[str, Any] | None = None, cdk_json: Path = PROJECT_ROOT / "cdk.json"
) -> dict[str, Any]:
    """``cdk.json`` context with ``overrides`` applied; the ``mlops`` section is merged one level deep."""
    context = file_context(cdk_json)
    for key, value in (overrides or {}).items():
        if key == "mlops" and isinstance(value, dict):
            merged = dict(context.get("mlops", {}))
            for section, settings in value.items():
                if isinstance(settings, dict) and isinstance(merged.get(section), dict):
                    merged[section] = {**merged[section], **settings}
                else:
                    merged[section] = settings
            context["mlops"] = merged
        else:
            context[key] = value
    return context
