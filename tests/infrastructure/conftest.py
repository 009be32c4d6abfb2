"""CDK assertions on the synthesized templates (never on logical IDs)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from tests.support import SESSION_SYNTHS, shared_synth

if TYPE_CHECKING:  # imported where used: importing aws_cdk starts Node, and xdist's controller runs no test
    from aws_cdk.assertions import Template

# CDK's own switch (the CLI's `--exclusively` sets it): no stack's assets are bundled, each gets a placeholder hash.
# For template assertions only: bundling copies every function's package and the dependency layers (300 MB) and
# hashes them, which is most of a synth; `cloud_assembly` bundles, and its assets are what the emulator deploys.
WITHOUT_BUNDLING: dict[str, Any] = {"aws:cdk:bundling-stacks": []}

# Settings changed from their defaults that touch different stacks and do not interact, synthesized once together
# (a synth costs ~12 s of CPU): each test asserts on its own setting's stack.
TUNED_DRIFT: dict[str, Any] = {
    "schedule": "rate(15 minutes)",
    "psi_act": 0.3,
    "window_hours": 6,
    "retrain_on_drift": False,
    "min_window_rows": 50,
    "min_baseline_rows": 400,
}
MANAGED_MLFLOW: dict[str, Any] = {"managed": True, "tracking_server_size": "Medium"}
BUSINESS_METRIC: dict[str, Any] = {"business_metric": {"max_drop_percent": 15}}
TUNED: dict[str, Any] = {"mlops": {"drift": TUNED_DRIFT, "mlflow": MANAGED_MLFLOW, "alarms": BUSINESS_METRIC}}
SESSION_SYNTHS["tuned_templates"] = ("cdk.out.tuned", {**TUNED, **WITHOUT_BUNDLING})


@pytest.fixture(scope="session")
def stack_template(templates: dict[str, dict[str, Any]]) -> Any:
    """``stack_template("data")``: the CDK assertions Template of the stack ``<project>-data``."""
    from aws_cdk.assertions import Template

    cache: dict[str, Template] = {}

    def get(unit: str) -> Template:
        name = next(n for n in templates if n.endswith(f"-{unit}"))
        if name not in cache:
            cache[name] = Template.from_json(templates[name])
        return cache[name]

    return get


@pytest.fixture(scope="session")
def tuned_templates(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> dict[str, dict[str, Any]]:
    """Each stack's template by stack name, synthesized (without bundling) with :data:`TUNED`: drift settings
    changed, managed MLflow on and a business metric alarm; once per run, shared by the xdist workers."""
    assembly = shared_synth(tmp_path_factory, worker_id, *SESSION_SYNTHS["tuned_templates"])
    return {s.stack_name: json.loads(s.template_file.read_text()) for s in assembly.stacks}


def template_of(templates: dict[str, dict[str, Any]], unit: str) -> dict[str, Any]:
    """The template of the stack ``<project>-<unit>`` among ``templates``."""
    (name,) = [n for n in templates if n.endswith(f"-{unit}")]
    return templates[name]
