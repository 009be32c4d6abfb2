"""The approval page in a real headless browser (Debian's Chromium, driven by Selenium) against the emulator's
local server: the link from the notification shows the evidence without deciding, Approve resumes the promotion
as the addressee the link was signed for, and reused, expired and tampered links are refused with a clear page."""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops_kit.promotion.approval_page import LinkClaims, LinkSigner
from mlops_kit.promotion.approvals import WAITING_STATE, follow, pending_approval
from mlops_kit.promotion.store import Approval, PromotionStore
from mlops_kit.promotion.trigger import execution_name
from mlops_kit.registry import ModelRegistry
from mlops_local.apigateway import local_url
from mlops_local.demo.context import DemoContext
from mlops_local.demo.scenarios import register_model
from mlops_local.demo.serving import client
from mlops_local.demo.traffic import BackgroundTraffic
from mlops_local.deploy import CloudAssembly
from tests.support import platform_with_production

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[3]
SCREENSHOT = ROOT / "docs" / "approval-page.png"
REVIEWER = "reviewer@example.com"
ADDRESSEES = (REVIEWER, "second.reviewer@example.com")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.fail("Chromium and chromedriver are missing: `make install` installs Debian's chromium packages")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=900,1150")
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    # chromedriver, not this process, waits up to this long for an element (this process's clock is the emulator's)
    driver.implicitly_wait(10)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def platform(browser: Any, cloud_assembly: CloudAssembly, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The platform deployed on an emulator, version 1 in Production. The browser starts first: Selenium waits
    for chromedriver with ``time.sleep``, which the emulator's virtual clock does not spend in wall time."""
    with platform_with_production(cloud_assembly, tmp_path_factory.mktemp("approval-page")) as served:
        yield served


def _store(context: DemoContext) -> PromotionStore:
    return PromotionStore(context.emulator.client("dynamodb"), context.output("PromotionTableName"))


def _waiting(context: DemoContext, data: Any, *, name: str, seed: int) -> tuple[str, Approval]:
    """Register and approve a candidate in the registry; return its execution, waiting for the human approval."""
    aws = context.emulator
    candidate = register_model(context, data, name=name, seed=seed)
    registry = ModelRegistry(aws.client("sagemaker"), context.output("ModelPackageGroupName"))
    version = registry.get(candidate)
    machine = context.output("PromotionStateMachineArn")
    arn = machine.replace(":stateMachine:", ":execution:") + ":" + execution_name("promote", candidate, version.version)
    with BackgroundTraffic(client(context), data.payloads, aws.clock):
        registry.approve(candidate, approver="ml-engineer@example.com", comment="ready")
        aws.settle()
        waiting = follow(aws.client("stepfunctions"), arn, until_waiting=True, timeout_seconds=86400, poll_seconds=30)
    assert waiting["status"] == "RUNNING", (waiting.get("error"), waiting.get("cause"))
    return arn, pending_approval(_store(context), arn)


def _links(context: DemoContext, approval_id: str) -> dict[str, str]:
    """The page link each addressee received by e-mail for ``approval_id`` (SNS's delivery, the subscriptions'
    filter policies applied), as local URLs. Each receives exactly one link: their own."""
    aws = context.emulator

    def delivered() -> bool:
        # The approval record (what the caller waited for) is written before the notification is published.
        return all(any(m.attributes for m in aws.mailbox(a) if f"({approval_id})" in m.subject) for a in ADDRESSEES)

    aws.wait_until(delivered, timeout=3600, description=f"the approval page links of {approval_id} delivered")
    links: dict[str, str] = {}
    for addressee in ADDRESSEES:
        mails = [m for m in aws.mailbox(addressee) if f"({approval_id})" in m.subject]
        urls = [line.strip() for m in mails for line in m.message.splitlines() if "/approvals?token=" in line]
        notified = [m for m in mails if m.topic_arn == context.output("NotificationTopicArn")]
        assert len(urls) == 1, (addressee, [m.message for m in mails])  # their own link and nobody else's
        assert len(notified) == 1  # and the notification everyone on the platform's topic receives
        assert f"for {addressee} only" in next(m.message for m in mails if m.attributes)
        links[addressee] = local_url(aws.job_endpoint(), urls[0])
    return links


def _identity(context: DemoContext, session: str) -> str:
    """The approver-role session an addressee stands for (tests/conftest.py's approval_page.identities)."""
    role = context.output("ApproverRoleArn")
    account, name = role.split(":")[4], role.rsplit("/", 1)[-1]
    return f"arn:aws:sts::{account}:assumed-role/{name}/{session}"


def _status(context: DemoContext, approval_id: str) -> dict[str, Any]:
    item = context.emulator.client("dynamodb").get_item(
        TableName=context.output("PromotionTableName"),
        Key={"pk": {"S": f"approval#{approval_id}"}, "sk": {"S": "approval"}},
        ConsistentRead=True,
    )["Item"]
    return {key: next(iter(value.values())) for key, value in item.items() if key != "task_token"}


def _heading(browser: Any) -> str:
    from selenium.common.exceptions import NoSuchElementException
    from selenium.webdriver.common.by import By

    try:
        return str(browser.find_element(By.TAG_NAME, "h1").text)
    except NoSuchElementException:
        raise AssertionError(f"no heading on {browser.current_url}: {browser.page_source[:2000]}") from None


def _press(browser: Any, button_id: str) -> str:
    """Press ``button_id`` on the approval question and return the heading of the page the POST answers with.
    A click returns before the browser has navigated, so reading the heading right after it can find the old
    page's (which then goes stale): chromedriver's implicit wait, in wall time, retries until the heading is no
    longer the question."""
    from selenium.webdriver.common.by import By

    question = _heading(browser)
    assert '"' not in question, question
    browser.find_element(By.ID, button_id).click()
    return str(browser.find_element(By.XPATH, f'//h1[normalize-space(.) != "{question}"]').text)


def test_a_reviewer_approves_from_the_page_and_the_link_then_is_spent(
    platform: Any, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    context, data = platform
    aws = context.emulator
    arn, approval = _waiting(context, data, name="v2", seed=2)
    links = _links(context, approval.approval_id)
    assert set(links) == set(ADDRESSEES)

    # Opening the link (what a mail scanner does too) shows the evidence and decides nothing.
    browser.get(links[REVIEWER])
    page = browser.find_element(By.TAG_NAME, "body").text
    aws.settle()
    assert _heading(browser) == f"Approve model version {approval.context['candidate']['version']}?"
    assert "Shadow comparison" in page
    assert "Metrics" in page
    assert f"Signed for {REVIEWER}" in page
    assert _status(context, approval.approval_id)["status"] == "pending"
    assert aws.client("stepfunctions").describe_execution(executionArn=arn)["status"] == "RUNNING"
    # The README's screenshot is rewritten only when asked (its expiry line changes on every run).
    shot = SCREENSHOT if os.environ.get("MLOPS_UPDATE_SCREENSHOTS") == "1" else tmp_path / SCREENSHOT.name
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes().startswith(b"\x89PNG")

    browser.find_element(By.ID, "comment").send_keys("shadow agrees, p99 fine")
    answered = _press(browser, "approve")
    final = aws.wait_for_execution(arn)
    record = next(r for r in _store(context).deployments(context.output("EndpointName")) if r["execution_arn"] == arn)

    assert answered.startswith("Approved")
    assert final["status"] == "SUCCEEDED", (final.get("error"), final.get("cause"))
    assert record["approver"] == f"{_identity(context, 'reviewer')} (approval page link for {REVIEWER})"
    assert record["approval_comment"] == "shadow agrees, p99 fine"
    assert WAITING_STATE in record["path"] or "Finalize" in record["path"]

    # The same link again, and the other reviewer's link, are refused with a page that says why.
    browser.get(links[REVIEWER])
    assert _heading(browser) == "This link was already used"
    browser.get(links["second.reviewer@example.com"])
    assert _heading(browser) == "This approval was already answered"


def _signer(context: DemoContext) -> LinkSigner:
    environment = context.emulator.client("lambda").get_function_configuration(
        FunctionName=context.output("ApprovalPageFunctionName")
    )["Environment"]["Variables"]
    key_arn = json.loads(environment["MLOPS_APPROVAL_PAGE_SETTINGS"])["key_arn"]
    return LinkSigner(context.emulator.client("kms"), key_arn)


def _page_url(context: DemoContext, token: str) -> str:
    return local_url(context.emulator.job_endpoint(), f"{context.output('ApprovalPageUrl')}approvals?token={token}")


def test_expired_and_tampered_links_are_refused_with_a_clear_page(platform: Any, browser: Any) -> None:
    context, _ = platform
    signer = _signer(context)
    now = context.emulator.now().timestamp()
    expired = signer.sign(LinkClaims("0a1b2c3d", REVIEWER, int(now) - 1, "expired-link"))
    genuine = signer.sign(LinkClaims("0a1b2c3d", REVIEWER, int(now) + 3600, "tampered-link"))
    message, signature = genuine.split(".")
    forged_claims = LinkClaims("0a1b2c3d", "intruder@example.com", int(now) + 3600, "tampered-link").message()
    forged = base64.urlsafe_b64encode(forged_claims).rstrip(b"=").decode() + "." + signature

    browser.get(_page_url(context, expired))
    expired_heading = _heading(browser)
    browser.get(_page_url(context, forged))
    forged_heading = _heading(browser)
    browser.get(_page_url(context, message + "." + signature[:-4] + "AAAA"))
    bad_signature_heading = _heading(browser)

    assert expired_heading == "This link has expired"
    assert forged_heading == "This link is not valid"
    assert bad_signature_heading == "This link is not valid"


def test_a_rejection_with_free_text_is_recorded_as_written(platform: Any, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    context, data = platform
    aws = context.emulator
    arn, approval = _waiting(context, data, name="v3", seed=3)
    reason = 'Latency, at p99, regressed:\n- 12% over Production\n- segment "new customers", worse\n' + "x, " * 400
    browser.get(_links(context, approval.approval_id)[REVIEWER])
    browser.find_element(By.ID, "comment").send_keys(reason)
    answered = _press(browser, "reject")
    final = aws.wait_for_execution(arn)
    stored = _status(context, approval.approval_id)

    assert answered.startswith("Rejected")
    assert stored["decision"] == "reject"
    assert stored["approver"] == f"{_identity(context, 'reviewer')} (approval page link for {REVIEWER})"
    assert stored["comment_text"] == reason.strip()
    assert final["status"] != "RUNNING"
