"""Answering a promotion: who may, how a decision resumes the execution without ever losing the approval, and
how the workflow refuses an answer the approval record does not back. The store runs on moto's DynamoDB (the
conditional writes are the point); SageMaker and Step Functions are small fakes that record what they were told."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from mlops_kit.promotion.approvals import (
    FIRST_PAGE,
    ApprovalExpired,
    ApprovalPolicy,
    Approver,
    answer_from_registry,
    principal_of,
    request_decision,
    resume,
    same_identity,
    verify,
)
from mlops_kit.promotion.approvals import _new_events as new_events
from mlops_kit.promotion.store import Approval, ApprovalNotFound, PromotionStore
from mlops_kit.registry import ModelRegistry
from tests.support import create_pk_sk_table

ACCOUNT = "123456789012"
EXECUTION = f"arn:aws:states:us-east-1:{ACCOUNT}:execution:promotion:promote-v2-0123456789"
PACKAGE = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model-package/fraud-models/2"
ALICE = f"arn:aws:sts::{ACCOUNT}:assumed-role/Approver/alice"
BOB = f"arn:aws:sts::{ACCOUNT}:assumed-role/DataScientist/bob"
TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAfaketoken"


class ThrottledError(ClientError):
    pass


class FakeStepFunctions:
    """send_task_success for one waiting task; ``throttle`` failures before it succeeds."""

    class exceptions:  # noqa: N801  (boto3's spelling, and its exception names below)
        class TaskDoesNotExist(Exception):  # noqa: N818
            pass

        class InvalidToken(Exception):  # noqa: N818
            pass

        class TaskTimedOut(Exception):  # noqa: N818
            pass

    def __init__(self, throttle: int = 0, gone: bool = False) -> None:
        self.throttle, self.gone = throttle, gone
        self.sent: list[dict[str, Any]] = []

    def send_task_success(self, taskToken: str, output: str) -> dict[str, Any]:
        if self.gone:
            raise self.exceptions.TaskTimedOut("Task Timed Out")
        if self.throttle:
            self.throttle -= 1
            raise ThrottledError(
                {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "SendTaskSuccess"
            )
        self.sent.append({"taskToken": taskToken, "output": json.loads(output)})
        return {}


class FakeRegistry:
    """The one version waiting, as DescribeModelPackage shows it; updates record the caller like SageMaker."""

    def __init__(self, caller: str = ALICE, created_by: str = BOB) -> None:
        self.caller = caller
        self.package: dict[str, Any] = {
            "ModelPackageArn": PACKAGE,
            "ModelPackageGroupName": "fraud-models",
            "ModelPackageVersion": 2,
            "ModelApprovalStatus": "Approved",
            "ModelLifeCycle": {"Stage": "Staging", "StageStatus": "AwaitingApproval"},
            "CreatedBy": {"IamIdentity": {"Arn": created_by}},
            "CreationTime": "2026-01-01T00:00:00+00:00",
        }

    def describe_model_package(self, ModelPackageName: str) -> dict[str, Any]:
        return json.loads(json.dumps(self.package))

    def list_model_packages(self, **_: Any) -> dict[str, Any]:
        return {"ModelPackageSummaryList": [{"ModelPackageArn": PACKAGE}]}

    def update_model_package(self, ModelPackageArn: str, **changes: Any) -> dict[str, Any]:
        self.package.update(changes)
        self.package["LastModifiedBy"] = {"IamIdentity": {"Arn": self.caller}}
        return {"ModelPackageArn": ModelPackageArn}


@pytest.fixture
def store() -> Iterator[PromotionStore]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        yield PromotionStore(dynamodb, create_pk_sk_table(dynamodb, "promotions"))


def waiting(store: PromotionStore, *, requested_by: str = BOB, execution: str = EXECUTION) -> Approval:
    approval_id = store.put_approval(
        task_token=TOKEN,
        execution_arn=execution,
        context={"candidate": {"arn": PACKAGE, "version": 2}, "requested_by": requested_by, "registered_by": BOB},
    )
    return store.get_approval(approval_id)


def reviewer_sets(registry: FakeRegistry, status: str, comment: str = "looks right") -> None:
    ModelRegistry(registry, "fraud-models").answer(
        PACKAGE, decision="approve" if status == "Approved" else "reject", comment=comment
    )


def run_service(store: PromotionStore, registry: FakeRegistry, sfn: FakeStepFunctions, **policy: Any) -> Any:
    return answer_from_registry(
        sagemaker=registry,
        sfn=sfn,
        store=store,
        registry=ModelRegistry(registry, "fraud-models"),
        package_arn=PACKAGE,
        policy=ApprovalPolicy(**policy),
    )


# -- who may answer ----------------------------------------------------------------------------------------------
def test_a_role_session_is_matched_by_its_role() -> None:
    assert principal_of(ALICE) == f"arn:aws:iam::{ACCOUNT}:role/Approver"
    assert principal_of(f"arn:aws:iam::{ACCOUNT}:user/carol") == f"arn:aws:iam::{ACCOUNT}:user/carol"


@pytest.mark.parametrize(
    ("policy", "approver", "refused"),
    [
        (ApprovalPolicy((f"arn:aws:iam::{ACCOUNT}:role/Approver",)), ALICE, None),
        (ApprovalPolicy(("arn:aws:iam::*:role/Approv*",)), ALICE, None),
        (ApprovalPolicy((f"arn:aws:iam::{ACCOUNT}:role/Approver",)), BOB, "is not an approver; approvers: arn:aws"),
        (ApprovalPolicy(), BOB, "registered this version and may not approve it"),
        (ApprovalPolicy(allow_self_approval=True), BOB, None),
    ],
)
def test_the_policy_says_who_may_answer(policy: ApprovalPolicy, approver: str, refused: str | None) -> None:
    refusal = policy.refusal(Approver(approver), registered_by=BOB, requested_by="")

    assert (refusal is None) == (refused is None)
    if refused:
        assert refused in str(refusal)


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        # Two sign-ins of one person through one role: the same role and session name.
        (ALICE, f"arn:aws:sts::{ACCOUNT}:assumed-role/Approver/alice", True),
        (ALICE, f"arn:aws:sts::{ACCOUNT}:assumed-role/approver/alice", True),  # IAM role names ignore case
        (ALICE, f"arn:aws:sts::{ACCOUNT}:assumed-role/Approver/bob", False),
        (ALICE, f"arn:aws:sts::{ACCOUNT}:assumed-role/Reviewer/alice", False),
        (ALICE, "arn:aws:sts::210987654321:assumed-role/Approver/alice", False),
        # An identity given as a whole role stands for each of its sessions, whatever the role's path.
        (f"arn:aws:iam::{ACCOUNT}:role/teams/Approver", ALICE, True),
        (ALICE, f"arn:aws:iam::{ACCOUNT}:role/Approver", True),
        (f"arn:aws:iam::{ACCOUNT}:role/Reviewer", ALICE, False),
        (f"arn:aws:iam::{ACCOUNT}:user/alice", f"arn:aws:iam::{ACCOUNT}:user/alice", True),
        (f"arn:aws:iam::{ACCOUNT}:user/alice", ALICE, False),
        ("", "", False),
    ],
)
def test_identities_are_the_same_by_role_and_session_name(first: str, second: str, same: bool) -> None:
    assert same_identity(first, second) is same
    assert same_identity(second, first) is same


def test_a_later_session_of_the_requester_may_not_approve() -> None:
    """The CLI recorded the requester's session; the answer comes from a new sign-in (same role and session name,
    the role written with its path where the requester was recorded)."""
    requester = f"arn:aws:iam::{ACCOUNT}:role/teams/Approver"
    refusal = ApprovalPolicy().refusal(Approver(ALICE), registered_by=BOB, requested_by=requester)

    assert "requested the promotion of this version and may not approve it" in str(refusal)


def test_the_identity_that_requested_the_promotion_may_not_approve_it() -> None:
    refusal = ApprovalPolicy().refusal(Approver(ALICE), registered_by=BOB, requested_by=ALICE)

    assert "requested the promotion of this version and may not approve it" in str(refusal)
    assert "except who registered or promoted it" in str(refusal)


# -- the registry path -------------------------------------------------------------------------------------------
def test_a_stage_status_set_in_the_registry_answers_as_the_identity_sagemaker_recorded(store: PromotionStore) -> None:
    approval, registry, sfn = waiting(store), FakeRegistry(caller=ALICE), FakeStepFunctions()
    reviewer_sets(registry, "Approved", "metrics better,\nshadow agrees")

    outcome = run_service(store, registry, sfn)

    recorded = store.get_approval(approval.approval_id)
    assert outcome.result == "answered"
    assert (recorded.status, recorded.decision, recorded.approver) == ("used", "approve", ALICE)
    assert recorded.comment == "metrics better, shadow agrees"  # on one line, as the registry keeps it
    assert sfn.sent == [{"taskToken": TOKEN, "output": {"approval_id": approval.approval_id, "decision": "approve"}}]


def test_a_self_approval_is_refused_and_the_version_waits_again(store: PromotionStore) -> None:
    approval, registry, sfn = waiting(store), FakeRegistry(caller=BOB), FakeStepFunctions()
    reviewer_sets(registry, "Approved")

    outcome = run_service(store, registry, sfn)

    recorded = store.get_approval(approval.approval_id)
    assert outcome.result == "refused"
    assert "may not approve it (separation of duties)" in outcome.message
    assert recorded.status == "pending"
    assert "separation of duties" in recorded.refusal
    assert registry.package["ModelLifeCycle"]["StageStatus"] == "AwaitingApproval"
    assert sfn.sent == []


def test_a_refusal_is_noted_only_once_the_version_waits_again(store: PromotionStore) -> None:
    """The CLI takes the refusal note as its signal to go on (a second reviewer answers next): the registry must
    already wait for that answer when the note appears."""
    approval, registry, sfn = waiting(store), FakeRegistry(caller=BOB), FakeStepFunctions()
    reviewer_sets(registry, "Approved")
    refusal_when_restored: list[str] = []
    update = registry.update_model_package

    def update_and_look(**changes: Any) -> dict[str, Any]:
        refusal_when_restored.append(store.get_approval(approval.approval_id).refusal)
        return update(**changes)

    registry.update_model_package = update_and_look  # type: ignore[method-assign,assignment]

    assert run_service(store, registry, sfn).result == "refused"
    assert refusal_when_restored == [""]
    assert store.get_approval(approval.approval_id).refusal


def test_a_rejected_approval_status_rejects(store: PromotionStore) -> None:
    approval, registry, sfn = waiting(store), FakeRegistry(caller=ALICE), FakeStepFunctions()
    registry.update_model_package(PACKAGE, ModelApprovalStatus="Rejected", ApprovalDescription="p99, too slow")

    outcome = run_service(store, registry, sfn)

    assert outcome.result == "answered"
    assert store.get_approval(approval.approval_id).decision == "reject"
    assert store.get_approval(approval.approval_id).comment == "p99, too slow"


def test_a_change_that_is_no_answer_or_for_no_waiting_promotion_is_ignored(store: PromotionStore) -> None:
    registry, sfn = FakeRegistry(caller=ALICE), FakeStepFunctions()

    nothing_waits = run_service(store, registry, sfn)
    waiting(store)
    still_waiting = run_service(store, registry, sfn)

    assert nothing_waits.result == "ignored"
    assert still_waiting.result == "ignored"
    assert "not an answer" in still_waiting.message
    assert sfn.sent == []


# -- resuming ----------------------------------------------------------------------------------------------------
def test_a_throttled_resume_gives_the_approval_back_and_a_redelivery_resumes(store: PromotionStore) -> None:
    approval, sfn = waiting(store), FakeStepFunctions(throttle=1)

    with pytest.raises(ThrottledError):
        resume(store, sfn, approval, decision="approve", approver=ALICE, comment="ok")
    given_back = store.get_approval(approval.approval_id)
    resumed = resume(store, sfn, given_back, decision="approve", approver=ALICE, comment="ok")

    assert given_back.status == "pending"
    assert "resuming the promotion failed (ThrottledError); answer again" in given_back.refusal
    assert resumed.status == "used"
    assert len(sfn.sent) == 1


def test_a_redelivered_answer_resumes_again_but_a_different_one_is_refused(store: PromotionStore) -> None:
    approval, sfn = waiting(store), FakeStepFunctions()

    resume(store, sfn, approval, decision="approve", approver=ALICE, comment="ok")
    resume(store, sfn, approval, decision="approve", approver=ALICE, comment="ok")
    with pytest.raises(ApprovalNotFound, match=r"already answered .*approve by"):
        resume(store, sfn, approval, decision="reject", approver=BOB, comment="no")

    assert len(sfn.sent) == 2  # Step Functions ignores the second: the task is already answered


def test_an_execution_that_stopped_waiting_expires_the_answer(store: PromotionStore) -> None:
    approval = waiting(store)

    with pytest.raises(ApprovalExpired, match="no longer waiting"):
        resume(store, FakeStepFunctions(gone=True), approval, decision="approve", approver=ALICE, comment="")


def test_the_task_token_is_not_in_an_approvals_repr(store: PromotionStore) -> None:
    assert TOKEN not in repr(waiting(store))


# -- what the workflow trusts ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ({}, "the answer names no approval"),
        ("approve", "the answer names no approval"),
        ({"decision": "approve", "approver": "mallory"}, "the answer names no approval"),
        ({"approval_id": "nope", "decision": "approve"}, "no approval 'nope' exists"),
        ({"approval_id": "{id}", "decision": "approve"}, "was not answered through the approval service (pending)"),
    ],
)
def test_an_answer_the_record_does_not_back_is_a_rejection_that_says_why(
    store: PromotionStore, answer: Any, problem: str
) -> None:
    approval = waiting(store)
    if isinstance(answer, dict) and answer.get("approval_id") == "{id}":
        answer = {**answer, "approval_id": approval.approval_id}

    verified = verify(store, {"execution": EXECUTION, "answer": answer})

    assert verified["decision"] == "reject"
    assert verified["error"] == "ApprovalNotVerified"
    assert problem in verified["cause"]
    assert set(verified) == {"decision", "approver", "comment", "approval_id", "error", "cause"}


def test_a_recorded_answer_of_another_execution_or_decision_is_refused(store: PromotionStore) -> None:
    other = waiting(store, execution=EXECUTION + "-other")
    resume(store, FakeStepFunctions(), other, decision="approve", approver=ALICE, comment="")
    mine = waiting(store)
    resume(store, FakeStepFunctions(), mine, decision="reject", approver=ALICE, comment="")

    replayed = verify(
        store, {"execution": EXECUTION, "answer": {"approval_id": other.approval_id, "decision": "approve"}}
    )
    flipped = verify(
        store, {"execution": EXECUTION, "answer": {"approval_id": mine.approval_id, "decision": "approve"}}
    )

    assert "belongs to another promotion" in replayed["cause"]
    assert "the answer says 'approve' but approval" in flipped["cause"]
    assert replayed["decision"] == flipped["decision"] == "reject"


def test_a_recorded_answer_is_trusted_with_the_recorded_approver(store: PromotionStore) -> None:
    approval = waiting(store)
    resume(store, FakeStepFunctions(), approval, decision="reject", approver=ALICE, comment="p99, 'too' slow\n")

    verified = verify(
        store, {"execution": EXECUTION, "answer": {"approval_id": approval.approval_id, "decision": "reject"}}
    )

    assert verified["approver"] == ALICE
    assert verified["error"] == "ApprovalRejected"
    assert verified["cause"] == f"rejected by {ALICE}: p99, 'too' slow\n"


def test_a_change_sagemaker_reports_no_identity_for_is_refused(store: PromotionStore) -> None:
    approval, registry, sfn = waiting(store), FakeRegistry(caller=""), FakeStepFunctions()
    reviewer_sets(registry, "Approved")

    outcome = run_service(store, registry, sfn)

    assert outcome.result == "refused"
    assert "reported no IAM identity" in store.get_approval(approval.approval_id).refusal
    assert sfn.sent == []


# -- environments ------------------------------------------------------------------------------------------------
def test_a_promotion_to_an_environment_is_answered_in_its_stage_under_its_approvers(store: PromotionStore) -> None:
    approval_id = store.put_approval(
        task_token=TOKEN,
        execution_arn=EXECUTION,
        context={"candidate": {"arn": PACKAGE, "version": 2}, "requested_by": BOB, "registered_by": BOB,
                 "environment": "production"},
    )  # fmt: skip
    registry, sfn = FakeRegistry(caller=ALICE), FakeStepFunctions()
    registry.package["ModelLifeCycle"] = {"Stage": "production", "StageStatus": "AwaitingApproval"}
    ModelRegistry(registry, "fraud-models").within("production").answer(PACKAGE, decision="approve")
    release_managers = {"production": ApprovalPolicy(("arn:aws:iam::123456789012:role/ReleaseManagers",))}

    outcome = answer_from_registry(
        sagemaker=registry, sfn=sfn, store=store, registry=ModelRegistry(registry, "fraud-models"),
        package_arn=PACKAGE, policy=ApprovalPolicy(), environment_policies=release_managers,
    )  # fmt: skip

    # Anyone may answer under the platform's policy; production's approvers are the release managers only.
    assert outcome.result == "refused"
    assert "is not an approver" in outcome.message
    assert "ReleaseManagers" in outcome.message
    life_cycle = registry.package["ModelLifeCycle"]
    assert (life_cycle["Stage"], life_cycle["StageStatus"]) == ("production", "AwaitingApproval")  # waits again
    assert store.get_approval(approval_id).status == "pending"
    assert sfn.sent == []


def test_mlops_approve_answers_an_environments_promotion_in_its_stage(store: PromotionStore) -> None:
    approval_id = store.put_approval(
        task_token=TOKEN,
        execution_arn=EXECUTION,
        context={"candidate": {"arn": PACKAGE, "version": 2}, "environment": "production"},
    )
    registry = FakeRegistry(caller=ALICE)
    registry.package["ModelLifeCycle"] = {"Stage": "production", "StageStatus": "AwaitingApproval"}

    request_decision(
        ModelRegistry(registry, "fraud-models"), store.get_approval(approval_id), decision="approve", comment="ok"
    )

    life_cycle = registry.package["ModelLifeCycle"]
    assert (life_cycle["Stage"], life_cycle["StageStatus"]) == ("production", "Approved")


class _History:
    """GetExecutionHistory over ``count`` events, newest first, pages of ``maxResults`` as Step Functions sends."""

    def __init__(self, count: int) -> None:
        self.events = [{"id": i, "type": "PassStateEntered"} for i in range(1, count + 1)]
        self.requests: list[dict[str, Any]] = []

    def get_execution_history(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        ordered = self.events[::-1] if request["reverseOrder"] else self.events
        start = int(request.get("nextToken", 0))
        end = start + request["maxResults"]
        return {"events": ordered[start:end], **({"nextToken": str(end)} if end < len(ordered) else {})}


@pytest.mark.parametrize(
    ("count", "after", "pages"), [(100, 95, [FIRST_PAGE]), (100, 50, [FIRST_PAGE, 1000]), (3, 0, [FIRST_PAGE])]
)
def test_a_poll_reads_the_history_newest_first_only_as_far_back_as_its_new_events(
    count: int, after: int, pages: list[int]
) -> None:
    history = _History(count)

    events = new_events(history, "arn:execution", after)

    assert [e["id"] for e in events] == list(range(after + 1, count + 1))  # oldest first
    assert [r["maxResults"] for r in history.requests] == pages
    assert all(r["reverseOrder"] for r in history.requests)
