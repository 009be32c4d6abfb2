#!/usr/bin/env python3
"""CDK entry point: `npx cdk synth|deploy` (from the virtualenv) and `mlops local deploy` run this file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cdk.config import CONTEXT_KEY, ConfigError, load_config
from cdk.context import merged_context

# Top-level paths never deployed (shell patterns): the tests, the benchmarks, the local emulator and the documents. A
# change to them leaves the deployed code as committed: it does not make the commit "-dirty", and the tests' synth
# cache leaves them out of its key.
NOT_DEPLOYED = ("tests", "benchmarks", "mlops_local", "docs", "*.md")


def code_commit() -> str:
    """The commit of the deployed code, recorded in every model's lineage: the last commit that changed what is
    deployed (anything tracked but :data:`NOT_DEPLOYED`; a commit of tests or documents alone deploys the same code
    as its parent), "-dirty" with uncommitted changes to it."""
    root = Path(__file__).resolve().parent

    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
        return result.stdout.strip() if result.returncode == 0 else ""

    excluded = [f":(exclude,glob){pattern}" for pattern in NOT_DEPLOYED]  # glob: `*` stays within the top level
    commit = git("log", "-1", "--format=%H", "--", ".", *excluded) or git("rev-parse", "HEAD")
    if not commit:
        return os.environ.get("MLOPS_CODE_COMMIT", "unknown")
    changed = git("status", "--porcelain", "--untracked-files=no", "--", ".", *excluded)
    return commit + ("-dirty" if changed else "")


def main() -> None:
    # Under the CDK CLI the context (cdk.json plus --context flags) arrives in CDK_CONTEXT_JSON; run directly,
    # read cdk.json here, plus MLOPS_CONTEXT_OVERRIDES (JSON) from `mlops local deploy --context`.
    under_cli = "CDK_CONTEXT_JSON" in os.environ
    overrides = json.loads(os.environ.get("MLOPS_CONTEXT_OVERRIDES", "{}"))
    context = None if under_cli else merged_context(overrides)
    try:
        # Outside the CLI the config is validated before the App exists: jsii cannot carry a value such as
        # Infinity (`-c drift.psi_act=1e999`) into the CDK context, and would fail with a traceback.
        config = None if context is None else load_config(context.get(CONTEXT_KEY))
        from aws_cdk import App  # only now: importing it starts Node (jsii), seconds a config error need not wait

        # The output folder is passed as read here: Node reads its environment once, and one process may synthesize
        # more than once (the tests' synth processes, mlops_local/synth_server.py).
        app = App(context=context, outdir=os.environ.get("CDK_OUTDIR"))
        if config is None:
            config = load_config(app.node.try_get_context(CONTEXT_KEY))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    from cdk.platform import build_platform

    build_platform(app, config, code_commit=code_commit())
    app.synth()


if __name__ == "__main__":
    main()
