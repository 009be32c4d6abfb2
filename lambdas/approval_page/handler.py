"""The approval page behind API Gateway (REST API, Lambda proxy integration): ``GET /approvals?token=...`` shows a
waiting promotion's evidence, ``POST /approvals/decision`` approves or rejects it with the signed one-time link
(:mod:`mlops_kit.promotion.approval_page` says how links are trusted). Neither the token nor the comment is
logged; the function's tracer does not record responses (its environment turns that off)."""

from __future__ import annotations

import base64
import time
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops_kit.environment import read_settings
from mlops_kit.observability import Observability
from mlops_kit.promotion.approval_page import (
    ApprovalPage,
    ApprovalPageSettings,
    LinkLedger,
    LinkSigner,
    cli_decision,
)
from mlops_kit.promotion.store import PromotionStore
from mlops_kit.registry import ModelRegistry

observability = Observability.of_function()
logger = observability.logger


@cache
def settings() -> ApprovalPageSettings:
    """Read once per container; a bad deployment fails the first call, naming the field."""
    return read_settings(ApprovalPageSettings)


def page() -> ApprovalPage:
    dynamodb = boto3.client("dynamodb")
    store = PromotionStore(dynamodb, settings().table_name)
    return ApprovalPage(
        signer=LinkSigner(boto3.client("kms"), settings().key_arn),
        store=store,
        ledger=LinkLedger(dynamodb, settings().table_name),
        decide=cli_decision(
            store,
            boto3.client("stepfunctions"),
            ModelRegistry(boto3.client("sagemaker"), settings().model_package_group),
        ),
        clock=time.time,
        policy=settings().policy(),
        environment_policies=settings().environment_policies(),
        identities=settings().identities,
    )


def _body(event: dict[str, Any]) -> str:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body).decode("utf-8", errors="replace")
    return str(body)


@observability.handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    method = str(event.get("httpMethod") or "GET").upper()
    path = str(event.get("path") or "/")
    query = {str(k): str(v) for k, v in (event.get("queryStringParameters") or {}).items()}
    response = page().handle(method, path, query, _body(event))
    logger.info("approval page", extra={"method": method, "path": path, "status": response.status})
    return {
        "statusCode": response.status,
        "headers": dict(response.headers),
        "body": "" if method == "HEAD" else response.body,
        "isBase64Encoded": False,
    }
