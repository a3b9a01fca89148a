"""The people of a Data Layer account (an owner, guests), as the state keeps them: sealed.

A person is an entity (kind `person`, id their user id, parent the account id: the Light account
uuid) whose facts are their `role`, their `sealed` fields (`gridhook.contract.personal`), the
blind `indexes` they are found by, and `erased`. Each index is an entity of its own (kind
`person.index`, id `<field>:<digest>`, naming the person), and a search trusts it only while
the person still carries that index, so a changed email is no longer found by the old one.

People come from two places, both in Kafka, both sealed: an installation's `customer` block
(the account's owner) and `gridhook.people` records (a guest added, a user updated, an account
erased). Pure functions; the store merges what they return.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from gridhook.contract.errors import UnapplicableEvent
from gridhook.state.facts import PARENT, EntityUpdate, Fact, Facts
from gridhook.state.kinds import PERSON, PERSON_INDEX

OWNER, GUEST = "owner", "guest"
ROLES = (OWNER, GUEST)
_PEOPLE = uuid.UUID("6f3b1e52-9a0c-4d7e-8b21-5c4f0e9a7d13")


def owner_id(account_id: str) -> str:
    """The user id of an account's owner (one owner per account, whichever installation
    named them)."""
    return str(uuid.uuid5(_PEOPLE, f"owner:{account_id}"))


def new_guest_id() -> str:
    return str(uuid.uuid4())


def person_updates(
    person_id: str,
    account_id: str,
    role: str,
    sealed: dict[str, str],
    indexes: dict[str, str],
    fact: Fact,
) -> list[EntityUpdate]:
    """A person's current sealed fields and indexes (`fact` gives the time and event), and
    the index entities that find them."""

    def at(value: Any) -> Fact:
        return Fact(value, fact.at, fact.event_id, fact.seq)

    updates = [
        EntityUpdate(
            PERSON,
            person_id,
            {
                PARENT: at(account_id),
                "role": at(role),
                "sealed": at(sealed),
                "indexes": at(indexes),
                "erased": at(False),
            },
        )
    ]
    updates += [
        EntityUpdate(PERSON_INDEX, f"{field}:{digest}", {"person": at(person_id)})
        for field, digest in sorted(indexes.items())
    ]
    return updates


def erased_updates(person_ids: list[str], fact: Fact) -> list[EntityUpdate]:
    """The people of an erased account: no sealed field, no index, `erased`."""
    return [
        EntityUpdate(
            PERSON,
            person_id,
            {
                "sealed": Fact({}, fact.at, fact.event_id, fact.seq),
                "indexes": Fact({}, fact.at, fact.event_id, fact.seq),
                "erased": Fact(True, fact.at, fact.event_id, fact.seq),
            },
        )
        for person_id in person_ids
    ]


def customer_updates(account_id: str, customer: dict[str, Any], fact: Fact) -> list[EntityUpdate]:
    """The owner an installation's sealed `customer` block names."""
    try:
        person_id = str(customer["personId"])
        sealed, indexes = dict(customer["sealed"]), dict(customer.get("indexes") or {})
    except (KeyError, TypeError, ValueError):
        raise UnapplicableEvent("installation customer is not sealed") from None
    return person_updates(person_id, account_id, OWNER, sealed, indexes, fact)


def record_updates(document: dict[str, Any], fact: Fact) -> list[EntityUpdate]:
    """What a `gridhook.people` person record says (the erase records are the applier's)."""
    try:
        role = str(document["role"])
        if role not in ROLES:
            raise UnapplicableEvent("person record with an unknown role")
        return person_updates(
            str(document["personId"]),
            str(document["accountId"]),
            role,
            dict(document["sealed"]),
            dict(document.get("indexes") or {}),
            fact,
        )
    except (KeyError, TypeError, ValueError):
        raise UnapplicableEvent("person record lacks personId, accountId or sealed") from None


@dataclass(frozen=True)
class PersonView:
    """A person as the state holds them: sealed."""

    person_id: str
    account_id: str | None
    role: str
    sealed: dict[str, str]
    indexes: dict[str, str]
    erased: bool


def person_view(person_id: str, facts: Facts) -> PersonView:
    def value(name: str, default: Any) -> Any:
        found = facts.get(name)
        return default if found is None else found.value

    return PersonView(
        person_id=person_id,
        account_id=value(PARENT, None),
        role=value("role", GUEST),
        sealed=dict(value("sealed", {})),
        indexes=dict(value("indexes", {})),
        erased=bool(value("erased", False)),
    )
