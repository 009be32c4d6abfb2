"""The embedded AWS emulator: moto, patched into the AWS this kit needs.

Two modes, one set of patches:

* **in-process** (tests, ``make demo``): ``moto.mock_aws`` intercepts every boto3 call made in this process.
* **server** (``mlops local serve``): a moto server on ``http://localhost:PORT`` for the CDK CLI, the AWS CLI
  and ``mlops`` commands in other processes (``AWS_ENDPOINT_URL``). Handlers and state machines still run in
  the server's process.

In both modes Lambda handlers run in-process from their deployed code, CloudFormation-created state machines
execute and EventBridge delivers to Lambda and Step Functions. Time is the emulator's virtual clock
(:mod:`mlops_local.clock`): it moves only when everything in flight has settled, straight to the next moment
something is due, so an hour of baking costs no wall time and a scenario runs the same on a loaded machine as on
an idle one. ``pace`` (real seconds per virtual second) slows it down for people watching a server.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3

from mlops_kit import waiting
from mlops_local import clock as _clock
from mlops_local.clock import VirtualClock
from mlops_local.cloudwatch import AlarmEvaluator
from mlops_local.compat import check_moto_version
from mlops_local.events import DeliveryRecord, EventDelivery
from mlops_local.iam.identity import in_account
from mlops_local.lambda_runtime import InProcessLambdaRuntime
from mlops_local.patching import Patcher
from mlops_local.sagemaker.endpoints import EndpointService
from mlops_local.sagemaker.processing import ContainerHost
from mlops_local.sns import Mail, mailbox

DEFAULT_ACCOUNT = "123456789012"
DEFAULT_PORT = 4566
S3_OBJECT_IN_MEMORY_BYTES = 256 * 1024 * 1024
_DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def _moto_config() -> Any:
    return {
        "stepfunctions": {"execute_state_machine": True},
        "lambda": {"use_docker": False},
        "batch": {"use_docker": False},
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Emulator:
    """Start with ``with Emulator() as aws:``; ``aws.client("s3")`` gives clients bound to it."""

    def __init__(
        self,
        *,
        region: str = "us-east-1",
        pace: float = 0.0,
        start: dt.datetime | None = None,
        workdir: Path | str | None = None,
        server: bool = False,
        port: int | None = None,
    ) -> None:
        self.region = region
        self.account = DEFAULT_ACCOUNT
        # The clock starts at a whole second (``start``, or now): histories are then comparable across runs.
        self.clock = VirtualClock(start, pace=pace)
        self.server = server
        self.port = (port or DEFAULT_PORT) if server else None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="mlops-emulator-")
            workdir = self._tmp.name
        workdir = Path(workdir)  # a str is a path too
        if workdir.exists() and not workdir.is_dir():
            raise ValueError(f"workdir {workdir} is a file; pass a directory (it is created if missing)")
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.endpoint_url = f"http://localhost:{self.port}" if server else None
        self.lambda_runtime = InProcessLambdaRuntime(workdir, endpoint_url=self.endpoint_url)
        self.events = EventDelivery(self.clock)
        self.alarms = AlarmEvaluator(self)
        self.sagemaker = EndpointService(self)
        self.containers = ContainerHost(self)  # SageMaker job containers (processing, training) as subprocesses
        self._patcher = Patcher(self)
        self._mock: Any = None
        self._server: Any = None
        self._side_server: Any = None
        self._side_server_lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self._side_url = ""
        self._saved_env: dict[str, str | None] = {}
        self.running = False

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> Emulator:
        check_moto_version()
        _clock.install(self.clock)
        # Tests and the demo drive the emulator from this thread; a server's caller only waits for Ctrl-C.
        self.clock.start(busy_caller=not self.server)
        # The ASL interpreter logs every failed execution at ERROR; the API (DescribeExecution) reports them.
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
        from moto.core.config import default_user_config

        self._set_env("AWS_DEFAULT_REGION", self.region)
        # moto keeps an object over 5 MB in a temporary file: each deployment's 80 MB of dependency layers would be
        # written to disk and read back for every Lambda layer made from them (seconds on a busy disk). In memory,
        # as moto keeps the layers' bytes anyway.
        self._set_env("MOTO_S3_DEFAULT_KEY_BUFFER_SIZE", str(S3_OBJECT_IN_MEMORY_BYTES))
        if self.server:
            from moto.moto_server.threaded_moto_server import ThreadedMotoServer

            # The ASL interpreter calls back to localhost:$MOTO_PORT for its service integrations.
            self._set_env("MOTO_PORT", str(self.port))
            user_config: Any = default_user_config
            for service, settings in _moto_config().items():
                user_config.setdefault(service, {}).update(settings)
            logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
            self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port or DEFAULT_PORT, verbose=False)
        else:
            from moto import mock_aws

            self._set_env("AWS_ENDPOINT_URL", None)
            self._mock = mock_aws(config=_moto_config())
            self._mock.start()
        try:
            waiting.use_waiter(self._clock_waiter)  # the kit's polls wait on the emulator's clock
            self._patcher.apply()
            if self._server is not None:
                self._server.start()
            self.lambda_runtime.install_streams()
            self.events.start()
            self.alarms.start()
            self.sagemaker.start()
        except Exception:
            self.stop()
            raise
        self.running = True
        return self

    def stop(self) -> None:
        self.containers.terminate_all()  # no job may outlive the emulator's folders and servers
        with contextlib.suppress(Exception):  # capture buffered for S3 must not be lost with the emulator
            self.sagemaker.stop()
        self.alarms.stop()
        self.events.stop()
        self._stop_running_executions()
        self.lambda_runtime.uninstall_streams()
        self._patcher.revert()
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._side_server is not None:
            self._side_server.stop()
            self._side_server = None
        waiting.use_waiter(None)
        self.clock.stop()
        _clock.uninstall(self.clock)
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()
        self._clients.clear()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        self.running = False

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _set_env(self, name: str, value: str | None) -> None:
        self._saved_env.setdefault(name, os.environ.get(name))
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value

    def _stop_running_executions(self) -> None:
        with contextlib.suppress(Exception):
            from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackOutcomeFailure
            from moto.stepfunctions.parser.models import stepfunctions_parser_backends

            # Every account's executions (an environment account may run state machines too), none created to look.
            backends = [
                b for per_account in dict.values(stepfunctions_parser_backends) for b in dict.values(per_account)
            ]
            executions = [e for backend in backends for e in backend._get_executions()]
            for execution in executions:
                if execution.status != "RUNNING":
                    continue
                # stop() cannot interrupt a task waiting for a token: fail the pending tokens first.
                with contextlib.suppress(Exception):
                    pool = execution.exec_worker.env.callback_pool_manager
                    for callback_id in list(pool._pool):
                        outcome = CallbackOutcomeFailure(
                            callback_id=callback_id, error="EmulatorStopped", cause="stopped"
                        )
                        pool.notify(callback_id, outcome)
                with contextlib.suppress(Exception):
                    execution.stop(stop_date=None, error="EmulatorStopped", cause="the emulator stopped")

    # -- clients --------------------------------------------------------------------------------------
    def session(self) -> boto3.Session:
        return boto3.Session(region_name=self.region, **_DUMMY_CREDENTIALS)

    def client(self, service: str, *, account: str | None = None) -> Any:
        """A client bound to the emulator, cached per service (clients are thread-safe; creating one costs ~0.1 s).

        ``account`` (12 digits) makes it the administrator of that account instead of the emulator's own
        (:attr:`account`): the emulator models several accounts, each with its own resources and IAM. A thread
        acting as a role (:func:`mlops_local.iam.acting_as`) calls as that role, in the role's account.
        """
        if account is not None and not (len(account) == 12 and account.isdigit()):
            raise ValueError(f"account must be 12 digits, got {account!r}")
        key = service if account in (None, self.account) else f"{service}@{account}"
        with self._clients_lock:
            if key not in self._clients:
                client = self.session().client(service, endpoint_url=self.endpoint_url)
                if key != service:
                    client.meta.events.register("before-sign.*.*", in_account(str(account)))
                self._clients[key] = client
            return self._clients[key]

    def job_endpoint(self) -> str:
        """An HTTP endpoint for other processes (SageMaker jobs) to reach this emulator's state.

        In server mode it is the server; in-process, a second moto server on a free local port is started on
        first use: it serves the same in-memory backends the in-process mock does.
        """
        if self.endpoint_url:
            return self.endpoint_url
        # Jobs start from several threads at once (a drift job and the retraining it triggers): one server, or
        # two starts of the same object interleave and stop() later joins a thread it never shut down.
        with self._side_server_lock:
            if self._side_server is None:
                from moto.moto_server.threaded_moto_server import ThreadedMotoServer

                logging.getLogger("werkzeug").setLevel(logging.ERROR)
                port = free_port()
                server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
                server.start()
                self._side_url = f"http://localhost:{port}"
                self._side_server = server
            return self._side_url

    def mailbox(self, address: str, *, account: str | None = None) -> list[Mail]:
        """The messages SNS delivered to the e-mail ``address`` from the topics of ``account`` (default: the
        emulator's), its subscriptions' filter policies applied (:func:`mlops_local.sns.mailbox`)."""
        return mailbox(account or self.account, self.region, address)

    def environment(self) -> dict[str, str]:
        """Environment variables that point another process's AWS SDKs and CLIs at this emulator."""
        env = {
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ACCESS_KEY_ID": _DUMMY_CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": _DUMMY_CREDENTIALS["aws_secret_access_key"],
            "CDK_DEFAULT_ACCOUNT": self.account,
            "CDK_DEFAULT_REGION": self.region,
        }
        if self.endpoint_url:
            env["AWS_ENDPOINT_URL"] = self.endpoint_url
        return env

    # -- time and events ------------------------------------------------------------------------------
    def fire_schedule(self, name: str, group: str = "default", *, account: str | None = None) -> DeliveryRecord:
        """Run the schedule ``name`` of ``account`` (default: the emulator's) now."""
        return self.events.fire_schedule(name, group=group, account=account or self.account, region=self.region)

    def fire_rule(self, name: str, bus: str = "default", *, account: str | None = None) -> list[DeliveryRecord]:
        """Deliver to the targets of the scheduled rule ``name`` of ``account`` (default: the emulator's) now."""
        return self.events.fire_rule(name, account=account or self.account, region=self.region, bus=bus)

    def now(self) -> dt.datetime:
        """The emulator's time (virtual; the process's wall clock reads the same while the emulator runs)."""
        return self.clock.utcnow()

    def settle(self) -> None:
        """Return once everything runnable has run (deliveries, executions, jobs), without letting time pass."""
        self.clock.settle()

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of emulated time pass, running everything that falls due meanwhile, then settle."""
        self.clock.advance(seconds)

    def wait_until(self, predicate: Any, *, timeout: float | None = None, description: str = "") -> Any:
        """The one way to wait for a condition: ``predicate()``'s first truthy value, checked at every settled
        state; ``timeout`` in emulated seconds. Fails at once when the emulator is idle with nothing scheduled."""
        return self.clock.wait_until(predicate, timeout=timeout, description=description)

    def _clock_waiter(self, check: Any, *, every: float, timeout: float, what: str) -> Any:
        """:func:`mlops_kit.waiting.poll` on the clock: the check runs every ``every`` emulated seconds (at least
        one) as it would on AWS, emulated time runs in between at no wall-time cost, and a wait that nothing
        scheduled could ever end fails at once."""
        answers: list[Any] = []

        def answered() -> bool:
            answer = check()
            if answer is None:
                return False
            answers.append(answer)
            return True

        self.clock.wait_until(answered, timeout=timeout, every=max(1.0, every), description=what)
        return answers[-1]

    def wait_for_execution(self, execution_arn: str, timeout: float = 30 * 86400) -> dict[str, Any]:
        """The execution's description once it has left RUNNING (``timeout`` in emulated seconds)."""
        sfn = self.client("stepfunctions")

        def ended() -> dict[str, Any] | None:
            description: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
            return description if description["status"] != "RUNNING" else None

        result: dict[str, Any] = self.wait_until(ended, timeout=timeout, description=f"execution {execution_arn}")
        return result


@contextlib.contextmanager
def running_emulator(**kwargs: Any) -> Iterator[Emulator]:
    emulator = Emulator(**kwargs)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()
