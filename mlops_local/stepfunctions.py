"""Step Functions on the emulator: state machines created by CloudFormation execute, on the emulator's clock.

moto's ASL interpreter (ported from LocalStack) runs executions, but only for state machines created through its
API while it is switched on: CloudFormation creates them in the non-executing backend and ignores
``DefinitionSubstitutions``. Wait states, Retry intervals, task-token and state-machine timeouts run in real
time on threads the emulator cannot see (here its threads, events and sleeps run on the emulator's clock,
:mod:`mlops_local.clock`), a Fail state that re-raises a caught ``States.*`` error crashes the interpreter, aws-sdk
task results keep ``datetime``s that DescribeExecution cannot serialise, and StartExecution without a name
collides on the second call. Parallel and Map states are not on the clock (the kit uses neither). moto also parses
every JSONPath a state reads with a jsonpath-ng parser it builds anew each time (PLY's tables rebuilt per path); each
path is parsed once here, which took a 25,000-event execution from 11-13 s to under 2 s. Likewise each definition:
moto parses it with ANTLR at CreateStateMachine and again at every StartExecution; here once per process. And each
Lambda task's client: moto builds one per Invoke; here one per region and destination, for the emulator's life.

AWS's hard quota of 25,000 events per execution history is enforced (moto has none): when an execution has
24,999 events and the next is not ExecutionSucceeded, event 25,000 is ExecutionFailed with States.Runtime, "The
execution reached the maximum number of history events (25000).", and the execution stops there.
"""

from __future__ import annotations

import base64
import copy
import datetime as _dt
import functools
import json
import threading
import uuid
from typing import Any

from mlops_local import clock
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
        name="sfn-history-pages",
        module="moto.stepfunctions.responses",
        attribute="StepFunctionResponse.get_execution_history",
        signature="(self) -> moto.core.responses.ActionResult",
        why=(
            "GetExecutionHistory returns every event at once; AWS returns pages (maxResults, default 100, at most "
            "1000), newest first with reverseOrder, continued by nextToken: a client that does not page misses events"
        ),
    ),
    PatchPoint(
        name="sfn-history-limit",
        module="moto.stepfunctions.parser.asl.eval.event.event_manager",
        attribute="EventManager.add_event",
        signature=(
            "(self, context: 'EventHistoryContext', event_type: 'HistoryEventType', event_details: 'EventDetails "
            "| None' = None, timestamp: 'Timestamp' = None, update_source_event_id: 'bool' = True) -> 'int'"
        ),
        why=(
            "an execution history has no limit in moto; AWS fails the execution at 25,000 events (States.Runtime), "
            "which is what ends a polling loop without an exit"
        ),
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
        name="sfn-jsonpath-parsed-once",
        module="moto.stepfunctions.parser.asl.utils.json_path",
        attribute="parse",
        signature="(path: 'str', debug: 'bool | None' = None) -> 'JSONPath'",
        why=(
            "every JSONPath a state reads (InputPath, Parameters, Choice variables, intrinsic arguments) is parsed "
            "again by a parser built anew each time: building jsonpath-ng's PLY tables was half of all interpreter time"
        ),
    ),
    PatchPoint(
        name="sfn-result-path-parsed-once",
        module="moto.stepfunctions.parser.asl.component.common.path.result_path",
        attribute="parse",
        signature="(string: 'str') -> 'JSONPath'",
        why="every ResultPath is parsed again, by a parser built anew each time, at every state that has one",
    ),
    PatchPoint(
        name="sfn-definition-parsed-once",
        module="moto.stepfunctions.parser.asl.parse.asl_parser",
        attribute="AmazonStateLanguageParser.parse",
        signature=(
            "(definition: str) -> tuple[moto.stepfunctions.parser.asl.component.eval_component.EvalComponent, "
            "antlr4.ParserRuleContext.ParserRuleContext]"
        ),
        why=(
            "CreateStateMachine and every StartExecution parse the whole definition again with ANTLR's Python runtime "
            "(0.3-0.7 s for the promotion workflow): a tenth of a promotion scenario's time"
        ),
    ),
    PatchPoint(
        name="sfn-lambda-task-client-reused",
        module="moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
        attribute="boto_client_for",
        signature="(region: str, service: str, state_credentials: Any = None) -> botocore.client.BaseClient",
        why=(
            "every Lambda task builds a new boto3 client (a service model loaded, a client class made) for one "
            "Invoke: 1.5% of the integration tests' interpreter time. The client carries no identity (the task acts "
            "as the state machine's role through the emulator's thread-local identity), so one per region serves all"
        ),
    ),
)

_P = "moto.stepfunctions.parser."
_CLOCK_MODULES: tuple[tuple[str, str, str], ...] = (
    ("program", "asl.component.program.program", "threading"),
    ("execution-worker", "backend.execution_worker", "Thread"),
    ("execute-state-thread", "asl.component.state.exec.execute_state", "Thread"),
    ("execute-state-events", "asl.component.state.exec.execute_state", "threading"),
    ("environment", "asl.eval.environment", "threading"),
    ("callback", "asl.eval.callback.callback", "Event"),
    ("retrier", "asl.component.common.retry.retrier_decl", "time"),
    ("callback-task-threads", "asl.component.state.exec.state_task.service.state_task_service_callback", "threading"),
    ("callback-task-sleep", "asl.component.state.exec.state_task.service.state_task_service_callback", "time"),
)
CLOCK_POINTS: tuple[PatchPoint, ...] = tuple(
    PatchPoint(
        name=f"sfn-clock-{label}",
        module=_P + module,
        attribute=attribute,
        signature="",
        why=(
            f"the interpreter's threads, events and sleeps in {module.rsplit('.', 1)[-1]} run on the emulator's "
            "clock (Wait states, retries, task and state-machine timeouts, task tokens)"
        ),
    )
    for label, module, attribute in _CLOCK_MODULES
)
PATCH_POINTS = PATCH_POINTS + CLOCK_POINTS


def api_shape(value: Any) -> Any:
    """A CloudFormation property (PascalCase keys: ``IncludeExecutionData``) in the Step Functions API's shape
    (camelCase: ``includeExecutionData``), as DescribeStateMachine returns it."""
    if isinstance(value, dict):
        return {key[:1].lower() + key[1:]: api_shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [api_shape(item) for item in value]
    return value


def _iso_datetimes(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _iso_datetimes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_iso_datetimes(v) for v in value]
    return value


_CLOCK_STAND_INS: dict[str, Any] = {
    "threading": clock.ThreadingShim(),
    "Thread": clock.Thread,
    "Event": clock.Event,
    "time": clock.TimeShim(),
}


HISTORY_EVENT_LIMIT = 25_000  # AWS's hard quota of events in one execution history
HISTORY_LIMIT_ERROR = "States.Runtime"
HISTORY_LIMIT_CAUSE = f"The execution reached the maximum number of history events ({HISTORY_EVENT_LIMIT})."
# The events that end an execution (the interpreter's Program emits exactly one of them, last).
_TERMINAL_EVENTS = frozenset({"ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"})

HISTORY_PAGE_DEFAULT = 100
HISTORY_PAGE_MAX = 1000


def history_page(
    events: list[Any], *, max_results: int | None, reverse: bool, token: str | None
) -> tuple[list[Any], str | None]:
    """One page of an execution history, as GetExecutionHistory pages it; the token is the next offset."""
    if max_results is not None and not 0 <= max_results <= HISTORY_PAGE_MAX:
        raise ValueError(f"maxResults must be between 0 and {HISTORY_PAGE_MAX}, got {max_results}")
    size = max_results or HISTORY_PAGE_DEFAULT
    ordered = events[::-1] if reverse else events
    try:
        start = int(base64.urlsafe_b64decode((token or "MA==").encode()).decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidTokenError(f"Invalid Token: {token!r}") from exc
    page = ordered[start : start + size]
    following = start + size
    return page, base64.urlsafe_b64encode(str(following).encode()).decode() if following < len(ordered) else None


def _history_events(backend: Any, execution_arn: str) -> list[Any]:
    """The execution's history events, in order, without copying them."""
    execution = backend.describe_execution(execution_arn=execution_arn)
    worker = getattr(execution, "exec_worker", None)
    env = getattr(worker, "env", None)
    if env is None:  # not started yet
        return []
    manager = env.event_manager
    with manager._mutex:
        return list(manager._history_event_list)


class InvalidTokenError(ValueError):
    """A nextToken this emulator did not hand out."""


def _history_limit_exception() -> Exception:
    """What stops an execution whose history is full: a failure the interpreter reports as the execution's error
    (States.Runtime, AWS's cause, undecorated), raised wherever the next event would have been recorded."""
    from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )

    details = ExecutionFailedEventDetails(error=HISTORY_LIMIT_ERROR, cause=HISTORY_LIMIT_CAUSE)

    class HistoryLimitReached(FailureEventException):
        def get_execution_failed_event_details(self) -> Any:
            return details  # AWS's cause as it is (the interpreter prefixes States.Runtime causes with the state)

    # FailureEvent's constructor reads the state from an environment; the limit belongs to no state.
    event = object.__new__(FailureEvent)
    for name, value in {
        "state_name": "",
        "source_event_id": 0,
        "error_name": StatesErrorName(typ=StatesErrorNameType.StatesRuntime),
        "event_type": HistoryEventType.ExecutionFailed,
        "event_details": {"executionFailedEventDetails": details},
    }.items():
        object.__setattr__(event, name, value)
    return HistoryLimitReached(failure_event=event)


def _limit_history(original_add_event: Any) -> Any:
    """EventManager.add_event with AWS's history quota. The event id generator is the counter: nothing is rescanned.

    At event HISTORY_EVENT_LIMIT anything but ExecutionSucceeded becomes the ExecutionFailed event, and every later
    attempt to record an event raises, which unwinds the running state (a Retry or Catch handler records an event
    first, so it unwinds too) up to the interpreter, which ends the execution FAILED with the history-limit error.
    """
    from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType

    def add_event(manager: Any, context: Any, event_type: Any, event_details: Any = None, **kwargs: Any) -> int:
        with manager._mutex:
            next_id = manager._event_id_gen._next_id
        kind = str(getattr(event_type, "value", event_type))
        if next_id < HISTORY_EVENT_LIMIT or (next_id == HISTORY_EVENT_LIMIT and kind == "ExecutionSucceeded"):
            return int(original_add_event(manager, context, event_type, event_details, **kwargs))
        if next_id > HISTORY_EVENT_LIMIT:  # full: the execution has ended; nothing more is recorded
            if kind in _TERMINAL_EVENTS:
                return HISTORY_EVENT_LIMIT
            raise _history_limit_exception()
        failed: Any = {
            "executionFailedEventDetails": ExecutionFailedEventDetails(
                error=HISTORY_LIMIT_ERROR, cause=HISTORY_LIMIT_CAUSE
            )
        }
        original_add_event(manager, context, HistoryEventType.ExecutionFailed, failed, **kwargs)
        if kind in _TERMINAL_EVENTS:  # the interpreter was ending the execution anyway
            return HISTORY_EVENT_LIMIT
        raise _history_limit_exception()

    return add_event


def substitute_definition(definition: str, substitutions: dict[str, Any] | None) -> str:
    """Apply CloudFormation ``DefinitionSubstitutions`` (``${Name}``) to an ASL definition string."""
    for key, value in (substitutions or {}).items():
        definition = definition.replace("${" + key + "}", str(value))
    return definition


def apply(patcher: Patcher) -> None:
    points = points_by_name(PATCH_POINTS)
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

    for point in CLOCK_POINTS:
        patcher.replace(point, _CLOCK_STAND_INS[point.attribute])

    wire_events: dict[tuple[str, int], dict[str, Any]] = {}  # (execution, event id) -> its JSON wire form

    def get_execution_history(response: Any) -> Any:
        from moto.core.responses import ActionResult
        from moto.stepfunctions.exceptions import InvalidToken as AwsInvalidToken

        events = _history_events(response.stepfunction_backend, response._get_param("executionArn"))
        try:
            page, token = history_page(
                events,
                max_results=response._get_param("maxResults"),
                reverse=bool(response._get_param("reverseOrder")),
                token=response._get_param("nextToken"),
            )
        except InvalidTokenError as exc:
            raise AwsInvalidToken(str(exc)) from exc
        # A history event never changes once recorded, so each is serialized once (by moto's serializer, so
        # the wire form is moto's) and pages are put together from those: followers read the history every
        # poll, and moto's shape walk and timestamp parsing made that most of a promotion's CPU time.
        arn = response._get_param("executionArn")
        wire = []
        for event in page:
            key = (arn, event["id"])
            if key not in wire_events:
                _, _, body = response.serialized(ActionResult({"events": [copy.deepcopy(event)]}))
                wire_events[key] = json.loads(body)["events"][0]
            wire.append(wire_events[key])
        return json.dumps({"events": wire, **({"nextToken": token} if token else {})})

    patcher.replace(points["sfn-history-pages"], get_execution_history)
    patcher.replace(points["sfn-history-limit"], _limit_history(points["sfn-history-limit"].original()))

    custom_error_name = points["sfn-fail-states-error"].original()

    def fail_state_error_name(error_name: str | None) -> Any:
        if error_name and error_name.startswith("States."):
            name = object.__new__(custom_error_name)
            name.error_name = error_name  # ErrorName.__init__ without CustomErrorName's prefix check
            return name
        return custom_error_name(error_name)

    patcher.replace(points["sfn-fail-states-error"], fail_state_error_name)
    for name in ("sfn-jsonpath-parsed-once", "sfn-result-path-parsed-once"):
        patcher.replace(points[name], parsed_once(points[name].original()))
    patcher.replace(
        points["sfn-definition-parsed-once"],
        staticmethod(definition_parsed_once(points["sfn-definition-parsed-once"].original())),
    )
    patcher.replace(
        points["sfn-lambda-task-client-reused"], clients_reused(points["sfn-lambda-task-client-reused"].original())
    )


def clients_reused(client_for: Any) -> Any:
    """moto's ``boto_client_for``, remembering its client per region, service and where requests go (intercepted in
    process, or the local server's port): botocore clients are safe to share between threads once made."""
    from moto.core.models import botocore_stubber
    from moto.settings import moto_server_port

    made: dict[tuple[str, str, bool, str], Any] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        key = (region, service, bool(botocore_stubber.enabled), moto_server_port())
        with lock:  # a boto3 session is not safe to make clients from on two threads at once
            if key not in made:
                made[key] = client_for(region=region, service=service, state_credentials=state_credentials)
            return made[key]

    return boto_client_for


@functools.cache  # one cache per parse function for the process: every emulator a test run starts shares it
def parsed_once(parse: Any) -> Any:
    """``parse`` (a jsonpath-ng parse function) remembering each path's expression: an expression is built once and
    never changed after (its nodes set their fields in ``__init__`` only; ``find`` and ``update_or_create`` change the
    data, not the expression), so the state machines' threads can share it. The states' paths are few and fixed by
    their definitions; the cache holds at most :data:`PARSED_PATHS` of them."""
    cached = functools.lru_cache(maxsize=PARSED_PATHS)(parse)

    def parse_once(path: str, *args: Any, **kwargs: Any) -> Any:
        return cached(path) if not args and not kwargs else parse(path, *args, **kwargs)

    return parse_once


PARSED_PATHS = 4096


@functools.cache
def definition_parsed_once(parse: Any) -> Any:
    """``parse`` (the ASL parser) remembering each definition's program and parse tree, for the process.

    A program is built once and then only read: its components set their fields when built, and an execution keeps
    its state in its own ``Environment``. The one field set later, an ``EvalComponent``'s ``heap_key`` (the key of a
    retrier's attempt count in the environment), is set here before the program is shared, so two executions that
    reach the same retrier at once cannot each make up a key. A definition that does not parse raises each time (an
    exception is not remembered). At most :data:`PARSED_DEFINITIONS` definitions are kept."""

    @functools.lru_cache(maxsize=PARSED_DEFINITIONS)
    def parse_once(definition: str) -> Any:
        program, tree = parse(definition)
        for component in _eval_components(program):
            _ = component.heap_key
        return program, tree

    return parse_once


PARSED_DEFINITIONS = 256


def _eval_components(root: Any) -> list[Any]:
    """Every ``EvalComponent`` reachable from ``root`` through fields, lists, tuples and dicts."""
    from moto.stepfunctions.parser.asl.component.component import Component
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    found, seen, pending = [], set(), [root]
    while pending:
        value = pending.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, list | tuple | set | frozenset):
            pending.extend(value)
        elif isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, Component):
            if isinstance(value, EvalComponent):
                found.append(value)
            pending.extend(getattr(value, "__dict__", {}).values())
    return found


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
            loggingConfiguration=api_shape(properties.get("LoggingConfiguration")),
            tracingConfiguration=api_shape(properties.get("TracingConfiguration")),
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
            logging_configuration=api_shape(properties.get("LoggingConfiguration")),
            tracing_configuration=api_shape(properties.get("TracingConfiguration")),
        )

    def delete(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str) -> None:
        backend(account_id, region_name).delete_state_machine(resource_name)

    patcher.replace(points["sfn-cloudformation-create"], classmethod(create))
    patcher.replace(points["sfn-cloudformation-update"], classmethod(update))
    patcher.replace(points["sfn-cloudformation-delete"], classmethod(delete))
