"""Settings of each function as its construct would build them (values of the platform config's defaults)."""

from __future__ import annotations

from cdk.config import load_config
from mlops_kit.abtest.settings import OutcomeSettings, RouterSettings, StatusSettings
from mlops_kit.batch.settings import BatchSettings
from mlops_kit.environment import HandlerSettings
from mlops_kit.features import fraud
from mlops_kit.features.ingest import IngestSettings
from mlops_kit.monitoring.settings import DriftSettings, JobSettings, PublishSettings, RetrainSettings
from mlops_kit.promotion.settings import ApprovalSettings, TriggerSettings
from tests.unit.handlers.conftest import ACCOUNT, REGION
from tests.unit.promotion import conftest as promotion

CONFIG = load_config({})
ENDPOINT = CONFIG.endpoint_name
GROUP = CONFIG.model_package_group
EXPERIMENTS, PROMOTIONS, FEATURES = "experiments", "promotions", "features"
ARTIFACTS, DATA = "artifacts", "data"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:notifications"
STATE_MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:promotion"

OUTCOME = OutcomeSettings(experiment_table=EXPERIMENTS)
ROUTER = RouterSettings(experiment_table=EXPERIMENTS)
STATUS = StatusSettings(
    experiment_table=EXPERIMENTS, promotion_table=PROMOTIONS, endpoint_name=ENDPOINT, model_package_group=GROUP
)
DRIFT = DriftSettings(
    endpoint_name=ENDPOINT,
    model_package_group=GROUP,
    use_case=CONFIG.training.use_case,
    capture_uri=f"s3://{ARTIFACTS}/capture",
    artifacts_bucket=ARTIFACTS,
    offline_uri=f"s3://{DATA}/features",
    state_table=PROMOTIONS,
    window_hours=CONFIG.drift.window_hours,
    baseline_mode=CONFIG.drift.baseline,
    rolling_days=CONFIG.drift.rolling_window_days,
    psi_investigate=CONFIG.drift.psi_investigate,
    psi_act=CONFIG.drift.psi_act,
    job=JobSettings(
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/drift-job",
        image_uri="683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3",
        launcher_uri="s3://assets/launch.py",
        launcher_file="launch.py",
        bundle_uri="s3://assets/sourcedir.tar.gz",
        instance_type=CONFIG.training.processing_instance_type,
        volume_gb=CONFIG.drift.job_volume_gb,
        max_runtime_seconds=CONFIG.drift.job_max_runtime_minutes * 60,
        kms_key_arn=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/platform",
    ),
)
PUBLISH = PublishSettings(topic_arn=TOPIC)
BATCH = BatchSettings(
    project_name=CONFIG.project_name,
    model_package_group=GROUP,
    data_bucket=DATA,
    offline_uri=f"s3://{DATA}/features",
    id_column=CONFIG.batch.id_column,
    created_before_row=CONFIG.batch.created_before_row,
    schedule_input="daily/",
    job=DRIFT.job.model_copy(update={"role_arn": f"arn:aws:iam::{ACCOUNT}:role/batch-job"}),
)
RETRAIN = RetrainSettings(
    endpoint_name=ENDPOINT,
    model_package_group=GROUP,
    pipeline_name=CONFIG.pipeline_name,
    state_table=PROMOTIONS,
    topic_arn=TOPIC,
    cooldown_hours=CONFIG.drift.retrain_cooldown_hours,
)
INGEST = IngestSettings(
    table_name=FEATURES,
    offline_bucket=DATA,
    offline_prefix="features",
    registry=fraud.FEATURE_REGISTRY,
    group_versions={group.name: group.version for group in fraud.FEATURE_GROUPS},
)
TRIGGER = TriggerSettings(state_machine_arn=STATE_MACHINE, model_package_group=GROUP)
APPROVAL = ApprovalSettings(
    model_package_group=GROUP,
    table_name=PROMOTIONS,
    topic_arn=TOPIC,
    approvers=(f"arn:aws:iam::{ACCOUNT}:role/approver",),
    allow_self_approval=CONFIG.approvals.allow_self_approval,
)

# lambdas/<name> -> its settings
SETTINGS: dict[str, HandlerSettings] = {
    "abtest_outcome": OUTCOME,
    "abtest_router": ROUTER,
    "abtest_status": STATUS,
    "batch_start": BATCH,
    "drift_publish": PUBLISH,
    "drift_retrain": RETRAIN,
    "drift_start": DRIFT,
    "feature_ingest": INGEST,
    "promotion": promotion.settings(),
    "promotion_approval": APPROVAL,
    "promotion_trigger": TRIGGER,
}
