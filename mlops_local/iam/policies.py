"""IAM policy documents and their evaluation, as AWS's policy evaluation logic describes it.

Pages this follows (IAM User Guide): "Policy evaluation logic" and "Determining whether a request is allowed or
denied within an account", "IAM JSON policy elements" (Action/NotAction, Resource/NotResource, Principal,
Condition), "IAM JSON policy elements: Condition operators" and "Single-valued vs. multivalued context keys".

* An explicit ``Deny`` in any applicable policy wins over every ``Allow``.
* Within one account a request is allowed when an identity-based policy of the caller allows it, or a
  resource-based policy names the caller (its role or role session, a service principal, or ``*``) and allows
  it; a resource policy that names the *account* (``arn:aws:iam::ACCOUNT:root``) only delegates to the
  identity-based policies. A KMS key policy is different: the key policy must allow, either naming the caller or
  delegating to the account, in which case the identity-based policy must allow too. A permissions boundary,
  when the role has one, must also allow.
* Across accounts (the resource's account, ``aws:ResourceAccount``, is not the caller's) both must allow: an
  identity-based policy of the caller, and the resource's policy naming the caller or its account ("Cross-account
  policy evaluation logic"). A resource without a resource-based policy cannot be reached from another account.
* Actions match case-insensitively with ``*`` and ``?``; ARNs match case-sensitively per ARN segment, with
  wildcards in the resource segment spanning ``/`` and ``:`` (``log-group:NAME:*`` covers its log streams).

Condition keys. The emulator computes a fixed set of keys for each request (the global keys it models and the
service keys the request builder fills in, see :class:`RequestContext`). A key it computes but the request does
not carry is *absent* and evaluated as AWS evaluates absent keys (a plain operator is false, a negated one true,
``...IfExists`` true, ``ForAllValues`` true, ``ForAnyValue`` false, ``Null`` by its value). A key it does not
compute, an operator it does not implement, or a policy variable (``${aws:username}``) in a statement that
otherwise matches the request raises :class:`UnsupportedPolicyError` naming it, so a policy is never silently
taken to allow (or not to deny) what the emulator could not evaluate.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any


class UnsupportedPolicyError(Exception):
    """A policy uses a condition key, operator or variable the emulator cannot evaluate (the message names it,
    the policy, and where to add support)."""


@dataclass(frozen=True)
class Principal:
    """Who makes a request: a role session (``kind="role"``) or an AWS service (``kind="service"``)."""

    kind: str
    arn: str  # the role's ARN, or the service principal ("events.amazonaws.com")
    account: str
    session_name: str = ""

    @property
    def session_arn(self) -> str:
        """``arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION``: what AWS names the caller in its messages."""
        if self.kind != "role":
            return self.arn
        partition = self.arn.split(":")[1]
        name = self.arn.rsplit("/", 1)[-1]
        return f"arn:{partition}:sts::{self.account}:assumed-role/{name}/{self.session_name or name}"


@dataclass
class RequestContext:
    """What one authorization is evaluated against.

    ``keys`` holds the condition keys present in the request (lower-case names, values as strings), ``known``
    every key the emulator computes for it (present or absent). A policy that reads a key outside both raises
    UnsupportedPolicyError.
    """

    action: str
    resource: str
    principal: Principal
    keys: dict[str, list[str]] = field(default_factory=dict)
    known: frozenset[str] = frozenset()

    def values(self, key: str) -> list[str] | None:
        name = key.lower()
        if name in self.keys:
            return self.keys[name]
        if name in self.known:
            return None
        raise UnsupportedPolicyError(
            f"condition key {key!r} cannot be evaluated by the emulator for {self.action}; compute it in "
            "mlops_local/iam/authorizations.py (or drop the condition) so the policy is evaluated as AWS evaluates it"
        )


@dataclass(frozen=True)
class PolicyDocument:
    """One policy: its statements and where it comes from (for error messages)."""

    source: str
    statements: tuple[Mapping[str, Any], ...]

    @classmethod
    def parse(cls, document: str | Mapping[str, Any], source: str) -> PolicyDocument:
        data = json.loads(document) if isinstance(document, str) else document
        statements = data.get("Statement", [])
        if isinstance(statements, Mapping):
            statements = [statements]
        return cls(source=source, statements=tuple(statements))


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # how AWS words the outcome: "because no identity-based policy allows the s3:GetObject action"

    def message(self, context: RequestContext) -> str:
        """AWS's AccessDenied message for this decision."""
        where = "" if context.resource == "*" else f" on resource: {context.resource}"
        who = context.principal.session_arn
        return f"User: {who} is not authorized to perform: {context.action}{where} {self.reason}"


# -- matching ---------------------------------------------------------------------------------------------


@cache
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{regex}$", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def glob_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """``*`` matches any run of characters, ``?`` any one; nothing else is special."""
    return bool(_glob(pattern, ignore_case).match(value))


def arn_like(pattern: str, arn: str) -> bool:
    """IAM's ARN matching: per segment (partition, service, region, account), the resource segment as a whole."""
    if pattern == "*":
        return True
    if "${" in pattern:
        raise UnsupportedPolicyError(f"policy variable in {pattern!r}: the emulator does not substitute them")
    wanted, actual = pattern.split(":", 5), arn.split(":", 5)
    if len(wanted) != 6 or len(actual) != 6:
        return glob_match(pattern, arn)
    return all(glob_match(w, a) for w, a in zip(wanted, actual, strict=True))


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _action_matches(statement: Mapping[str, Any], action: str) -> bool:
    if "Action" in statement:
        return any(glob_match(str(p), action, ignore_case=True) for p in _as_list(statement["Action"]))
    if "NotAction" in statement:
        return not any(glob_match(str(p), action, ignore_case=True) for p in _as_list(statement["NotAction"]))
    return False


def _resource_matches(statement: Mapping[str, Any], resource: str) -> bool:
    if "Resource" in statement:
        return any(arn_like(str(p), resource) for p in _as_list(statement["Resource"]))
    if "NotResource" in statement:
        return not any(arn_like(str(p), resource) for p in _as_list(statement["NotResource"]))
    return True  # resource policies (a Lambda function policy names its function) may leave it out


EXACT, ACCOUNT = "exact", "account"


def principal_match(spec: Any, principal: Principal) -> str | None:
    """How a resource policy's ``Principal`` names the caller: EXACT (the role, its session, the service, or
    ``*``), ACCOUNT (the caller's account, which delegates to identity-based policies), or None."""
    if spec == "*":
        return EXACT
    if isinstance(spec, str):  # Lambda's AddPermission keeps a bare principal: an account, role or service
        spec = {"Service" if spec.endswith(".amazonaws.com") else "AWS": spec}
    if not isinstance(spec, Mapping):
        return None
    best: str | None = None
    for kind, values in spec.items():
        for item in _as_list(values):
            value = str(item)
            if kind == "AWS":
                if value == "*":
                    return EXACT
                if principal.kind == "role" and value in (principal.arn, principal.session_arn):
                    return EXACT
                if principal.kind == "role" and value in (principal.account, f"arn:aws:iam::{principal.account}:root"):
                    best = ACCOUNT
            elif kind == "Service" and principal.kind == "service" and value == principal.arn:
                return EXACT
    return best


# -- conditions ---------------------------------------------------------------------------------------------


def _numeric(compare: Callable[[float, float], bool]) -> Callable[[str, str], bool]:
    def test(actual: str, expected: str) -> bool:
        try:
            return compare(float(actual), float(expected))
        except ValueError:
            return False

    return test


def _ip(actual: str, expected: str) -> bool:
    try:
        return ipaddress.ip_address(actual) in ipaddress.ip_network(expected, strict=False)
    except ValueError:
        return False


# operator -> (test(actual, expected), negated)
_OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "StringEquals": (lambda a, e: a == e, False),
    "StringNotEquals": (lambda a, e: a == e, True),
    "StringEqualsIgnoreCase": (lambda a, e: a.lower() == e.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda a, e: a.lower() == e.lower(), True),
    "StringLike": (lambda a, e: glob_match(e, a), False),
    "StringNotLike": (lambda a, e: glob_match(e, a), True),
    "ArnEquals": (lambda a, e: arn_like(e, a), False),
    "ArnLike": (lambda a, e: arn_like(e, a), False),
    "ArnNotEquals": (lambda a, e: arn_like(e, a), True),
    "ArnNotLike": (lambda a, e: arn_like(e, a), True),
    "Bool": (lambda a, e: a.lower() == e.lower(), False),
    "NumericEquals": (_numeric(lambda a, e: a == e), False),
    "NumericNotEquals": (_numeric(lambda a, e: a == e), True),
    "NumericLessThan": (_numeric(lambda a, e: a < e), False),
    "NumericLessThanEquals": (_numeric(lambda a, e: a <= e), False),
    "NumericGreaterThan": (_numeric(lambda a, e: a > e), False),
    "NumericGreaterThanEquals": (_numeric(lambda a, e: a >= e), False),
    "IpAddress": (_ip, False),
    "NotIpAddress": (_ip, True),
}


def _parse_operator(operator: str) -> tuple[str, str, bool]:
    """``ForAnyValue:StringLikeIfExists`` -> (``StringLike``, ``ForAnyValue:``, True): the base operator, the set
    qualifier ("" for none) and whether it carries ``IfExists``."""
    name, set_mode = operator, ""
    for prefix in ("ForAllValues:", "ForAnyValue:"):
        if name.startswith(prefix):
            set_mode, name = prefix, name[len(prefix) :]
    if_exists = name.endswith("IfExists") and name != "IfExists"
    if if_exists:
        name = name[: -len("IfExists")]
    return name, set_mode, if_exists


def _condition_test(operator: str, key: str, expected: Any, context: RequestContext) -> bool:
    name, set_mode, if_exists = _parse_operator(operator)
    wanted = [_text(v) for v in _as_list(expected)]
    values = context.values(key)
    if values is not None and not values:
        values = None if not set_mode else values
    if name == "Null":
        return (values is None) == (bool(wanted) and wanted[0].lower() == "true")
    if name not in _OPERATORS:
        raise UnsupportedPolicyError(
            f"condition operator {operator!r} is not implemented by the emulator (mlops_local/iam/policies.py)"
        )
    test, negated = _OPERATORS[name]
    if values is None:
        if set_mode == "ForAllValues:":
            return True
        if set_mode == "ForAnyValue:":
            return False
        return if_exists or negated

    def one(value: str) -> bool:
        matched = any(test(value, e) for e in wanted)
        return not matched if negated else matched

    if set_mode == "ForAllValues:":
        return all(one(v) for v in values)
    if set_mode == "ForAnyValue:" or not negated:
        return any(one(v) for v in values)
    return all(one(v) for v in values)


def _conditions_hold(statement: Mapping[str, Any], context: RequestContext) -> bool:
    for operator, block in (statement.get("Condition") or {}).items():
        for key, expected in block.items():
            if not _condition_test(operator, key, expected, context):
                return False
    return True


def statement_applies(statement: Mapping[str, Any], context: RequestContext) -> bool:
    """Action, resource and every condition of ``statement`` match the request (the principal is not looked at)."""
    return (
        _action_matches(statement, context.action)
        and _resource_matches(statement, context.resource)
        and _conditions_hold(statement, context)
    )


def _applicable(
    documents: Iterable[PolicyDocument], context: RequestContext, *, resource_policy: bool
) -> list[tuple[str, str | None]]:
    """(effect, principal match) of every statement that applies to the request."""
    found = []
    for document in documents:
        for statement in document.statements:
            match: str | None = EXACT
            if resource_policy:
                if "NotPrincipal" in statement:
                    match = None if principal_match(statement["NotPrincipal"], context.principal) else EXACT
                else:
                    match = principal_match(statement.get("Principal"), context.principal)
                if match is None:
                    continue
            try:
                applies = statement_applies(statement, context)
            except UnsupportedPolicyError as exc:
                raise UnsupportedPolicyError(f"{document.source}: {exc}") from exc
            if applies:
                found.append((str(statement.get("Effect", "")), match))
    return found


def _cross_account(context: RequestContext) -> bool:
    """Whether a role calls a resource of another account (the emulator computes aws:ResourceAccount for every
    request on a resource; without it, the resource is taken to be the caller's)."""
    if context.principal.kind != "role":
        return False
    owner = context.keys.get("aws:resourceaccount")
    return bool(owner) and owner != [context.principal.account]


def _cross_account_decision(action: str, identity_allows: bool, bounded: bool, resource_allows: bool) -> Decision:
    if not identity_allows:
        reason = "permissions boundary" if bounded else "identity-based policy"
        return Decision(False, f"because no {reason} allows the {action} action")
    if not resource_allows:
        return Decision(False, f"because no resource-based policy allows the {action} action")
    return Decision(True, "")


def evaluate(
    context: RequestContext,
    *,
    identity: Iterable[PolicyDocument] = (),
    resource: Iterable[PolicyDocument] | None = None,
    boundary: Iterable[PolicyDocument] | None = None,
    resource_must_allow: bool = False,
) -> Decision:
    """Decide one request, within one account or across two (see the module's rules).

    ``resource`` is the resource-based policy of the resource, when it has one (None: the resource type has no
    resource policies). ``resource_must_allow`` is True for KMS keys, whose key policy must allow the request.
    Raises UnsupportedPolicyError when an applicable statement cannot be evaluated.
    """
    action = context.action
    identity_statements = _applicable(identity, context, resource_policy=False)
    resource_statements = _applicable(resource or (), context, resource_policy=True)
    boundary_statements = _applicable(boundary or (), context, resource_policy=False) if boundary is not None else []
    denied_by = (
        ("an identity-based policy", identity_statements),
        ("a resource-based policy", resource_statements),
        ("a permissions boundary", boundary_statements),
    )
    for source, statements in denied_by:  # an explicit deny anywhere decides
        if any(effect == "Deny" for effect, _ in statements):
            return Decision(False, f"with an explicit deny in {source}")
    identity_allows = any(effect == "Allow" for effect, _ in identity_statements)
    bounded = boundary is not None and identity_allows
    if bounded and not any(effect == "Allow" for effect, _ in boundary_statements):
        identity_allows = False  # a boundary caps what identity-based policies grant
    resource_allows = any(effect == "Allow" and match == EXACT for effect, match in resource_statements)
    delegated = any(effect == "Allow" and match == ACCOUNT for effect, match in resource_statements)
    if _cross_account(context):
        return _cross_account_decision(action, identity_allows, bounded, resource_allows or delegated)
    if resource_must_allow:
        if resource_allows or (delegated and identity_allows):
            return Decision(True, "")
        return Decision(False, f"because no resource-based policy allows the {action} action")
    if identity_allows or resource_allows:
        return Decision(True, "")
    if bounded:
        return Decision(False, f"because no permissions boundary allows the {action} action")
    if context.principal.kind == "service":
        return Decision(False, f"because no resource-based policy allows the {action} action")
    return Decision(False, f"because no identity-based policy allows the {action} action")
