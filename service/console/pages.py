"""The console's pages: events, one record, follow a delivery, dead letters, replay, jobs,
entities and health. Handlers parse, call `gridhook.kafka.browsing`, `entities`,
`gridhook.kafka.replay` and the store, and render a template; every action is a POST the
middleware has checked for CSRF."""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
import orjson
from aiohttp import web
from multidict import MultiDictProxy

from gridhook.contract import topics
from gridhook.contract.codec import Position, decode, first_position
from gridhook.contract.errors import ConfigError, GridhookError, PermanentError
from gridhook.kafka import browsing
from gridhook.kafka.replay import Selection, parse_moment, parse_offsets, replay
from gridhook.state.meter_binds import MeterBinds
from gridhook.state.transitions import updates_for
from service.console import entities, masking
from service.console.health import sparkline
from service.console.keys import (
    BOOTSTRAP,
    CLOCK,
    JOBS,
    PUBLISHER,
    SAMPLER,
    SESSION,
    SESSIONS,
    SETTINGS,
    STORE,
)
from service.console.sessions import COOKIE, LOGIN_COOKIE, same_secret

log = logging.getLogger("service.console")

FOLLOW_WINDOW = timedelta(days=7)
PREVIEW_LINES = 20
FormData = MultiDictProxy[Any]


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/", home)
    router.add_get("/favicon.ico", no_icon)
    router.add_get("/login", login_form)
    router.add_post("/login", login)
    router.add_post("/logout", logout)
    router.add_get("/events", events)
    router.add_get("/records/{topic}/{partition}/{offset}", record)
    router.add_post("/records/{topic}/{partition}/{offset}/reveal", reveal)
    router.add_get("/follow", follow)
    router.add_get("/dead-letters", dead_letters)
    router.add_post("/dead-letters/dry-run", dead_letters_dry_run)
    router.add_post("/dead-letters/redrive", dead_letters_redrive)
    router.add_get("/replay", replay_form)
    router.add_post("/replay/preview", replay_preview)
    router.add_post("/replay/run", replay_run)
    router.add_get("/jobs/{job_id}", job_page)
    router.add_get("/jobs/{job_id}/progress", job_progress)
    router.add_get("/entities", entity)
    router.add_get("/health", health)


async def no_icon(request: web.Request) -> web.Response:
    return web.Response(status=204)


async def home(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther("/events")


def _topic_names() -> list[str]:
    return [topic.name for topic in topics.CATALOGUE]


def _dead_letter_names() -> list[str]:
    return [topic.name for topic in topics.dead_letter_topics()]


# -- logging in ------------------------------------------------------------------------------


async def login_form(request: web.Request) -> web.Response:
    # Kept while it lives: a second load of this page (another tab) must not void the first.
    nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    response = aiohttp_jinja2.render_template(
        "login.html", request, {"login_csrf": nonce, "error": None}
    )
    _set_cookie(request, response, LOGIN_COOKIE, nonce, max_age=600)
    return response


async def login(request: web.Request) -> web.Response:
    form = await request.post()
    app = request.app
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if not same_secret(str(form.get("login_csrf", "")), nonce):
        raise web.HTTPForbidden(text="login form expired: reload the login page")
    if not same_secret(str(form.get("token", "")), app[SETTINGS].store.admin_token):
        log.warning("console login refused", extra={"fields": {"remote": request.remote}})
        fresh = secrets.token_urlsafe(24)
        response = aiohttp_jinja2.render_template(
            "login.html",
            request,
            {"login_csrf": fresh, "error": "That is not the admin token."},
            status=401,
        )
        _set_cookie(request, response, LOGIN_COOKIE, fresh, max_age=600)
        return response
    session = app[SESSIONS].open(app[CLOCK]())
    log.info("console login", extra={"fields": {"remote": request.remote}})
    response = web.HTTPSeeOther("/events")
    _set_cookie(request, response, COOKIE, session.session_id, max_age=int(app[SESSIONS].lifetime))
    response.del_cookie(LOGIN_COOKIE, path="/")
    raise response


async def logout(request: web.Request) -> web.Response:
    request.app[SESSIONS].close(request[SESSION].session_id)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(COOKIE, path="/")
    raise response


def _set_cookie(
    request: web.Request, response: web.StreamResponse, name: str, value: str, max_age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )


# -- events and records ----------------------------------------------------------------------


def _filter(query: Any) -> browsing.Filter:
    """The filter of a form or query string; `ConfigError` for a time that is not one."""

    def moment(name: str) -> datetime | None:
        raw = str(query.get(name, "")).strip()
        return parse_moment(raw) if raw else None

    return browsing.Filter(
        since=moment("since"),
        until=moment("until"),
        key=str(query.get("key", "")).strip(),
        type_glob=str(query.get("type", "")).strip(),
        event_id=str(query.get("id", "")).strip(),
    )


def _page_number(query: Any) -> int:
    try:
        return max(int(query.get("page", 0)), 0)
    except ValueError:
        return 0


@aiohttp_jinja2.template("events.html")
async def events(request: web.Request) -> dict[str, Any]:
    query = request.query
    topic = query.get("topic") or topics.LIGHT_EVENTS
    context: dict[str, Any] = {"topics": _topic_names(), "topic": topic, "query": query}
    if topic not in _topic_names() + _dead_letter_names():
        return context | {"error": f"unknown topic {topic!r}"}
    try:
        where = _filter(query)
        page = _page_number(query)
        found = await browsing.browse(request.app[BOOTSTRAP], topic, where, page)
    except ConfigError as error:
        return context | {"error": str(error)}
    except GridhookError as error:
        return context | {"error": f"Kafka: {type(error).__name__}"}
    return context | {"page": found, "number": page, "pager": _pager(query)}


def _pager(query: Any) -> str:
    """The query string of this page without its page number, for the pager's links."""
    return urlencode({name: value for name, value in query.items() if name != "page" and value})


async def record(request: web.Request) -> web.Response:
    return await _record_page(request, reveal_personal=False)


async def reveal(request: web.Request) -> web.Response:
    view = await _record_page(request, reveal_personal=True)
    info = request.match_info
    log.info(
        "personal data revealed",
        extra={"fields": {"record": f"{info['topic']}/{info['partition']}/{info['offset']}"}},
    )
    return view


async def _record_page(request: web.Request, *, reveal_personal: bool) -> web.Response:
    info = request.match_info
    topic = info["topic"]
    if topic not in _topic_names() + _dead_letter_names():
        raise web.HTTPNotFound(text="unknown topic")
    try:
        partition, offset = int(info["partition"]), int(info["offset"])
    except ValueError:
        raise web.HTTPNotFound(text="not a record position") from None
    view = await browsing.one(request.app[BOOTSTRAP], topic, partition, offset)
    if view is None:
        raise web.HTTPNotFound(text="no such record (any more)")
    body, hidden = _pretty(view, reveal_personal)
    return aiohttp_jinja2.render_template(
        "record.html",
        request,
        {"record": view, "body": body, "hidden": hidden, "revealed": reveal_personal},
    )


def _pretty(view: browsing.RecordView, reveal_personal: bool) -> tuple[str, bool]:
    """The body as indented JSON, personal members hidden unless revealed."""
    try:
        document = orjson.loads(view.value)
    except orjson.JSONDecodeError:
        return view.value.decode(errors="replace"), False
    hidden = False
    if masking.needs_masking(view.topic) and not reveal_personal:
        document, hidden = masking.masked(document)
    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode(), hidden


# -- following one delivery ------------------------------------------------------------------


@aiohttp_jinja2.template("follow.html")
async def follow(request: web.Request) -> dict[str, Any]:
    message_id = request.query.get("id", "").strip()
    context: dict[str, Any] = {"message_id": message_id, "query": request.query}
    if not message_id:
        return context
    try:
        since_raw = request.query.get("since", "").strip()
        since = parse_moment(since_raw) if since_raw else datetime.now(UTC) - FOLLOW_WINDOW
    except ConfigError as error:
        return context | {"error": str(error)}
    app = request.app
    every_topic = _topic_names() + _dead_letter_names()
    found = await browsing.with_id(app[BOOTSTRAP], every_topic, message_id, since)
    steps = []
    for view in found:
        steps.append(await _step(request, view))
    return context | {"steps": steps, "since": since}


async def _step(request: web.Request, view: browsing.RecordView) -> dict[str, Any]:
    """What became of one record: applied or not, and the entities it changed."""
    store = request.app[STORE]
    applied = await store.applied_event([f"{view.source}:{view.event_id}"])
    changed: list[tuple[str, str]] = []
    if not view.topic.endswith(topics.DLQ_SUFFIX):
        try:
            event = decode(view.key.encode(), view.value, list(_raw_headers(view)))
            seq = first_position(
                Position(view.topic, view.partition, view.offset), list(_raw_headers(view))
            ).offset
            changed = [(u.kind, u.entity_id) for u in updates_for(view.topic, event, seq)]
        except PermanentError:
            changed = []
    return {
        "record": view,
        "applied": applied,
        "changed": changed,
        "dead_letter": view.topic.endswith(topics.DLQ_SUFFIX),
        "error_class": view.header("dlq_error_class"),
        "result": view.topic == topics.POWERBOX_BIND_RESULTS,
    }


def _raw_headers(view: browsing.RecordView) -> list[tuple[str, bytes]]:
    return [(name, value.encode()) for name, value in view.headers]


# -- dead letters ----------------------------------------------------------------------------


@aiohttp_jinja2.template("dead_letters.html")
async def dead_letters(request: web.Request) -> dict[str, Any]:
    app = request.app
    query = request.query
    counts = await browsing.sizes(app[BOOTSTRAP], _dead_letter_names())
    context: dict[str, Any] = {"counts": counts, "query": query, "topic": query.get("topic", "")}
    topic = query.get("topic", "")
    if topic:
        if topic not in _dead_letter_names():
            return context | {"error": f"{topic!r} is not a dead-letter topic"}
        try:
            page = await browsing.browse(app[BOOTSTRAP], topic, _filter(query), _page_number(query))
        except ConfigError as error:
            return context | {"error": str(error)}
        context |= {"page": page, "pager": _pager(query), "number": _page_number(query)}
    return context


def _dead_letter_selection(form: FormData) -> tuple[str, Selection]:
    topic = str(form.get("topic", ""))
    if topic not in _dead_letter_names():
        raise ConfigError(f"{topic!r} is not a dead-letter topic")
    where = _filter(form)
    selection = Selection(
        since=where.since,
        until=where.until,
        type_glob=where.type_glob or None,
        key=where.key.encode() if where.key else None,
    )
    return topic, selection


async def dead_letters_dry_run(request: web.Request) -> web.Response:
    form = await request.post()
    try:
        topic, selection = _dead_letter_selection(form)
    except ConfigError as error:
        raise web.HTTPBadRequest(text=str(error)) from None
    return await _dry_run_page(request, form, topic, selection, True, "/dead-letters/redrive")


async def dead_letters_redrive(request: web.Request) -> web.Response:
    form = await request.post()
    app = request.app
    try:
        topic, selection = _dead_letter_selection(form)
    except ConfigError as error:
        raise web.HTTPBadRequest(text=str(error)) from None
    chosen = form.getall("record", [])
    if chosen:
        positions = sorted({_position(str(raw)) for raw in chosen})
        selections = [
            Selection(
                from_offsets={partition: offset, None: _NOTHING}, to_offsets={partition: offset}
            )
            for partition, offset in positions
        ]
        description = f"re-drive {len(positions)} dead letter(s) of {topic}"
    else:
        selections = [selection]
        description = f"re-drive every dead letter of {topic} the filter matches"

    async def work(job: Any) -> int:
        sent = 0
        for part, each in enumerate(selections):
            summary = await replay(
                app[BOOTSTRAP], topic, each, app[PUBLISHER], dlq=True, progress=job.progress
            )
            sent += summary.sent
            if len(selections) > 1:
                job.progress(part + 1, len(selections), 0.0)
        return sent

    job = app[JOBS].start(description, work)
    log.info("console re-drive started", extra={"fields": {"job": job.job_id, "topic": topic}})
    raise web.HTTPSeeOther(f"/jobs/{job.job_id}")


_NOTHING = 2**62  # a start past any end: the partitions not chosen are not read


def _position(raw: str) -> tuple[int, int]:
    partition, _, offset = raw.partition(":")
    try:
        return int(partition), int(offset)
    except ValueError:
        raise web.HTTPBadRequest(text="a record is named partition:offset") from None


def _quiet(done: int, total: int, elapsed: float) -> None:
    return None


# -- replay ----------------------------------------------------------------------------------


@aiohttp_jinja2.template("replay.html")
async def replay_form(request: web.Request) -> dict[str, Any]:
    return {"topics": _topic_names(), "form": request.query}


def _replay_selection(form: FormData) -> tuple[str, Selection, str | None, float | None, bool]:
    topic = str(form.get("topic", ""))
    if topic not in _topic_names():
        raise ConfigError(f"unknown topic {topic!r}")
    where = _filter(form)

    def offsets(name: str) -> dict[int | None, int]:
        raw = str(form.get(name, "")).strip()
        return parse_offsets(raw) if raw else {}

    limit_raw = str(form.get("limit", "")).strip()
    rate_raw = str(form.get("rate", "")).strip()
    try:
        limit = int(limit_raw) if limit_raw else None
        rate = float(rate_raw) if rate_raw else None
    except ValueError:
        raise ConfigError("limit and rate are numbers") from None
    if rate is not None and rate <= 0:
        raise ConfigError("the rate cap must be positive")
    selection = Selection(
        since=where.since,
        until=where.until,
        from_offsets=offsets("from"),
        to_offsets=offsets("to"),
        type_glob=where.type_glob or None,
        key=where.key.encode() if where.key else None,
        limit=limit,
    )
    to_topic = str(form.get("to_topic", "")).strip() or None
    if to_topic is not None and to_topic not in _topic_names():
        raise ConfigError(f"unknown target topic {to_topic!r}")
    return topic, selection, to_topic, rate, bool(form.get("dlq"))


async def replay_preview(request: web.Request) -> web.Response:
    form = await request.post()
    try:
        topic, selection, _, _, dlq = _replay_selection(form)
    except ConfigError as error:
        return aiohttp_jinja2.render_template(
            "replay.html",
            request,
            {"topics": _topic_names(), "form": form, "error": str(error)},
            status=400,
        )
    return await _dry_run_page(request, form, topic, selection, dlq, "/replay/run")


async def _dry_run_page(
    request: web.Request,
    form: FormData,
    topic: str,
    selection: Selection,
    dlq: bool,
    action: str,
) -> web.Response:
    """How many records `selection` matches and the first ones, with a form to send them to
    `action` (the dry run of a re-drive or a replay)."""
    lines: list[str] = []
    summary = await replay(
        request.app[BOOTSTRAP],
        topic,
        selection,
        None,
        dlq=dlq,
        progress=_quiet,
        dry_run_line=lambda line: lines.append(line) if len(lines) < PREVIEW_LINES else None,
    )
    context = {"form": form, "summary": summary, "lines": lines, "topic": topic, "action": action}
    return aiohttp_jinja2.render_template("dry_run.html", request, context)


async def replay_run(request: web.Request) -> web.Response:
    form = await request.post()
    app = request.app
    try:
        topic, selection, to_topic, rate, dlq = _replay_selection(form)
    except ConfigError as error:
        raise web.HTTPBadRequest(text=str(error)) from None

    async def work(job: Any) -> int:
        summary = await replay(
            app[BOOTSTRAP],
            topic,
            selection,
            app[PUBLISHER],
            dlq=dlq,
            to_topic=to_topic,
            rate=rate,
            progress=job.progress,
        )
        return summary.sent

    where = f" into {to_topic}" if to_topic else ""
    cap = f", at most {rate:g}/s" if rate else ""
    job = app[JOBS].start(f"replay {topic}{where}{cap}", work)
    log.info("console replay started", extra={"fields": {"job": job.job_id, "topic": topic}})
    raise web.HTTPSeeOther(f"/jobs/{job.job_id}")


# -- jobs ------------------------------------------------------------------------------------


def _job(request: web.Request) -> Any:
    try:
        job = request.app[JOBS].get(int(request.match_info["job_id"]))
    except ValueError:
        job = None
    if job is None:
        raise web.HTTPNotFound(text="no such job")
    return job


@aiohttp_jinja2.template("job.html")
async def job_page(request: web.Request) -> dict[str, Any]:
    return {"job": _job(request), "jobs": request.app[JOBS].recent()}


async def job_progress(request: web.Request) -> web.Response:
    return web.json_response(_job(request).as_json())


# -- entities and health ---------------------------------------------------------------------


@aiohttp_jinja2.template("entities.html")
async def entity(request: web.Request) -> dict[str, Any]:
    kind = request.query.get("kind", entities.KINDS[0])
    entity_id = request.query.get("id", "").strip()
    context: dict[str, Any] = {"kinds": entities.KINDS, "kind": kind, "entity_id": entity_id}
    if not entity_id:
        return context
    if kind not in entities.KINDS:
        return context | {"error": f"unknown kind {kind!r}"}
    page = await entities.entity_page(request.app[STORE], kind, entity_id)
    if page is None:
        return context | {"error": f"no {kind} {entity_id!r} in the store"}
    return context | {"page": page}


@aiohttp_jinja2.template("health.html")
async def health(request: web.Request) -> dict[str, Any]:
    app = request.app
    bootstrap = app[BOOTSTRAP]
    lags = await browsing.lags(bootstrap)
    groups = sorted({lag.group for lag in lags})
    depths = await browsing.sizes(bootstrap, _dead_letter_names())
    pending = await MeterBinds(app[STORE]).pending(datetime.now(UTC))
    sampler = app[SAMPLER]
    await sampler.refresh()
    history = list(sampler.rates)
    latest = history[-1] if history else None
    return {
        "lags": lags,
        "lag_total": {
            group: sum(lag.behind for lag in lags if lag.group == group) for group in groups
        },
        "depths": depths,
        "pending": pending,
        "ingress_reachable": sampler.reachable,
        "latest": latest,
        "charts": {
            "requests": sparkline([rate.requests for rate in history]),
            "client errors": sparkline([rate.client_errors for rate in history]),
            "server errors": sparkline([rate.server_errors for rate in history]),
        },
    }
