"""Run the deployed Lambda code in-process, as the Lambda service would run it in a container.

moto without Docker only echoes a Lambda's payload. The emulator replaces that with this runtime: the
function's deployment package (the zip CloudFormation deployed from the CDK asset) is unpacked once per code
hash, its handler module is loaded from the unpacked files, and each invocation runs it with the function's
environment variables and a Lambda context object. Output written by the handler is captured per thread and
stored in the function's CloudWatch log group, as on AWS.

Limits, stated so nobody relies on them: handlers share this interpreter and its installed packages (layers
are not unpacked: their contents are the same pinned packages the virtualenv has), timeouts and memory
limits are not enforced. Invocations run concurrently, each on its caller's thread, each seeing its own
environment variables (``os.environ`` is made thread-aware).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import os
import sys
import threading
import time
import traceback
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from mlops_local.iam.identity import acting_as
from mlops_local.patching import Patcher, PatchPoint, points_by_name

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
)

ROLE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}  # the emulator's dummies
_CAPTURE = threading.local()
_OVERLAY = threading.local()  # per thread: the environment a handler (or model) running on it sees, or None


@contextlib.contextmanager
def process_environment(variables: dict[str, str], endpoint_url: str | None) -> Iterator[None]:
    """Run a block with ``variables`` added to the process environment, for this thread only.

    Handlers and inference scripts run in-process, several at once on different threads, and each must see its
    own function's environment, as it would in its own container. ``os.environ`` is made thread-aware: inside the
    block this thread reads and writes a private copy (the process environment plus ``variables``); other
    threads keep seeing theirs, and nothing the handler sets outlives the block. Code run for the emulator sees
    it through ``AWS_ENDPOINT_URL`` in server mode and through the in-process mock otherwise.
    """
    _install_thread_environ()
    view = environment_snapshot()
    view.update(variables)
    if endpoint_url:
        view["AWS_ENDPOINT_URL"] = endpoint_url
        # Lambda and SageMaker give the code its role's credentials; without them boto3 in a handler finds none in
        # a server started from a shell without AWS credentials (the in-process mock brings its own).
        view = {**ROLE_CREDENTIALS, **view}
    else:
        view.pop("AWS_ENDPOINT_URL", None)
    previous = getattr(_OVERLAY, "env", None)
    _OVERLAY.env = view
    try:
        yield
    finally:
        _OVERLAY.env = previous


def environment_snapshot() -> dict[str, str]:
    """A copy of the environment as this thread sees it (its handler's, inside :func:`process_environment`)."""
    overlay = getattr(_OVERLAY, "env", None)
    if overlay is not None:
        return dict(overlay)
    environ: Any = os.environ
    raw = list(environ._data.items())  # listed in one step: no key can vanish between listing and reading
    return {environ.decodekey(key): environ.decodevalue(value) for key, value in raw}


class _ThreadEnviron(type(os.environ)):  # type: ignore[misc]
    """``os.environ`` that gives a thread running a handler that handler's environment (see
    :func:`process_environment`), and everyone else the process environment."""

    def __getitem__(self, key: str) -> str:
        overlay = getattr(_OVERLAY, "env", None)
        if overlay is not None:
            return str(overlay[key])
        return str(super().__getitem__(key))

    def __setitem__(self, key: str, value: str) -> None:
        overlay = getattr(_OVERLAY, "env", None)
        if overlay is not None:
            overlay[key] = str(value)
        else:
            super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        overlay = getattr(_OVERLAY, "env", None)
        if overlay is not None:
            del overlay[key]
        else:
            super().__delitem__(key)

    def __iter__(self) -> Iterator[str]:
        return iter(environment_snapshot())

    def __len__(self) -> int:
        return len(environment_snapshot())

    def copy(self) -> dict[str, str]:
        return environment_snapshot()

    def keys(self) -> Any:
        return environment_snapshot().keys()

    def items(self) -> Any:
        return environment_snapshot().items()

    def values(self) -> Any:
        return environment_snapshot().values()


def _install_thread_environ() -> None:
    if not isinstance(os.environ, _ThreadEnviron):
        os.environ.__class__ = _ThreadEnviron


@contextlib.contextmanager
def _capture_output() -> Iterator[io.StringIO]:
    """Route this thread's stdout and stderr writes into one buffer while the block runs."""
    buffer = io.StringIO()
    previous = getattr(_CAPTURE, "buffer", None)
    _CAPTURE.buffer = buffer
    try:
        yield buffer
    finally:
        _CAPTURE.buffer = previous


def load_module_from(root: Path, module_path: str, cache_key: object) -> ModuleType:
    """Load ``module_path`` (dotted, relative to ``root``) from files, under a name unique to ``cache_key``.

    Each deployment package (or model bundle) gets its own module object even when several use the same
    file name (``handler.py``, ``inference.py``). Imports inside it resolve against ``sys.path`` first and
    ``root`` last, so the kit's installed library wins over a bundled copy of the same code.
    """
    source = root.joinpath(*module_path.split(".")).with_suffix(".py")
    if not source.is_file():
        raise FileNotFoundError(f"the package has no {source.relative_to(root)} for {module_path!r}")
    digest = hashlib.sha256(repr(cache_key).encode()).hexdigest()[:12]
    unique = f"_mlops_local_{digest}_{module_path.replace('.', '_')}"
    spec = importlib.util.spec_from_file_location(unique, source)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {source}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[unique] = module
    added = str(root) not in sys.path
    if added:
        sys.path.append(str(root))
    try:
        spec.loader.exec_module(module)
    finally:
        if added:
            sys.path.remove(str(root))
    return module


class _ThreadRoutedStream(io.TextIOBase):
    """A stdout/stderr stand-in that sends a thread's writes to its capture buffer while it runs a handler."""

    def __init__(self, target: TextIO) -> None:
        self._target = target

    def write(self, text: str) -> int:
        buffer = getattr(_CAPTURE, "buffer", None)
        if buffer is not None:
            return buffer.write(text)
        return self._target.write(text)

    def flush(self) -> None:
        if getattr(_CAPTURE, "buffer", None) is None:
            self._target.flush()

    def isatty(self) -> bool:
        return self._target.isatty()

    def fileno(self) -> int:
        return self._target.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._target, "encoding", "utf-8")


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: int
    log_group_name: str
    log_stream_name: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        elapsed = time.monotonic() - self._started
        return max(0, int((self.timeout_seconds - elapsed) * 1000))


@dataclass(frozen=True)
class InvocationResult:
    payload: str
    errored: bool
    logs: str


class InProcessLambdaRuntime:
    """Loads and runs handlers from Lambda deployment packages.

    ``endpoint_url`` is set when the emulator runs as a local server: handlers then reach the emulator over
    HTTP like any other client. Without it, handlers run under the in-process mock and must not carry an
    ``AWS_ENDPOINT_URL`` from the caller's environment.
    """

    def __init__(self, workdir: Path, endpoint_url: str | None = None) -> None:
        self._workdir = workdir
        self._endpoint_url = endpoint_url
        self._modules: dict[tuple[str, str, str], ModuleType] = {}
        self._loading = threading.Lock()
        self._originals: dict[str, TextIO] = {}

    # -- stream capture -------------------------------------------------------------------------------
    def install_streams(self) -> None:
        """Route handler output per thread; re-wraps stdout/stderr if something replaced them since."""
        if not isinstance(sys.stdout, _ThreadRoutedStream):
            self._originals.setdefault("stdout", sys.stdout)
            sys.stdout = _ThreadRoutedStream(sys.stdout)
        if not isinstance(sys.stderr, _ThreadRoutedStream):
            self._originals.setdefault("stderr", sys.stderr)
            sys.stderr = _ThreadRoutedStream(sys.stderr)

    def uninstall_streams(self) -> None:
        if isinstance(sys.stdout, _ThreadRoutedStream) and "stdout" in self._originals:
            sys.stdout = self._originals["stdout"]
        if isinstance(sys.stderr, _ThreadRoutedStream) and "stderr" in self._originals:
            sys.stderr = self._originals["stderr"]
        self._originals.clear()

    # -- code ---------------------------------------------------------------------------------------
    def unpack(self, code_sha256: str, code_bytes: bytes) -> Path:
        """Unpack a deployment package once per code hash; return its root folder."""
        root = self._workdir / "lambda-code" / (code_sha256.replace("/", "_").replace("+", "-") or "empty")
        marker = root / ".unpacked"
        with self._loading:
            if not marker.exists():
                root.mkdir(parents=True, exist_ok=True)
                with zipfile.ZipFile(io.BytesIO(code_bytes)) as archive:
                    archive.extractall(root)
                marker.touch()
        return root

    def _load_handler(self, root: Path, handler: str, cache_key: tuple[str, str, str]) -> Callable[..., Any]:
        module_path, _, function_name = handler.rpartition(".")
        if not module_path or not function_name:
            raise ValueError(f"handler {handler!r} is not of the form 'module.function'")
        with self._loading:  # one import per package, however many invocations start at once
            module = self._modules.get(cache_key)
            if module is None:
                module = load_module_from(root, module_path, cache_key)
                self._modules[cache_key] = module
        target = getattr(module, function_name, None)
        if not callable(target):
            raise AttributeError(f"handler module {module_path!r} has no callable {function_name!r}")
        return target

    def invoke(
        self,
        *,
        function_name: str,
        function_arn: str,
        version: str,
        handler: str,
        code_sha256: str,
        code_bytes: bytes,
        environment: dict[str, str],
        region: str,
        memory_mb: int,
        timeout_seconds: int,
        event: Any,
    ) -> InvocationResult:
        """Run one invocation; exceptions become a Lambda error envelope, as the service returns them."""
        context = LambdaContext(
            function_name=function_name,
            function_version=version,
            invoked_function_arn=function_arn,
            memory_limit_in_mb=int(memory_mb),
            timeout_seconds=int(timeout_seconds),
            log_group_name=f"/aws/lambda/{function_name}",
            log_stream_name=f"{time.strftime('%Y/%m/%d')}/[{version}]{uuid.uuid4().hex}",
        )
        variables = {
            **{k: str(v) for k, v in environment.items()},
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_LAMBDA_FUNCTION_NAME": function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": str(version),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": context.log_group_name,
            "_HANDLER": handler,
        }
        env_key = json.dumps(environment, sort_keys=True)
        self.install_streams()
        with process_environment(variables, self._endpoint_url), _capture_output() as out:
            try:
                root = self.unpack(code_sha256, code_bytes)
                target = self._load_handler(root, handler, (function_name, code_sha256, env_key))
                result = target(event, context)
                payload = json.dumps(result, default=str)
                errored = False
            except Exception as exc:
                payload = json.dumps(
                    {
                        "errorType": type(exc).__name__,
                        "errorMessage": str(exc),
                        "requestId": context.aws_request_id,
                        # Drop this runtime's own frame: the trace starts in the handler, as on AWS.
                        "stackTrace": traceback.format_list(traceback.extract_tb(exc.__traceback__)[1:]),
                    }
                )
                errored = True
                print(f"[ERROR] {type(exc).__name__}: {exc}")
        return InvocationResult(payload=payload, errored=errored, logs=out.getvalue())


def apply(patcher: Patcher) -> None:
    from moto.awslambda.models import LambdaBackend

    points = points_by_name(PATCH_POINTS)
    runtime = patcher.emulator.lambda_runtime

    def simple_invoke(
        backend: Any,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> str | bytes | None:
        return LambdaBackend.invoke(backend, function_name, qualifier, body, headers, response_headers)

    patcher.replace(points["lambda-invoke-api"], simple_invoke)

    def invoke_lambda(fn: Any, event: Any = None) -> tuple[str, bool, str]:
        fn.logs_backend.ensure_log_group(fn.logs_group_name)
        if isinstance(event, str | bytes):
            event = json.loads(event) if event else {}
        with acting_as(fn.role, fn.function_name):  # the handler's calls are made as the function's role
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

    patcher.replace(points["lambda-run-handler"], invoke_lambda)
