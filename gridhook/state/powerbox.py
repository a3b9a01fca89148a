"""PowerBox state: customers with their versions, sites and meters, as the utility's CIS says
them. Pure functions; the store merges what they return. (A meter's bind state is the bind
forwarder's: `gridhook.state.meter_binds`.)

**Versions.** A customer sync carries no time of its own, so its facts are ordered by the
record's offset in `powerbox.customers` (`Fact.seq`; one clientId, one partition): the order the
ingress's publishes were accepted in, never the clocks of ingress replicas. A sync equal to the
current one changes nothing; any other is the customer's new version.

**Removed sites and meters.** The customer keeps one presence fact per site and meter it ever
listed (`site:<id>`, `meter:<id>`: True or False). `reconcile_customer` marks absent, with the
provenance of the customer's current listing, every one the current listing leaves out. It is a
pure function of the merged facts, so the result does not depend on the order syncs are
applied in. A meter carries what each customer says of it (`listed_by:<clientId>`), so a meter
that moves to another customer (a move-out, a move-in) is shown with its current owner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gridhook.contract.codec import CloudEvent, format_time
from gridhook.contract.identifiers import content_hash, hem_profile_id
from gridhook.state.facts import ALIAS, PARENT, EntityUpdate, Fact, Facts
from gridhook.state.kinds import POWERBOX_CUSTOMER, POWERBOX_METER

ACTIVE = "A"
SITE, SITE_INFO, METER, LISTED_BY, LISTING = (
    "site:",
    "site_info:",
    "meter:",
    "listed_by:",
    "listing",
)
CONTENT_HASH = "content_hash"

# The site and meter fields kept in the store: no names (personal data), no obsolete fields.
_SITE_FIELDS = ("isPrimary", "address1", "address2", "city", "state", "postalCode")
_METER_FIELDS = (
    "meterType",
    "unitOfMeasure",
    "isPrimary",
    "isAMI",
    "isAMR",
    "rateCode",
    "billingCycleId",
)


def customer_updates(event: CloudEvent, document: dict[str, Any], seq: int) -> list[EntityUpdate]:
    """What a customer sync at offset `seq` says about its customer and meters."""
    client_id = str(document["clientId"])
    at = format_time(event.time)

    def fact(value: Any) -> Fact:
        return Fact(value, at, event.id, seq)

    profile = hem_profile_id(client_id)
    sites = [site for site in document.get("customerSites") or [] if isinstance(site, dict)]
    customer: Facts = {
        "acct_status": fact(document.get("AcctStatus")),
        "hem_profile_id": fact(profile),
        CONTENT_HASH: fact(content_hash(document)),
        "version": fact(event.id),
        ALIAS: fact(profile),
    }
    listed_sites: list[str] = []
    listed_meters: list[str] = []
    meters: list[EntityUpdate] = []
    for site in sites:
        site_id = str(site.get("externalSiteId"))
        listed_sites.append(site_id)
        customer[SITE + site_id] = fact(True)
        customer[SITE_INFO + site_id] = fact({name: site.get(name) for name in _SITE_FIELDS})
        for meter in site.get("meters") or []:
            meter_id = str(meter["meterId"])
            listed_meters.append(meter_id)
            customer[METER + meter_id] = fact(True)
            said = {name: meter.get(name) for name in _METER_FIELDS} | {"siteId": site_id}
            meters.append(
                EntityUpdate(
                    POWERBOX_METER,
                    meter_id,
                    {PARENT: fact(client_id), LISTED_BY + client_id: fact(said)},
                )
            )
    customer[LISTING] = fact({"sites": listed_sites, "meters": listed_meters})
    return [EntityUpdate(POWERBOX_CUSTOMER, client_id, customer), *meters]


def reconcile_customer(facts: Facts) -> Facts:
    """`facts` with every site and meter the current listing leaves out marked absent, with
    the listing's provenance. Idempotent, and a function of `facts` alone."""
    listing = facts.get(LISTING)
    if listing is None:
        return facts
    listed = {SITE: set(listing.value["sites"]), METER: set(listing.value["meters"])}
    current = -1 if listing.seq is None else listing.seq
    reconciled = dict(facts)
    for name, fact in facts.items():
        prefix = SITE if name.startswith(SITE) else METER if name.startswith(METER) else None
        if prefix is None or (-1 if fact.seq is None else fact.seq) >= current:
            continue
        present = name.removeprefix(prefix) in listed[prefix]
        reconciled[name] = Fact(present, listing.at, listing.event_id, listing.seq)
    return reconciled


# -- views --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Listing:
    """What one customer's current version says of one of its meters (or sites)."""

    client_id: str
    present: bool
    attributes: dict[str, Any]
    since: Fact


def meter_listing(customer_id: str, customer: Facts, meter_id: str, meter: Facts) -> Listing | None:
    """What `customer` says of `meter` now, or None when it never listed it."""
    presence = customer.get(METER + meter_id)
    if presence is None:
        return None
    said = meter.get(LISTED_BY + customer_id)
    return Listing(customer_id, bool(presence.value), dict(said.value) if said else {}, presence)


def owners_of(meter: Facts) -> list[str]:
    """The customers that ever listed `meter`, to look up with `meter_listing`."""
    return sorted(name.removeprefix(LISTED_BY) for name in meter if name.startswith(LISTED_BY))


def current_listing(listings: list[Listing]) -> Listing | None:
    """The listing a meter is shown with: a present one if any, else the latest removal."""
    present = [listing for listing in listings if listing.present]
    chosen = present or listings
    if not chosen:
        return None
    return max(chosen, key=lambda listing: (listing.since.at, listing.client_id))


def postal_code_of(customer: Facts, meter: Facts, client_id: str) -> str | None:
    """The postal code of the site `client_id` lists the meter at, when it does."""
    said = meter.get(LISTED_BY + client_id)
    site_id = None if said is None else said.value.get("siteId")
    site = customer.get(SITE_INFO + str(site_id)) if site_id is not None else None
    code = None if site is None else site.value.get("postalCode")
    return None if code is None else str(code)
