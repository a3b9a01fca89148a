"""A service (a Light location, electricity) as its measurements and cost need it: the meter
whose HAN device measures it, the WattShift home that prices it, and the agreements (Light
plans) in force over time, all from the installation that enrolled it.

`service_of` is pure: it reads an installation's view. The agreement is the plan the
orchestrator accepted: its name, uuid and service start date from the `plan_accepted` step,
its price (cents per kWh) and term from the `plan_chosen` step of that plan. A home with
solar is net-metered unless the installer said `nonNetMetered`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from gridhook.state.cost import Agreement
from gridhook.state.installations import SERVED_BY, InstallationView, installation_view
from gridhook.state.kinds import INSTALLATION, LIGHT_LOCATION
from gridhook.state.store import Store


@dataclass(frozen=True)
class Service:
    """What measures and prices one service."""

    installation_id: str
    location_uuid: str | None
    meter_id: str | None
    home_id: str | None
    agreements: tuple[Agreement, ...]


def agreements_of(view: InstallationView) -> tuple[Agreement, ...]:
    """The plans the installation's timeline shows accepted, each with its chosen price."""
    chosen: dict[str, dict[str, Any]] = {}
    found = []
    solar = (view.document or {}).get("solar") or None
    net_metered = bool(solar) and not bool((solar or {}).get("nonNetMetered", False))
    for step in view.timeline:
        detail = step.get("detail") or {}
        if step["status"] == "plan_chosen" and detail.get("planUuid"):
            chosen[detail["planUuid"]] = detail
        if step["status"] == "plan_accepted" and detail.get("serviceStartDate"):
            plan = chosen.get(detail.get("planUuid") or "")
            if plan is None or plan.get("price") is None:
                continue  # a plan found on the account that gridhook did not price
            agreement = Agreement(
                plan_uuid=str(detail["planUuid"]),
                name=str(detail.get("planName") or plan.get("planName")),
                start=date.fromisoformat(detail["serviceStartDate"]),
                term_months=int(plan.get("termMonths") or 12),
                rate=round(float(plan["price"]) / 100, 9),
                net_metered=net_metered,
            )
            if agreement not in found:
                found.append(agreement)
    return tuple(found)


def service_of(installation_id: str, view: InstallationView) -> Service:
    document = view.document or {}
    location = None
    for step in view.timeline:
        location = (step.get("detail") or {}).get("locationUuid") or location
    return Service(
        installation_id=installation_id,
        location_uuid=location,
        meter_id=document.get("meterId"),
        home_id=view.home_id,
        agreements=agreements_of(view),
    )


async def service_at(store: Store, location_uuid: str) -> Service | None:
    """The service of a Light location, through the installation that enrolled it."""
    location = await store.entity(LIGHT_LOCATION, location_uuid)
    served_by = None if location is None else location.facts.get(SERVED_BY)
    if served_by is None:
        return None
    return await _installed(store, str(served_by.value))


async def service_of_meter(store: Store, meter_id: str) -> Service | None:
    """The service a meter measures, through the installation that named it."""
    installation = await store.by_alias(INSTALLATION, meter_id)
    if installation is None:
        return None
    return service_of(installation.entity_id, installation_view(installation.facts))


async def _installed(store: Store, installation_id: str) -> Service | None:
    installation = await store.entity(INSTALLATION, installation_id)
    if installation is None:
        return None
    return service_of(installation_id, installation_view(installation.facts))
