"""The operator console in a real browser (Debian's chromium driven by Playwright), against a
real broker, ingress, state applier and console process.

Screenshots of every page go to the test's directory; with GRIDHOOK_UPDATE_SCREENSHOTS=1 they
also replace `docs/console/*.png`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from gridhook.contract import topics
from gridhook.contract.codec import CloudEvent, encode
from gridhook.contract.errors import UnapplicableEvent
from gridhook.contract.settings import PROJECT_ROOT, KafkaSettings
from gridhook.kafka.consumer import dead_letter
from gridhook.kafka.publisher import KafkaPublisher
from gridhook.kafka.records import InboundRecord
from tests.support.light_payloads import SECRET, light_event, signed
from tests.support.processes import free_port, http_ok, ingress_with_applier
from tests.support.waiting import eventually

TOKEN = "console-test-admin-token-5f2c"
SCREENSHOTS = PROJECT_ROOT / "docs" / "console"


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium, installed with apt when missing (as .ci/run installs PostgreSQL)."""
    found = shutil.which("chromium")
    if found is None:
        environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update"], check=False, env=environment)
        subprocess.run(["apt-get", "install", "-y", "chromium"], check=True, env=environment)
        found = shutil.which("chromium")
    assert found is not None, "chromium is not installed and apt-get could not install it"
    return found


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium)
        yield launched
        await launched.close()


class Shots:
    """Saves a screenshot of a page under the test's directory (and docs/console/ on request)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.update_docs = os.environ.get("GRIDHOOK_UPDATE_SCREENSHOTS") == "1"

    async def take(self, page: Page, name: str) -> None:
        path = self.directory / f"{name}.png"
        await page.screenshot(path=path, full_page=True)
        if self.update_docs:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, SCREENSHOTS / f"{name}.png")


@pytest.fixture
def shots(tmp_path: Path) -> Shots:
    directory = tmp_path / "screenshots"
    directory.mkdir()
    return Shots(directory)


async def _dead_letter(kafka: str, settings: KafkaSettings, account: str) -> None:
    """A valid Light event in light.events.dlq, as a since-fixed bug would have left it."""
    record = encode(
        CloudEvent(
            f"evt-dlq-{uuid.uuid4().hex[:10]}",
            "light",
            "account.created",
            datetime.now(UTC),
            account.encode(),
            orjson.dumps(light_event("account.created", account)),
        )
    )
    failed = InboundRecord(
        topics.LIGHT_EVENTS, 0, 0, record.key, record.value, tuple(record.headers), 0
    )
    publisher = KafkaPublisher(settings, kafka)
    await publisher.start()
    try:
        await publisher.publish(
            topics.LIGHT_EVENTS + topics.DLQ_SUFFIX,
            dead_letter(failed, UnapplicableEvent("a bug since fixed")),
        )
    finally:
        await publisher.stop()


async def test_an_operator_follows_a_delivery_redrives_a_dead_letter_and_dry_runs_a_replay(
    kafka: str, kafka_settings: KafkaSettings, browser: Browser, shots: Shots, tmp_path: Path
) -> None:
    """Log in (HttpOnly, SameSite cookie; no token in the URL or the logs), find a webhook by
    id and see it applied to its account, re-drive a dead letter and see its account appear,
    dry-run a replay, and refuse an action without the CSRF token."""
    ingress_port, console_port = free_port(), free_port()
    ingress, console = f"http://127.0.0.1:{ingress_port}", f"http://127.0.0.1:{console_port}"
    environment = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "GRIDHOOK_DATABASE_URL": f"sqlite:///{tmp_path / 'state.db'}",
        "GRIDHOOK_LOG_FORMAT": "json",
        "GRIDHOOK_HTTP_PORT": str(ingress_port),
        "GRIDHOOK_CONSOLE_PORT": str(console_port),
        "GRIDHOOK_LIGHT_SECRETS": SECRET,
        "GRIDHOOK_ADMIN_TOKEN": TOKEN,
    }
    account, redriven = f"acct-{uuid.uuid4().hex[:8]}", f"acct-{uuid.uuid4().hex[:8]}"
    group = f"console-{uuid.uuid4().hex[:8]}"
    async with ingress_with_applier(environment, tmp_path, group, ["console"]) as session:
        await eventually(lambda: http_ok(f"{console}/login"), 30, "the console")
        body, headers = signed(light_event("account.created", account), now=time.time())
        async with session.post(f"{ingress}/webhooks/light", data=body, headers=headers) as r:
            assert r.status == 200
            message_id = (await r.json())["id"]

        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        page = await context.new_page()
        await page.goto(f"{console}/events")
        await expect(page).to_have_url(f"{console}/login")
        await shots.take(page, "login")
        await page.fill("input[name=token]", TOKEN)
        await page.click("button[type=submit]")
        await expect(page).to_have_url(f"{console}/events")
        assert TOKEN not in page.url
        (cookie,) = [c for c in await context.cookies() if c["name"] == "gridhook_console"]
        assert cookie["httpOnly"]
        assert cookie["sameSite"] == "Strict"

        await page.goto(f"{console}/events?topic=light.events&key={account}")
        await expect(page.get_by_text(message_id)).to_be_visible()
        await shots.take(page, "events")
        await page.get_by_role("link", name="/", exact=False).first.click()
        await expect(page.locator("pre.json")).to_contain_text(account)
        await shots.take(page, "record")

        async def follow_shows_applied() -> bool:
            await page.goto(f"{console}/follow?id={message_id}")
            return await page.locator("li.applied").count() == 1

        await eventually(follow_shows_applied, 30, "the delivery to be applied")
        await shots.take(page, "follow")
        await page.get_by_role("link", name=f"light.account {account}").click()
        auth = {"Authorization": f"Bearer {TOKEN}"}
        async with session.get(f"{ingress}/v1/accounts/{account}", headers=auth) as r:
            derived = (await r.json())["status"]
        await expect(page.locator("#entity-status")).to_have_text(derived)
        await shots.take(page, "entities")

        await _dead_letter(kafka, kafka_settings, redriven)
        await page.goto(f"{console}/dead-letters?topic=light.events.dlq&key={redriven}")
        await page.locator("input[name=record]").first.check()
        await shots.take(page, "dead-letters")
        await page.get_by_role("button", name="Re-drive the selected records").click()
        await expect(page.locator(".job-state")).to_have_text("finished", timeout=30_000)
        await expect(page.locator(".job-sent")).to_have_text("1")
        await shots.take(page, "job")

        async def redriven_account_applied() -> bool:
            await page.goto(f"{console}/entities?kind=light.account&id={redriven}")
            return await page.locator("#entity-status").count() == 1

        await eventually(redriven_account_applied, 30, "the re-driven dead letter to be applied")

        await page.goto(f"{console}/replay")
        await page.select_option("select[name=topic]", topics.LIGHT_EVENTS)
        await page.fill("input[name=key]", account)
        await page.get_by_role("button", name="Dry run").click()
        await expect(page.locator("#selected-count")).to_have_text("1")
        await shots.take(page, "replay-dry-run")

        await page.goto(f"{console}/health")
        await expect(page.get_by_role("heading", name="Consumer lag")).to_be_visible()
        await shots.take(page, "health")

        refused = await page.request.post(
            f"{console}/replay/run", form={"topic": topics.LIGHT_EVENTS}
        )
        assert refused.status == 403
        await context.close()
    for log in ("console.log", "ingress.log", "consumer.log"):
        assert TOKEN not in (tmp_path / log).read_text()
