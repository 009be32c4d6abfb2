"""The promotion state machine definition: valid ASL, every substitution defined, every failure path
restores the previous model and releases the lock before ending FAILED."""

from __future__ import annotations

import functools
import json
import re

import pytest

from cdk.constructs.promotion_workflow import DEFINITION
from mlops_kit.promotion.steps import ACTIONS

SUBSTITUTIONS = {"PromotionFunctionArn", "WorkflowTimeoutSeconds"}  # what PromotionWorkflow passes
EXAMPLE = {
    "PromotionFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:f",
    "WorkflowTimeoutSeconds": "86400",
}


def substituted() -> str:
    """The definition as CloudFormation hands it to Step Functions (placeholders filled in as text)."""
    text = DEFINITION.read_text()
    for key, value in EXAMPLE.items():
        text = text.replace("${" + key + "}", value)
    return text


ASL = json.loads(substituted())
STATES = ASL["States"]


def targets(state: dict) -> set[str]:
    found = set()
    if "Next" in state:
        found.add(state["Next"])
    for choice in state.get("Choices", []):
        found.add(choice["Next"])
    if "Default" in state:
        found.add(state["Default"])
    for catch in state.get("Catch", []):
        found.add(catch["Next"])
    return found


def reachable_from(start: str) -> set[str]:
    seen, stack = set(), [start]
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack.extend(targets(STATES[name]))
    return seen


def test_every_substitution_is_defined_and_used() -> None:
    used = set(re.findall(r"\$\{(\w+)\}", DEFINITION.read_text()))

    assert used == SUBSTITUTIONS


def test_the_workflow_times_out_with_the_substituted_budget() -> None:
    assert ASL["TimeoutSeconds"] == 86400


def test_every_transition_targets_an_existing_state_and_every_state_is_reachable() -> None:
    for name, state in STATES.items():
        assert targets(state) <= set(STATES), f"{name} goes to an unknown state"

    assert reachable_from(ASL["StartAt"]) == set(STATES)


def test_the_definition_parses_with_the_asl_interpreter() -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    AmazonStateLanguageParser.parse(substituted())


@pytest.mark.parametrize("name", [n for n, s in STATES.items() if s["Type"] == "Task"])
def test_every_task_retries_transient_errors(name: str) -> None:
    retriers = STATES[name].get("Retry", [])

    assert retriers, f"{name} has no Retry"
    assert all(r["MaxAttempts"] >= 3 for r in retriers)


def test_every_catch_after_validation_ends_through_restore_and_release() -> None:
    # Once the lock is taken (Validate succeeded), any failure goes to Abort; Abort and the restore loop end in
    # AbortFinish (reject, record, release the lock, notify), which ends in the Fail state with the cause.
    for name, state in STATES.items():
        for catch in state.get("Catch", []):
            if name == "Validate":
                assert catch["Next"] == "Refused"
            elif name in ("Abort", "RestoreCheck", "AbortFinish"):
                assert catch["Next"] in ("AbortFinish", "PromotionFailed")
            else:
                assert catch["Next"] in ("Abort", "ApprovalTimedOut"), f"{name} catches to {catch['Next']}"
    assert reachable_from("Abort") >= {"AbortFinish", "PromotionFailed"}
    assert "Promoted" not in reachable_from("Abort")
    assert STATES["PromotionFailed"]["Type"] == "Fail"
    assert STATES["PromotionFailed"]["CausePath"] == "$.failure.Cause"


def test_the_approval_waits_in_a_clearly_named_state_with_a_timeout() -> None:
    waiting = STATES["WaitForHumanApproval"]

    assert waiting["Resource"].endswith("lambda:invoke.waitForTaskToken")
    assert waiting["TimeoutSecondsPath"] == "$.plan.approval_timeout_seconds"
    assert {c["Next"] for c in waiting["Catch"]} == {"ApprovalTimedOut", "Abort"}


def test_endpoint_updates_are_polled_not_synced() -> None:
    sync = [n for n, s in STATES.items() if str(s.get("Resource", "")).endswith(".sync")]
    pollers = [n for n in STATES if _actions().get(n) == "check_endpoint"]

    assert sync == []
    assert len(pollers) == 8


@functools.cache
def _loops() -> list[list[str]]:
    """The cycles of the state graph (each polling loop, and Abort's busy wait), as lists of state names."""
    found: list[list[str]] = []

    def walk(path: list[str]) -> None:
        for target in sorted(targets(STATES[path[-1]])):
            if target == path[0]:
                found.append(path)
            elif target not in path and target > path[0]:  # each cycle once, from its smallest state name
                walk([*path, target])

    for name in STATES:
        walk([name])
    return found


def test_every_loop_runs_a_step_that_bounds_it() -> None:
    # A loop that only Waits and Describes polls until the 25,000-event history limit. check_endpoint counts
    # polls (failing past plan.awaiting.max_polls) and Abort counts busy waits (giving up past the bound).
    loops = _loops()

    assert loops, "the definition has polling loops"
    for loop in loops:
        assert {_actions().get(name) for name in loop} & {"check_endpoint", "abort"}, loop


@pytest.mark.parametrize("name", [n for n in STATES if n.endswith("Ready?")])
def test_every_polling_choice_fails_on_failure_and_polls_only_while_in_progress(name: str) -> None:
    choice = STATES[name]
    outcomes = {c["StringEquals"]: c["Next"] for c in choice["Choices"] if c["Variable"] == "$.endpoint.state"}

    assert set(outcomes) == {"done", "failed"}
    assert outcomes["failed"] in ("Abort", "AbortFinish")
    assert choice["Default"].endswith("Wait")
    assert all("InService" not in json.dumps(c) for c in choice["Choices"])  # status alone is never success


def _actions() -> dict[str, str]:
    """Each Lambda task's ``action``, by state name."""
    found = {}
    for name, state in STATES.items():
        payload = state.get("Parameters", {}).get("Payload", {})
        if "action" in payload:
            found[name] = payload["action"]
    return found


def test_every_action_the_state_machine_names_exists_in_the_dispatcher() -> None:
    unknown = {state: action for state, action in _actions().items() if action not in ACTIONS}

    assert unknown == {}


def test_every_dispatcher_action_is_used_by_the_state_machine() -> None:
    assert set(ACTIONS) - set(_actions().values()) == set()


def test_each_loop_round_writes_the_events_the_history_budget_counts() -> None:
    # RolloutSettings.history_events_bound counts EVENTS_PER_POLL per round: a Wait (2 events), one Lambda task
    # (5) and a Choice (2). A loop with more states would overflow the budget the config cross-check relies on.
    from mlops_kit.promotion.settings import EVENTS_PER_POLL

    polling = [loop for loop in _loops() if "ShiftTraffic" not in loop]  # the rollout steps: EVENTS_PER_STEP
    for loop in polling:
        assert sorted(STATES[name]["Type"] for name in loop) == ["Choice", "Task", "Wait"], loop
    assert len(polling) == 9  # eight check_endpoint loops and Abort's busy wait
    assert EVENTS_PER_POLL == 2 + 5 + 2
