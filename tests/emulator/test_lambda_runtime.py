"""Handlers' process environment: applied and restored exactly, and never breaks a concurrent copy."""

from __future__ import annotations

import os
import threading

import pytest

from mlops_local.lambda_runtime import environment_snapshot, process_environment


def test_the_environment_is_restored_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIT_TEST_KEPT", "before")
    monkeypatch.delenv("KIT_TEST_ADDED", raising=False)
    before = environment_snapshot()

    with process_environment({"KIT_TEST_KEPT": "during", "KIT_TEST_ADDED": "x"}, "http://localhost:1"):
        inside = (os.environ["KIT_TEST_KEPT"], os.environ["KIT_TEST_ADDED"], os.environ["AWS_ENDPOINT_URL"])
        os.environ["KIT_TEST_BY_HANDLER"] = "y"  # a handler that sets its own variable

    assert inside == ("during", "x", "http://localhost:1")
    assert environment_snapshot() == before


def test_copies_taken_while_handlers_come_and_go_never_fail() -> None:
    variables = {f"KIT_TEST_CHURN_{i}": str(i) for i in range(40)}
    stop = threading.Event()
    errors: list[BaseException] = []

    def copy_repeatedly() -> None:
        while not stop.is_set():
            try:
                os.environ.copy()  # what botocore does whenever a client is created
                for _name, _value in os.environ.items():  # what urllib's proxy lookup does
                    pass
                sorted(os.environ)
            except KeyError as exc:
                errors.append(exc)

    with process_environment({}, None):  # installs the environment the emulator's handlers run with
        pass
    reader = threading.Thread(target=copy_repeatedly)
    reader.start()
    try:
        for _ in range(3000):
            with process_environment(variables, None):
                pass
    finally:
        stop.set()
        reader.join()

    assert errors == []
    assert not any(key in os.environ for key in variables)


def test_a_key_another_thread_sets_meanwhile_is_left_to_that_thread() -> None:
    # typer sets PYDANTIC_DISABLE_PLUGINS, builds its adapters and deletes it again, while the emulator's
    # handlers run on other threads: restoring must not remove that key under it (its `del` raised KeyError).
    stop = threading.Event()
    errors: list[BaseException] = []
    with process_environment({}, None):  # installs the environment the emulator's handlers run with
        pass

    def set_and_delete_repeatedly() -> None:
        while not stop.is_set():
            try:
                os.environ["KIT_TEST_OTHER_THREAD"] = "1"
                os.environ.copy()
                del os.environ["KIT_TEST_OTHER_THREAD"]
            except KeyError as exc:
                errors.append(exc)

    other = threading.Thread(target=set_and_delete_repeatedly)
    other.start()
    try:
        for _ in range(3000):
            with process_environment({"KIT_TEST_HANDLER": "x"}, None):
                os.environ["KIT_TEST_BY_HANDLER"] = "y"
    finally:
        stop.set()
        other.join()

    assert errors == []
    assert "KIT_TEST_HANDLER" not in os.environ
    assert "KIT_TEST_BY_HANDLER" not in os.environ
    assert "KIT_TEST_OTHER_THREAD" not in os.environ
