"""The browser approval page: an asymmetric KMS key that signs one-time links, the page function that verifies
them, and the REST API in front of it (see :mod:`mlops_kit.promotion.approval_page` for the protocol)."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from cdk.config import APPROVER_ROLE_SESSION
from cdk.constructs.api_logs import access_log_format
from cdk.constructs.model_registry import ModelRegistry
from cdk.constructs.python_function import PythonFunction
from cdk.nag import acknowledge, acknowledge_grant_actions
from mlops_kit.promotion.approval_page import (
    ADDRESSEE_ATTRIBUTE,
    SIGNING_ALGORITHM,
    ApprovalPageSettings,
    LinkIssuerSettings,
)

# kms:Sign and kms:Verify accept these condition keys (Service Authorization Reference, AWS KMS): the grants allow
# exactly the algorithm and message type the links use.
STAGE = "v1"
_SIGNING_CONDITIONS = {"StringEquals": {"kms:SigningAlgorithm": SIGNING_ALGORITHM, "kms:MessageType": "RAW"}}


class ApprovalPage(Construct):
    """``GET /approvals?token=...`` (evidence) and ``POST /approvals/decision`` (the answer) on a REST API.

    * ``key``: ``ECC_NIST_P256`` / ``SIGN_VERIFY``. Only ``signers`` (:meth:`grant_sign`, the promotion steps
      function that writes the notification) may sign; the page function may only verify.
    * ``function``: reads approval records and claims links in ``state_table`` (its ``approval#`` and
      ``approval-link#`` items only), and resumes the waiting execution (``states:SendTaskSuccess``).
    * ``registry``: the model group whose versions the page answers (stage status Approved/Rejected).
    * ``api``: no authorizer: the signed link is the credential, checked by the function on every request.
    * ``link_topic``: where each addressee's copy of the notification (with their link only) is published, under
      ``table_key``. Each addressee has one e-mail subscription whose filter policy accepts only messages whose
      ``addressee`` attribute is theirs (the platform's topic stays unfiltered: alarms publish without attributes,
      and SNS delivers no message without attributes through an attribute filter, ``exists: false`` included).

    ``addressees`` are who links are signed for (one each); ``identities`` the IAM identity each stands for
    (``approver-role/SESSION``: that session of ``approver_role``), judged with ``approvers`` (the approval
    service's, the approver role included) and ``allow_self_approval`` as an answer in the registry is.
    ``link_ttl`` is how long a link is valid (capped at the approval timeout when it is signed). ``table_key`` is
    the key that encrypts ``state_table``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_table: dynamodb.ITable,
        table_key: kms.IKey,
        registry: ModelRegistry,
        addressees: list[str],
        identities: dict[str, str],
        approver_role: iam.IRole,
        approvers: list[str],
        allow_self_approval: bool,
        link_ttl: Duration,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
        environment_approvers: Mapping[str, list[str]] | None = None,
    ) -> None:
        """``environment_approvers`` (with environments): who may answer a promotion to each environment, by name
        (the approver role's sessions too), as the approval service's; unset: ``approvers`` judge every answer."""
        super().__init__(scope, construct_id)
        if not addressees:
            raise ValueError("ApprovalPage needs at least one addressee: links are signed for each of them")
        missing = [a for a in addressees if a not in identities]
        if missing:
            raise ValueError(f"ApprovalPage needs the IAM identity each addressee stands for; missing: {missing}")
        self.addressees = list(addressees)
        self.link_ttl = link_ttl
        stack = Stack.of(self)
        resolved = {
            addressee: (
                f"arn:{stack.partition}:sts::{stack.account}:assumed-role/{approver_role.role_name}/"
                f"{identity.removeprefix(APPROVER_ROLE_SESSION)}"
                if identity.startswith(APPROVER_ROLE_SESSION)
                else identity
            )
            for addressee, identity in identities.items()
            if addressee in addressees
        }
        self.link_topic = sns.Topic(
            self,
            "LinkTopic",
            display_name="Approval page links",
            master_key=table_key,
            enforce_ssl=True,
        )
        for addressee in self.addressees:
            self.link_topic.add_subscription(
                subscriptions.EmailSubscription(
                    addressee,
                    filter_policy={ADDRESSEE_ATTRIBUTE: sns.SubscriptionFilter.string_filter(allowlist=[addressee])},
                )
            )
        self.key = kms.Key(
            self,
            "LinkSigningKey",
            description="Signs and verifies the approval page's one-time links (ECDSA P-256)",
            key_spec=kms.KeySpec.ECC_NIST_P256,
            key_usage=kms.KeyUsage.SIGN_VERIFY,
            removal_policy=removal_policy,
        )
        settings = ApprovalPageSettings(
            key_arn=self.key.key_arn,
            table_name=state_table.table_name,
            model_package_group=registry.group_name,
            identities=resolved,
            approvers=(*approvers, approver_role.role_arn),
            allow_self_approval=allow_self_approval,
            environment_approvers={
                name: (*names, approver_role.role_arn) for name, names in (environment_approvers or {}).items()
            },
        )
        self.page = PythonFunction(
            self,
            "Function",
            name="approval_page",
            description="The approval page: evidence on GET, a signed one-time decision on POST",
            log_retention=log_retention,
            removal_policy=removal_policy,
            settings=settings,
            # The response holds the link (the form's hidden field): it must not become trace metadata.
            environment={"POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false"},
            service="promotion",
        )
        self.function = self.page.function
        self._grant_function(state_table, table_key)
        # The decision is also answered in the registry (stage status), as mlops approve|reject answer it.
        registry.grant_lifecycle(self.function)
        self.api = self._api(log_retention, removal_policy)

    def _grant_function(self, table: dynamodb.ITable, table_key: kms.IKey) -> None:
        fn = self.function
        fn.add_to_role_policy(
            iam.PolicyStatement(actions=["kms:Verify"], resources=[self.key.key_arn], conditions=_SIGNING_CONDITIONS)
        )
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
                resources=[table.table_arn],
                conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["approval#*", "approval-link#*"]}},
            )
        )
        table_key.grant_encrypt_decrypt(fn)
        # SendTaskSuccess is authorized on the state machine that issued the token, which the caller cannot name
        # in advance (Service Authorization Reference: no resource type for it): "*" as AWS requires.
        fn.add_to_role_policy(iam.PolicyStatement(actions=["states:SendTaskSuccess"], resources=["*"]))
        acknowledge_grant_actions(self.page.role, ("kms:GenerateDataKey*", "kms:ReEncrypt*"))
        acknowledge(
            self.page.role,
            "AwsSolutions-IAM5[Resource::*]",
            "states:SendTaskSuccess has no resource-level permissions; X-Ray needs * as well.",
        )

    def _api(self, log_retention: logs.RetentionDays, removal_policy: RemovalPolicy) -> apigateway.RestApi:
        access_logs = logs.LogGroup(self, "AccessLogs", retention=log_retention, removal_policy=removal_policy)
        api = apigateway.RestApi(
            self,
            "Api",
            description="Approval page for promotions: one-time links signed with KMS",
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            cloud_watch_role=False,
            deploy_options=apigateway.StageOptions(
                stage_name=STAGE,
                # The standard fields carry the resource path, never the query string that holds a link.
                access_log_destination=apigateway.LogGroupLogDestination(access_logs),
                access_log_format=access_log_format(caller=False),
                tracing_enabled=True,
                metrics_enabled=True,
                throttling_rate_limit=5,
                throttling_burst_limit=10,
            ),
        )
        integration = apigateway.LambdaIntegration(self.function, allow_test_invoke=False)
        approvals = api.root.add_resource("approvals")
        approvals.add_method("GET", integration)
        approvals.add_resource("decision").add_method("POST", integration)
        for rule, reason in (
            ("AwsSolutions-APIG2", "The function validates every request (signature, expiry, single use, fields)."),
            (
                "AwsSolutions-APIG3",
                "A low-volume page behind one-time signed links, throttled at the stage; attach a WAF web ACL to "
                "the stage where the organisation requires one.",
            ),
            (
                "AwsSolutions-APIG4",
                "Reviewers open it from a notification without AWS credentials: the KMS-signed one-time link, "
                "bound to the approval, the addressee and an expiry, is the credential, verified on every request.",
            ),
            (
                "AwsSolutions-APIG6",
                "Execution logging needs the account-wide API Gateway CloudWatch role (AWS::ApiGateway::Account), "
                "a singleton this kit does not own; access logs (without query strings) and tracing are on.",
            ),
            ("AwsSolutions-COG4", "Reviewers authenticate with the signed link, not with Cognito user pools."),
        ):
            acknowledge(api, rule, reason)
        return api

    @property
    def url(self) -> str:
        """The stage URL; the page is ``<url>approvals?token=...``. Built from the API's id and the stage's
        name rather than ``RestApi.url``: that references the Stage resource, and the steps function that embeds
        the URL would then depend on the API's deployment (on the emulator's CloudFormation, which creates a
        referenced resource on demand and ignores its DependsOn, the deployment then came before its methods)."""
        stack = Stack.of(self)
        return f"https://{self.api.rest_api_id}.execute-api.{stack.region}.{stack.url_suffix}/{STAGE}/"

    def grant_sign(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` sign links (``kms:Sign`` on the key, this algorithm and message type only)."""
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=["kms:Sign"], resource_arns=[self.key.key_arn], conditions=_SIGNING_CONDITIONS
        )

    def link_issuer_environment(self, stack: Stack) -> dict[str, str]:
        """The variable that lets a function sign links (:class:`~mlops_kit.promotion.approval_page.LinkIssuer`)."""
        settings = LinkIssuerSettings(
            key_arn=self.key.key_arn,
            page_url=self.url,
            addressees=self.addressees,
            topic_arn=self.link_topic.topic_arn,
            link_ttl_seconds=int(self.link_ttl.to_seconds()),
        )
        return settings.environment(stack.to_json_string)

    def issue_links_from(self, issuer: PythonFunction) -> None:
        """Let ``issuer`` (the promotion steps function) sign links for the notification and send each to its
        addressee: its settings variable, ``kms:Sign`` and publishing to the links topic."""
        for name, value in self.link_issuer_environment(Stack.of(self)).items():
            issuer.add_environment(name, value)
        self.grant_sign(issuer.function)
        self.link_topic.grant_publish(issuer.function)
