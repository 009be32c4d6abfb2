#!/usr/bin/env python3
"""CDK entry point: `npx cdk synth|deploy` (from the virtualenv) and `mlops local deploy` run this file."""

from __future__ import annotations

import json
import os
import sys

from aws_cdk import App

from cdk.config import CONTEXT_KEY, ConfigError, load_config
from cdk.context import merged_context
from cdk.platform import build_platform


def main() -> None:
    # Under the CDK CLI the context (cdk.json plus --context flags) arrives in CDK_CONTEXT_JSON; run directly,
    # read cdk.json here, plus MLOPS_CONTEXT_OVERRIDES (JSON) from `mlops local deploy --context`.
    under_cli = "CDK_CONTEXT_JSON" in os.environ
    overrides = json.loads(os.environ.get("MLOPS_CONTEXT_OVERRIDES", "{}"))
    app = App(context=None if under_cli else merged_context(overrides))
    try:
        config = load_config(app.node.try_get_context(CONTEXT_KEY))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    build_platform(app, config)
    app.synth()


if __name__ == "__main__":
    main()
