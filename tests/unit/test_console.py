"""The console's pure parts and its login and CSRF rules, without a broker."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gridhook.contract.settings import Settings
from gridhook.state.meter_binds import OLDEST_BUCKET, age_bucket
from gridhook.state.store import Store
from service.console.app import create_console
from service.console.health import Totals, rates_between, sparkline, totals_of
from service.console.masking import HIDDEN, masked
from service.console.sessions import COOKIE, LOGIN_COOKIE, Sessions, same_secret
from tests.support.fakes import InMemoryPublisher

TOKEN = "unit-console-admin-token"


def test_bright_personal_members_are_hidden_at_any_depth_and_the_shape_kept() -> None:
    """email, username and personalNumber become HIDDEN wherever they are; the rest stays."""
    document = {"type": "accountCreated", "email": "a@b.se", "user": {"personalNumber": "19"}}
    hidden, any_hidden = masked(document)
    assert any_hidden
    assert hidden == {"type": "accountCreated", "email": HIDDEN, "user": {"personalNumber": HIDDEN}}
    assert masked({"type": "lastSeen"}) == ({"type": "lastSeen"}, False)


def test_sessions_expire_and_secrets_compare_only_when_configured() -> None:
    """A session is found until its lifetime ends; an unset admin token matches nothing."""
    sessions = Sessions(lifetime=60)
    session = sessions.open(now=1000)
    assert sessions.find(session.session_id, 1059) == session
    assert sessions.find(session.session_id, 1060) is None
    assert sessions.find("forged", 1000) is None
    assert not same_secret("anything", None)
    assert not same_secret("", "")
    assert same_secret(TOKEN, TOKEN)


def test_ingress_rates_come_from_the_request_counter_by_status_class() -> None:
    """Totals add gridhook_requests_total by status class; a restart never gives a negative rate."""
    text = (
        "# TYPE gridhook_requests counter\n"
        'gridhook_requests_total{source="light",event_type="x",status="200"} 90.0\n'
        'gridhook_requests_total{source="light",event_type="",status="401"} 6.0\n'
        'gridhook_requests_total{source="light",event_type="",status="503"} 4.0\n'
    )
    after = totals_of(text, at=10.0)
    assert after == Totals(10.0, 100.0, 6.0, 4.0)
    rates = rates_between(Totals(0.0, 50.0, 1.0, 4.0), after)
    assert (rates.requests, rates.client_errors, rates.server_errors) == (5.0, 0.5, 0.0)
    assert rates_between(after, Totals(20.0, 3.0, 0.0, 0.0)).requests == 0.0


def test_a_sparkline_scales_to_its_maximum() -> None:
    """The highest value touches the top margin, zero the bottom one."""
    svg = sparkline([0.0, 5.0, 10.0], width=100, height=40)
    assert 'points="0.0,38.0 50.0,20.0 100.0,2.0"' in svg


def test_pending_bind_ages_fall_in_named_buckets() -> None:
    """Under ten minutes, an hour, twelve hours, or older."""
    assert [age_bucket(s) for s in (5, 700, 4000, 50_000)] == [
        "under 10 min",
        "under 1 h",
        "under 12 h",
        OLDEST_BUCKET,
    ]


@pytest.fixture
async def console(aiohttp_client: Any, tmp_path: Any) -> TestClient[Any, Any]:
    settings = Settings.from_env(
        {"GRIDHOOK_ADMIN_TOKEN": TOKEN, "GRIDHOOK_HTTP_PORT": "1"}  # no ingress to sample
    )
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    await store.migrate()
    app = create_console(settings, "127.0.0.1:1", publisher=InMemoryPublisher(), store=store)
    client: TestClient[Any, Any] = await aiohttp_client(app)
    return client


async def _login_nonce(client: TestClient[Any, Any]) -> str:
    response = await client.get("/login")
    assert response.status == 200
    return response.cookies[LOGIN_COOKIE].value


async def test_pages_need_a_session_and_the_admin_token_opens_one(
    console: TestClient[Any, Any],
) -> None:
    """Without a session a page redirects to /login; a wrong token is 401; the right one sets
    an HttpOnly, SameSite=Strict session cookie and redirects to the events."""
    response = await console.get("/health", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/login"
    nonce = await _login_nonce(console)
    wrong = await console.post("/login", data={"login_csrf": nonce, "token": "nope"})
    assert wrong.status == 401
    nonce = await _login_nonce(console)
    right = await console.post(
        "/login", data={"login_csrf": nonce, "token": TOKEN}, allow_redirects=False
    )
    assert right.status == 303
    assert right.headers["Location"] == "/events"
    cookie = right.cookies[COOKIE]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Strict"
    assert TOKEN not in right.headers["Location"]


async def test_a_login_without_its_form_nonce_and_an_action_without_csrf_are_refused(
    console: TestClient[Any, Any],
) -> None:
    """The login form's nonce must match its cookie; once logged in, a POST without the
    session's CSRF token is 403 and changes nothing."""
    refused = await console.post("/login", data={"login_csrf": "forged", "token": TOKEN})
    assert refused.status == 403
    nonce = await _login_nonce(console)
    await console.post("/login", data={"login_csrf": nonce, "token": TOKEN})
    action = await console.post("/replay/run", data={"topic": "light.events"})
    assert action.status == 403
    forged = await console.post("/logout", data={"csrf": "forged"})
    assert forged.status == 403
