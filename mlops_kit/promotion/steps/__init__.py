"""The promotion workflow's steps, one module per group of states in ``step_functions/promotion.asl.json``.

The state machine calls one Lambda with ``{"action": <name>, "state": {...}}``; :data:`STEPS` maps each action
name to its function. Find a state's code from its name:

==========================================  =====================================  ==========================
ASL state                                   action                                 module
==========================================  =====================================  ==========================
Validate                                    validate                               ``steps/validate.py``
DeployDirect                                deploy_direct                          ``steps/deploy_direct.py``
StartShadow, BeginShadowBake, CompareShadow start_shadow, begin_shadow_bake,       ``steps/shadow.py``
EndShadow                                   compare_shadow, end_shadow
WaitForHumanApproval, VerifyApproval        request_approval, verify_approval      ``steps/approval.py``
PrepareCanary, ShiftTraffic, CheckAlarms,   prepare_canary, shift_traffic,         ``steps/canary.py``
CompleteRollout                             check_alarms, complete_rollout
StartGuardrails                             start_guardrails                       ``steps/guardrails.py``
SwapCheckAlarms (all_at_once)               check_alarms                           ``steps/canary.py``
Finalize                                    finalize                               ``steps/finalize.py``
Abort, AbortFinish                          abort, abort_finish                    ``steps/abort.py``
DeployCheck, ShadowCheck, CanaryCheck,      check_endpoint                         ``steps/check_endpoint.py``
ShiftCheck, CompleteCheck, EndShadowCheck,
GuardrailsCheck, RestoreCheck
==========================================  =====================================  ==========================

Every step is idempotent where a retry could repeat it: models and endpoint configs are named by a digest of
their content and created only when absent (:mod:`mlops_kit.serving.deploy`), an update to the config the
endpoint already has (or is moving to) is not repeated, registry moves are no-ops when already done, and the
lock is re-entrant for its holder.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlops_kit.promotion.context import Promotion
from mlops_kit.promotion.steps import (
    abort,
    approval,
    canary,
    check_endpoint,
    deploy_direct,
    finalize,
    guardrails,
    shadow,
    validate,
)

Step = Callable[[Promotion, dict[str, Any]], dict[str, Any]]
CallbackStep = Callable[[Promotion, dict[str, Any], str], dict[str, Any]]

STEPS: dict[str, Step] = {
    "validate": validate.validate,
    "deploy_direct": deploy_direct.deploy_direct,
    "start_shadow": shadow.start_shadow,
    "begin_shadow_bake": shadow.begin_shadow_bake,
    "compare_shadow": shadow.compare_shadow,
    "prepare_canary": canary.prepare_canary,
    "shift_traffic": canary.shift_traffic,
    "check_alarms": canary.check_alarms,
    "complete_rollout": canary.complete_rollout,
    "end_shadow": shadow.end_shadow,
    "start_guardrails": guardrails.start_guardrails,
    "check_endpoint": check_endpoint.check_endpoint,
    "finalize": finalize.finalize,
    "abort": abort.abort,
    "abort_finish": abort.abort_finish,
    "verify_approval": approval.verify_approval,
}
# Steps that run under a task token (``.waitForTaskToken``): they get the token as well.
CALLBACK_STEPS: dict[str, CallbackStep] = {"request_approval": approval.request_approval}
ACTIONS = frozenset(STEPS) | frozenset(CALLBACK_STEPS)


def run_action(
    promotion: Promotion, action: str, state: dict[str, Any], task_token: str | None = None
) -> dict[str, Any]:
    """Run the step called ``action`` on ``state``; raises ValueError for an unknown action, or a callback step
    called without its task token."""
    if action in CALLBACK_STEPS:
        if not task_token:
            raise ValueError(f"{action} runs under a task token: pass $$.Task.Token as task_token")
        return CALLBACK_STEPS[action](promotion, state, task_token)
    if action not in STEPS:
        raise ValueError(f"unknown promotion action {action!r}; known: {sorted(ACTIONS)}")
    return STEPS[action](promotion, state)
