"""ARNs of resources CDK has no construct for (SageMaker jobs, model packages, ECR repos, log groups)."""

from __future__ import annotations

from aws_cdk import Arn, ArnComponents, ArnFormat, Stack


def arn(
    stack: Stack, service: str, resource: str, name: str, *, account: str | None = None, colon: bool = False
) -> str:
    """``arn:<partition>:<service>:<region>:<account>:<resource>/<name>`` (``:<name>`` with ``colon``)."""
    return Arn.format(
        ArnComponents(
            service=service,
            resource=resource,
            resource_name=name,
            account=account,
            arn_format=ArnFormat.COLON_RESOURCE_NAME if colon else ArnFormat.SLASH_RESOURCE_NAME,
        ),
        stack,
    )


def as_nag_resource(
    stack: Stack, service: str, resource: str, name: str, *, account: str | None = None, colon: bool = False
) -> str:
    """How cdk-nag prints :func:`arn`'s result in an IAM5 finding (for exact acknowledgements)."""
    region = stack.region if not stack.region.startswith("${Token") else "<AWS::Region>"
    separator = ":" if colon else "/"
    return f"arn:<AWS::Partition>:{service}:{region}:{account or nag_account(stack)}:{resource}{separator}{name}"


def nag_account(stack: Stack) -> str:
    """How cdk-nag prints the stack's account in a finding: the account itself when the stack names one
    (``mlops.account``, every stack of a multi-account setup), else the pseudo parameter."""
    return stack.account if not stack.account.startswith("${Token") else "<AWS::AccountId>"
