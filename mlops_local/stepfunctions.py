"""Step Functions on the emulator: state machines created by CloudFormation execute, on the emulator's clock.

moto's ASL interpreter (ported from LocalStack) runs executions, but only for state machines created through its
API while it is switched on: CloudFormation creates them in the non-executing backend and ignores
``DefinitionSubstitutions``. Wait states, Retry intervals and task-token timeouts sleep in real time, a Fail state
that re-raises a caught ``States.*`` error crashes the interpreter, aws-sdk task results keep ``datetime``s that
DescribeExecution cannot serialise, and StartExecution without a name collides on the second call.
"""

from __future__ import annotations

import datetime as _dt
import json
import time
import uuid
from typing import Any

from mlops_local.clock import TimeScale
from mlops_local.patching import Patcher, PatchPoint, points_by_name

PATCH_POINTS: tuple[PatchPoint, ...] = (
    PatchPoint(
        name="sfn-cloudformation-create",
        module="moto.stepfunctions.models",
        attribute="StateMachine.create_from_cloudformation_json",
        signature=(
            "(cls, resource_name: 'str', cloudformation_json: 'Any', account_id: 'str', region_name: 's"
            "tr', **kwargs: 'Any') -> 'StateMachine'"
        ),
        why=(
            "CloudFormation creates state machines in the non-executing backend and ignores "
            "DefinitionSubstitutions; create them where the ASL interpreter runs, substituted"
        ),
    ),
    PatchPoint(
        name="sfn-cloudformation-update",
        module="moto.stepfunctions.models",
        attribute="StateMachine.update_from_cloudformation_json",
        signature=(
            "(cls, original_resource: 'Any', new_resource_name: 'str', cloudformation_json: 'Any', acco"
            "unt_id: 'str', region_name: 'str') -> 'StateMachine'"
        ),
        why="stack updates must update the executing backend's state machine, substituted",
    ),
    PatchPoint(
        name="sfn-cloudformation-delete",
        module="moto.stepfunctions.models",
        attribute="StateMachine.delete_from_cloudformation_json",
        signature=(
            "(cls, resource_name: 'str', cloudformation_json: 'Any', account_id: 'str', region_name: 'str') -> 'None'"
        ),
        why="stack deletion must delete from the executing backend",
    ),
    PatchPoint(
        name="sfn-execution-name",
        module="moto.stepfunctions.parser.models",
        attribute="StepFunctionsParserBackend.start_execution",
        signature=(
            "(self, state_machine_arn: str, name: str = None, execution_input: str = None, "
            "trace_header: str = None) -> moto.stepfunctions.parser.backend.execution.Execution"
        ),
        why="StartExecution without a name yields the ARN '...:None' and the second call collides",
    ),
    PatchPoint(
        name="sfn-aws-sdk-datetimes",
        module=("moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk"),
        attribute="StateTaskServiceAwsSdk._eval_service_task",
        signature=(
            "(self, env: moto.stepfunctions.parser.asl.eval.environment.Environment, resource_runtime_p"
            "art: moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource.Resour"
            "ceRuntimePart, normalised_parameters: dict, state_credentials: moto.stepfunctions.parser.a"
            "sl.component.state.exec.state_task.credentials.StateCredentials)"
        ),
        why="aws-sdk task results keep datetimes and DescribeExecution then fails to serialise them",
    ),
    PatchPoint(
        name="sfn-wait-time",
        module="moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function",
        attribute="WaitFunction._wait_interval",
        signature=(
            "(self, env: moto.stepfunctions.parser.asl.eval.environment.Environment, wait_seconds: int) -> None"
        ),
        why="Wait states sleep in real time; scale them by the emulator's time scale",
    ),
    PatchPoint(
        name="sfn-retry-time",
        module="moto.stepfunctions.parser.asl.component.common.retry.retrier_decl",
        attribute="time",
        signature="",
        why="Retry intervals sleep through this module's `time`; scale them by the emulator's time scale",
    ),
    PatchPoint(
        name="sfn-fail-states-error",
        module="moto.stepfunctions.parser.asl.component.state.fail.state_fail",
        attribute="CustomErrorName",
        signature="(error_name: str | None)",
        why=(
            "a Fail state whose ErrorPath carries a caught States.* error (States.Runtime, States.Timeout) crashes "
            "the execution with a ValueError; AWS reports that error"
        ),
    ),
    PatchPoint(
        name="sfn-callback-timeout",
        module="moto.stepfunctions.parser.asl.eval.callback.callback",
        attribute="CallbackEndpoint.wait",
        signature=(
            "(self, timeout: float | None = None) -> "
            "moto.stepfunctions.parser.asl.eval.callback.callback.CallbackOutcome | None"
        ),
        why="waitForTaskToken timeouts (approval timeouts) run in real time; scale them",
    ),
)


class _ScaledTime:
    """Stands in for the `time` module inside moto's retrier: same module, scaled sleeps."""

    def __init__(self, scale: TimeScale) -> None:
        self._scale = scale

    def sleep(self, seconds: float) -> None:
        time.sleep(self._scale.scale(seconds))

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def _iso_datetimes(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _iso_datetimes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_iso_datetimes(v) for v in value]
    return value


def substitute_definition(definition: str, substitutions: dict[str, Any] | None) -> str:
    """Apply CloudFormation ``DefinitionSubstitutions`` (``${Name}``) to an ASL definition string."""
    for key, value in (substitutions or {}).items():
        definition = definition.replace("${" + key + "}", str(value))
    return definition


def apply(patcher: Patcher) -> None:
    points = points_by_name(PATCH_POINTS)
    scale = patcher.emulator.time_scale
    _patch_cloudformation(patcher, points)

    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original_start: Any = StepFunctionsParserBackend.start_execution

    def start_execution(
        backend: Any,
        state_machine_arn: str,
        name: str | None = None,
        execution_input: str | None = None,
        trace_header: str | None = None,
    ) -> Any:
        return original_start(backend, state_machine_arn, name or str(uuid.uuid4()), execution_input, trace_header)

    patcher.replace(points["sfn-execution-name"], start_execution)

    original_sdk_task = points["sfn-aws-sdk-datetimes"].original()

    def eval_service_task(task: Any, env: Any, *args: Any, **kwargs: Any) -> None:
        original_sdk_task(task, env, *args, **kwargs)
        if env.stack:
            env.stack[-1] = _iso_datetimes(env.stack[-1])

    patcher.replace(points["sfn-aws-sdk-datetimes"], eval_service_task)

    def wait_interval(function: Any, env: Any, wait_seconds: int) -> None:
        seconds = scale.scale(wait_seconds)
        if seconds > 0:
            env.program_state_event.wait(seconds)

    patcher.replace(points["sfn-wait-time"], wait_interval)
    patcher.replace(points["sfn-retry-time"], _ScaledTime(scale))

    custom_error_name = points["sfn-fail-states-error"].original()

    def fail_state_error_name(error_name: str | None) -> Any:
        if error_name and error_name.startswith("States."):
            name = object.__new__(custom_error_name)
            name.error_name = error_name  # ErrorName.__init__ without CustomErrorName's prefix check
            return name
        return custom_error_name(error_name)

    patcher.replace(points["sfn-fail-states-error"], fail_state_error_name)

    original_wait = points["sfn-callback-timeout"].original()

    def callback_wait(endpoint: Any, timeout: float | None = None) -> Any:
        return original_wait(endpoint, None if timeout is None else scale.scale(timeout))

    patcher.replace(points["sfn-callback-timeout"], callback_wait)


def _patch_cloudformation(patcher: Patcher, points: dict[str, PatchPoint]) -> None:
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    def backend(account_id: str, region_name: str) -> Any:
        return stepfunctions_parser_backends[account_id][region_name]

    def definition_of(properties: dict[str, Any], account_id: str) -> str:
        definition = properties.get("DefinitionString")
        if definition is None and "Definition" in properties:
            definition = json.dumps(properties["Definition"])
        location = properties.get("DefinitionS3Location")
        if definition is None and location:  # DefinitionBody.from_file publishes the file as an S3 asset
            from moto.s3.models import s3_backends

            obj = s3_backends[account_id]["aws"].get_object(location["Bucket"], location["Key"])
            definition = obj.value.decode() if obj is not None else None
        if not definition:
            raise ValueError("the state machine has no DefinitionString, Definition or readable DefinitionS3Location")
        return substitute_definition(definition, properties.get("DefinitionSubstitutions"))

    def create(
        cls: Any,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        properties = cloudformation_json["Properties"]
        return backend(account_id, region_name).create_state_machine(
            name=properties.get("StateMachineName", resource_name),
            definition=definition_of(properties, account_id),
            roleArn=properties.get("RoleArn", ""),
            tags=[{"key": t["Key"], "value": t["Value"]} for t in properties.get("Tags", [])],
            loggingConfiguration=properties.get("LoggingConfiguration"),
            tracingConfiguration=properties.get("TracingConfiguration"),
            sm_type=properties.get("StateMachineType"),
        )

    def update(
        cls: Any,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Any:
        properties = cloudformation_json.get("Properties", {})
        name = properties.get("StateMachineName", original_resource.name)
        if name != original_resource.name:
            created = create(cls, name, cloudformation_json, account_id, region_name)
            backend(account_id, region_name).delete_state_machine(original_resource.arn)
            return created
        return backend(account_id, region_name).update_state_machine(
            original_resource.arn,
            definition=definition_of(properties, account_id),
            role_arn=properties.get("RoleArn"),
            logging_configuration=properties.get("LoggingConfiguration"),
            tracing_configuration=properties.get("TracingConfiguration"),
        )

    def delete(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str) -> None:
        backend(account_id, region_name).delete_state_machine(resource_name)

    patcher.replace(points["sfn-cloudformation-create"], classmethod(create))
    patcher.replace(points["sfn-cloudformation-update"], classmethod(update))
    patcher.replace(points["sfn-cloudformation-delete"], classmethod(delete))
