"""Every Lambda function gets its settings as one typed model that its handler parses, and nothing else.

The construct builds the model from the platform config and serializes it at synth; here the synthesized
environment of each function (deploy-time names read as placeholders) goes through the handler's own
``read_settings``, and the values are the config's.
"""

from __future__ import annotations

from typing import Any

import pytest

from cdk.config import load_config
from cdk.constructs.python_function import LAMBDAS
from mlops_kit.abtest.settings import OutcomeSettings, RouterSettings, StatusSettings
from mlops_kit.batch.settings import BatchSettings
from mlops_kit.environment import HandlerSettings
from mlops_kit.features import fraud
from mlops_kit.features.ingest import IngestSettings
from mlops_kit.features.store import OFFLINE_PREFIX
from mlops_kit.monitoring.settings import DriftSettings, PublishSettings, RetrainSettings
from mlops_kit.pipeline.definition import ecr_repository
from mlops_kit.promotion.approval_page import LINKS_VARIABLE, ApprovalPageSettings
from mlops_kit.promotion.settings import ApprovalSettings, PromotionSettings, TriggerSettings
from mlops_kit.quality.settings import LabelIntakeSettings, QualitySettings
from mlops_kit.serving.teardown import TeardownSettings
from tests.infrastructure.functions import TOKEN, deployed_settings, environment

# lambdas/<name> -> the settings model its handler reads.
FUNCTION_SETTINGS: dict[str, type[HandlerSettings]] = {
    "abtest_outcome": OutcomeSettings,
    "abtest_router": RouterSettings,
    "abtest_status": StatusSettings,
    "approval_page": ApprovalPageSettings,
    "batch_start": BatchSettings,
    "drift_publish": PublishSettings,
    "drift_retrain": RetrainSettings,
    "drift_start": DriftSettings,
    "feature_ingest": IngestSettings,
    "promotion": PromotionSettings,
    "quality_run": QualitySettings,
    "quality_labels": LabelIntakeSettings,
    "promotion_trigger": TriggerSettings,
    "promotion_approval": ApprovalSettings,
    "serving_teardown": TeardownSettings,
}
POWERTOOLS = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}
# Variables a function reads besides its settings model, each for a stated reason: the steps function signs the
# approval page's links when the page is deployed (its own settings model, set by the page's construct); the page
# function's tracer must not record responses (they hold the link).
EXTRA = {"promotion": {LINKS_VARIABLE}, "approval_page": {"POWERTOOLS_TRACER_CAPTURE_RESPONSE"}}
CONFIG = load_config({})  # cdk.json's mlops section is empty: every value below is the config's default


def test_every_handler_has_a_settings_model() -> None:
    assert set(FUNCTION_SETTINGS) == {path.parent.name for path in LAMBDAS.glob("*/handler.py")}
    assert len({model.VARIABLE for model in FUNCTION_SETTINGS.values()}) == len(FUNCTION_SETTINGS)


@pytest.mark.parametrize("name", sorted(FUNCTION_SETTINGS))
def test_the_synthesized_environment_parses_with_the_handlers_model(
    templates: dict[str, dict[str, Any]], name: str
) -> None:
    model = FUNCTION_SETTINGS[name]

    variables = environment(templates, name)
    settings = deployed_settings(templates, name, model)

    assert isinstance(settings, model)
    # the handler reads nothing else from its environment
    assert set(variables) == POWERTOOLS | {model.VARIABLE} | EXTRA.get(name, set())


def test_the_ab_functions_get_the_endpoint_and_the_registry_of_the_config(templates: dict[str, Any]) -> None:
    status = deployed_settings(templates, "abtest_status", StatusSettings)

    assert (status.endpoint_name, status.model_package_group) == (CONFIG.endpoint_name, CONFIG.model_package_group)
    assert status.experiment_table == status.promotion_table == TOKEN  # the data stack's tables, by import
    assert deployed_settings(templates, "abtest_outcome", OutcomeSettings).experiment_table == TOKEN
    assert deployed_settings(templates, "abtest_router", RouterSettings).experiment_table == TOKEN


def test_the_drift_functions_get_the_drift_config(templates: dict[str, Any]) -> None:
    start = deployed_settings(templates, "drift_start", DriftSettings)
    retrain = deployed_settings(templates, "drift_retrain", RetrainSettings)
    drift = CONFIG.drift

    assert (start.endpoint_name, start.model_package_group, start.use_case) == (
        CONFIG.endpoint_name, CONFIG.model_package_group, CONFIG.training.use_case,
    )  # fmt: skip
    assert (start.window_hours, start.baseline_mode, start.rolling_days) == (
        drift.window_hours, drift.baseline, drift.rolling_window_days,
    )  # fmt: skip
    assert (start.psi_investigate, start.psi_act) == (drift.psi_investigate, drift.psi_act)
    assert (start.job.instance_type, start.job.volume_gb, start.job.max_runtime_seconds) == (
        CONFIG.training.processing_instance_type, drift.job_volume_gb, drift.job_max_runtime_minutes * 60,
    )  # fmt: skip
    assert ecr_repository(start.job.image_uri)[1] == "sagemaker-scikit-learn"
    assert f":{CONFIG.training.sklearn_version}-" in start.job.image_uri
    assert (retrain.pipeline_name, retrain.model_package_group, retrain.cooldown_hours) == (
        CONFIG.pipeline_name, CONFIG.model_package_group, drift.retrain_cooldown_hours,
    )  # fmt: skip
    assert deployed_settings(templates, "drift_publish", PublishSettings).topic_arn == TOKEN


def test_the_ingestion_function_writes_the_use_cases_feature_groups(templates: dict[str, Any]) -> None:
    ingest = deployed_settings(templates, "feature_ingest", IngestSettings)

    assert ingest.registry == fraud.FEATURE_REGISTRY
    assert ingest.group_versions == {group.name: group.version for group in fraud.FEATURE_GROUPS}
    assert ingest.offline_prefix == OFFLINE_PREFIX
