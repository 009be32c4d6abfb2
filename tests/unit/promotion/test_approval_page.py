"""The approval page's links and decisions on fakes: a KMS fake that signs with a real P-256 key and fails
verification as AWS does (KMSInvalidSignatureException), the promotion store on the in-memory table."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from mlops_kit.promotion.approval_page import (
    LINKS_VARIABLE,
    ApprovalPage,
    LinkClaims,
    LinkIssuerSettings,
    LinkLedger,
    LinkRefused,
    LinkSigner,
    form_fields,
    page_links,
    publish_with_links,
)
from mlops_kit.promotion.approvals import ApprovalExpired, ApprovalPolicy
from mlops_kit.promotion.store import ApprovalNotFound, PromotionStore
from tests.unit.promotion import fakes
from tests.unit.promotion.fakes import FakeClock, FakeDynamoDB

KEY = "arn:aws:kms:us-east-1:123456789012:key/links"
NOW = 1_767_225_600.0
APPROVER_ROLE = "arn:aws:iam::123456789012:role/Approver"
ANA = "arn:aws:sts::123456789012:assumed-role/Approver/ana"
BO = "arn:aws:sts::123456789012:assumed-role/Approver/bo"
REQUESTER = "arn:aws:sts::123456789012:assumed-role/DataScientist/dee"
# Who each addressee stands for (approval_page.identities): dee requested the promotion; eve is no approver.
IDENTITIES = {
    "ana@example.com": ANA,
    "bo@example.com": BO,
    "dee@example.com": "arn:aws:iam::123456789012:role/DataScientist",
    "eve@example.com": "arn:aws:iam::123456789012:user/eve",
}
POLICY = ApprovalPolicy((APPROVER_ROLE, "arn:aws:iam::123456789012:role/DataScientist"))


class FakeKms:
    """Sign/Verify with ECDSA P-256 over SHA-256; a signature that does not verify raises, as KMS does."""

    def __init__(self) -> None:
        self._private = ec.generate_private_key(ec.SECP256R1())
        self.calls: list[str] = []

    def sign(self, KeyId: str, Message: bytes, MessageType: str, SigningAlgorithm: str) -> dict[str, Any]:
        assert (KeyId, MessageType, SigningAlgorithm) == (KEY, "RAW", "ECDSA_SHA_256")
        assert len(Message) <= 4096  # the Sign API's limit for RAW messages
        self.calls.append("sign")
        return {"Signature": self._private.sign(Message, ec.ECDSA(hashes.SHA256()))}

    def verify(self, KeyId: str, Message: bytes, MessageType: str, Signature: bytes, SigningAlgorithm: str) -> Any:
        self.calls.append("verify")
        try:
            self._private.public_key().verify(Signature, Message, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            raise ClientError(
                {"Error": {"Code": "KMSInvalidSignatureException", "Message": "invalid signature"}}, "Verify"
            ) from None
        return {"SignatureValid": True, "KeyId": KeyId, "SigningAlgorithm": SigningAlgorithm}


class Decisions:
    def __init__(self, store: PromotionStore) -> None:
        self.store = store
        self.taken: list[tuple[str, str, str, str]] = []
        self.fail_with: Exception | None = None

    def __call__(self, approval_id: str, decision: str, approver: str, comment: str) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        # What the approval service's claim leaves behind (its own tests cover the claim itself).
        item = self.store._dynamodb.items[(f"approval#{approval_id}", "approval")]
        if item["status"]["S"] != "pending":
            raise ApprovalNotFound(f"approval request {approval_id} was already answered")
        item["status"] = {"S": "used"}
        self.taken.append((approval_id, decision, approver, comment))


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setitem(
        fakes.CONDITIONS, "claim_id = :me", lambda item, v, _n: item is not None and item["claim_id"] == v[":me"]
    )
    dynamodb, kms, clock = FakeDynamoDB(), FakeKms(), FakeClock(NOW)
    store = PromotionStore(dynamodb, "promotions")
    approval_id = store.put_approval(
        task_token="token",
        execution_arn="arn:aws:states:us-east-1:1:execution:promotion:x",
        context={
            "endpoint": "fraud-endpoint",
            "candidate": {"version": 2, "arn": "arn:pkg/2", "metrics": {"auc": 0.91}},
            "production": {"version": 1, "metrics": {"auc": 0.88}},
            "shadow": {"pairs": 120, "agreement": 0.97},
            "registered_by": "arn:aws:sts::123456789012:assumed-role/Pipeline/run-7",
            "requested_by": REQUESTER,
        },
    )
    signer = LinkSigner(kms, KEY)
    decisions = Decisions(store)
    page = ApprovalPage(signer, store, LinkLedger(dynamodb, "promotions"), decisions, clock, POLICY, IDENTITIES)

    class World:
        pass

    w = World()
    w.__dict__.update(
        store=store, kms=kms, clock=clock, approval_id=approval_id, signer=signer, decisions=decisions, page=page
    )
    return w


def _token(world: Any, *, addressee: str = "ana@example.com", ttl: int = 3600, link: str = "link-1") -> str:
    return str(world.signer.sign(LinkClaims(world.approval_id, addressee, int(NOW) + ttl, link)))


def _post(world: Any, token: str, decision: str, comment: str = "") -> Any:
    from urllib.parse import urlencode

    body = urlencode({"token": token, "decision": decision, "comment": comment})
    return world.page.handle("POST", "/approvals/decision", {}, body)


def test_opening_a_link_shows_the_evidence_and_decides_nothing(world: Any) -> None:
    token = _token(world)

    shown = world.page.handle("GET", "/approvals", {"token": token}, "")

    assert shown.status == 200
    assert "Approve model version 2?" in shown.body
    assert "0.91" in shown.body
    assert "0.88" in shown.body
    assert "agreement" in shown.body
    assert 'method="post"' in shown.body
    assert f'value="{token}"' in shown.body
    assert world.decisions.taken == []
    assert world.store.get_approval(world.approval_id).status == "pending"
    assert shown.headers["Cache-Control"] == "no-store"
    assert shown.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in shown.headers["Content-Security-Policy"]


def test_a_post_decides_once_as_the_addressee_and_the_link_is_spent(world: Any) -> None:
    token = _token(world)

    answered = _post(world, token, "approve", "looks right")
    again = _post(world, token, "reject", "changed my mind")
    reopened = world.page.handle("GET", "/approvals", {"token": token}, "")

    assert answered.status == 200
    assert world.decisions.taken == [
        (world.approval_id, "approve", f"{ANA} (approval page link for ana@example.com)", "looks right")
    ]
    assert again.status == 409
    assert "already used" in again.body
    assert reopened.status == 409


@pytest.mark.parametrize(
    ("addressee", "why"),
    [
        # The requester's role stands for the session that requested the promotion: separation of duties.
        ("dee@example.com", "requested the promotion of this version and may not approve it"),
        ("eve@example.com", "is not an approver; approvers: arn:aws:iam::123456789012:role/Approver"),
        ("zed@example.com", "stands for no IAM identity in the platform's config"),
    ],
)
def test_the_page_applies_the_approval_policy_to_the_identity_an_addressee_stands_for(
    world: Any, addressee: str, why: str
) -> None:
    token = _token(world, addressee=addressee)

    shown = world.page.handle("GET", "/approvals", {"token": token}, "")
    posted = _post(world, token, "approve")

    for refused in (shown, posted):
        assert refused.status == 403
        assert "You may not answer this promotion" in refused.body
        assert why in refused.body.replace("&#x27;", "'")
    assert world.decisions.taken == []
    assert world.store.get_approval(world.approval_id).status == "pending"


def test_a_refused_addressee_leaves_the_link_unused_and_self_approval_can_be_allowed(world: Any) -> None:
    token = _token(world, addressee="dee@example.com")
    refused = _post(world, token, "approve")
    world.page.policy = ApprovalPolicy(POLICY.approvers, allow_self_approval=True)

    allowed = _post(world, token, "approve")

    assert refused.status == 403
    assert allowed.status == 200
    assert world.decisions.taken[-1][2].startswith("arn:aws:iam::123456789012:role/DataScientist (approval page")


def test_a_get_to_the_decision_endpoint_decides_nothing(world: Any) -> None:
    refused = world.page.handle("GET", "/approvals/decision", {"token": _token(world), "decision": "approve"}, "")

    assert refused.status == 405
    assert refused.headers["Allow"] == "POST"
    assert world.decisions.taken == []


@pytest.mark.parametrize("change", ["addressee", "approval", "expiry", "signature", "truncated", "garbage"])
def test_a_changed_link_is_refused_as_not_valid(world: Any, change: str) -> None:
    import base64

    token = _token(world)
    message, signature = token.split(".")
    claims = LinkClaims.parse(base64.urlsafe_b64decode(message + "=" * (-len(message) % 4)))
    altered = {
        "addressee": LinkClaims(claims.approval_id, "mallory@example.com", claims.expires, claims.link_id),
        "approval": LinkClaims("ffffffff", claims.addressee, claims.expires, claims.link_id),
        "expiry": LinkClaims(claims.approval_id, claims.addressee, claims.expires + 86400, claims.link_id),
    }
    if change in altered:
        forged = base64.urlsafe_b64encode(altered[change].message()).rstrip(b"=").decode() + "." + signature
    elif change == "signature":
        forged = message + "." + signature[:-6] + "AAAAAA"
    elif change == "truncated":
        forged = message
    else:
        forged = "%%%.***"

    shown = world.page.handle("GET", "/approvals", {"token": forged}, "")
    posted = _post(world, forged, "approve")

    assert shown.status == 400
    assert "This link is not valid" in shown.body
    assert posted.status == 400
    assert world.decisions.taken == []


def test_an_expired_link_is_refused_and_says_how_else_to_answer(world: Any) -> None:
    token = _token(world, ttl=60)
    world.clock.advance(61)

    refused = _post(world, token, "approve")

    assert refused.status == 410
    assert "This link has expired" in refused.body
    assert f"mlops approve|reject {world.approval_id}" in refused.body
    assert world.decisions.taken == []


def test_a_rejection_needs_a_reason_and_keeps_free_text_as_written(world: Any) -> None:
    reason = 'p99 up 12%,\nsegment "new", worse\r\n' + "x, " * 900

    missing = _post(world, _token(world, link="a"), "reject", "  ")
    answered = _post(world, _token(world, link="b"), "reject", reason)

    assert missing.status == 400
    assert "needs a reason" in missing.body
    assert answered.status == 200
    assert world.decisions.taken[-1][3] == reason.replace("\r\n", "\n").strip()
    assert "&lt;" not in answered.body or "<script>" not in answered.body


def test_markup_in_the_evidence_or_the_comment_is_shown_as_text(world: Any) -> None:
    answered = _post(world, _token(world), "approve", "<script>alert(1)</script>")

    assert "<script>" not in answered.body
    assert "&lt;script&gt;" in answered.body


def test_a_second_reviewer_link_is_refused_once_the_approval_is_answered(world: Any) -> None:
    _post(world, _token(world, addressee="ana@example.com", link="a"), "approve")

    other = world.page.handle("GET", "/approvals", {"token": _token(world, addressee="bo@example.com", link="b")}, "")

    assert other.status == 409
    assert "already answered" in other.body


def test_a_failure_worth_retrying_gives_the_link_back(world: Any) -> None:
    token = _token(world)
    world.decisions.fail_with = RuntimeError("ThrottlingException")

    with pytest.raises(RuntimeError):
        _post(world, token, "approve")
    world.decisions.fail_with = None
    retried = _post(world, token, "approve")

    assert retried.status == 200


@pytest.mark.parametrize(
    ("error", "status"),
    [(ApprovalExpired("the promotion is no longer waiting"), 410), (ApprovalNotFound("answered"), 409)],
)
def test_an_approval_closed_meanwhile_is_a_clear_page(world: Any, error: Exception, status: int) -> None:
    world.decisions.fail_with = error

    refused = _post(world, _token(world), "approve")

    assert refused.status == status


def test_links_are_signed_per_addressee_and_expire_with_the_approval() -> None:
    kms = FakeKms()
    settings = LinkIssuerSettings(
        key_arn=KEY,
        page_url="https://abc.execute-api.us-east-1.amazonaws.com/v1/",
        addressees=["ana@example.com", "bo@example.com"],
        topic_arn="arn:links",
        link_ttl_seconds=86400,
    )
    environ = {LINKS_VARIABLE: settings.model_dump_json()}

    links = page_links("0a1b2c3d", now=NOW, not_after=NOW + 3600, environ=environ, kms=kms)
    none = page_links("0a1b2c3d", now=NOW, not_after=NOW + 3600, environ={}, kms=kms)

    assert [link.addressee for link in links] == ["ana@example.com", "bo@example.com"]
    assert all(
        link.url.startswith("https://abc.execute-api.us-east-1.amazonaws.com/v1/approvals?token=") for link in links
    )
    assert {link.expires for link in links} == {int(NOW) + 3600}  # capped at the approval's timeout
    assert {link.topic_arn for link in links} == {"arn:links"}
    assert none == []


def test_each_addressee_is_sent_only_their_own_link() -> None:
    published: list[dict[str, Any]] = []

    class Sns:
        def publish(self, **request: Any) -> None:
            published.append(request)

    kms = FakeKms()
    settings = LinkIssuerSettings(
        key_arn=KEY, page_url="https://abc.execute-api.us-east-1.amazonaws.com/v1/", addressees=["a@x.io", "b@x.io"],
        topic_arn="arn:links", link_ttl_seconds=600,
    )  # fmt: skip
    links = page_links(
        "0a1b2c3d", now=NOW, not_after=NOW + 3600, environ={LINKS_VARIABLE: settings.model_dump_json()}, kms=kms
    )

    publish_with_links(Sns(), "arn:topic", "Approve?", "evidence", links)

    # Everyone on the platform's topic gets the notification without links; each link goes to the links topic,
    # whose subscriptions accept only their addressee's copy.
    everyone, *copies = published
    assert everyone["TopicArn"] == "arn:topic"
    assert "MessageAttributes" not in everyone
    assert "/approvals?token=" not in everyone["Message"]
    assert [p["TopicArn"] for p in copies] == ["arn:links", "arn:links"]
    assert [p["MessageAttributes"]["addressee"]["StringValue"] for p in copies] == ["a@x.io", "b@x.io"]
    for request, link in zip(copies, links, strict=True):
        assert link.url in request["Message"]
        assert request["Message"].count("/approvals?token=") == 1


def test_form_fields_keep_blank_values_and_take_the_first() -> None:
    assert form_fields("token=a.b&decision=approve&comment=&decision=reject") == {
        "token": "a.b",
        "decision": "approve",
        "comment": "",
    }


def test_a_refusal_names_what_is_wrong() -> None:
    refused = LinkRefused("This link has expired", "It could be used until ...", 410)

    assert str(refused) == "This link has expired: It could be used until ..."


RELEASE_MANAGERS = "arn:aws:iam::123456789012:role/ReleaseManagers"


def test_an_environments_approval_is_judged_by_that_environments_approvers(world: Any) -> None:
    # Production's approvers (environments.production.approvers) are the release managers and the approver role;
    # staging has none of its own, so the platform's approvers judge its approvals.
    world.page.environment_policies = {"production": ApprovalPolicy((RELEASE_MANAGERS, APPROVER_ROLE))}
    world.page.identities = {**IDENTITIES, "rhea@example.com": RELEASE_MANAGERS}
    approvals = {}
    for environment in ("production", "staging"):
        approvals[environment] = world.store.put_approval(
            task_token=f"token-{environment}",
            execution_arn=f"arn:aws:states:us-east-1:1:execution:promotion-{environment}:x",
            context={
                **world.store.get_approval(world.approval_id).context,
                "environment": environment,
                "candidate": {"version": 3, "arn": f"arn:pkg/3-{environment}"},
            },
        )

    def opened(environment: str, addressee: str) -> Any:
        claims = LinkClaims(approvals[environment], addressee, int(NOW) + 3600, f"link-{environment}-{addressee}")
        return world.page.handle("GET", "/approvals", {"token": world.signer.sign(claims)}, "")

    # The release manager answers production's, not staging's nor the platform's (not one of approvals.approvers)
    assert opened("production", "rhea@example.com").status == 200
    refused = opened("staging", "rhea@example.com")
    assert refused.status == 403
    assert f"{RELEASE_MANAGERS} is not an approver" in refused.body
    assert _post(world, _token(world, addressee="rhea@example.com"), "approve").status == 403
    # The data scientists' role approves the platform's and staging's (where dee, who requested it, still may not:
    # separation of duties), not production's
    staging = opened("staging", "dee@example.com").body.replace("&#x27;", "'")
    production = opened("production", "dee@example.com").body.replace("&#x27;", "'")
    assert "requested the promotion of this version and may not approve it" in staging
    assert f"is not an approver; approvers: {RELEASE_MANAGERS}, {APPROVER_ROLE}" in production
    # Sessions of the approver role answer every environment's
    assert opened("production", "ana@example.com").status == 200
    assert opened("staging", "bo@example.com").status == 200
