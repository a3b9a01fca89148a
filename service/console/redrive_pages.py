"""Sending records again: dead letters and their re-drive, replay with its dry run, and the
progress of the jobs that do it."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from gridhook.contract.answers import json_response
from gridhook.contract.errors import ConfigError
from gridhook.kafka import browsing
from gridhook.kafka.replay import Selection, parse_offsets, replay
from service.console import audit
from service.console.forms import (
    FormData,
    dead_letter_names,
    page_number,
    pager,
    record_filter,
    topic_names,
)
from service.console.keys import (
    BOOTSTRAP,
    JOBS,
    PUBLISHER,
    SESSION,
)
from service.console.outcomes import outcomes_of

log = logging.getLogger("gridhook.console")

PREVIEW_LINES = 20


@aiohttp_jinja2.template("dead_letters.html")
async def dead_letters(request: web.Request) -> dict[str, Any]:
    app = request.app
    query = request.query
    counts = await browsing.sizes(app[BOOTSTRAP], dead_letter_names())
    context: dict[str, Any] = {"counts": counts, "query": query, "topic": query.get("topic", "")}
    topic = query.get("topic", "")
    if topic:
        if topic not in dead_letter_names():
            return context | {"error": f"{topic!r} is not a dead-letter topic"}
        try:
            page = await browsing.browse(
                app[BOOTSTRAP], topic, record_filter(query), page_number(query)
            )
        except ConfigError as error:
            return context | {"error": str(error)}
        targets = {f"{r.topic}/{r.partition}/{r.offset}" for r in page.records}
        marks = await audit.redriven(app, targets) if targets else {}
        context |= {
            "page": page,
            "pager": pager(query),
            "number": page_number(query),
            "marks": marks,
        }
    return context


def _dead_letter_selection(form: FormData) -> tuple[str, Selection]:
    topic = str(form.get("topic", ""))
    if topic not in dead_letter_names():
        raise ConfigError(f"{topic!r} is not a dead-letter topic")
    where = record_filter(form)
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

    operator = request[SESSION].operator

    async def work(job: Any) -> int:
        sent = 0
        for part, each in enumerate(selections):
            summary = await replay(
                app[BOOTSTRAP],
                topic,
                each,
                app[PUBLISHER],
                dlq=True,
                progress=job.progress,
                sent_record=job.redriven.append,
            )
            sent += summary.sent
            if len(selections) > 1:
                job.progress(part + 1, len(selections), 0.0)
        targets = " ".join(f"{r.topic}/{r.partition}/{r.offset}" for r in job.redriven)
        await audit.record(app, operator, "redrive", topic, sent, targets)
        return sent

    job = app[JOBS].start(description, work, operator.name)
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
    return {"topics": topic_names(), "form": request.query}


def _replay_selection(form: FormData) -> tuple[str, Selection, str | None, float | None, bool]:
    topic = str(form.get("topic", ""))
    if topic not in topic_names():
        raise ConfigError(f"unknown topic {topic!r}")
    where = record_filter(form)

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
    if to_topic is not None and to_topic not in topic_names():
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
            {"topics": topic_names(), "form": form, "error": str(error)},
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

    operator = request[SESSION].operator
    where = f" into {to_topic}" if to_topic else ""
    cap = f", at most {rate:g}/s" if rate else ""
    description = f"replay {topic}{where}{cap}"

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
        await audit.record(app, operator, "replay", topic, summary.sent, description)
        return summary.sent

    job = app[JOBS].start(description, work, operator.name)
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
    job = _job(request)
    outcomes = await outcomes_of(request.app, job) if job.finished else []
    pending = any(outcome.state == "pending" for outcome in outcomes)
    return {
        "job": job,
        "jobs": request.app[JOBS].recent(),
        "outcomes": outcomes,
        "pending": pending,
    }


async def job_progress(request: web.Request) -> web.Response:
    return json_response(_job(request).as_json())
