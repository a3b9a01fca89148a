"""The console's pure parts and its login and CSRF rules, without a broker."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gridhook.contract.settings import Settings
from gridhook.state.meter_binds import OLDEST_BUCKET, age_bucket
from gridhook.state.store import Store
from service.console.app import create_console
from service.console.charts import Bar, bars
from service.console.health import Totals, rates_between, totals_of
from service.console.masking import HIDDEN, masked
from service.console.operators import Operator, put
from service.console.sessions import COOKIE, LOGIN_COOKIE, Sessions, same_secret
from tests.support.fakes import InMemoryPublisher

TOKEN = "unit-console-admin-token"
OPERATOR, VIEWER = ("ana", "operator-password-1"), ("vic", "viewer-password-1")


def test_every_partners_personal_members_are_hidden_at_any_depth_and_the_shape_kept() -> None:
    """Bright's email and personal number, Light's names, phone and address, PowerBox's
    contacts, a customer's name: HIDDEN wherever they are; sealed texts and the rest stay."""
    document = {
        "type": "accountCreated",
        "email": "a@b.se",
        "user": {"personalNumber": "19", "name": "Eva"},
        "data": {"account": {"first_name": "Eva", "phone_number": "+4670", "uuid": "u"}},
        "customerSites": [
            {"firstName": "John", "address1": "1 Main", "meters": [{"meterId": "m"}]}
        ],
        "customer": {"personId": "p", "sealed": {"name": "v1:abc"}},
        "plan": {"name": "Basic 12"},
    }
    hidden, any_hidden = masked(document)
    assert any_hidden
    assert hidden == {
        "type": "accountCreated",
        "email": HIDDEN,
        "user": {"personalNumber": HIDDEN, "name": HIDDEN},
        "data": {"account": {"first_name": HIDDEN, "phone_number": HIDDEN, "uuid": "u"}},
        "customerSites": [{"firstName": HIDDEN, "address1": HIDDEN, "meters": [{"meterId": "m"}]}],
        "customer": {"personId": "p", "sealed": {"name": "v1:abc"}},
        "plan": {"name": "Basic 12"},
    }
    assert masked({"type": "lastSeen"}) == ({"type": "lastSeen"}, False)


def test_sessions_expire_and_secrets_compare_only_when_configured() -> None:
    """A session is found until its lifetime ends; an unset secret matches nothing."""
    sessions = Sessions(lifetime=60)
    session = sessions.open(Operator("ana", "operator"), now=1000)
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


def test_a_chart_has_its_unit_a_round_scale_and_its_peak() -> None:
    """Import up, export down, a missing interval shaded; the axis says the unit, the scale
    rounds up (1.7 -> 2), and the peak is written."""
    svg = bars([Bar("00:00", 1.7, 0.4), Bar("", 0.2), Bar("", 0.0, 0.0, "missing")], "kWh", "t")
    assert ">kWh<" in svg
    assert ">2<" in svg
    assert "peak 1.700 kWh" in svg
    assert 'class="missing"' in svg
    assert 'class="down actual"' in svg


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
    users = tmp_path / "users.json"
    put(users, OPERATOR[0], "operator", OPERATOR[1])
    put(users, VIEWER[0], "viewer", VIEWER[1])
    settings = Settings.from_env(
        {
            "GRIDHOOK_ADMIN_TOKEN": TOKEN,
            "GRIDHOOK_HTTP_PORT": "1",  # no ingress to sample
            "GRIDHOOK_CONSOLE_USERS": str(users),
        }
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


async def _login(client: TestClient[Any, Any], who: tuple[str, str]) -> Any:
    nonce = await _login_nonce(client)
    data = {"login_csrf": nonce, "name": who[0], "password": who[1]}
    return await client.post("/login", data=data, allow_redirects=False)


async def test_pages_need_a_session_and_an_operator_opens_one(
    console: TestClient[Any, Any],
) -> None:
    """Without a session a page redirects to /login; a wrong password, an unknown name or the
    admin token is 401; an operator's password sets an HttpOnly, SameSite=Strict session
    cookie and lands on the installations."""
    response = await console.get("/health", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/login"
    for wrong in ((OPERATOR[0], "nope"), ("nobody", OPERATOR[1]), ("admin", TOKEN)):
        assert (await _login(console, wrong)).status == 401
    right = await _login(console, OPERATOR)
    assert right.status == 303
    assert right.headers["Location"] == "/installations"
    cookie = right.cookies[COOKIE]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Strict"


async def test_a_viewer_sees_and_cannot_act(console: TestClient[Any, Any]) -> None:
    """A viewer's session opens the pages; a re-drive, a replay or a reveal is 403."""
    assert (await _login(console, VIEWER)).status == 303
    assert (await console.get("/installations")).status == 200
    page = await console.get("/installations")
    csrf = (await page.text()).split('name="csrf" value="')[1].split('"')[0]
    for path in ("/replay/run", "/dead-letters/redrive", "/records/light.events/0/0/reveal"):
        refused = await console.post(path, data={"csrf": csrf, "topic": "light.events"})
        assert refused.status == 403, path


async def test_a_login_without_its_form_nonce_and_an_action_without_csrf_are_refused(
    console: TestClient[Any, Any],
) -> None:
    """The login form's nonce must match its cookie; once logged in, a POST without the
    session's CSRF token is 403 and changes nothing."""
    forged = {"login_csrf": "forged", "name": OPERATOR[0], "password": OPERATOR[1]}
    refused = await console.post("/login", data=forged)
    assert refused.status == 403
    await _login(console, OPERATOR)
    action = await console.post("/replay/run", data={"topic": "light.events"})
    assert action.status == 403
    logout = await console.post("/logout", data={"csrf": "forged"})
    assert logout.status == 403
