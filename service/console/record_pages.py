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
from gridhook.state.transitions import updates_for
from service.console import masking
from service.console.forms import dead_letter_names, page_number, pager, record_filter, topic_names
from service.console.keys import (
    BOOTSTRAP,
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
