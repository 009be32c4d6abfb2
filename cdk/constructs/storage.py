"""Encrypted storage every other capability builds on: the platform KMS key and its S3 buckets."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk.nag import acknowledge
from mlops_kit.pipeline.definition import MODELS_PREFIX

# Days an overwritten or expired object version is kept before S3 deletes it for good.
NONCURRENT_DAYS = 7


def admit_roles(roles: list[tuple[str, str]]) -> tuple[list[iam.IPrincipal], dict[str, dict[str, list[str]]]]:
    """The ``principals`` and ``conditions`` of a resource policy statement admitting exactly ``roles`` (``(account,
    role ARN)`` pairs, roles of other accounts): each account once as principal, the roles in an ``aws:PrincipalArn``
    condition. A policy principal must exist when the policy is written, and those roles are deployed in their own
    accounts, maybe after this stack; add the statement's other conditions to the returned dict."""
    principals: list[iam.IPrincipal] = [iam.AccountPrincipal(account) for account in dict.fromkeys(a for a, _ in roles)]
    return principals, {"ArnEquals": {"aws:PrincipalArn": [role for _, role in roles]}}


class PlatformStorage(Construct):
    """The customer-managed KMS key (rotated yearly) and three buckets.

    * ``data_bucket``: datasets, the offline feature store, training-set manifests (versioned).
    * ``artifacts_bucket``: code bundles, model artifacts, evaluation and drift reports, data capture.
    * ``access_logs_bucket``: S3 server access logs of the two above (SSE-S3: log delivery cannot use KMS).

    All three block public access, enforce TLS and are versioned. ``removal_policy`` applies to all of them
    and the key; with ``RemovalPolicy.DESTROY`` a non-empty bucket still blocks stack deletion (no
    auto-delete custom resource is deployed).

    Lifecycle: objects under ``capture_prefix`` of the artifacts bucket expire after ``capture_retention``, under
    ``reports_prefix`` after ``report_retention``, and access logs after ``report_retention``. The buckets are
    versioned, so expiring an object only makes it noncurrent: each rule also removes noncurrent versions after
    :data:`NONCURRENT_DAYS` (the window to restore an object deleted by mistake).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        removal_policy: RemovalPolicy,
        report_retention: Duration,
        capture_retention: Duration,
        capture_prefix: str,
        reports_prefix: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description=f"{Stack.of(self).stack_name}: data at rest of the MLOps platform",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        # CloudWatch Logs encrypts the account's log groups that name this key (the promotion state machine's).
        stack = Stack.of(self)
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": (
                            f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:*"
                        )
                    }
                },
            )
        )
        # The kit's dead-letter queues are encrypted with this key, and EventBridge itself sends them the events it
        # cannot deliver: it needs the key for that, and only from this account ("Using dead-letter queues to
        # process undelivered events", EventBridge User Guide; the key-policy form of "Authorizing EventBridge to use
        # a customer managed key"). Lambda's on-failure sends and Scheduler's use the functions' and schedules' roles.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EventBridgeDeadLetters",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )
        self.access_logs_bucket = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            removal_policy=removal_policy,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireAccessLogs",
                    expiration=report_retention,
                    noncurrent_version_expiration=Duration.days(NONCURRENT_DAYS),
                )
            ],
        )
        acknowledge(
            self.access_logs_bucket,
            "AwsSolutions-S1",
            "This is the access-log destination bucket; logging it into itself would loop.",
        )
        self.data_bucket = self._bucket("Data", "data/", removal_policy)
        self.artifacts_bucket = self._bucket("Artifacts", "artifacts/", removal_policy)
        for rule_id, prefix, retention in (
            ("ExpireCapture", capture_prefix, capture_retention),
            ("ExpireDriftReports", reports_prefix, report_retention),
        ):
            self.artifacts_bucket.add_lifecycle_rule(
                id=rule_id,
                prefix=prefix.rstrip("/") + "/",
                expiration=retention,
                noncurrent_version_expiration=Duration.days(NONCURRENT_DAYS),
            )

    def share_models_with(self, accounts: list[str]) -> None:
        """Let ``accounts`` (the environments' accounts) read the model artifacts: ``s3:GetObject`` on the objects
        under ``models/`` of the artifacts bucket (where the training pipeline writes them), and ``kms:Decrypt`` with
        the key only through S3 in this region. Nothing else of the buckets or the key is shared; no accounts, no
        statements.

        The accounts' own IAM policies must allow the same reads: a cross-account request needs both the caller's
        identity policy and the resource's policy. The grant names the account, not a role in it: a principal in
        a bucket or key policy must exist when the policy is written, and the environments' roles are deployed
        after this stack.
        """
        if not accounts:
            return
        stack = Stack.of(self)
        principals: list[iam.IPrincipal] = [iam.AccountPrincipal(account) for account in accounts]
        self.artifacts_bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EnvironmentsReadModels",
                principals=principals,
                actions=["s3:GetObject"],
                resources=[self.artifacts_bucket.arn_for_objects(f"{MODELS_PREFIX}/*")],
            )
        )
        # SageMaker fetches a model's artifacts from S3 as the endpoint's role, and S3 decrypts them with this key on
        # that role's behalf: kms:ViaService limits the grant to that path.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EnvironmentsDecryptModels",
                principals=principals,
                actions=["kms:Decrypt"],
                resources=["*"],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"}},
            )
        )

    def share_capture_with(self, writers: list[tuple[str, str, str]], *, retention: Duration) -> None:
        """Let each ``(account, role ARN, capture prefix)`` of ``writers`` (an environment's model role) write data
        capture to the artifacts bucket under that prefix only, encrypting with the key through S3 only; what is
        written there expires after ``retention``, as the platform endpoint's capture does. The role is named in a
        condition (``aws:PrincipalArn``) on its account: a policy principal must exist when the policy is written,
        and the environments' roles are deployed after this stack. None: no statements."""
        stack = Stack.of(self)
        for index, (account, role_arn, prefix) in enumerate(writers):
            self.artifacts_bucket.add_lifecycle_rule(
                id=f"ExpireEnvironmentCapture{index}",
                prefix=prefix.rstrip("/") + "/",
                expiration=retention,
                noncurrent_version_expiration=Duration.days(NONCURRENT_DAYS),
            )
            principal = iam.AccountPrincipal(account)
            condition = {"ArnEquals": {"aws:PrincipalArn": role_arn}}
            self.artifacts_bucket.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=f"EnvironmentWritesCapture{index}",
                    principals=[principal],
                    actions=["s3:PutObject"],
                    resources=[self.artifacts_bucket.arn_for_objects(f"{prefix}/*")],
                    conditions=condition,
                )
            )
            self.key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=f"EnvironmentEncryptsCapture{index}",
                    principals=[principal],
                    actions=["kms:GenerateDataKey", "kms:Encrypt"],
                    resources=["*"],
                    conditions={
                        **condition,
                        "StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"},
                    },
                )
            )

    def share_tables_with(self, readers: list[tuple[str, str]]) -> None:
        """Let each ``(account, role ARN)`` of ``readers`` (an environment's model role) decrypt with the key through
        DynamoDB only (``kms:ViaService``): the tables encrypted with it (the online feature and experiments tables)
        are read across accounts by those roles, and DynamoDB uses the key on the caller's behalf. The role is named
        in an ``aws:PrincipalArn`` condition on its account, as :meth:`share_capture_with` does (a key policy
        principal must exist when the policy is written). None: no statement."""
        if not readers:
            return
        stack = Stack.of(self)
        principals, conditions = admit_roles(readers)
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EnvironmentsDecryptTables",
                principals=principals,
                actions=["kms:Decrypt"],
                resources=["*"],
                conditions={**conditions, "StringEquals": {"kms:ViaService": f"dynamodb.{stack.region}.amazonaws.com"}},
            )
        )

    def _bucket(self, construct_id: str, log_prefix: str, removal_policy: RemovalPolicy) -> s3.Bucket:
        return s3.Bucket(
            self,
            construct_id,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=self.access_logs_bucket,
            server_access_logs_prefix=log_prefix,
            removal_policy=removal_policy,
        )

    def grant_read_data(self, grantee: iam.IGrantable, prefix: str = "*") -> None:
        """Read objects of the data bucket under ``prefix`` (decrypting with the platform key)."""
        self.data_bucket.grant_read(grantee, prefix)

    def grant_read_write_artifacts(self, grantee: iam.IGrantable, prefix: str = "*") -> None:
        """Read and write objects of the artifacts bucket under ``prefix``."""
        self.artifacts_bucket.grant_read_write(grantee, prefix)


def record_table(
    scope: Construct,
    construct_id: str,
    *,
    key: kms.IKey,
    removal_policy: RemovalPolicy,
    ttl_attribute: str | None = None,
) -> dynamodb.Table:
    """The platform's DynamoDB table shape: ``pk``/``sk`` strings, on-demand, encrypted with the platform key,
    point-in-time recovery, optional TTL attribute (the online features, promotions and experiments tables)."""
    return dynamodb.Table(
        scope,
        construct_id,
        partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
        sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
        encryption_key=key,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        time_to_live_attribute=ttl_attribute,
        removal_policy=removal_policy,
    )
