"""The feature store: the online DynamoDB table, the offline store's Glue catalog and Athena workgroup, and
streaming ingestion (SQS or EventBridge -> Lambda -> both stores).

The feature groups are the code definitions (``mlops_kit.features``): each becomes one Glue table whose
columns are derived from the definition, so the catalog cannot drift from what the stores write.

The ``date`` partitions use **partition projection** rather than catalogued partitions: ingestion only ever
appends files under ``<group>/date=YYYY-MM-DD/``, so with projection no writer needs Glue write permissions,
no crawler or ``MSCK REPAIR`` runs after each append, and a query's date bounds prune partitions without a
catalog lookup. The cost is that only Athena (and engines honouring projection) sees the partitions, which is
all this kit queries with.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_events as events
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk.constructs.dead_letters import DeadLetters
from cdk.constructs.python_function import LAMBDAS, PackageLayer, PythonFunction
from cdk.constructs.storage import admit_roles, record_table
from cdk.nag import acknowledge
from mlops_kit.features.definitions import FeatureGroup, ValueType
from mlops_kit.features.ingest import IngestSettings
from mlops_kit.features.store import OFFLINE_PREFIX

ATHENA_RESULTS_PREFIX = "athena/features/"
INGEST_SOURCE = "mlops.features"
INGEST_DETAIL_TYPE = "Feature Records"
# Glue column types of the offline Parquet files (see mlops_kit.features.offline.offline_schema).
_GLUE_TYPES = {
    ValueType.INT64: "bigint",
    ValueType.FLOAT64: "double",
    ValueType.STRING: "string",
    ValueType.BOOL: "boolean",
    ValueType.TIMESTAMP: "timestamp",
    ValueType.INT64_LIST: "array<bigint>",
    ValueType.FLOAT64_LIST: "array<double>",
}
_META_COLUMNS = (
    ("__event_us", "bigint", "event time, microseconds since the epoch"),
    ("__created_us", "bigint", "created time, microseconds since the epoch (null without one)"),
    ("__ingested_us", "bigint", "ingestion time of the file, microseconds since the epoch"),
    ("__batch", "string", "ingestion batch id (the file's)"),
    ("__row", "bigint", "row number within the file"),
)


def glue_columns(group: FeatureGroup) -> list[glue.CfnTable.ColumnProperty]:
    """The Glue columns of a group's offline files, in file order (``date`` is the partition key)."""
    columns = [
        glue.CfnTable.ColumnProperty(name=k.name, type=_GLUE_TYPES[k.dtype], comment="entity key")
        for k in group.entity_keys
    ]
    columns.append(glue.CfnTable.ColumnProperty(name=group.event_time_column, type="timestamp", comment="event time"))
    if group.created_time_column:
        columns.append(
            glue.CfnTable.ColumnProperty(name=group.created_time_column, type="timestamp", comment="created time")
        )
    columns += [
        glue.CfnTable.ColumnProperty(name=f.name, type=_GLUE_TYPES[f.dtype], comment=f.description[:255] or None)
        for f in group.features
    ]
    columns += [glue.CfnTable.ColumnProperty(name=n, type=t, comment=c) for n, t, c in _META_COLUMNS]
    return columns


class FeatureStore(Construct):
    """Online table, Glue database and tables, Athena workgroup; ``grant_*`` methods for each use.

    * ``table``: DynamoDB (``pk``/``sk`` strings, on-demand), encrypted with ``key``, point-in-time
      recovery on, TTL on the ``ttl`` attribute; item layout in ``mlops_kit.features.encoding``.
    * ``database_name``: the Glue database (Glue needs an explicit name: ``database_name``), one table per
      group over ``s3://<data_bucket>/features/<group>/``.
    * ``workgroup_name``: Athena engine v3, configuration enforced, results encrypted with ``key`` under
      ``s3://<artifacts_bucket>/athena/features/``, scans capped at ``bytes_scanned_cutoff`` (unset: 1 TB).

    ``removal_policy`` applies to the table (the Glue catalog and workgroup hold no data and follow the stack).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        groups: Sequence[FeatureGroup],
        key: kms.IKey,
        data_bucket: s3.IBucket,
        artifacts_bucket: s3.IBucket,
        database_name: str,
        workgroup_name: str,
        removal_policy: RemovalPolicy,
        bytes_scanned_cutoff: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if not groups:
            raise ValueError("FeatureStore: at least one feature group is needed")
        self.groups = tuple(groups)
        self.key = key
        self.data_bucket = data_bucket
        self.artifacts_bucket = artifacts_bucket
        self.database_name = database_name
        self.workgroup_name = workgroup_name
        self.table = record_table(self, "OnlineTable", key=key, removal_policy=removal_policy, ttl_attribute="ttl")
        account = Stack.of(self).account
        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=database_name, description="MLOps kit offline feature store (Parquet in S3)"
            ),
        )
        self.glue_tables: dict[str, glue.CfnTable] = {}
        for group in self.groups:
            location = f"s3://{data_bucket.bucket_name}/{OFFLINE_PREFIX}/{group.name}/"
            table = glue.CfnTable(
                self,
                f"Table{''.join(p.title() for p in group.name.split('_'))}",
                catalog_id=account,
                database_name=database_name,
                table_input=glue.CfnTable.TableInputProperty(
                    name=group.name,
                    description=(group.description or f"feature group {group.name}")[:2048],
                    table_type="EXTERNAL_TABLE",
                    parameters={
                        "classification": "parquet",
                        "mlops:feature_group_version": group.version,
                        "projection.enabled": "true",
                        "projection.date.type": "date",
                        "projection.date.format": "yyyy-MM-dd",
                        "projection.date.range": "1970-01-01,NOW",
                        "projection.date.interval": "1",
                        "projection.date.interval.unit": "DAYS",
                        "storage.location.template": location + "date=${date}",
                    },
                    partition_keys=[glue.CfnTable.ColumnProperty(name="date", type="string")],
                    storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                        columns=glue_columns(group),
                        location=location,
                        input_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                        output_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                        serde_info=glue.CfnTable.SerdeInfoProperty(
                            serialization_library="org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
                        ),
                    ),
                ),
            )
            table.add_dependency(self.database)
            self.glue_tables[group.name] = table
        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=workgroup_name,
            description="MLOps kit: point-in-time training sets from the offline feature store",
            state="ENABLED",
            recursive_delete_option=True,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=bytes_scanned_cutoff or 1024**4,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="Athena engine version 3"
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{artifacts_bucket.bucket_name}/{ATHENA_RESULTS_PREFIX}results/",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=key.key_arn
                    ),
                ),
            ),
        )

    # -- ARNs -----------------------------------------------------------------------------------------
    def _glue_arns(self, tables: str = "*") -> list[str]:
        stack = Stack.of(self)
        return [
            stack.format_arn(service="glue", resource="catalog"),
            stack.format_arn(service="glue", resource="database", resource_name=self.database_name),
            stack.format_arn(service="glue", resource="table", resource_name=f"{self.database_name}/{tables}"),
        ]

    @property
    def workgroup_arn(self) -> str:
        return Stack.of(self).format_arn(service="athena", resource="workgroup", resource_name=self.workgroup_name)

    # -- grants ---------------------------------------------------------------------------------------
    def grant_read_online(self, grantee: iam.IGrantable) -> None:
        """GetItem and BatchGetItem on the online table (and decrypting with the key)."""
        self.table.grant(grantee, "dynamodb:BatchGetItem", "dynamodb:GetItem")
        self.key.grant_decrypt(grantee)

    def share_online_reads_with(self, readers: list[tuple[str, str]]) -> None:
        """Let each ``(account, role ARN)`` of ``readers`` (an environment's model role, in another account) read
        the online table with ``BatchGetItem``, the one call the inference script's online lookup makes
        (:meth:`mlops_kit.features.online.DynamoDBTable.batch_get`), through the table's resource-based policy. A
        cross-account read needs the role's own policy to allow it too (DynamoDB developer guide, "Cross-account
        access with resource-based policies"), and the table key's policy to let it decrypt through DynamoDB
        (:meth:`cdk.constructs.storage.PlatformStorage.share_tables_with`). The principal is the role's account with
        the role in an ``aws:PrincipalArn`` condition: the role is deployed in its own account, maybe after this
        table. The statement's resource is ``*``, the table itself (a policy cannot name the table it is part of
        without a circular reference; ``*`` means the table it is attached to). None: no statement."""
        if not readers:
            return
        principals, conditions = admit_roles(readers)
        self.table.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EnvironmentsReadFeatures",
                principals=principals,
                actions=["dynamodb:BatchGetItem"],
                resources=["*"],
                conditions=conditions,
            )
        )

    def grant_write_online(self, grantee: iam.IGrantable) -> None:
        """Conditional PutItem on the online table (nothing else: no update, delete or scan)."""
        self.table.grant(grantee, "dynamodb:PutItem")
        self.key.grant(grantee, "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*")

    def grant_write_offline(self, grantee: iam.IGrantable) -> None:
        """Create objects under ``features/`` in the data bucket (append-only: no delete) and list them."""
        self.data_bucket.grant_put(grantee, f"{OFFLINE_PREFIX}/*")
        self.key.grant_encrypt(grantee)

    def grant_read_offline(self, grantee: iam.IGrantable) -> None:
        """Everything a training-set build needs: read the offline files and the Glue catalog, run Athena
        queries in the workgroup, stage labels and results under ``athena/features/`` in the artifacts
        bucket, and create or drop the temporary ``labels_*`` tables the SQL engine uses."""
        self.data_bucket.grant_read(grantee, f"{OFFLINE_PREFIX}/*")
        self.artifacts_bucket.grant_read_write(grantee, f"{ATHENA_RESULTS_PREFIX}*")
        self.key.grant_encrypt_decrypt(grantee)
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:GetPartition", "glue:GetPartitions"],
            resource_arns=self._glue_arns(),
        )
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["glue:CreateTable", "glue:DeleteTable"],
            resource_arns=self._glue_arns("labels_*"),
        )
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=[
                "athena:StartQueryExecution",
                "athena:GetQueryExecution",
                "athena:GetQueryResults",
                "athena:StopQueryExecution",
                "athena:GetWorkGroup",
            ],
            resource_arns=[self.workgroup_arn],
        )

    def acknowledge_grants(self, construct: Construct, *, read_offline: bool = False) -> None:
        """Acknowledge the cdk-nag IAM5 findings the ``grant_*`` methods cause on ``construct`` (a role or its
        policy): each wildcard is a prefix or an action family scoped to one resource of this store."""
        reasons = {
            "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]": (
                "KMS GenerateDataKey* variants on the single platform key, needed to write encrypted items/objects."
            ),
            "AwsSolutions-IAM5[Action::kms:ReEncrypt*]": (
                "KMS ReEncrypt* on the single platform key, part of CDK's encrypt grant for S3 objects."
            ),
            "AwsSolutions-IAM5[Action::s3:Abort*]": "Aborting own multipart uploads under the features/ prefix only.",
            f"AwsSolutions-IAM5[Resource::<{_logical_id(self.data_bucket)}.Arn>/{OFFLINE_PREFIX}/*]": (
                "Offline feature files are one object per ingestion batch under the features/ prefix."
            ),
        }
        if read_offline:
            artifacts = _logical_id(self.artifacts_bucket)
            reasons.update(
                {
                    "AwsSolutions-IAM5[Action::s3:GetObject*]": "Reading offline feature files under features/ only.",
                    "AwsSolutions-IAM5[Action::s3:GetBucket*]": "Bucket metadata of the two platform buckets only.",
                    "AwsSolutions-IAM5[Action::s3:List*]": "Listing the offline store and Athena staging prefixes.",
                    "AwsSolutions-IAM5[Action::s3:DeleteObject*]": (
                        "Athena result and label staging objects under athena/features/ only."
                    ),
                    f"AwsSolutions-IAM5[Resource::<{artifacts}.Arn>/{ATHENA_RESULTS_PREFIX}*]": (
                        "Athena writes one result object per query and label upload under athena/features/."
                    ),
                    f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:glue:<AWS::Region>:<AWS::AccountId>:table/"
                    f"{self.database_name}/*]": "Reading the feature store's own Glue tables (one per feature group).",
                    f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:glue:<AWS::Region>:<AWS::AccountId>:table/"
                    f"{self.database_name}/labels_*]": (
                        "The SQL engine creates and drops a temporary labels_<id> table per training-set build."
                    ),
                }
            )
        for rule, reason in reasons.items():
            acknowledge(construct, rule, reason)


def _logical_id(bucket: s3.IBucket) -> str:
    """The logical ID of a bucket in its stack, as cdk-nag names it in findings (``<LogicalId.Arn>``)."""
    stack = Stack.of(bucket)
    return str(stack.resolve(stack.get_logical_id(bucket.node.default_child)))


class FeatureIngestion(Construct):
    """Streaming ingestion: an SQS queue and an EventBridge rule feeding ``lambdas/feature_ingest``.

    Send ``{"group": "<name>", "records": [...]}`` as an SQS message body, or as the detail of an event with
    source ``mlops.features`` and detail-type ``Feature Records`` on the default bus. The function writes
    both stores (offline first) and reports SQS partial batch failures, so one bad message is retried (and,
    after ``max_receive_count`` tries, parked in the dead-letter queue) without redelivering its batch.
    ``registry`` is where the function imports ``store``'s groups from (``module:attribute``, see
    :func:`mlops_kit.pipeline.usecase.feature_groups_of`); it refuses to write a group whose version differs
    from the one ``store`` deployed.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        store: FeatureStore,
        registry: str,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
        max_receive_count: int = 5,
    ) -> None:
        super().__init__(scope, construct_id)
        requirements = LAMBDAS / "feature_ingest" / "requirements.txt"
        # pyarrow's aarch64 wheels are manylinux_2_28; Flight, Substrait, headers and tests are dropped to stay
        # well inside Lambda's 250 MB.
        self.arrow_layer = PackageLayer(
            self,
            "ArrowLayer",
            requirements=requirements,
            description="pyarrow for Parquet writes (lambdas/feature_ingest/requirements.txt)",
            prune=tuple(
                f"pyarrow/{pattern}"
                for pattern in (
                    "include",
                    "tests",
                    "libarrow_flight*",
                    "libarrow_substrait*",
                    "_flight*",
                    "_substrait*",
                    "*.pyx",
                    "*.pxd",
                )
            ),
        ).layer
        self.function = PythonFunction(
            self,
            "Function",
            name="feature_ingest",
            description="Writes feature records from SQS or EventBridge to the online and offline stores",
            log_retention=log_retention,
            removal_policy=removal_policy,
            timeout=Duration.seconds(60),
            memory_size=1024,
            service="feature-store",
            settings=IngestSettings(
                table_name=store.table.table_name,
                offline_bucket=store.data_bucket.bucket_name,
                offline_prefix=OFFLINE_PREFIX,
                registry=registry,
                group_versions={g.name: g.version for g in store.groups},
            ),
        )
        self.function.function.add_layers(self.arrow_layer)
        store.grant_write_online(self.function.role)
        store.grant_write_offline(self.function.role)
        store.acknowledge_grants(self.function.role)
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=store.key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            removal_policy=removal_policy,  # parked records are data: kept with the tables unless told otherwise
        )
        acknowledge(self.dead_letters, "AwsSolutions-SQS3", "This is the dead-letter queue of the ingestion queue.")
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=store.key,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(6 * 60),  # six times the function timeout, as AWS advises
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letters, max_receive_count=max_receive_count),
            removal_policy=removal_policy,
        )
        self.function.function.add_event_source(
            event_sources.SqsEventSource(self.queue, batch_size=10, report_batch_item_failures=True)
        )
        # Events (not SQS messages, which have the queue's own DLQ) that cannot be delivered or processed.
        self.event_dead_letters = DeadLetters(
            self, "EventDeadLetters", function=self.function.function, key=store.key, removal_policy=removal_policy
        )
        self.rule = events.Rule(
            self,
            "Rule",
            description="Feature records published to the default bus",
            event_pattern=events.EventPattern(source=[INGEST_SOURCE], detail_type=[INGEST_DETAIL_TYPE]),
            targets=[self.event_dead_letters.rule_target()],
        )

    def grant_send(self, grantee: iam.IGrantable) -> None:
        """Send messages to the ingestion queue."""
        self.queue.grant_send_messages(grantee)
