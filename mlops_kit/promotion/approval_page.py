"""The approval page: a promotion's evidence in a browser, and its decision taken with one signed, one-time link.

How a link is made and trusted:

* **Signed.** When a promotion waits for approval, the steps function signs one link per addressee (the
  platform's ``notifications.approver_emails``) with the platform's asymmetric KMS key (``ECC_NIST_P256``,
  ``ECDSA_SHA_256``; ``kms:Sign``). The signed claims are the approval id, the addressee, the expiry and a random
  link id; nobody without ``kms:Sign`` on that key can make a link, and changing one character of it breaks the
  signature. The page function checks it with ``kms:Verify`` (it cannot sign).
* **Bound.** A link answers only the approval it names and is refused after its expiry (at most the approval's
  timeout). Each addressee is sent only their own link (:func:`publish_with_links`): the links go to the approval
  page's own topic, where each addressee's e-mail subscription has a filter policy on the ``addressee`` message
  attribute; the platform's topic (alarms, rollbacks; they publish without attributes, which such a filter would
  drop) carries the notification without links.
* **Answered as the identity it stands for.** The platform's config maps each addressee to the IAM identity they
  stand for; the page applies the same rules as an answer in the registry
  (:class:`~mlops_kit.promotion.approvals.ApprovalPolicy`): that identity must be an approver, and may not be the
  one that registered the version or requested its promotion unless self-approval is allowed. A refused addressee
  is told why and who may approve, and their link stays unused.
* **Single use.** The first decision claims the link id with a DynamoDB conditional write; any later use of the
  same link is refused, whatever it asks.
* **Opening never decides.** ``GET`` (what mail scanners and link previews do) only shows the evidence and a form;
  the decision is a ``POST`` whose body carries the link in a hidden field. No cookie or session exists, so a
  cross-site request cannot borrow one: a forged ``POST`` needs the signed link itself.

The decision goes through the same function ``mlops approve|reject`` use (:func:`cli_decision`, the one seam).
Nothing here imports boto3: the KMS and DynamoDB clients are passed in.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import html
import json
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qs, quote

from pydantic import Field

from mlops_kit.environment import HandlerSettings
from mlops_kit.promotion.approvals import ApprovalPolicy, Approver
from mlops_kit.promotion.store import Approval, ApprovalNotFound, PromotionStore

SIGNING_ALGORITHM = "ECDSA_SHA_256"
KEY_SPEC = "ECC_NIST_P256"
# KMS signs messages of at most 4096 bytes (Sign API reference); the claims stay far below with this cap.
MAX_ADDRESSEE = 254  # the longest e-mail address (RFC 5321 path limit)
MAX_COMMENT = 4000  # characters: a reviewer's reason, with room to spare; longer is refused with a clear page
PAGE_PATH = "/approvals"
DECISION_PATH = "/approvals/decision"
LINKS_VARIABLE = "MLOPS_APPROVAL_LINKS_SETTINGS"

# Every answer of the page: nothing cached, never framed, no referrer (a link's token must not leak through it),
# no script, forms only to this page.
SECURITY_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
}


class LinkRefused(PermissionError):  # noqa: N818  (a refusal, shown to the person who opened the link)
    """The link cannot be used: malformed, tampered with, expired, already used, or for a closed approval."""

    def __init__(self, title: str, detail: str, status: int = 403) -> None:
        super().__init__(f"{title}: {detail}")
        self.title, self.detail, self.status = title, detail, status


class LinkIssuerSettings(HandlerSettings):
    """What the steps function needs to sign links (its ``MLOPS_APPROVAL_LINKS_SETTINGS``)."""

    VARIABLE: ClassVar[str] = LINKS_VARIABLE

    key_arn: str = Field(min_length=1)
    page_url: str = Field(min_length=1)  # the API stage's URL; the page is at ``<page_url>/approvals``
    addressees: list[str] = Field(min_length=1)
    topic_arn: str = Field(min_length=1)  # the links topic: one e-mail subscription per addressee, filtered
    link_ttl_seconds: int = Field(gt=0)


class ApprovalPageSettings(HandlerSettings):
    """What the page function needs (its ``MLOPS_APPROVAL_PAGE_SETTINGS``)."""

    VARIABLE: ClassVar[str] = "MLOPS_APPROVAL_PAGE_SETTINGS"

    key_arn: str = Field(min_length=1)
    table_name: str = Field(min_length=1)
    model_package_group: str = Field(min_length=1)
    # addressee -> the IAM identity (user, role or role session ARN) they stand for
    identities: dict[str, str] = Field(min_length=1)
    # who may answer, as for an answer in the registry (mlops_kit.promotion.approvals.ApprovalPolicy)
    approvers: tuple[str, ...]
    allow_self_approval: bool
    # With environments: who may answer a promotion to each (``environments.<name>.approvers``, the approver role
    # included), as the approval service judges it; an environment without an entry takes ``approvers``.
    environment_approvers: dict[str, tuple[str, ...]] = Field(default_factory=dict)

    def policy(self) -> ApprovalPolicy:
        return ApprovalPolicy(self.approvers, self.allow_self_approval)

    def environment_policies(self) -> dict[str, ApprovalPolicy]:
        """Each environment's policy, by environment name."""
        return {
            name: ApprovalPolicy(approvers, self.allow_self_approval)
            for name, approvers in self.environment_approvers.items()
        }


# -- signed links -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LinkClaims:
    """What a link proves: ``addressee`` was sent the link ``link_id`` to answer ``approval_id`` until
    ``expires`` (seconds since the epoch)."""

    approval_id: str
    addressee: str
    expires: int
    link_id: str

    def message(self) -> bytes:
        """The exact bytes signed: compact JSON with sorted keys (one encoding, so verification is byte-exact)."""
        body = {"a": self.approval_id, "e": self.expires, "n": self.link_id, "t": self.addressee}
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()

    @classmethod
    def parse(cls, message: bytes) -> LinkClaims:
        """Claims from signed bytes; LinkRefused when they are not the shape :meth:`message` writes."""
        try:
            body = json.loads(message)
            claims = cls(
                approval_id=str(body["a"]), addressee=str(body["t"]), expires=int(body["e"]), link_id=str(body["n"])
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise _malformed() from exc
        if claims.message() != message:
            raise _malformed()
        return claims


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise _malformed() from exc


def _malformed() -> LinkRefused:
    return LinkRefused(
        "This link is not valid",
        "It is incomplete or was changed after it was sent. Open the link exactly as it arrived, or ask for the "
        "approval to be sent again.",
        400,
    )


class LinkSigner:
    """Signs and verifies links with an asymmetric KMS key (``kms`` is a boto3 KMS client or a fake)."""

    def __init__(self, kms: Any, key_id: str) -> None:
        self._kms = kms
        self.key_id = key_id

    def sign(self, claims: LinkClaims) -> str:
        """The link token: ``<claims>.<signature>``, both base64url."""
        if not 0 < len(claims.addressee) <= MAX_ADDRESSEE:
            raise ValueError(f"an addressee is 1-{MAX_ADDRESSEE} characters, got {len(claims.addressee)}")
        message = claims.message()
        signed = self._kms.sign(
            KeyId=self.key_id, Message=message, MessageType="RAW", SigningAlgorithm=SIGNING_ALGORITHM
        )
        return f"{_b64(message)}.{_b64(signed['Signature'])}"

    def verify(self, token: str, *, now: float) -> LinkClaims:
        """The claims of a genuine, unexpired token; LinkRefused otherwise (the page shows its title and detail)."""
        encoded_message, dot, encoded_signature = token.strip().partition(".")
        if not dot or not encoded_message or not encoded_signature or len(token) > 4096:
            raise _malformed()
        message, signature = _unb64(encoded_message), _unb64(encoded_signature)
        if not self._signature_valid(message, signature):
            raise _malformed()
        claims = LinkClaims.parse(message)
        if now >= claims.expires:
            raise LinkRefused(
                "This link has expired",
                f"It could be used until {_when(claims.expires)}. Answer with `mlops approve|reject "
                f"{claims.approval_id}`, or in the model registry, if the promotion still waits.",
                410,
            )
        return claims

    def _signature_valid(self, message: bytes, signature: bytes) -> bool:
        # KMS answers a signature that does not verify with KMSInvalidSignatureException (Verify API reference);
        # a malformed one with ValidationException. Either is a bad link, not a server error.
        try:
            verified = self._kms.verify(
                KeyId=self.key_id,
                Message=message,
                MessageType="RAW",
                Signature=signature,
                SigningAlgorithm=SIGNING_ALGORITHM,
            )
        except Exception as exc:
            code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
            if code in ("KMSInvalidSignatureException", "ValidationException"):
                return False
            raise
        return bool(verified.get("SignatureValid"))


def _when(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class SignedLink:
    addressee: str
    url: str
    expires: int
    topic_arn: str  # where the addressee's copy is published (the links topic)


class LinkIssuer:
    """Makes the notification's links: one per addressee, valid for ``link_ttl_seconds`` but never past
    ``not_after`` (the approval's own timeout)."""

    def __init__(self, signer: LinkSigner, settings: LinkIssuerSettings) -> None:
        self._signer = signer
        self.settings = settings

    @classmethod
    def from_environment(cls, environ: Mapping[str, str], kms_client: Callable[[], Any]) -> LinkIssuer | None:
        """The issuer the deployment configured (``MLOPS_APPROVAL_LINKS_SETTINGS``), or None when the approval
        page is not deployed. ``kms_client`` is called only when it is."""
        if not environ.get(LINKS_VARIABLE, "").strip():
            return None
        from mlops_kit.environment import read_settings

        settings = read_settings(LinkIssuerSettings, environ)
        return cls(LinkSigner(kms_client(), settings.key_arn), settings)

    def links(self, approval_id: str, *, now: float, not_after: float) -> list[SignedLink]:
        expires = int(min(now + self.settings.link_ttl_seconds, not_after))
        base = self.settings.page_url.rstrip("/") + PAGE_PATH
        links = []
        for addressee in self.settings.addressees:
            claims = LinkClaims(approval_id, addressee, expires, secrets.token_urlsafe(12))
            url = f"{base}?token={quote(self._signer.sign(claims))}"
            links.append(SignedLink(addressee, url, expires, self.settings.topic_arn))
        return links


def page_links(
    approval_id: str, *, now: float, not_after: float, environ: Mapping[str, str] | None = None, kms: Any = None
) -> list[SignedLink]:
    """The signed links for a new approval when the approval page is deployed (``[]`` otherwise). The steps
    function's environment says so; ``kms`` defaults to a boto3 client, made only then."""

    def client() -> Any:
        if kms is not None:
            return kms
        import boto3

        return boto3.client("kms")

    issuer = LinkIssuer.from_environment(os.environ if environ is None else environ, client)
    return issuer.links(approval_id, now=now, not_after=not_after) if issuer else []


ADDRESSEE_ATTRIBUTE = "addressee"


def publish_with_links(sns: Any, topic_arn: str, subject: str, message: str, links: list[SignedLink]) -> None:
    """Publish ``message`` to the platform's topic (``topic_arn``, every subscriber), then, per link, a copy
    with that addressee's link only to the links topic with the SNS message attribute ``addressee``: each
    addressee's subscription there accepts only messages whose ``addressee`` is theirs (a message without the
    attribute reaches nobody), so nobody receives another reviewer's link."""
    note = ["", "Approvers of the approval page are each sent their own one-time link, separately."] if links else []
    sns.publish(TopicArn=topic_arn, Subject=subject[:100], Message="\n".join([message, *note]))
    for link in links:
        text = "\n".join(
            [
                message,
                "",
                f"Approval page, for {link.addressee} only (single use, until {_when(link.expires)}):",
                f"  {link.url}",
                "Opening it shows the evidence; nothing is decided until you press Approve or Reject.",
            ]
        )
        sns.publish(
            TopicArn=link.topic_arn,
            Subject=subject[:100],
            Message=text,
            MessageAttributes={ADDRESSEE_ATTRIBUTE: {"DataType": "String", "StringValue": link.addressee}},
        )


# -- single use ---------------------------------------------------------------------------------------------
class LinkLedger:
    """Which links were used, in the promotion table (``pk = approval-link#<link id>``). A link is claimed with a
    conditional write before its decision is taken, so two uses of one link -- a double click, a replay -- cannot
    both pass; a claim whose decision failed for a reason worth retrying is given back (:meth:`release`)."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self._dynamodb = dynamodb
        self.table = table

    def _key(self, link_id: str) -> dict[str, Any]:
        return {"pk": {"S": f"approval-link#{link_id}"}, "sk": {"S": "link"}}

    def used(self, link_id: str) -> bool:
        item = self._dynamodb.get_item(TableName=self.table, Key=self._key(link_id), ConsistentRead=True)
        return "Item" in item

    def claim(self, claims: LinkClaims, *, decision: str, now: float) -> str:
        """Mark the link used (once); returns the claim's id. LinkRefused when it was used before."""
        claim_id = secrets.token_hex(8)
        try:
            self._dynamodb.put_item(
                TableName=self.table,
                Item={
                    **self._key(claims.link_id),
                    "approval_id": {"S": claims.approval_id},
                    "addressee": {"S": claims.addressee},
                    "decision": {"S": decision},
                    "claim_id": {"S": claim_id},
                    "used_at": {"S": dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="seconds")},
                    "expires_at": {"N": str(claims.expires + 86400)},  # the table's TTL may remove it after that
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            raise _used() from None
        return claim_id

    def release(self, claims: LinkClaims, claim_id: str) -> None:
        """Give a claim back (only the one made by this request)."""
        with contextlib.suppress(self._dynamodb.exceptions.ConditionalCheckFailedException):
            self._dynamodb.delete_item(
                TableName=self.table,
                Key=self._key(claims.link_id),
                ConditionExpression="claim_id = :me",
                ExpressionAttributeValues={":me": {"S": claim_id}},
            )


def _used() -> LinkRefused:
    return LinkRefused(
        "This link was already used",
        "Each approval link answers once. The decision it carried stands; `mlops promotions history` shows it.",
        409,
    )


# -- the decision seam --------------------------------------------------------------------------------------
# (approval_id, decision, approver, comment) -> None; raises ApprovalNotFound when the approval is unknown or
# answered, ApprovalExpired (mlops_kit.promotion.approvals) when the execution no longer waits.
Decide = Callable[[str, str, str, str], None]


def cli_decision(store: PromotionStore, sfn: Any, registry: Any) -> Decide:
    """The page's decision through the approval service (the one place that binds the page to it):

    1. claim the approval record with the decision and the addressee as the verified approver, so the registry
       change below finds nothing pending and the approval service ignores it;
    2. answer in the model registry (stage status Approved/Rejected), as ``mlops approve|reject`` do: the
       workflow's later registry moves start from that status;
    3. :func:`~mlops_kit.promotion.approvals.resume` (its claim is idempotent for the same answer), which sends
       the answer and gives the claim back if that fails. A failed registry answer gives the claim back too."""
    from mlops_kit.promotion.approvals import registry_of, resume

    def decide(approval_id: str, decision: str, approver: str, comment: str) -> None:
        approval = store.get_approval(approval_id)
        store.answer_approval(approval_id, decision=decision, approver=approver, comment=comment)
        try:
            registry_of(registry, approval).answer(
                approval.context["candidate"]["arn"], decision=decision, comment=f"{decision}d on the approval page"
            )
        except Exception:
            store.release_answer(
                approval_id, decision=decision, approver=approver, reason="the registry answer failed; answer again"
            )
            raise
        resume(store, sfn, approval, decision=decision, approver=approver, comment=comment)

    return decide


def approver_name(claims: LinkClaims, identity: str) -> str:
    """The approver recorded for a page decision: the identity the addressee the link was signed for stands
    for."""
    return f"{identity} (approval page link for {claims.addressee})"


# -- the page -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PageResponse:
    status: int
    body: str
    headers: Mapping[str, str]


@dataclass
class ApprovalPage:
    """``GET /approvals?token=...`` shows the evidence and the form; ``POST /approvals/decision`` decides."""

    signer: LinkSigner
    store: PromotionStore
    ledger: LinkLedger
    decide: Decide
    clock: Callable[[], float]
    policy: ApprovalPolicy
    identities: Mapping[str, str]  # addressee -> the IAM identity they stand for (the platform's config)
    # A promotion to an environment (its approval's context names it) is judged by that environment's policy
    # (``policy`` when it has none), as the approval service judges an answer in the registry.
    environment_policies: Mapping[str, ApprovalPolicy] = field(default_factory=dict)

    def policy_for(self, approval: Approval) -> ApprovalPolicy:
        """The policy an answer to ``approval`` is judged by: its environment's, else the platform's."""
        environment = approval.context.get("environment")
        return self.environment_policies.get(str(environment), self.policy) if environment else self.policy

    def handle(self, method: str, path: str, query: Mapping[str, str], body: str) -> PageResponse:
        """One HTTP request; every outcome is a page (4xx with a clear explanation for refused links)."""
        try:
            route = path.rstrip("/") or "/"
            if route == PAGE_PATH and method in ("GET", "HEAD"):
                return self.show(query.get("token", ""))
            if route == DECISION_PATH and method == "POST":
                return self.submit(form_fields(body))
            if route in (PAGE_PATH, DECISION_PATH):
                allowed = "GET" if route == PAGE_PATH else "POST"
                return _page(405, "Method not allowed", _p(f"Use {allowed} here."), {"Allow": allowed})
            return _page(404, "Not found", _p("Open the approval link exactly as it arrived."))
        except LinkRefused as refused:
            return _page(refused.status, refused.title, _p(refused.detail))

    def show(self, token: str) -> PageResponse:
        if not token:
            raise _malformed()
        claims = self.signer.verify(token, now=self.clock())
        if self.ledger.used(claims.link_id):
            raise _used()
        approval = self._pending(claims)
        identity = self._may_answer(claims, approval)
        return _page(
            200, f"Approve model version {_version(approval)}?", render_evidence(approval, claims, token, identity)
        )

    def submit(self, form: Mapping[str, str]) -> PageResponse:
        claims = self.signer.verify(form.get("token", ""), now=self.clock())
        decision = form.get("decision", "")
        comment = form.get("comment", "").replace("\r\n", "\n").strip()
        if decision not in ("approve", "reject"):
            raise LinkRefused("No decision", "Choose Approve or Reject on the page.", 400)
        if decision == "reject" and not comment:
            raise LinkRefused("A rejection needs a reason", "Go back, write why, and press Reject again.", 400)
        if len(comment) > MAX_COMMENT:
            raise LinkRefused(
                "The comment is too long",
                f"It has {len(comment)} characters; at most {MAX_COMMENT} are kept. Go back and shorten it.",
                400,
            )
        if self.ledger.used(claims.link_id):
            raise _used()
        identity = self._may_answer(claims, self._pending(claims))
        claim_id = self.ledger.claim(claims, decision=decision, now=self.clock())
        approver = approver_name(claims, identity)
        try:
            self.decide(claims.approval_id, decision, approver, comment)
        except ApprovalNotFound as exc:
            raise LinkRefused("This approval was already answered", str(exc), 409) from exc
        except Exception as exc:
            if type(exc).__name__ == "ApprovalExpired":
                raise LinkRefused("The promotion no longer waits", str(exc), 410) from exc
            self.ledger.release(claims, claim_id)  # a failure worth retrying must not burn the link
            raise
        verb = "Approved" if decision == "approve" else "Rejected"
        body = _p(f"{verb} as {approver}.") + (f"<p>Comment:</p><pre>{html.escape(comment)}</pre>" if comment else "")
        body += _p("The promotion continues; the deployment record names you. This link cannot be used again.")
        return _page(200, f"{verb}: approval {claims.approval_id}", body)

    def _may_answer(self, claims: LinkClaims, approval: Approval) -> str:
        """The identity the link's addressee stands for, when the approval policy lets it answer ``approval``
        (the same rules as an answer in the registry); LinkRefused saying why and who may otherwise. Checked
        before the link is claimed: a refused addressee's link stays unused."""
        policy = self.policy_for(approval)
        identity = self.identities.get(claims.addressee, "")
        if not identity:
            raise LinkRefused(
                "You may not answer this promotion",
                f"{claims.addressee} stands for no IAM identity in the platform's config (approval_page.identities), "
                f"so the approval policy cannot be applied. Approvers: {policy.who_may()}.",
            )
        refusal = policy.refusal(
            Approver(identity),
            registered_by=str(approval.context.get("registered_by") or ""),
            requested_by=str(approval.context.get("requested_by") or ""),
        )
        if refusal is not None:
            raise LinkRefused(
                "You may not answer this promotion",
                f"This link answers as {identity}, the identity the platform's config names for {claims.addressee}: "
                f"{refusal}.",
            )
        return identity

    def _pending(self, claims: LinkClaims) -> Approval:
        try:
            approval = self.store.get_approval(claims.approval_id)
        except ApprovalNotFound as exc:
            raise LinkRefused("No such approval", str(exc), 404) from exc
        if approval.status != "pending":
            raise LinkRefused(
                "This approval was already answered",
                f"Approval {approval.approval_id} is {approval.status}; a promotion is answered once.",
                409,
            )
        return approval


def form_fields(body: str) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body's fields (the first value of each; blank values kept)."""
    return {name: values[0] for name, values in parse_qs(body, keep_blank_values=True).items()}


def _version(approval: Approval) -> str:
    return str((approval.context.get("candidate") or {}).get("version", "?"))


def _p(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


def _cell(value: Any) -> str:
    """A value as the page shows it: floats to 4 significant digits, lists and objects as JSON, all escaped."""
    if isinstance(value, float):
        text = f"{value:.4g}"
    elif isinstance(value, dict | list):
        text = json.dumps(value)
    else:
        text = str(value)
    return html.escape(text)


def _metrics_rows(candidate: Mapping[str, Any], production: Mapping[str, Any] | None) -> str:
    ours = candidate.get("metrics") or {}
    theirs = (production or {}).get("metrics") or {}
    rows = []
    for name in sorted(set(ours) | set(theirs)):
        rows.append(
            f"<tr><th>{html.escape(str(name))}</th><td>{_cell(ours.get(name, '-'))}</td>"
            f"<td>{_cell(theirs.get(name, '-'))}</td></tr>"
        )
    return "".join(rows) or "<tr><td colspan=3>no metrics recorded</td></tr>"


def _shadow_rows(shadow: Mapping[str, Any] | None) -> str:
    if not shadow:
        return "<p>No shadow comparison (a first deployment has nothing to compare with).</p>"
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{_cell(v)}</td></tr>" for k, v in shadow.items())
    return f"<table>{rows}</table>"


def render_evidence(approval: Approval, claims: LinkClaims, token: str, approver_identity: str) -> str:
    """The evidence and the decision form (the token travels in a hidden field of the POST, never a GET)."""
    context = approval.context
    candidate = context.get("candidate") or {}
    production = context.get("production")
    version = html.escape(str(candidate.get("version", "?")))
    production_version = html.escape(str(production.get("version"))) if production else "none"
    return (
        f"<p>Endpoint <b>{html.escape(str(context.get('endpoint', '?')))}</b>: candidate version <b>{version}</b> "
        f"would replace Production version <b>{production_version}</b>.</p>"
        f"<p class=small>Model package: <code>{html.escape(str(candidate.get('arn', '?')))}</code></p>"
        "<h2>Metrics</h2><table><tr><th></th><th>candidate</th><th>Production</th></tr>"
        f"{_metrics_rows(candidate, production)}</table>"
        f"<h2>Shadow comparison</h2>{_shadow_rows(context.get('shadow'))}"
        "<h2>Decision</h2>"
        '<form method="post" action="approvals/decision">'
        f'<input type="hidden" name="token" value="{html.escape(token, quote=True)}">'
        '<label for="comment">Comment (required to reject)</label>'
        '<textarea id="comment" name="comment" rows="4" maxlength="4000"></textarea>'
        '<button type="submit" name="decision" value="approve" id="approve">Approve</button> '
        '<button type="submit" name="decision" value="reject" id="reject" class="reject">Reject</button>'
        "</form>"
        f"<p class=small>Signed for {html.escape(claims.addressee)}, recorded as the approver "
        f"({html.escape(approver_identity)}). "
        f"Valid once, until {_when(claims.expires)}. Opening this page decides nothing.</p>"
    )


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}"
    "h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.5rem}table{border-collapse:collapse}"
    "th,td{border:1px solid #d0d7de;padding:.3rem .6rem;text-align:left}code{word-break:break-all}"
    "textarea{display:block;width:100%;margin:.4rem 0 .8rem}.small{color:#57606a;font-size:.85rem}"
    "button{font-size:1rem;padding:.5rem 1.4rem;border:0;border-radius:6px;background:#1f883d;color:#fff}"
    "button.reject{background:#cf222e}pre{white-space:pre-wrap;background:#f6f8fa;padding:.5rem}"
)


def _page(status: int, title: str, body: str, extra_headers: Mapping[str, str] | None = None) -> PageResponse:
    document = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style></head>'
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return PageResponse(status, document, {**SECURITY_HEADERS, **(extra_headers or {})})
