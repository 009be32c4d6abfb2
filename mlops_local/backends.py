"""moto's backend registry on the emulator: finding an account's existing backends takes no global lock.

Every request looks its account's backends up several times (``backends[account][region]``: the service's own,
IAM's for the caller, DynamoDB's for a table's account), and moto takes its one process-wide lock for each
lookup, even when the account's backend exists, while it checks a list of every service's registry. The
emulator's threads (the feature store's 16 writers, Lambda handlers, state machines, live traffic) then queue on
that lock behind whichever of them the interpreter paused while holding it: in a profile of ``mlops demo``, the
writers waited there longer than they worked. A lookup of an account that already has its backend now reads the
dict (one atomic read under the interpreter lock) and takes moto's lock only to create one, as moto does.

Every request then asks which methods its service's response class has, to find the action's handler: moto lists
them with ``inspect.getmembers`` each time (about 400 attributes of ``SageMakerResponse``), 2% of the integration
tests' interpreter time. They are listed once per class while the emulator runs (its patches are all applied
before its first request, and reverted with this cache).

The local server finds each request's backend from its host the same way every time: moto lists its package
folder (an ``os.listdir`` and an ``isdir`` per service, about 200) and tries every service's URL patterns, all
under the server's dispatch lock. In a profile of the smoke test, requests waited on that lock for 11 s of its
100 s. The answer depends on the host alone (and the installed moto), so it is remembered per host.
"""

from __future__ import annotations

import functools
from typing import Any

from mlops_local.patching import Patcher, PatchPoint, points_by_name

PATCH_POINTS: tuple[PatchPoint, ...] = (
    PatchPoint(
        name="backend-lookup-without-lock",
        module="moto.core.base_backend",
        attribute="BackendDict._create_account_specific_backend",
        signature="(self, account_id: str) -> None",
        why=(
            "every lookup of an account's backends takes moto's process-wide backend lock, even when they exist; "
            "concurrent requests queue on it"
        ),
    ),
    PatchPoint(
        name="server-backend-for-host-cached",
        module="moto.moto_server.werkzeug_app",
        attribute="DomainDispatcherApplication.get_backend_for_host",
        signature="(self, host: str | None) -> Any",
        why=(
            "the local server lists moto's package folder and matches every service's URL patterns for each "
            "request's host, under its dispatch lock"
        ),
    ),
    PatchPoint(
        name="response-methods-listed-once",
        module="moto.core.responses",
        attribute="method_names_from_class",
        signature="(clazz: 'object') -> 'list[str]'",
        why=(
            "every request lists its response class's methods with inspect.getmembers to find the action's handler; "
            "a class's methods do not change while the emulator runs"
        ),
    ),
)


def apply(patcher: Patcher) -> None:
    points = points_by_name(PATCH_POINTS)
    point = points["backend-lookup-without-lock"]
    original = point.original()

    def create_account_specific_backend(backends: Any, account_id: str) -> None:
        # moto adds the account's backend, then registers the registry for reset, both under its lock: a reset
        # (which takes the lock too) cannot come between them, so a backend that is there needs nothing more.
        if account_id in backends:
            return
        original(backends, account_id)

    patcher.replace(point, create_account_specific_backend)

    original_for_host = points["server-backend-for-host-cached"].original()
    by_host: dict[str | None, Any] = {}

    def get_backend_for_host(dispatcher: Any, host: str | None) -> Any:
        try:
            return by_host[host]
        except KeyError:
            backend = by_host[host] = original_for_host(dispatcher, host)
            return backend

    patcher.replace(points["server-backend-for-host-cached"], get_backend_for_host)

    list_methods = points["response-methods-listed-once"].original()

    @functools.cache  # per emulator (made here); moto only asks whether the action is one of them
    def method_names_from_class(clazz: type) -> frozenset[str]:
        return frozenset(list_methods(clazz))

    patcher.replace(points["response-methods-listed-once"], method_names_from_class)
