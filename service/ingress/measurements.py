"""The measurements read API (admin token): a meter's or a service's 15-minute intervals and
their cost, at a resolution, over a range.

- `GET /v1/meters/{meterId}/measurements` and `/cost`: the HAN's intervals of the meter (and
  Light's usage of the location its installation enrolled, when there is one).
- `GET /v1/services/{locationUuid}/measurements` and `/cost`: a Light location's, through the
  installation that enrolled it (404 when none did).

Query: `from` and `to` (RFC 3339 or a date; UTC, rounded out to 15-minute boundaries; by
default the last day the series has data for), `resolution` (`15m`, `1h` or `1d`; default
`15m`), `source` (`best`, `han` or `light`; default `best`: see `gridhook.state.series`). At
most 200 days at a time. Energy is in kWh, rounded to the Wh's thousandth (6 decimals); money
in US dollars, rounded likewise.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, cast

from aiohttp import web

from gridhook.contract.answers import json_response
from gridhook.contract.codec import parse_time
from gridhook.contract.errors import GridhookError, InvalidQuery, Unavailable, UnknownIdentifier
from gridhook.state.cost import CURRENCY, Agreement
from gridhook.state.intervals import INTERVAL_SECONDS
from gridhook.state.measurements import HAN, LIGHT, Measurements
from gridhook.state.series import (
    CHOICES,
    MOST_SLOTS,
    RESOLUTIONS,
    Choice,
    CostSlot,
    Resolution,
    Slot,
    chosen,
    costed,
    resampled,
    summed,
    totals,
)
from gridhook.state.services import Service, service_at, service_of_meter
from service.ingress import keys
from service.ingress.read_api import authorize, owned

DIGITS = 6
DAY = 86_400


@dataclass(frozen=True)
class Query:
    start: int | None
    end: int | None
    resolution: Resolution
    choice: Choice


def parse_query(query: dict[str, str] | Any) -> Query:
    """The query's range, resolution and source; `InvalidQuery` saying which is wrong."""
    resolution = query.get("resolution", "15m")
    if resolution not in RESOLUTIONS:
        raise InvalidQuery("resolution must be 15m, 1h or 1d")
    choice = query.get("source", "best")
    if choice not in CHOICES:
        raise InvalidQuery("source must be best, han or light")
    start = _moment(query, "from")
    end = _moment(query, "to")
    if start is not None:
        start -= start % INTERVAL_SECONDS
    if end is not None:
        end += -end % INTERVAL_SECONDS
    if start is not None and end is not None:
        if end <= start:
            raise InvalidQuery("to must be after from")
        if (end - start) // INTERVAL_SECONDS > MOST_SLOTS:
            raise InvalidQuery("at most 200 days at a time")
    return Query(start, end, cast(Resolution, resolution), cast(Choice, choice))


def _moment(query: Any, name: str) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
        return int(parse_time(raw).timestamp())
    except ValueError:
        raise InvalidQuery(f"{name} must be an RFC 3339 time or a date") from None


def _number(value: float | None) -> float | None:
    return None if value is None else round(value, DIGITS)


_CLOCK_TIMES = [f"T{minute // 60:02d}:{minute % 60:02d}:00Z" for minute in range(0, 1440)]


@functools.lru_cache(maxsize=4096)
def _day(day: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(day * DAY))


def _time(at: int) -> str:
    """RFC 3339, UTC, on a whole minute (every interval boundary is one)."""
    day, seconds = divmod(at, DAY)
    return _day(day) + _CLOCK_TIMES[seconds // 60]


def _boundaries(rows: Sequence[Slot] | Sequence[CostSlot]) -> dict[int, str]:
    """The RFC 3339 text of each start and end of `rows`, each made once."""
    texts = {row.start: _time(row.start) for row in rows}
    texts.update({row.end: _time(row.end) for row in rows if row.end not in texts})
    return texts


def slots_json(slots: Sequence[Slot]) -> list[dict[str, Any]]:
    times = _boundaries(slots)
    return [
        {
            "start": times[slot.start],
            "end": times[slot.end],
            "import": None if slot.imported is None else round(slot.imported, DIGITS),
            "export": None if slot.exported is None else round(slot.exported, DIGITS),
            "quality": slot.quality,
            "source": slot.source,
        }
        for slot in slots
    ]


def costs_json(rows: Sequence[CostSlot]) -> list[dict[str, Any]]:
    times = _boundaries(rows)
    return [
        {
            "start": times[row.start],
            "end": times[row.end],
            "kwh": None if row.kwh is None else round(row.kwh, DIGITS),
            "price": row.price,
            "cost": None if row.cost is None else round(row.cost, DIGITS),
            "priceSource": row.price_source,
            "wattshift": None
            if row.wattshift_cost is None
            else {"price": row.wattshift_price, "cost": round(row.wattshift_cost, DIGITS)},
        }
        for row in rows
    ]


@dataclass(frozen=True)
class Series:
    """What one read asks for: its sources (by preference) and what prices it."""

    sources: dict[str, str]
    """Source name to series id: the meter for the HAN, the location for Light."""
    service: Service | None


async def service_series(app: web.Application, location_uuid: str) -> Series:
    """The series of a service (a Light location an installation enrolled); 404 otherwise."""
    try:
        service = await service_at(app[keys.STORE], location_uuid)
    except GridhookError:
        raise Unavailable("the state store is not reachable") from None
    if service is None:
        raise UnknownIdentifier("no installation enrolled that location")
    sources = {HAN: service.meter_id} if service.meter_id else {}
    return Series(sources | {LIGHT: location_uuid}, service)


async def meter_series(app: web.Application, meter_id: str) -> Series:
    """The series of a meter (and of the location its installation enrolled)."""
    try:
        service = await service_of_meter(app[keys.STORE], meter_id)
    except GridhookError:
        raise Unavailable("the state store is not reachable") from None
    sources = {HAN: meter_id}
    if service is not None and service.location_uuid:
        sources[LIGHT] = service.location_uuid
    return Series(sources, service)


async def measured(
    app: web.Application, series: Series, query: Query
) -> tuple[list[Slot], int, int]:
    """The 15-minute slots of the read, and its range: as asked, a day from the one end
    given, or the last UTC day the series has data for."""
    measurements = Measurements(app[keys.STORE])
    start, end = query.start, query.end
    try:
        if start is None and end is None:
            latest = [await measurements.latest(name, id_) for name, id_ in series.sources.items()]
            last = max((at for at in latest if at is not None), default=None)
            now = int(app[keys.CLOCK]())
            end = (now if last is None else last) // DAY * DAY + DAY
        if start is None:
            assert end is not None
            start = end - DAY
        if end is None:
            end = start + DAY
        found = await measurements.to_choose(series.sources, start, end, query.choice)
    except GridhookError:
        raise Unavailable("the state store is not reachable") from None
    return chosen(found, start, end, query.choice), start, end


async def measurements_body(app: web.Application, series: Series, query: Query) -> dict[str, Any]:
    """The intervals of `series`, each with its quality and source."""
    slots, start, end = await measured(app, series, query)
    return {
        "unit": "kWh",
        "from": _time(start),
        "to": _time(end),
        "resolution": query.resolution,
        "source": query.choice,
        "intervals": slots_json(resampled(slots, query.resolution)),
    }


async def cost_body(app: web.Application, series: Series, query: Query) -> dict[str, Any]:
    """The intervals of `series` priced by the Light plan in force (and WattShift's price
    signal as a second figure), with daily and monthly totals."""
    slots, start, end = await measured(app, series, query)
    service = series.service
    spans = []
    if service is not None and service.home_id:
        try:
            spans = await Measurements(app[keys.STORE]).prices(service.home_id, start, end)
        except GridhookError:
            raise Unavailable("the state store is not reachable") from None
    agreements = service.agreements if service is not None else ()
    fine = costed(slots, agreements, spans)
    rows = summed(fine, query.resolution)
    return {
        "currency": CURRENCY,
        "from": _time(start),
        "to": _time(end),
        "resolution": query.resolution,
        "source": query.choice,
        "agreements": [agreement_json(agreement) for agreement in agreements],
        "intervals": costs_json(rows),
        "total": round(sum(row.cost or 0.0 for row in fine), DIGITS),
        "totals": {"daily": totals(fine, "day"), "monthly": totals(fine, "month")},
    }


def agreement_json(agreement: Agreement) -> dict[str, Any]:
    return {
        "planUuid": agreement.plan_uuid,
        "name": agreement.name,
        "start": agreement.start.isoformat(),
        "end": agreement.end.isoformat(),
        "pricePerKwh": agreement.rate,
        "netMetered": agreement.net_metered,
    }


async def _series(request: web.Request) -> tuple[dict[str, str], Series]:
    tenant = authorize(request)
    if "meterId" in request.match_info:
        meter_id = owned(request, tenant, request.match_info["meterId"])
        return {"meterId": meter_id}, await meter_series(request.app, meter_id)
    location = owned(request, tenant, request.match_info["locationUuid"])
    return {"serviceId": location}, await service_series(request.app, location)


async def measurements(request: web.Request) -> web.Response:
    """GET .../measurements: the intervals, each with its quality and source."""
    query = parse_query(request.query)
    subject, series = await _series(request)
    return json_response(subject | await measurements_body(request.app, series, query))


async def cost(request: web.Request) -> web.Response:
    """GET .../cost: the intervals priced, with daily and monthly totals."""
    query = parse_query(request.query)
    subject, series = await _series(request)
    return json_response(subject | await cost_body(request.app, series, query))


ROUTES = (
    (
        "/v1/meters/{meterId}/measurements",
        measurements,
        "A meter's 15-minute (or coarser) intervals.",
    ),
    ("/v1/meters/{meterId}/cost", cost, "A meter's intervals priced by its plan and WattShift."),
    (
        "/v1/services/{locationUuid}/measurements",
        measurements,
        "A service's intervals, by source and quality.",
    ),
    ("/v1/services/{locationUuid}/cost", cost, "A service's intervals priced, with totals."),
)
"""Path, handler, and the summary the OpenAPI document gives."""


def add_routes(app: web.Application) -> None:
    for path, handler, _ in ROUTES:
        app.router.add_get(path, handler)
