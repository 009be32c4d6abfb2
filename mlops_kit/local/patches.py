"""The points where the emulator changes moto's behaviour, each named, each with a contract.

moto gives an accurate model of most AWS APIs but, without Docker, does not *run* anything: Lambda echoes its
payload, CloudFormation-created state machines are invisible to the ASL interpreter, EventBridge cannot
deliver to Lambda or Step Functions, and Wait states sleep for real. Each :class:`PatchPoint` below replaces
one moto attribute. ``signature`` records the attribute's signature in the supported moto release; the
contract tests in ``tests/integration/emulator`` check both that signature and the behaviour, so a moto
upgrade fails loudly at the exact patch point that moved.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import inspect
import json
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_kit.local.compat import check_moto_version

if TYPE_CHECKING:
    from mlops_kit.local.emulator import Emulator


@dataclass(frozen=True)
class PatchPoint:
    """One moto attribute the emulator replaces, and why."""

    name: str
    module: str
    attribute: str  # dotted path inside the module, e.g. "LambdaFunction._invoke_lambda"
    signature: str  # str(inspect.signature(original)) in the supported moto version
    why: str
    adds: bool = False  # the attribute is missing from moto and the emulator adds it

    def exists(self) -> bool:
        owner, leaf = self.owner_and_name()
        return leaf in owner.__dict__ if isinstance(owner, type) else hasattr(owner, leaf)

    def owner_and_name(self) -> tuple[Any, str]:
        owner: Any = importlib.import_module(self.module)
        *parents, leaf = self.attribute.split(".")
        for parent in parents:
            owner = getattr(owner, parent)
        return owner, leaf

    def original(self) -> Any:
        if self.adds and not self.exists():
            return None
        owner, leaf = self.owner_and_name()
        value = owner.__dict__[leaf] if isinstance(owner, type) else getattr(owner, leaf)
        return value.__func__ if isinstance(value, classmethod | staticmethod) else value

    def current_signature(self) -> str:
        return str(inspect.signature(self.original()))


PATCH_POINTS: tuple[PatchPoint, ...] = (
    PatchPoint(
        name="lambda-invoke-api",
        module="moto.awslambda_simple.models",
        attribute="LambdaSimpleBackend.invoke",
        signature=(
            "(self, function_name: str, qualifier: str | None, body: Any, headers: Any, "
            "response_headers: Any) -> str | bytes | None"
        ),
        why="without Docker the Invoke API short-circuits to an echo; route it to the function instead",
    ),
    PatchPoint(
        name="lambda-run-handler",
        module="moto.awslambda.models",
        attribute="LambdaFunction._invoke_lambda",
        signature=("(self, event: 'str | None' = None) -> 'tuple[str, bool, str]'"),
        why="every invocation path ends here; run the deployed handler in-process instead of in Docker",
    ),
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
    PatchPoint(
        name="kms-cloudformation-create",
        module="moto.kms.models",
        attribute="Key.create_from_cloudformation_json",
        signature=(
            "(cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, "
            "**kwargs: Any) -> 'Key'"
        ),
        why="CloudFormation passes Tags as Key/Value and KeyPolicy as an object; KMS expects TagKey/TagValue, JSON",
    ),
    PatchPoint(
        name="s3-policy-conditions",
        module="moto.s3.models",
        attribute="FakeBucket.get_permission",
        signature="(self, action: 'str', resource: 'str') -> 'Any'",
        why=(
            "S3 bucket policies are evaluated ignoring Conditions, so CDK's enforce-TLS statement "
            "(Deny s3:* when aws:SecureTransport is false) denies every request; evaluate that condition"
        ),
    ),
    PatchPoint(
        name="cfn-changeset-outputs",
        module="moto.cloudformation.models",
        attribute="CloudFormationBackend.execute_change_set",
        signature="(self, change_set_name: 'str', stack_name: 'str | None' = None) -> 'None'",
        why=(
            "stacks created through change sets (what `cdk deploy` does) cannot import other stacks' exports, "
            "get no Outputs and register no exports of their own, and their resources are created in template "
            "order with DependsOn ignored"
        ),
    ),
    PatchPoint(
        name="cfn-update-exports",
        module="moto.cloudformation.models",
        attribute="CloudFormationBackend.update_stack",
        signature=(
            "(self, name: 'str', template: 'str', role_arn: 'str | None', "
            "parameters: 'list[dict[str, Any]]', tags: 'dict[str, str] | None') -> 'Stack'"
        ),
        why="UpdateStack rebuilds Outputs but never refreshes the exports other stacks import",
    ),
    PatchPoint(
        name="events-deliver",
        module="moto.events.models",
        attribute="Rule.send_to_targets",
        signature=("(self, original_event: 'EventMessageType', transform_input: 'bool' = True) -> 'None'"),
        why="EventBridge raises NotImplementedError for Lambda and Step Functions targets; deliver them",
    ),
)


def patch_point(name: str) -> PatchPoint:
    for point in all_patch_points():
        if point.name == name:
            return point
    raise KeyError(name)


class TimeScale:
    """Compresses emulated waiting: ``seconds * factor`` of real time is spent per emulated second."""

    def __init__(self, factor: float = 1.0) -> None:
        if factor <= 0:
            raise ValueError("time scale factor must be positive")
        self.factor = factor

    def scale(self, seconds: float) -> float:
        return max(0.0, float(seconds) * self.factor)


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


def _applies(statement: dict[str, Any]) -> bool:
    """Whether a bucket-policy statement's Condition holds for emulator requests.

    Requests to the emulator count as TLS (in-process calls use https URLs; the local server listens on
    loopback only), so ``aws:SecureTransport`` is true. A statement with any other condition is treated as
    not applying: moto does not evaluate principals either, so such statements cannot be judged here.
    """
    condition = statement.get("Condition")
    if not condition:
        return True
    for operator, clauses in condition.items():
        for key, expected in clauses.items():
            if key != "aws:SecureTransport" or operator != "Bool":
                return False
            values = expected if isinstance(expected, list) else [expected]
            if "true" not in [str(v).lower() for v in values]:
                return False
    return True


def _refresh_outputs_and_exports(backend: Any, stack: Any) -> None:
    """Rebuild a stack's Outputs from its resources and re-register its exports."""
    stack._parse_template()
    stack.output_map = stack._create_output_map()
    for name in [n for n, e in backend.exports.items() if e.exporting_stack_id == stack.stack_id]:
        del backend.exports[name]
    for export in stack.exports:
        backend.exports[export.name] = export


def substitute_definition(definition: str, substitutions: dict[str, Any] | None) -> str:
    """Apply CloudFormation ``DefinitionSubstitutions`` (``${Name}``) to an ASL definition string."""
    for key, value in (substitutions or {}).items():
        definition = definition.replace("${" + key + "}", str(value))
    return definition


class Patcher:
    """Applies every patch point for one emulator and reverts them on stop."""

    _active_lock = threading.Lock()
    _active: Patcher | None = None

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self._saved: list[tuple[Any, str, Any, bool]] = []

    def replace(self, point: PatchPoint, value: Any) -> None:
        """Set ``point``'s attribute to ``value``, remembering the original for :meth:`revert`."""
        owner, leaf = point.owner_and_name()
        had = leaf in owner.__dict__ if isinstance(owner, type) else hasattr(owner, leaf)
        previous = owner.__dict__.get(leaf) if isinstance(owner, type) else getattr(owner, leaf, None)
        self._saved.append((owner, leaf, previous, had))
        setattr(owner, leaf, value)

    def apply(self) -> None:
        check_moto_version()
        with Patcher._active_lock:
            if Patcher._active is not None:
                raise RuntimeError(
                    "another local emulator is already running in this process; stop it before starting one"
                )
            Patcher._active = self
        try:
            self._apply_all()
        except Exception:
            self.revert()
            raise

    def revert(self) -> None:
        for owner, leaf, previous, had in reversed(self._saved):
            if had:
                setattr(owner, leaf, previous)
            else:
                delattr(owner, leaf)
        self._saved.clear()
        with Patcher._active_lock:
            if Patcher._active is self:
                Patcher._active = None

    # ------------------------------------------------------------------------------------------------
    def _apply_all(self) -> None:
        emulator = self.emulator
        runtime = emulator.lambda_runtime
        scale = emulator.time_scale

        from moto.awslambda.models import LambdaBackend

        def simple_invoke(
            backend: Any,
            function_name: str,
            qualifier: str | None,
            body: Any,
            headers: Any,
            response_headers: Any,
        ) -> str | bytes | None:
            return LambdaBackend.invoke(backend, function_name, qualifier, body, headers, response_headers)

        self.replace(patch_point("lambda-invoke-api"), simple_invoke)

        def invoke_lambda(fn: Any, event: Any = None) -> tuple[str, bool, str]:
            fn.logs_backend.ensure_log_group(fn.logs_group_name)
            if isinstance(event, str | bytes):
                event = json.loads(event) if event else {}
            result = runtime.invoke(
                function_name=fn.function_name,
                function_arn=fn.function_arn,
                version=str(fn.version),
                handler=fn.handler,
                code_sha256=fn.code_sha_256,
                code_bytes=fn.code_bytes,
                environment=dict(fn.environment_vars or {}),
                region=fn.region,
                memory_mb=int(fn.memory_size),
                timeout_seconds=int(fn.timeout),
                event=event if event is not None else {},
            )
            if result.logs:
                fn.save_logs(result.logs)
            return result.payload, result.errored, result.logs

        self.replace(patch_point("lambda-run-handler"), invoke_lambda)
        self._patch_state_machine_cloudformation()

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

        self.replace(patch_point("sfn-execution-name"), start_execution)

        aws_sdk_point = patch_point("sfn-aws-sdk-datetimes")
        original_sdk_task = aws_sdk_point.original()

        def eval_service_task(task: Any, env: Any, *args: Any, **kwargs: Any) -> None:
            original_sdk_task(task, env, *args, **kwargs)
            if env.stack:
                env.stack[-1] = _iso_datetimes(env.stack[-1])

        self.replace(aws_sdk_point, eval_service_task)

        wait_point = patch_point("sfn-wait-time")

        def wait_interval(function: Any, env: Any, wait_seconds: int) -> None:
            seconds = scale.scale(wait_seconds)
            if seconds > 0:
                env.program_state_event.wait(seconds)

        self.replace(wait_point, wait_interval)
        self.replace(patch_point("sfn-retry-time"), _ScaledTime(scale))

        fail_point = patch_point("sfn-fail-states-error")
        custom_error_name = fail_point.original()

        def fail_state_error_name(error_name: str | None) -> Any:
            if error_name and error_name.startswith("States."):
                name = object.__new__(custom_error_name)
                name.error_name = error_name  # ErrorName.__init__ without CustomErrorName's prefix check
                return name
            return custom_error_name(error_name)

        self.replace(fail_point, fail_state_error_name)

        callback_point = patch_point("sfn-callback-timeout")
        original_wait = callback_point.original()

        def callback_wait(endpoint: Any, timeout: float | None = None) -> Any:
            return original_wait(endpoint, None if timeout is None else scale.scale(timeout))

        self.replace(callback_point, callback_wait)

        events_point = patch_point("events-deliver")
        original_send = events_point.original()

        def send_to_targets(rule: Any, original_event: dict[str, Any], transform_input: bool = True) -> None:
            if not rule.event_pattern.matches_event(original_event):
                return
            own: list[dict[str, Any]] = []
            others: list[dict[str, Any]] = []
            for target in rule.targets:
                service = target["Arn"].split(":")[2]
                (own if service in ("lambda", "states") else others).append(target)
            for target in own:
                emulator.events.deliver(target, original_event)
            if others:
                saved_targets = rule.targets
                rule.targets = others
                try:
                    original_send(rule, original_event, transform_input)
                finally:
                    rule.targets = saved_targets

        self.replace(events_point, send_to_targets)

        kms_point = patch_point("kms-cloudformation-create")
        original_kms_create = kms_point.original()

        def kms_create(
            cls: Any,
            resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
            **kwargs: Any,
        ) -> Any:
            properties = dict(cloudformation_json.get("Properties", {}))
            properties["Tags"] = [
                {"TagKey": t.get("Key", t.get("TagKey")), "TagValue": t.get("Value", t.get("TagValue"))}
                for t in properties.get("Tags", [])
            ]
            if not isinstance(properties.get("KeyPolicy", ""), str):
                properties["KeyPolicy"] = json.dumps(properties["KeyPolicy"])
            fixed = {**cloudformation_json, "Properties": properties}
            return original_kms_create(cls, resource_name, fixed, account_id, region_name, **kwargs)

        self.replace(kms_point, classmethod(kms_create))

        def bucket_permission(bucket: Any, action: str, resource: str) -> Any:
            from moto.iam.access_control import IAMPolicy, PermissionResult

            if bucket.policy is None:
                return PermissionResult.NEUTRAL
            document = json.loads(bucket.policy.decode())
            statements = document.get("Statement", [])
            statements = [s for s in (statements if isinstance(statements, list) else [statements]) if _applies(s)]
            return IAMPolicy(json.dumps({**document, "Statement": statements})).is_action_permitted(action, resource)

        self.replace(patch_point("s3-policy-conditions"), bucket_permission)

        change_set_point = patch_point("cfn-changeset-outputs")
        original_execute = change_set_point.original()

        def execute_change_set(backend: Any, change_set_name: str, stack_name: str | None = None) -> None:
            change_set = backend.change_sets.get(change_set_name) or next(
                (c for c in backend.change_sets.values() if c.change_set_name == change_set_name), None
            )
            if change_set is not None:
                # A change-set stack is created empty, without the account's exports: give it them, or its
                # Fn::ImportValue of another stack's output fails.
                stack = backend.stacks[change_set.stack_id]
                stack.cross_stack_resources = backend.exports
                stack.resource_map.cross_stack_resources = backend.exports
                # Added resources are created in template order, DependsOn ignored (stack creation honours it):
                # an API Gateway Deployment listed before its methods fails. Order them by DependsOn first.
                template = change_set.template_dict
                if isinstance(template.get("Resources"), dict):
                    template["Resources"] = depends_on_order(template["Resources"])
            original_execute(backend, change_set_name, stack_name)
            if change_set is not None:
                _refresh_outputs_and_exports(backend, backend.stacks[change_set.stack_id])

        self.replace(change_set_point, execute_change_set)

        update_point = patch_point("cfn-update-exports")
        original_update = update_point.original()

        def update_stack(backend: Any, *args: Any, **kwargs: Any) -> Any:
            stack = original_update(backend, *args, **kwargs)
            _refresh_outputs_and_exports(backend, stack)
            return stack

        self.replace(update_point, update_stack)

        from mlops_kit.local import cloudformation_resources

        self._saved.extend(cloudformation_resources.register())
        for module in _feature_modules():
            module.apply(self)

    def _patch_state_machine_cloudformation(self) -> None:
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
                raise ValueError(
                    "the state machine has no DefinitionString, Definition or readable DefinitionS3Location"
                )
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

        self.replace(patch_point("sfn-cloudformation-create"), classmethod(create))
        self.replace(patch_point("sfn-cloudformation-update"), classmethod(update))
        self.replace(patch_point("sfn-cloudformation-delete"), classmethod(delete))


def _feature_modules() -> list[Any]:
    """Modules that add patch points of their own (``PATCH_POINTS`` and ``apply(patcher)``)."""
    from mlops_kit.local import cloudwatch
    from mlops_kit.local.sagemaker import endpoints, pipelines, processing, registry

    return [registry, pipelines, endpoints, cloudwatch, processing]


def all_patch_points() -> tuple[PatchPoint, ...]:
    """Every patch point of the emulator, for the contract tests and `mlops local doctor`."""
    points = list(PATCH_POINTS)
    for module in _feature_modules():
        points.extend(module.PATCH_POINTS)
    return tuple(points)


def depends_on_order(resources: dict[str, Any]) -> dict[str, Any]:
    """The template's resources with each one after everything it names in DependsOn (otherwise in template
    order); a dependency cycle or an unknown name is left for CloudFormation's own validation to report."""
    ordered: dict[str, Any] = {}
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in ordered or name in visiting or name not in resources:
            return
        visiting.add(name)
        body = resources[name]
        depends = body.get("DependsOn", []) if isinstance(body, dict) else []
        for dependency in [depends] if isinstance(depends, str) else depends:
            visit(dependency)
        visiting.discard(name)
        ordered[name] = body

    for name in resources:
        visit(name)
    return ordered
