"""The access-log line of the kit's REST APIs: API Gateway's standard JSON fields."""

from __future__ import annotations

from aws_cdk import aws_apigateway as apigateway


def access_log_format(*, caller: bool) -> apigateway.AccessLogFormat:
    """API Gateway's standard JSON access-log fields; ``caller`` adds the IAM caller and user (for IAM-authorized
    APIs). The standard fields carry the resource path, never the query string."""
    return apigateway.AccessLogFormat.json_with_standard_fields(
        caller=caller,
        http_method=True,
        ip=True,
        protocol=True,
        request_time=True,
        resource_path=True,
        response_length=True,
        status=True,
        user=caller,
    )
