"""The HAN devices' meter reads: each device joined to a meter reads its Metering cluster at the
configured cadence of the emulators' calendar, and the head-end forwards the reads to
gridhook in batches, as `POST /v1/powerbox/readings` with a bearer JWT from the utility's IdP.

A meter's registers count what its home's load profile (`emulator.household`) imports and
exports, from the moment its device joined: raw Wh (multiplier 1, divisor 1000), 48-bit, so a
register set near 2^48 rolls over; a meter exchange restarts them near 0. Reads are written
into an outbox in the transaction that advances the registers, and sent from there: a batch
gridhook did not acknowledge is sent again, and reads made while gridhook is down arrive once
it is back. The faults a mesh has, each at its own rate: a read held back and sent in a later
batch (late, out of order), a read sent twice, a HAN silent for a while (its reads never sent).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import orjson

from emulator.ami.state import EmulatorState, Register
from emulator.household import Household, energy_kwh
from gridhook.contract.codec import format_time
from gridhook.contract.settings import MeterReads

log = logging.getLogger("gridhook.emulator")

ROLLOVER = 2**48
BATCH = 1000
"""Most reads one request carries (the readings route takes up to 1000)."""
TICK_SECONDS = 0.5
LATE_SECONDS = (2.0, 8.0)
"""How long a late read is held back, in real seconds."""
SILENCE_MINUTES = (5, 240)
"""How long a silent HAN stays silent, in minutes of the calendar."""
MOST_BEHIND_SECONDS = 2 * 86_400.0
"""How far back, in the calendar, a device still reads its meter when the emulator was not
running: the registers count on all the same, but the reads before are never made."""


class MeterReader:
    """Advances the registers of every joined device and forwards their reads; a `Worker` of
    the emulator's app (started and stopped with it)."""

    def __init__(self, state: EmulatorState, settings: MeterReads, rng: random.Random) -> None:
        self._state = state
        self._settings = settings
        self._random = rng
        self._key = _load_key(settings.token_key)
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._key is None:
            log.info("no GRIDHOOK_EMULATOR_TOKEN_KEY: the head-end forwards no meter reads")
            return
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self._task = asyncio.create_task(self._run(), name="meter-reader")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._session is not None:
            await self._session.close()

    async def _run(self) -> None:
        while True:
            await self.read_meters()
            await self.forward()
            await asyncio.sleep(TICK_SECONDS)

    async def read_meters(self) -> int:
        """Read every joined device's meter up to the calendar's now; how many reads."""
        now = self._state.calendar.timestamp()
        every = self._settings.every_minutes * 60
        made = 0
        async with self._state.lock:
            for register in await self._state.registers():
                reads: list[tuple[dict[str, Any], float]] = []
                if register.read_at < now - MOST_BEHIND_SECONDS:
                    self._advance(register, now - MOST_BEHIND_SECONDS)
                at = (register.read_at // every + 1) * every
                while at <= now:
                    self._advance(register, at)
                    if not self._silent(register, at):
                        reads.extend(self._outgoing(register, at))
                    at += every
                await self._state.save_register(register, reads)
                made += len(reads)
        return made

    def _advance(self, register: Register, at: float) -> None:
        home = Household(self._settings.solar_kw.get(register.meter_id, 0.0))
        imported, exported = energy_kwh(home, register.read_at, at)
        register.delivered_wh += imported * 1000
        register.received_wh += exported * 1000
        register.read_at = at

    def _silent(self, register: Register, at: float) -> bool:
        if at < register.silent_until:
            return True
        if self._random.random() < self._settings.gap_rate:
            register.silent_until = at + 60 * self._random.randint(*SILENCE_MINUTES)
            return True
        return False

    def _outgoing(self, register: Register, at: float) -> list[tuple[dict[str, Any], float]]:
        """The read at `at`, with when to send it: now, later (late), or twice."""
        read = {
            "meterId": register.meter_id,
            "deviceMac": register.mac,
            "readAt": format_time_of(at),
            "summationDelivered": (register.delivered_base + int(register.delivered_wh)) % ROLLOVER,
            "summationReceived": (register.received_base + int(register.received_wh)) % ROLLOVER,
            "instantaneousDemand": 0,
            "multiplier": 1,
            "divisor": 1000,
            "unitOfMeasure": 0,
        }
        due = time.time()
        if self._random.random() < self._settings.late_rate:
            due += self._random.uniform(*LATE_SECONDS)
        sends = [(read, due)]
        if self._random.random() < self._settings.repeat_rate:
            sends.append((read, due + self._random.uniform(*LATE_SECONDS)))
        return sends

    async def forward(self) -> int:
        """Send the due reads in batches; how many gridhook acknowledged."""
        assert self._session is not None
        sent = 0
        while True:
            due = await self._state.due_reads(time.time(), BATCH)
            if not due:
                return sent
            ids = [row_id for row_id, _ in due]
            batch = [read for _, read in due]
            self._random.shuffle(batch)  # a mesh delivers in no particular order
            try:
                async with self._session.post(
                    self._settings.url,
                    data=orjson.dumps({"reads": batch}),
                    headers={
                        "Authorization": f"Bearer {self._token()}",
                        "Content-Type": "application/json",
                    },
                ) as answer:
                    status = answer.status
            except (aiohttp.ClientError, TimeoutError):
                return sent  # gridhook is away: the reads wait in the outbox
            if status >= 500:
                return sent
            if status >= 400:
                log.warning("meter reads refused", extra={"fields": {"status": status}})
            await self._state.forget_reads(ids)
            sent += len(ids)

    def _token(self) -> str:
        assert self._key is not None, "reads are forwarded only with a signing key"
        now = int(time.time())
        claims = {
            "iss": self._settings.issuer,
            "aud": self._settings.audience,
            "sub": "emulated-head-end",
            "iat": now,
            "exp": now + 3600,
        }
        return jwt.encode(claims, self._key, algorithm="ES256")


def format_time_of(at: float) -> str:
    return format_time(datetime.fromtimestamp(at, UTC))


def _load_key(path: Path | None) -> bytes | None:
    return None if path is None else path.read_bytes()
