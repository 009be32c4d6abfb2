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


def test_each_thread_sees_its_own_handler_environment() -> None:
    seen: dict[str, list[str | None]] = {"a": [], "b": []}
    barrier = threading.Barrier(2)

    def handler(name: str) -> None:
        with process_environment({"KIT_TEST_FUNCTION": name}, None):
            barrier.wait(5)  # both handlers are inside their environments at once
            for _ in range(200):
                seen[name].append(os.environ.get("KIT_TEST_FUNCTION"))
            os.environ["KIT_TEST_SET_BY"] = name  # a handler's own write stays in its environment
            seen[name].append(os.environ["KIT_TEST_SET_BY"])
            barrier.wait(5)

    threads = [threading.Thread(target=handler, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert set(seen["a"]) == {"a"}
    assert set(seen["b"]) == {"b"}
    assert "KIT_TEST_FUNCTION" not in os.environ
    assert "KIT_TEST_SET_BY" not in os.environ


def test_a_key_another_thread_sets_meanwhile_is_left_to_that_thread() -> None:
    # typer sets PYDANTIC_DISABLE_PLUGINS, builds its adapters and deletes it again, while the emulator's
    # handlers run on other threads: a handler's environment must never add or remove it under typer.
    stop = threading.Event()
    errors: list[BaseException] = []

    def typer_like() -> None:
        while not stop.is_set():
            try:
                os.environ["KIT_TEST_TYPER"] = "1"
                del os.environ["KIT_TEST_TYPER"]
            except KeyError as exc:
                errors.append(exc)

    writer = threading.Thread(target=typer_like)
    writer.start()
    try:
        for _ in range(2000):
            with process_environment({"KIT_TEST_HANDLER": "x"}, None):
                pass
    finally:
        stop.set()
        writer.join()

    assert errors == []
    assert "KIT_TEST_HANDLER" not in os.environ
