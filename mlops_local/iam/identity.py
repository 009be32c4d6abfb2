"""Who makes a request to the emulator: a role, as the template gives it to the code that runs, or nobody.

On AWS every call made by deployed code is signed with its role's temporary credentials: a Lambda handler as its
function's role, a state machine's tasks as its RoleArn, a SageMaker job as the job's RoleArn. The emulator runs
that code in its own process (handlers, tasks, inference scripts) or in subprocesses (job containers), so the
identity travels three ways:

* :func:`acting_as` binds a role to the current thread for a block. Requests made on that thread through the
  in-process mock are evaluated as that role.
* Requests sent over HTTP by a thread acting as a role (the emulator in server mode calls itself) carry the role
  in the :data:`PRINCIPAL_HEADER`, added by a botocore handler every new session gets.
* Other processes get per-role credentials (:func:`role_credentials`): real STS temporary credentials minted
  by the emulator's STS (``AssumeRole``), whose access key id the request check maps back to the role. Any
  client can do the same with ``aws sts assume-role`` against the local server.

A request with none of these (tests, the CLI, CloudFormation deploying stacks) comes from the account's
administrator and is not evaluated.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

PRINCIPAL_HEADER = "x-mlops-local-principal"  # "<role ARN> <session name>"
# moto serves a request from the backends of the account this header names (else the access key's account): a
# role's requests are its own account's, as on AWS, whichever account the client was made for.
ACCOUNT_HEADER = "x-moto-account-id"
_LOCAL = threading.local()


@dataclass(frozen=True)
class Identity:
    """A role session: the role the template gives the code, and the session name AWS would give it."""

    role_arn: str
    session_name: str

    @property
    def account(self) -> str:
        return self.role_arn.split(":")[4]

    def header(self) -> str:
        return f"{self.role_arn} {self.session_name}"

    @classmethod
    def from_header(cls, value: str) -> Identity:
        role_arn, _, session = value.strip().partition(" ")
        if not role_arn.startswith("arn:") or ":role/" not in role_arn:
            raise ValueError(f"{PRINCIPAL_HEADER} must be '<role ARN> <session>', got {value!r}")
        return cls(role_arn, session or role_arn.rsplit("/", 1)[-1])


def current() -> Identity | None:
    """The identity bound to this thread (None: the emulator itself or the administrator)."""
    stack: list[Identity | None] = getattr(_LOCAL, "stack", [])
    return stack[-1] if stack else None


def bound() -> bool:
    """Whether this thread is inside :func:`acting_as` (even as None, the emulator acting for itself)."""
    return bool(getattr(_LOCAL, "stack", []))


@contextlib.contextmanager
def acting_as(role_arn: str | None, session_name: str = "") -> Iterator[Identity | None]:
    """Make the requests of this thread inside the block as ``role_arn``'s session ``session_name``.

    ``None`` makes them as the emulator itself (a service acting on its own account, not evaluated): the emulator
    uses it where it works on behalf of AWS while a caller's identity is bound to the thread. Blocks nest.
    """
    identity = None
    if role_arn:
        if not role_arn.startswith("arn:") or ":role/" not in role_arn:
            raise ValueError(f"acting_as needs an IAM role ARN, got {role_arn!r}")
        identity = Identity(role_arn, session_name or role_arn.rsplit("/", 1)[-1])
    stack: list[Identity | None] = getattr(_LOCAL, "stack", None) or []
    _LOCAL.stack = [*stack, identity]
    try:
        yield identity
    finally:
        _LOCAL.stack = stack


def in_account(account: str) -> Any:
    """A botocore ``before-sign`` handler that sends a client's requests to ``account``'s backends, as that
    account's administrator, unless a role makes them (a role's requests are its own account's)."""

    def add_header(request: Any, **_kwargs: Any) -> None:
        if PRINCIPAL_HEADER not in request.headers and ACCOUNT_HEADER not in request.headers:
            request.headers[ACCOUNT_HEADER] = account

    return add_header


# -- credentials for other processes ----------------------------------------------------------------------

_CREDENTIALS: dict[tuple[str, str], dict[str, str]] = {}
_BY_ACCESS_KEY: dict[str, Identity] = {}
_CREDENTIALS_LOCK = threading.Lock()


def role_credentials(role_arn: str, session_name: str, region: str = "us-east-1") -> dict[str, str]:
    """Environment variables with temporary credentials of ``role_arn`` (``AWS_ACCESS_KEY_ID``,
    ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``), from the emulator's STS, for a process that must act as
    the role. Cached per role and session while the emulator runs."""
    from moto.sts.models import sts_backends

    key = (role_arn, session_name)
    with _CREDENTIALS_LOCK:
        if key not in _CREDENTIALS:
            account = role_arn.split(":")[4]
            assumed = sts_backends[account]["aws"].assume_role(
                region_name=region,
                role_session_name=session_name,
                role_arn=role_arn,
                policy="",
                duration=43200,
                external_id="",
            )
            _CREDENTIALS[key] = {
                "AWS_ACCESS_KEY_ID": assumed.access_key_id,
                "AWS_SECRET_ACCESS_KEY": assumed.secret_access_key,
                "AWS_SESSION_TOKEN": assumed.session_token,
            }
            _BY_ACCESS_KEY[assumed.access_key_id] = Identity(role_arn, session_name)
        return dict(_CREDENTIALS[key])


def forget_credentials() -> None:
    """Drop the cached credentials (the emulator's STS is reset with each emulator)."""
    with _CREDENTIALS_LOCK:
        _CREDENTIALS.clear()
        _BY_ACCESS_KEY.clear()


def from_access_key(access_key_id: str, account: str) -> Identity | None:
    """The role session whose temporary credentials carry ``access_key_id`` (minted by :func:`role_credentials` or
    by any client's AssumeRole against the emulator), or None."""
    if not access_key_id:
        return None
    with _CREDENTIALS_LOCK:
        known = _BY_ACCESS_KEY.get(access_key_id)
    if known is not None:
        return known
    from moto.sts.models import sts_backends

    with contextlib.suppress(Exception):
        assumed = sts_backends[account]["aws"].get_assumed_role_from_access_key(access_key_id)
        if assumed is not None and ":role/" in assumed.role_arn:
            return Identity(assumed.role_arn, assumed.session_name)
    return None


def of_request(headers: Mapping[str, Any], access_key_id: str, account: str) -> Identity | None:
    """Who made a request: the header of a thread acting as a role, the role of its temporary credentials, the
    thread's own binding (in-process), or None (the administrator).

    Temporary credentials come before the thread's binding: code running as one role that assumes another (a
    promotion step assuming an environment's deployment role) makes its calls with the assumed role's credentials,
    and AWS evaluates those as the assumed role."""
    value = _header(headers)
    if value:
        return Identity.from_header(value)
    assumed = from_access_key(access_key_id, account)
    if assumed is not None:
        return assumed
    return current() if bound() else None


def _header(headers: Mapping[str, Any]) -> str:
    for name in (PRINCIPAL_HEADER, PRINCIPAL_HEADER.title()):
        with contextlib.suppress(Exception):
            value = headers.get(name)
            if value:
                return value.decode() if isinstance(value, bytes) else str(value)
    return ""


# -- the botocore handler that carries a thread's identity over HTTP --------------------------------------

_HANDLER_ID = "mlops-local-principal"
ACTIVE = False  # set while an emulator with IAM enforcement runs (its Patcher reverts it)


def _add_principal_header(request: Any, request_signer: Any = None, **_kwargs: Any) -> None:
    if not ACTIVE or not bound() or _signed_with_session_credentials(request_signer):
        return
    identity = current()
    if identity is not None:
        request.headers[PRINCIPAL_HEADER] = identity.header()
        if ACCOUNT_HEADER in request.headers:
            del request.headers[ACCOUNT_HEADER]
        request.headers[ACCOUNT_HEADER] = identity.account
    elif PRINCIPAL_HEADER in request.headers:
        del request.headers[PRINCIPAL_HEADER]


def _signed_with_session_credentials(signer: Any) -> bool:
    """Whether a request is signed with a role's temporary credentials from the emulator's STS: the credentials name
    the caller, whichever role the thread acts as, when the code passed them itself (a promotion step's session of
    an assumed role). Credentials botocore found in the process environment do not: threads acting as roles share
    that environment with whoever set it (a test or a CLI run as a reviewer), where on AWS a function's environment
    holds its own role's credentials. Nor do other credentials, a developer's own session token included: the
    thread's role makes the request."""
    credentials = getattr(signer, "_credentials", None)
    if not getattr(credentials, "token", None) or getattr(credentials, "method", None) == "env":
        return False
    return is_role_session_key(str(getattr(credentials, "access_key", "") or ""))


def is_role_session_key(access_key_id: str) -> bool:
    """Whether ``access_key_id`` belongs to temporary credentials of a role that the emulator's STS issued."""
    with _CREDENTIALS_LOCK:
        if access_key_id in _BY_ACCESS_KEY:
            return True
    from moto.iam.models import iam_backends

    for per_account in list(dict.values(iam_backends)):
        backend = dict.get(per_account, "aws")
        key = backend.access_keys.get(access_key_id) if backend is not None else None
        if key is not None and getattr(key, "role_arn", None):
            return True
    return False


def install_header_handler() -> None:
    """Register the handler for every botocore session created from now on, and on boto3's default session.

    The handler stays registered (sessions keep their handlers) and does nothing unless :data:`ACTIVE`."""
    import boto3
    from botocore import handlers

    entry = ("before-sign.*.*", _add_principal_header)
    if entry not in handlers.BUILTIN_HANDLERS:
        handlers.BUILTIN_HANDLERS.append(entry)
    session = boto3.DEFAULT_SESSION
    if session is not None:
        session._session.register("before-sign.*.*", _add_principal_header, unique_id=_HANDLER_ID)
