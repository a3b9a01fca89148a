"""Records: a topic's events filtered and paged, one record (personal data masked until
revealed), and one delivery followed through every topic it touched."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp_jinja2
import orjson
from aiohttp import web

from gridhook.contract import topics
from gridhook.contract.codec import Position, decode, first_position
from gridhook.contract.errors import ConfigError, GridhookError, PermanentError
from gridhook.kafka import browsing
from gridhook.kafka.replay import parse_moment
from gridhook.state.transitions import APPLIED_TOPICS, updates_for
from service.console import audit, masking
from service.console.display import utc
from service.console.forms import dead_letter_names, page_number, pager, record_filter, topic_names
from service.console.keys import (
    BOOTSTRAP,
    SESSION,
    STORE,
)

log = logging.getLogger("gridhook.console")

FOLLOW_WINDOW = timedelta(days=7)


@aiohttp_jinja2.template("events.html")
async def events(request: web.Request) -> dict[str, Any]:
    query = request.query
    topic = query.get("topic") or topics.LIGHT_EVENTS
    context: dict[str, Any] = {"topics": topic_names(), "topic": topic, "query": query}
    if topic not in topic_names() + dead_letter_names():
        return context | {"error": f"unknown topic {topic!r}"}
    try:
        where = record_filter(query)
        page = page_number(query)
        found = await browsing.browse(request.app[BOOTSTRAP], topic, where, page)
    except ConfigError as error:
        return context | {"error": str(error)}
    except GridhookError as error:
        return context | {"error": f"Kafka: {type(error).__name__}"}
    return context | {"page": found, "number": page, "pager": pager(query)}


async def record(request: web.Request) -> web.Response:
    return await _record_page(request, reveal_personal=False)


async def reveal(request: web.Request) -> web.Response:
    """The record with its personal data shown; who revealed it is logged and audited (which
    record, never the values)."""
    info = request.match_info
    target = f"{info['topic']}/{info['partition']}/{info['offset']}"
    operator = request[SESSION].operator
    try:
        await audit.record(request.app, operator, "reveal", target)
    except GridhookError:
        raise web.HTTPServiceUnavailable(
            text="the reveal cannot be audited now: try again"
        ) from None
    log.info(
        "personal data revealed",
        extra={"fields": {"record": target, "operator": operator.name}},
    )
    return await _record_page(request, reveal_personal=True)


async def _record_page(request: web.Request, *, reveal_personal: bool) -> web.Response:
    info = request.match_info
    topic = info["topic"]
    if topic not in topic_names() + dead_letter_names():
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
    every_topic = topic_names() + dead_letter_names()
    found = await browsing.with_id(app[BOOTSTRAP], every_topic, message_id, since)
    steps = []
    for view in found:
        steps.append(await _step(request, view, found))
    return context | {"steps": steps, "since": since}


def _outcome(
    view: browsing.RecordView,
    applied: tuple[str, str, int, int, str] | None,
    found: list[browsing.RecordView],
) -> tuple[str, str]:
    """This record's own outcome (a class for its colour, and the words)."""
    here = (view.topic, view.partition, view.offset)
    if view.topic.endswith(topics.DLQ_SUFFIX):
        error = f"{view.header('dlq_error_class') or ''}: {view.header('dlq_error_message') or ''}"
        return "dead", f"a dead letter of {view.header('dlq_topic')}: {error.strip(': ')}"
    for other in found:
        origin = (
            other.header("dlq_topic"),
            other.header("dlq_partition"),
            other.header("dlq_offset"),
        )
        if origin == (view.topic, str(view.partition), str(view.offset)):
            return "dead", f"dead-lettered at {utc(other.timestamp)}: see below"
    if applied is not None and (applied[1], applied[2], applied[3]) == here:
        return "applied", f"applied by the state applier at {utc(applied[4])}"
    if applied is not None:
        where = f"{applied[1]}/{applied[2]}/{applied[3]}"
        return "applied", f"applied from another copy ({where}) at {utc(applied[4])}"
    if view.topic not in APPLIED_TOPICS:
        return "pending", "not a topic the state applier reads"
    return "pending", "not applied (yet), or its id was forgotten past the horizon"


async def _step(
    request: web.Request, view: browsing.RecordView, found: list[browsing.RecordView]
) -> dict[str, Any]:
    """What became of one record: its own outcome, and the entities it changed."""
    store = request.app[STORE]
    applied = await store.applied_event([f"{view.source}:{view.event_id}"])
    outcome_class, outcome = _outcome(view, applied, found)
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
        "outcome": outcome,
        "outcome_class": outcome_class,
        "changed": changed,
        "dead_letter": view.topic.endswith(topics.DLQ_SUFFIX),
        "error_class": view.header("dlq_error_class"),
        "result": view.topic == topics.POWERBOX_BIND_RESULTS,
    }


def _raw_headers(view: browsing.RecordView) -> list[tuple[str, bytes]]:
    return [(name, value.encode()) for name, value in view.headers]
