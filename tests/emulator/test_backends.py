"""Patch points of moto's request path (backend-lookup-without-lock, server-backend-for-host-cached,
response-methods-listed-once): an account's existing backends are found without moto's process-wide
lock, a new account's are still created (under it), and a reset still forgets them; the server looks each host's
backend up once; a response class's methods are listed once, and are the ones moto lists."""

from __future__ import annotations

import threading
from typing import Any

from moto.core import base_backend
from moto.sqs.models import sqs_backends

from mlops_local.emulator import Emulator

OTHER_ACCOUNT = "210987654321"


class _Held:
    """moto's backend lock, held by another thread until released."""

    def __init__(self) -> None:
        self._taken, self._release = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._hold, daemon=True)

    def _hold(self) -> None:
        with base_backend.backend_lock:
            self._taken.set()
            self._release.wait(30)

    def __enter__(self) -> _Held:
        self._thread.start()
        assert self._taken.wait(30)
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._thread.join(30)


def test_an_existing_accounts_backend_is_found_while_another_thread_holds_the_lock(emulator: Emulator) -> None:
    # Given an account whose SQS backend exists, and another thread holding moto's backend lock
    emulator.client("sqs").create_queue(QueueName="orders")
    found: list[object] = []
    with _Held():
        # When this account's backend is looked up on a third thread
        lookup = threading.Thread(target=lambda: found.append(sqs_backends[emulator.account][emulator.region]))
        lookup.start()
        lookup.join(10)
        finished_while_held = not lookup.is_alive()

    # Then the lookup did not wait for the lock, and found the account's queues
    assert finished_while_held
    assert list(found[0].queues) == ["orders"]  # type: ignore[attr-defined]


def test_a_new_accounts_backend_is_created_and_a_reset_forgets_it(emulator: Emulator) -> None:
    # Given an account no request has named yet
    assert OTHER_ACCOUNT not in sqs_backends

    # When its backend is looked up, a queue made in it and moto reset
    sqs_backends[OTHER_ACCOUNT][emulator.region].create_queue("elsewhere")
    registered: list[Any] = base_backend.BackendDict._instances  # type: ignore[misc]
    created = OTHER_ACCOUNT in sqs_backends and sqs_backends in registered
    base_backend.BackendDict.reset()

    # Then it was created and registered for reset, and the reset forgot it
    assert created
    assert OTHER_ACCOUNT not in sqs_backends
    assert not list(sqs_backends[OTHER_ACCOUNT][emulator.region].queues)


def test_the_server_finds_a_hosts_backend_as_moto_does_and_looks_each_host_up_once(
    emulator: Emulator, monkeypatch: Any
) -> None:
    from moto import backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    # Given the local server's dispatcher, and moto's listing of its service folders counted
    dispatcher = DomainDispatcherApplication(create_app=lambda service: None)  # type: ignore[arg-type,return-value]
    listed = backends.list_of_moto_modules
    listings: list[int] = []

    def counted() -> Any:
        listings.append(1)
        return listed()

    monkeypatch.setattr(backends, "list_of_moto_modules", counted)
    hosts = {
        "s3.us-east-1.amazonaws.com": "s3",
        "dynamodb": "dynamodb",
        "api.sagemaker.eu-west-1.amazonaws.com": "sagemaker",
        "states.us-east-1.amazonaws.com": "stepfunctions",
        "moto_api": "moto_api",
    }

    # When each host is looked up three times
    found = {host: {dispatcher.get_backend_for_host(host) for _ in range(3)} for host in hosts}

    # Then each gets moto's own answer, and moto's folder was listed at most once per new host
    assert found == {host: {backend} for host, backend in hosts.items()}
    assert len(listings) <= len(hosts)
    dispatcher.get_backend_for_host("s3.us-east-1.amazonaws.com")
    assert len(listings) <= len(hosts)


def test_a_response_classs_methods_are_listed_once_and_are_the_ones_moto_lists(
    emulator: Emulator, monkeypatch: Any
) -> None:
    import inspect

    from moto.core import responses, utils
    from moto.sqs.responses import SQSResponse

    # Given moto's listing of a class's members counted
    listed = inspect.getmembers
    listings: list[object] = []

    def counted(clazz: object, predicate: Any = None) -> Any:
        listings.append(clazz)
        return listed(clazz, predicate)

    monkeypatch.setattr(utils.inspect, "getmembers", counted)

    # When requests of one service are made, and moto's lookup is asked for that class again
    sqs = emulator.client("sqs")
    sqs.create_queue(QueueName="listed-once")
    sqs.list_queues()
    sqs.get_queue_url(QueueName="listed-once")
    names = responses.method_names_from_class(SQSResponse)

    # Then the class was listed once, and the names are moto's own
    assert listings.count(SQSResponse) == 1
    assert set(names) == set(utils.method_names_from_class(SQSResponse))
    assert {"create_queue", "list_queues", "get_queue_url"} <= set(names)
