"""Catalogue of bad `mlops invoke --file` inputs: each is one line naming the file (and line), no traceback, and
nothing is sent (the file is read and checked before the CLI connects to the platform). Then the exit code of a
batch: non-zero when every request failed, with the count of failures whenever some did.

Add a row for every new way a request file can be wrong.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from typer.testing import CliRunner

from mlops_kit.cli import invoke as invoke_module
from mlops_kit.cli.main import app
from tests.unit.serving.test_bad_input_client import model_error, served

runner = CliRunner()
WHEN = "2026-11-26T10:15:00+00:00"
GOOD = {"customer_id": "C1", "transaction": {"amount": 1.5, "merchant_category": "fuel", "event_timestamp": WHEN}}


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_kit.cli import console

    monkeypatch.setattr(console.console, "_width", 240)
    monkeypatch.setattr(console.err_console, "_width", 400)


class FakePlatform:
    """The deployed platform as `mlops invoke` uses it: an endpoint name and a (stubbed) runtime client."""

    connected = 0

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def output(self, key: str) -> str:
        return {"EndpointName": "mlops-kit-endpoint"}[key]

    def client(self, service: str) -> Any:
        assert service == "sagemaker-runtime"
        return self.runtime


@pytest.fixture
def platform(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakePlatform, Stubber]]:
    runtime = boto3.client(
        "sagemaker-runtime", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    fake = FakePlatform(runtime)

    def connect(project: str | None = None) -> FakePlatform:
        FakePlatform.connected += 1
        return fake

    FakePlatform.connected = 0
    monkeypatch.setattr(invoke_module.Platform, "connect", staticmethod(connect))
    with Stubber(runtime) as stubber:  # a request nobody stubbed fails the test: nothing may be sent unasked
        yield fake, stubber


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def directory(tmp_path: Path, name: str, content: Any) -> Path:
    (tmp_path / name).mkdir()
    return tmp_path / name


BAD_FILES: list[tuple[str, str, Any, Callable[..., Path], str]] = [
    ("not UTF-8", "requests.jsonl", b'{"customer_id": "C\xe9"}\n', write, "requests.jsonl:1: not UTF-8 text"),
    ("not UTF-8 on line 2", "r.csv", b"customer_id,amount\nC\xff,1\n", write, "r.csv:2: not UTF-8 text"),
    ("a JSON array on one line", "requests.json", json.dumps([GOOD, GOOD]), write, "requests.json:1: a JSON array"),
    ("a JSON array over lines", "requests.json", json.dumps([GOOD], indent=2), write, "over several lines?"),
    ("a directory", "batch", None, directory, "is a directory"),
    ("a missing file", "nope.jsonl", None, lambda tmp, name, _: tmp / name, "no such file"),
    ("an empty file", "empty.jsonl", "\n\n", write, "empty.jsonl: no requests in the file"),
    ("a line that is not JSON", "broken.jsonl", json.dumps(GOOD) + "\n{oops\n", write, "broken.jsonl:2: not JSON"),
    ("a line that is a number", "n.jsonl", json.dumps(GOOD) + "\n3\n", write, "n.jsonl:2: a JSON int, not a request"),
    ("markup in a line", "m.jsonl", '"[red]x[/]"\n', write, "m.jsonl:1: a JSON str, not a request object"),
    (
        "a CSV amount that is not a number",
        "requests.csv",
        f"customer_id,amount,merchant_category,event_timestamp\nC1,1.5,fuel,{WHEN}\nC2,abc,fuel,{WHEN}\n",
        write,
        "requests.csv:3: amount 'abc' is not a number",
    ),
    (
        "a CSV row with more cells than columns",
        "requests.csv",
        f"customer_id,amount,merchant_category,event_timestamp\nC1,1.5,fuel,{WHEN}\nC2,12,50,fuel,{WHEN}\n",
        write,
        "requests.csv:3: more cells than the header's 4 columns",
    ),
    (
        "a CSV amount with a comma decimal",
        "requests.csv",
        f'customer_id,amount,merchant_category,event_timestamp\nC1,1.5,fuel,{WHEN}\nC2,"12,50",fuel,{WHEN}\n',
        write,
        "requests.csv:3: amount '12,50' is not a number",
    ),
    (
        "a CSV amount that is NaN",
        "requests.csv",
        f"customer_id,amount,merchant_category,event_timestamp\nC1,nan,fuel,{WHEN}\n",
        write,
        "requests.csv:2: amount 'nan' is not a finite number",
    ),
    ("a CSV without customer_id", "requests.csv", "amount\n1\n", write, "requests.csv:1: a CSV needs a header"),
    ("an empty CSV", "requests.csv", "", write, "requests.csv:1: a CSV needs a header"),
]


@pytest.mark.parametrize(
    ("name", "content", "make", "fragment"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES]
)
def test_a_bad_request_file_is_one_line_and_nothing_is_sent(
    platform: tuple[FakePlatform, Stubber],
    tmp_path: Path,
    name: str,
    content: Any,
    make: Callable[..., Path],
    fragment: str,
) -> None:
    path = make(tmp_path, name, content)

    result = runner.invoke(app, ["invoke", "--file", str(path)])

    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # fail()'s exit, not a traceback
    assert "Traceback" not in result.output
    assert fragment in " ".join(result.output.split()), result.output
    assert FakePlatform.connected == 0  # checked before connecting: no request was sent


def test_every_row_failing_exits_non_zero_and_says_how_many(
    platform: tuple[FakePlatform, Stubber], tmp_path: Path
) -> None:
    _, stubber = platform
    for _ in range(2):
        stubber.add_client_error("invoke_endpoint", **model_error(404, "unknown customer_id 'C404'"))
    path = write(tmp_path, "r.jsonl", "\n".join(json.dumps({**GOOD, "customer_id": "C404"}) for _ in range(2)))

    result = runner.invoke(app, ["invoke", "--file", str(path)])

    assert result.exit_code == 1, result.output
    assert "2 of 2 requests failed" in result.output
    assert "unknown customer_id 'C404'" in result.output


def test_some_rows_failing_exits_zero_and_says_how_many(platform: tuple[FakePlatform, Stubber], tmp_path: Path) -> None:
    _, stubber = platform
    served(stubber, {"score": 0.1, "model_version": "1"})
    stubber.add_client_error("invoke_endpoint", **model_error(400, "transaction.amount is required"))
    path = write(tmp_path, "r.jsonl", f"{json.dumps(GOOD)}\n{json.dumps(GOOD)}\n")

    result = runner.invoke(app, ["invoke", "--file", str(path)])

    assert result.exit_code == 0, result.output
    assert "1 of 2 requests failed" in result.output


def test_a_csv_with_a_byte_order_mark_is_read(platform: tuple[FakePlatform, Stubber], tmp_path: Path) -> None:
    _, stubber = platform
    served(stubber, {"score": 0.1, "model_version": "1"})
    path = write(tmp_path, "r.csv", f"\ufeffcustomer_id,amount,merchant_category,event_timestamp\nC1,2,fuel,{WHEN}\n")

    result = runner.invoke(app, ["invoke", "--file", str(path)])

    assert result.exit_code == 0, result.output
    assert "0.1" in result.output
