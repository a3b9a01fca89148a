"""Webhook ids shared by every ingress replica, in the state store's database (PostgreSQL).

One row per message id: `claimed` by the replica publishing it, then `accepted` once Kafka has
the record. A replica that receives a message id checks here before it publishes: accepted is a
duplicate; claimed by another, and not stale, means that replica's publish is in flight (wait
for it); a stale claim (its replica died or timed out) is taken over. Two round trips per new
webhook: the claim and the acceptance.
"""

from __future__ import annotations

import enum

from sqlalchemy import delete, func, select, update

from gridhook.state.store import Store
from gridhook.state.tables import webhook_claims


class Claim(enum.Enum):
    """What `claim` found."""

    MINE = "mine"
    ACCEPTED = "accepted"
    IN_FLIGHT = "in_flight"


class SharedClaims:
    """Claims of message ids in the store's PostgreSQL database."""

    def __init__(self, store: Store, stale_after: float) -> None:
        if store.is_sqlite:
            raise ValueError("shared webhook claims need PostgreSQL")
        self._store = store
        self._stale_after = stale_after

    async def claim(self, key: str, now: float) -> Claim:
        """Claim `key` for this replica, unless another accepted or is publishing it."""
        from sqlalchemy.dialects import postgresql  # imported only where PostgreSQL is used

        store = self._store
        async with store.begin() as connection:
            inserted = await connection.scalar(
                postgresql.insert(webhook_claims)
                .values(message_key=key, state="claimed", claimed_at=now)
                .on_conflict_do_nothing()
                .returning(webhook_claims.c.message_key)
            )
            if inserted is not None:
                return Claim.MINE
            taken = await connection.scalar(
                update(webhook_claims)
                .where(
                    webhook_claims.c.message_key == key,
                    webhook_claims.c.state == "claimed",
                    webhook_claims.c.claimed_at < now - self._stale_after,
                )
                .values(claimed_at=now)
                .returning(webhook_claims.c.message_key)
            )
            if taken is not None:
                return Claim.MINE
            state = await connection.scalar(
                select(webhook_claims.c.state).where(webhook_claims.c.message_key == key)
            )
        if state == "accepted":
            return Claim.ACCEPTED
        return Claim.IN_FLIGHT if state == "claimed" else Claim.MINE

    async def accept(self, key: str, now: float) -> None:
        """Kafka has the record of `key`."""
        async with self._store.begin() as connection:
            await connection.execute(
                update(webhook_claims)
                .where(webhook_claims.c.message_key == key)
                .values(state="accepted", accepted_at=now)
            )

    async def release(self, key: str) -> None:
        """The publish of `key` failed: another replica (or this one) may try again at once."""
        async with self._store.begin() as connection:
            await connection.execute(
                delete(webhook_claims).where(
                    webhook_claims.c.message_key == key, webhook_claims.c.state == "claimed"
                )
            )

    async def forget(self, before: float) -> int:
        """Delete the claims made before `before` (older than the dedup window)."""
        async with self._store.begin() as connection:
            result = await connection.execute(
                delete(webhook_claims).where(
                    func.coalesce(webhook_claims.c.accepted_at, webhook_claims.c.claimed_at)
                    < before
                )
            )
            return int(result.rowcount or 0)
