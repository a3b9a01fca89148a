"""The operator console in a real browser (Debian's chromium driven by Playwright), against a
real broker and every process: an operator's day.

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
from service.console.operators import put
from tests.support.installation_stack import (
    Installations,
    installation_stack,
    measurement_environment,
    start_measurements,
)
from tests.support.light_payloads import light_event, signed
from tests.support.processes import free_port, http_ok
from tests.support.waiting import eventually

OPERATOR = ("ana", "ana-console-password-1")
VIEWER = ("vic", "vic-console-password-1")
CUSTOMER = {
    "name": "Ingrid Sandberg",
    "email": "ingrid.sandberg@example.se",
    "phone": "+46705550199",
}
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


async def _login(page: Page, console: str, who: tuple[str, str]) -> None:
    await page.goto(f"{console}/login")
    await page.fill("input[name=name]", who[0])
    await page.fill("input[name=password]", who[1])
    await page.click("button[type=submit]")
    await expect(page).to_have_url(f"{console}/installations")


async def _status(page: Page, console: str, installation: str, status: str) -> bool:
    """Whether the installation's page shows `status` (it is 404 until the applier has it)."""
    await page.goto(f"{console}/installations/{installation}")
    shown = page.locator("#installation-status")
    return await shown.count() == 1 and status in await shown.inner_text()


async def test_an_operators_day(
    kafka: str, kafka_settings: KafkaSettings, browser: Browser, shots: Shots, tmp_path: Path
) -> None:
    """Find an installation by its ESI ID and see it wait on the meter; bind the device and
    watch it reach service active; resume one that needs attention; re-drive a dead letter and
    see it applied; the service's energy and cost charts; personal data masked until revealed;
    a viewer's action refused; every action on the audit page with its operator; no password,
    token or personal datum in any log."""
    users = tmp_path / "console-users.json"
    put(users, OPERATOR[0], "operator", OPERATOR[1])
    put(users, VIEWER[0], "viewer", VIEWER[1])
    console_port = free_port()
    console = f"http://127.0.0.1:{console_port}"
    meter = f"m-{uuid.uuid4().hex[:6]}"
    extra = measurement_environment(tmp_path, meter) | {
        "GRIDHOOK_CONSOLE_USERS": str(users),
        "GRIDHOOK_CONSOLE_PORT": str(console_port),
        "GRIDHOOK_MASTER_KEYS": "k1:" + "A" * 43 + "=",
        "GRIDHOOK_BLIND_INDEX_KEY": "B" * 43 + "=",
        "GRIDHOOK_KEYS_DATABASE_URL": f"sqlite:///{tmp_path / 'keys.db'}",
    }
    async with installation_stack(kafka, tmp_path, {}, **extra) as world:
        await start_measurements(world)
        await world.stack.start("console", ["console"])
        await eventually(lambda: http_ok(f"{console}/login"), 30, "the console")
        context = await browser.new_context(viewport={"width": 1280, "height": 860})
        page = await context.new_page()
        await page.goto(f"{console}/installations")
        await expect(page).to_have_url(f"{console}/login")
        await shots.take(page, "login")
        await _login(page, console, OPERATOR)
        (cookie,) = [c for c in await context.cookies() if c["name"] == "gridhook_console"]
        assert cookie["httpOnly"]
        assert cookie["sameSite"] == "Strict"

        # An installation waiting on its meter, found by its ESI ID.
        esi = "5551" + str(uuid.uuid4().int)[:13]
        account = await world.account()
        installation = await world.create(
            account, "c", meter, esiId=esi, zipcode="78701", customer=CUSTOMER
        )
        await world.reaches(installation, "waiting")
        await page.fill("header input[name=q]", esi)
        await page.press("header input[name=q]", "Enter")
        await expect(page).to_have_url(f"{console}/installations/{installation}")
        await expect(page.locator("#installation-status")).to_contain_text("waiting")
        await expect(page.get_by_text("the device to be bound to the meter")).to_be_visible()
        await shots.take(page, "installation-waiting")
        await world.hardware_online(meter)
        await eventually(  # service active, then onboarded with WattShift a moment later
            lambda: _status(page, console, installation, "onboarded"), 90, "service active"
        )
        await shots.take(page, "installation")
        await page.goto(f"{console}/installations")
        await shots.take(page, "installations")

        # One that needs attention (no plan of that name), resumed by the operator.
        stuck = await world.create(account, "c", meter, plan={"name": "No such plan"})
        await eventually(
            lambda: _status(page, console, stuck, "needs attention"), 90, "needs attention"
        )
        await page.check("form[action$='/resume'] input[name=confirm]")
        await page.get_by_role("button", name="Resume").click()

        async def resumed() -> bool:
            await page.goto(f"{console}/installations/{stuck}")
            return await page.locator("ol.timeline").get_by_text("resumed").count() > 0

        await eventually(resumed, 60, "the resumed step on the timeline")
        await shots.take(page, "installation-resumed")

        # The customer across partners, and the service's charts.
        await page.goto(f"{console}/accounts/{account}")
        await expect(page.get_by_role("heading", name="People")).to_be_visible()
        assert CUSTOMER["name"] not in await page.content()
        await shots.take(page, "account")
        location = await _location(world, installation)

        async def charted() -> bool:
            await page.goto(f"{console}/services/{location}?range=7d")
            return await page.locator("svg.chart rect.up.actual").count() > 10

        await eventually(charted, 60, "the service's measured intervals in its chart")
        await shots.take(page, "service")

        # A Light body: personal data masked until revealed (and the reveal audited).
        body, headers = signed(
            light_event("account.created", f"acct-{uuid.uuid4().hex[:8]}"), now=time.time()
        )
        async with world.stack.session.post(
            f"{world.stack.base}/webhooks/light", data=body, headers=headers
        ) as r:
            assert r.status == 200
        await page.goto(f"{console}/events?topic=light.events")
        await page.get_by_role("link", name="/", exact=False).first.click()
        await expect(page.locator("pre.json")).to_contain_text("•••• (hidden)")
        await shots.take(page, "record")
        await page.get_by_role("button", name="Reveal personal data").click()
        await expect(page.locator("pre.json")).not_to_contain_text("•••• (hidden)")

        # A dead letter re-driven, with its outcome.
        redriven = f"acct-{uuid.uuid4().hex[:8]}"
        await _dead_letter(kafka, kafka_settings, redriven)
        await page.goto(f"{console}/dead-letters?topic=light.events.dlq&key={redriven}")
        await expect(page.get_by_text("a bug since fixed")).to_be_visible()
        await page.locator("input[name=record]").first.check()
        await shots.take(page, "dead-letters")
        await page.get_by_role("button", name="Re-drive the selected records").click()
        await expect(page.locator(".outcome").first).to_have_text("applied", timeout=30_000)
        await expect(page.locator(".job-state")).to_have_text("finished")
        await expect(page.locator("ul.jobs .state-finished").first).to_be_visible()
        await shots.take(page, "job")
        await page.goto(f"{console}/dead-letters?topic=light.events.dlq&key={redriven}")
        await expect(page.locator(".redriven")).to_contain_text("by ana")

        await page.goto(f"{console}/health")
        await expect(page.get_by_role("heading", name="Processes")).to_be_visible()
        await shots.take(page, "health")
        await page.goto(f"{console}/audit")
        for action in ("login", "resume", "reveal", "redrive"):
            await expect(page.locator("td.action", has_text=action).first).to_be_visible()
        await expect(page.get_by_text("ana").first).to_be_visible()
        await shots.take(page, "audit")

        # A viewer sees and cannot act.
        watcher = await (await browser.new_context()).new_page()
        await _login(watcher, console, VIEWER)
        await watcher.goto(f"{console}/dead-letters?topic=light.events.dlq&key={redriven}")
        await watcher.locator("input[name=record]").first.check()
        await watcher.get_by_role("button", name="Re-drive the selected records").click()
        await expect(watcher.get_by_text("a viewer cannot act")).to_be_visible()
        await context.close()
    secrets = [OPERATOR[1], VIEWER[1], *CUSTOMER.values()]
    for log in tmp_path.glob("*.log"):
        text = log.read_text()
        for secret in secrets:
            assert secret not in text, f"{log.name} holds a password or a personal datum"


async def _location(world: Installations, installation: str) -> str:
    view = await world.view(installation)
    assert view is not None
    return next(
        str(step["detail"]["locationUuid"])
        for step in view["timeline"]
        if step["step"] == "plan_accepted"
    )
