"""Human approval of a promotion: who may answer, how an answer reaches the waiting execution, and how the
execution checks that it came from here. The CLI, the demo, the approval Lambda and the workflow's steps share it.

How an answer travels (the same for the SageMaker Studio console, ``mlops approve|reject`` and the API):

1. The reviewer sets the waiting version's stage status to ``Approved`` or ``Rejected`` in the model registry
   (``UpdateModelPackage`` with ``ModelLifeCycle``; setting ``ModelApprovalStatus`` to ``Rejected`` also rejects).
   SageMaker records the caller's IAM identity, verified by AWS, in the version's ``LastModifiedBy``.
2. The registry's state change event reaches the approval function (EventBridge). It reads the version back
   (``DescribeModelPackage``): the decision from its lifecycle, the approver from ``LastModifiedBy`` (the event
   itself carries no caller identity AWS vouches for). It refuses an approver the configuration does not name, or
   the identity that registered or promoted the version (unless allowed), and says who may approve.
3. It claims the approval record (pending -> used, with the decision and the verified approver), then resumes the
   execution with ``SendTaskSuccess`` carrying only the approval id and the decision. If resuming fails, the claim
   is given back, so the approval can still be given (:func:`resume`).
4. The workflow's ``VerifyApproval`` step trusts only the record: the answer must name an approval of this
   execution that the approval service claimed with the same decision (:func:`verify`). Anything else -- a
   ``SendTaskSuccess`` from someone allowed to call it, with any approver they like -- rejects the promotion and
   says why. (``states:SendTaskSuccess`` has no resource-level permissions, so IAM alone cannot stop that call.)

The task token is read only in step 3 and never logged or printed.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mlops_kit.promotion.store import Approval, ApprovalNotFound, PromotionStore
from mlops_kit.registry import ModelRegistry, Stage, StageStatus
from mlops_kit.waiting import poll

WAITING_STATE = "WaitForHumanApproval"
DECISIONS = ("approve", "reject")
_ASSUMED_ROLE = re.compile(
    r"^arn:(?P<partition>[\w-]+):sts::(?P<account>\d{12}):assumed-role/(?P<role>[^/]+)/(?P<session>.+)$"
)
# An IAM role, with or without a path (a session's ARN never shows the path).
_ROLE = re.compile(r"^arn:(?P<partition>[\w-]+):iam::(?P<account>\d{12}):role/(?:[^/]+/)*(?P<role>[^/]+)$")


class ApprovalExpired(RuntimeError):  # noqa: N818
    """The execution no longer waits for this approval (it timed out or was stopped)."""


class ApprovalRefused(PermissionError):  # noqa: N818
    """The identity that answered may not answer this promotion; the message says who may."""


@dataclass(frozen=True)
class Approver:
    """An identity AWS verified: ``arn`` is the caller (an assumed-role session or an IAM user);
    ``user_profile`` the SageMaker Studio user profile when the answer came from Studio."""

    arn: str
    user_profile: str = ""

    @property
    def principal(self) -> str:
        """The IAM principal behind the caller: a session's role (``arn:aws:iam::ACCOUNT:role/NAME``)."""
        return principal_of(self.arn)

    def __str__(self) -> str:
        return f"{self.arn} (Studio user {self.user_profile})" if self.user_profile else self.arn


def principal_of(arn: str) -> str:
    """``arn:aws:sts::1:assumed-role/R/s`` -> ``arn:aws:iam::1:role/R``; other ARNs are returned unchanged."""
    match = _ASSUMED_ROLE.match(arn)
    if not match:
        return arn
    return f"arn:{match['partition']}:iam::{match['account']}:role/{match['role']}"


def _identity_key(arn: str) -> tuple[str, ...]:
    """What names one identity: a role session by partition, account, role and session name (IAM role names are
    unique regardless of case); a role by partition, account and name (its path left out, as sessions show it);
    anything else by its whole ARN."""
    session = _ASSUMED_ROLE.match(arn)
    if session:
        return ("session", session["partition"], session["account"], session["role"].lower(), session["session"])
    role = _ROLE.match(arn)
    if role:
        return ("role", role["partition"], role["account"], role["role"].lower())
    return ("arn", arn)


def same_identity(first: str, second: str) -> bool:
    """Whether two IAM identities may be the same person: the same role and session name (two sign-ins of one
    person through one role, whatever path the role has), the same ARN, or a role and one of its sessions (an
    identity given as a whole role stands for everyone who assumes it). Empty never matches."""
    if not first or not second:
        return False
    a, b = _identity_key(first), _identity_key(second)
    if a == b:
        return True
    sessions_role = {k[:4] for k in (a, b) if k[0] == "session"}
    roles = {("session", *k[1:]) for k in (a, b) if k[0] == "role"}
    return bool(sessions_role & roles)


def verified_identity(described: dict[str, Any]) -> Approver | None:
    """Who last modified a model package, as SageMaker reports it in DescribeModelPackage's ``LastModifiedBy``
    (``IamIdentity.Arn``; ``UserProfileName`` for Studio users); None when it reports no IAM identity."""
    by = described.get("LastModifiedBy") or {}
    arn = str((by.get("IamIdentity") or {}).get("Arn") or "")
    if not arn.startswith("arn:"):
        return None
    return Approver(arn=arn, user_profile=str(by.get("UserProfileName") or ""))


def created_by(described: dict[str, Any]) -> str:
    """The IAM identity that registered a model package (``CreatedBy.IamIdentity.Arn``), or ``""``."""
    return str(((described.get("CreatedBy") or {}).get("IamIdentity") or {}).get("Arn") or "")


@dataclass(frozen=True)
class ApprovalPolicy:
    """Who may answer a promotion.

    ``approvers``: IAM principal ARNs (roles, users; ``*`` wildcards allowed, e.g. ``arn:aws:iam::*:role/Approver``)
    matched against the caller and, for a role session, its role. Empty: anyone allowed to update the version
    (the approver policy the platform deploys grants exactly that). ``allow_self_approval``: whether the identity
    that registered the version or requested its promotion may answer it (default: not).
    """

    approvers: tuple[str, ...] = ()
    allow_self_approval: bool = False

    def who_may(self) -> str:
        names = ", ".join(self.approvers) if self.approvers else "any identity allowed to update the model version"
        return names + ("" if self.allow_self_approval else ", except who registered or promoted it")

    def refusal(self, approver: Approver, *, registered_by: str, requested_by: str) -> str | None:
        """Why ``approver`` may not answer (None: they may)."""
        if self.approvers and not any(
            fnmatch.fnmatchcase(candidate, pattern)
            for pattern in self.approvers
            for candidate in (approver.arn, approver.principal)
        ):
            return f"{approver} is not an approver; approvers: {self.who_may()}"
        if not self.allow_self_approval:
            for role, identity in (("registered", registered_by), ("requested the promotion of", requested_by)):
                if same_identity(identity, approver.arn):
                    return (
                        f"{approver} {role} this version and may not approve it (separation of duties); "
                        f"approvers: {self.who_may()}"
                    )
        return None


@dataclass(frozen=True)
class Outcome:
    """What the approval service did with one registry change: ``answered``, ``refused`` or ``ignored``."""

    result: str
    message: str
    approval_id: str = ""
    decision: str = ""
    approver: str = ""


def decision_of(described: dict[str, Any]) -> str | None:
    """The reviewer's answer a model package shows: its stage status Approved/Rejected (while in Staging), or
    ModelApprovalStatus Rejected; None when it shows none."""
    life_cycle = described.get("ModelLifeCycle") or {}
    # Staging, or with environments the name of the environment the version is being promoted to.
    if life_cycle.get("Stage") not in (Stage.PRODUCTION, Stage.ARCHIVED, None):
        if life_cycle.get("StageStatus") == StageStatus.APPROVED:
            return "approve"
        if life_cycle.get("StageStatus") == StageStatus.REJECTED:
            return "reject"
    if described.get("ModelApprovalStatus") == "Rejected":
        return "reject"
    return None


def answer_from_registry(
    *,
    sagemaker: Any,
    sfn: Any,
    store: PromotionStore,
    registry: ModelRegistry,
    package_arn: str,
    policy: ApprovalPolicy,
    notify: Callable[[str, str], None] | None = None,
    environment_policies: Mapping[str, ApprovalPolicy] | None = None,
) -> Outcome:
    """Answer the promotion waiting for ``package_arn`` with the decision and the verified identity the registry
    shows (steps 2-3 of the module docstring). A refused answer puts the version back to AwaitingApproval, notes
    the refusal on the approval and notifies; the approval can still be given by someone allowed.

    A promotion to an environment (its approval's context names it) is answered under that environment's policy
    in ``environment_policies`` (``policy`` when it has none), in that environment's stage of the registry."""
    approval = store.pending_for_package(package_arn)
    if approval is None:
        return Outcome("ignored", f"no promotion waits for an answer on {package_arn}")
    environment = approval.context.get("environment")
    if environment:
        policy = (environment_policies or {}).get(str(environment), policy)
    registry = registry_of(registry, approval)
    described = sagemaker.describe_model_package(ModelPackageName=package_arn)
    decision = decision_of(described)
    if decision is None:
        life_cycle = described.get("ModelLifeCycle") or {}
        return Outcome(
            "ignored",
            f"{package_arn} is {life_cycle.get('Stage')}/{life_cycle.get('StageStatus')}: not an answer",
            approval.approval_id,
        )
    approver = verified_identity(described)
    context = approval.context
    if approver is None:
        refusal: str | None = "SageMaker reported no IAM identity for the change, so it cannot be trusted as an answer"
    else:
        refusal = policy.refusal(
            approver,
            registered_by=str(context.get("registered_by") or ""),
            requested_by=str(context.get("requested_by") or ""),
        )
    if refusal is not None or approver is None:
        refusal = refusal or "no verified identity"
        # The version waits again before the refusal is noted: the note is what the answering CLI waits for, so
        # whoever reads it finds the registry ready for the next answer.
        registry.await_approval(package_arn, note=f"answer refused: {refusal}")
        store.refuse(approval.approval_id, refusal)
        if notify:
            notify(f"Approval {approval.approval_id} refused", refusal)
        return Outcome("refused", refusal, approval.approval_id, decision, str(approver or ""))
    life_cycle = described.get("ModelLifeCycle") or {}
    comment = str(life_cycle.get("StageDescription") or described.get("ApprovalDescription") or "")
    resume(store, sfn, approval, decision=decision, approver=str(approver), comment=comment)
    return Outcome("answered", f"{decision} by {approver}", approval.approval_id, decision, str(approver))


def resume(
    store: PromotionStore, sfn: Any, approval: Approval, *, decision: str, approver: str, comment: str
) -> Approval:
    """Claim ``approval`` for the decision, then resume its execution. A throttled or failed ``SendTaskSuccess``
    (after the client's own retries) gives the claim back and re-raises, so the approval can be given again (the
    event is redelivered); an execution that no longer waits closes the approval (ApprovalExpired)."""
    if decision not in DECISIONS:
        raise ValueError(f"decision must be 'approve' or 'reject', got {decision!r}")
    claimed = store.answer_approval(approval.approval_id, decision=decision, approver=approver, comment=comment)
    output = json.dumps({"approval_id": claimed.approval_id, "decision": decision})
    try:
        sfn.send_task_success(taskToken=claimed.task_token, output=output)
    except (sfn.exceptions.TaskDoesNotExist, sfn.exceptions.InvalidToken, sfn.exceptions.TaskTimedOut) as exc:
        raise ApprovalExpired(
            f"the promotion is no longer waiting for approval {approval.approval_id} (it timed out or was stopped)"
        ) from exc
    except Exception as exc:
        store.release_answer(
            approval.approval_id,
            decision=decision,
            approver=approver,
            reason=f"resuming the promotion failed ({type(exc).__name__}); answer again",
        )
        raise
    return claimed


def verify(store: PromotionStore, state: dict[str, Any]) -> dict[str, Any]:
    """What the waiting state's answer (``state["answer"]``, any JSON) is worth: the decision, approver and comment
    of the approval record it names, or a rejection that says why it cannot be trusted. Always returns every key
    (``decision``, ``approver``, ``comment``, ``approval_id``, ``error``, ``cause``)."""
    answer = state.get("answer")
    approval_id = str(answer.get("approval_id") or "") if isinstance(answer, dict) else ""
    claimed = str(answer.get("decision") or "") if isinstance(answer, dict) else ""
    problem = None
    approval: Approval | None = None
    if not approval_id:
        problem = "the answer names no approval"
    else:
        try:
            approval = store.get_approval(approval_id)
        except ApprovalNotFound:
            problem = f"no approval {approval_id!r} exists"
    if approval is not None and problem is None:
        if approval.execution_arn != state.get("execution"):
            problem = f"approval {approval_id} belongs to another promotion"
        elif approval.status != "used" or approval.decision not in DECISIONS or not approval.approver:
            problem = f"approval {approval_id} was not answered through the approval service ({approval.status})"
        elif claimed != approval.decision:
            problem = f"the answer says {claimed!r} but approval {approval_id} recorded {approval.decision!r}"
    if problem is not None or approval is None:
        return {
            "decision": "reject",
            "approver": "-",
            "comment": "-",
            "approval_id": approval_id or "-",
            "error": "ApprovalNotVerified",
            "cause": f"an answer that did not come from the approval service was refused: {problem}. "
            "Answer in the model registry (SageMaker Studio), with `mlops approve|reject`, or on the approval page.",
        }
    return {
        "decision": approval.decision,
        "approver": approval.approver,
        "comment": approval.comment or "-",
        "approval_id": approval.approval_id,
        "error": "ApprovalRejected",
        "cause": f"rejected by {approval.approver}: {approval.comment or '-'}",
    }


def request_decision(registry: ModelRegistry, approval: Approval, *, decision: str, comment: str) -> None:
    """Answer ``approval`` as the caller, through the registry (what ``mlops approve|reject`` do): the version's
    stage status becomes Approved or Rejected and SageMaker records who did it. Raises ApprovalNotFound when the
    approval is no longer pending."""
    if approval.status != "pending":
        raise ApprovalNotFound(
            f"approval request {approval.approval_id} was already answered ({approval.status}"
            f"{': ' + approval.decision + ' by ' + approval.approver if approval.decision else ''})"
        )
    registry_of(registry, approval).answer(approval.candidate_arn, decision=decision, comment=comment)


def registry_of(registry: ModelRegistry, approval: Approval) -> ModelRegistry:
    """``registry`` acting where ``approval``'s promotion is: in its environment's stage (with environments), else
    as given."""
    environment = approval.context.get("environment")
    return registry.within(str(environment)) if environment else registry


def answer(
    store: PromotionStore,
    registry: ModelRegistry,
    approval_id: str,
    *,
    decision: str,
    comment: str,
    timeout_seconds: float = 300,
) -> Approval:
    """Answer a pending approval as the caller (:func:`request_decision`) and wait for the approval service:
    the approval as it recorded it (``used``, with the verified approver), or ApprovalRefused saying who may
    approve, ApprovalNotFound when it is unknown or answered, ApprovalExpired when it was closed meanwhile."""
    approval = store.get_approval(approval_id)
    request_decision(registry, approval, decision=decision, comment=comment)
    settled = await_answer(store, approval_id, since_refusal=approval.refusal, timeout_seconds=timeout_seconds)
    if settled.status != "used":
        raise ApprovalExpired(f"approval {approval_id} was closed: {settled.refusal or settled.status}")
    return settled


def await_answer(
    store: PromotionStore, approval_id: str, *, since_refusal: str = "", timeout_seconds: float = 300
) -> Approval:
    """The approval once the approval service answered it (``used``) or closed it; raises ApprovalRefused with
    the service's reason when it refused this answer (a refusal other than ``since_refusal``)."""

    def settled() -> Approval | None:
        approval = store.get_approval(approval_id)
        if approval.status != "pending":
            return approval
        if approval.refusal and approval.refusal != since_refusal:
            raise ApprovalRefused(approval.refusal)
        return None

    return poll(settled, every=1.0, timeout=timeout_seconds, what=f"the approval service's answer to {approval_id}")


def follow(
    sfn: Any,
    execution_arn: str,
    *,
    on_state: Callable[[str], None] | None = None,
    until_waiting: bool = False,
    poll_seconds: float = 0.05,
    timeout_seconds: float = 600,
    seen: set[int] | None = None,
) -> dict[str, Any]:
    """Poll until the execution ends (or, with ``until_waiting``, waits for approval); report each state entered
    once (pass the same ``seen`` set to a later call to continue where the previous one stopped)."""
    seen = set() if seen is None else seen

    def progressed() -> dict[str, Any] | None:
        entered = []
        for event in _new_events(sfn, execution_arn, max(seen, default=0)):
            details = event.get("stateEnteredEventDetails")
            if details and event["id"] not in seen:
                seen.add(event["id"])
                entered.append(details["name"])
                if on_state:
                    on_state(details["name"])
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        if until_waiting and entered and entered[-1] == WAITING_STATE:
            return described
        return None

    result: dict[str, Any] = poll(
        progressed, every=poll_seconds, timeout=timeout_seconds, what=f"execution {execution_arn}"
    )
    return result


# Events a poll reads first: a poll usually finds a handful of new events; longer pages follow when it does not.
FIRST_PAGE = 25


def _new_events(sfn: Any, execution_arn: str, after_id: int) -> list[dict[str, Any]]:
    """The execution's history events after ``after_id``, oldest first, read newest-first page by page and only
    as far back as needed (a long promotion's history has thousands of events; re-reading it all on every poll
    is what made following one slow)."""
    newest_first: list[dict[str, Any]] = []
    token = None
    page_size = FIRST_PAGE
    while True:
        request: dict[str, Any] = {"executionArn": execution_arn, "reverseOrder": True, "maxResults": page_size}
        page_size = 1000
        if token:
            request["nextToken"] = token
        page = sfn.get_execution_history(**request)
        for event in page["events"]:
            if event["id"] <= after_id:
                return newest_first[::-1]
            newest_first.append(event)
        token = page.get("nextToken")
        if not token:
            return newest_first[::-1]


def pending_approval(store: PromotionStore, execution_arn: str, *, timeout_seconds: float = 60) -> Approval:
    """The approval request the execution stored. Its Lambda runs just after the waiting state is entered, so
    an execution seen waiting may not have stored it yet: poll until it has (TimeoutError after the timeout)."""

    def stored() -> Approval | None:
        pending = [a for a in store.pending_approvals() if a.execution_arn == execution_arn]
        return pending[0] if pending else None

    try:
        return poll(stored, every=0.5, timeout=timeout_seconds, what=f"the approval request of {execution_arn}")
    except TimeoutError as exc:
        raise TimeoutError(f"{execution_arn} waits for approval but stored no approval request") from exc
