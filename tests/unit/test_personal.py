"""Personal data sealed per person (pure) and the key store's keys, wrapped and re-wrapped."""

from __future__ import annotations

import asyncio
import base64
import fcntl
import os
from pathlib import Path

import pytest

from gridhook.contract.errors import ConfigError, Unreadable
from gridhook.contract.personal import (
    MasterKeys,
    blind_index,
    open_person,
    seal,
    seal_person,
    unseal,
)
from gridhook.state.keystore import KeyStore

INDEX_KEY = os.urandom(32)


def master(*ids: str) -> MasterKeys:
    keys = MasterKeys.parse(
        tuple(f"{i}:{base64.b64encode(os.urandom(32)).decode()}" for i in ids), "T"
    )
    assert keys is not None
    return keys


def test_a_sealed_field_opens_only_for_its_person_and_field() -> None:
    """Sealed twice, the same text (an installation sent again is the same document); opened
    with the key, the value; moved to another person or field, or altered, unreadable."""
    key = os.urandom(32)
    sealed = seal(key, "p1", "email", "eva@example.se")
    assert sealed == seal(key, "p1", "email", "eva@example.se")
    assert "eva" not in sealed
    assert unseal(key, "p1", "email", sealed) == "eva@example.se"
    for person, field, text in (
        ("p2", "email", sealed),
        ("p1", "phone", sealed),
        ("p1", "email", sealed[:-2] + ("AA" if sealed[-2:] != "AA" else "BB")),
    ):
        with pytest.raises(Unreadable):
            unseal(key, person, field, text)
    with pytest.raises(Unreadable):
        unseal(os.urandom(32), "p1", "email", sealed)


def test_the_blind_index_finds_the_normalised_datum_only() -> None:
    """An email in any case and spacing, a personal number with or without its hyphen, give
    one index; another value or another key another."""
    one = blind_index(INDEX_KEY, "email", "Eva@Example.se ")
    assert one == blind_index(INDEX_KEY, "email", "eva@example.se")
    assert one != blind_index(INDEX_KEY, "email", "eve@example.se")
    assert one != blind_index(os.urandom(32), "email", "eva@example.se")
    assert blind_index(INDEX_KEY, "personalNumber", "19850612-4821") == blind_index(
        INDEX_KEY, "personalNumber", "198506124821"
    )


def test_a_person_sealed_and_opened_and_erased() -> None:
    """Every field sealed, only email and personal number indexed; without the key (erased),
    every field is None."""
    key = os.urandom(32)
    fields = {"name": "Eva Holm", "email": "eva@example.se", "personalNumber": "198506124821"}
    person = seal_person(key, INDEX_KEY, "p1", fields)
    assert set(person["sealed"]) == set(fields)
    assert set(person["indexes"]) == {"email", "personalNumber"}
    assert open_person(key, "p1", person["sealed"])["name"] == "Eva Holm"
    assert open_person(None, "p1", person["sealed"]) == dict.fromkeys(
        ("name", "email", "phone", "personalNumber")
    )


def test_master_keys_are_parsed_with_errors_that_name_no_key() -> None:
    """`id:base64` entries of 32 bytes; anything else is a ConfigError that names the variable."""
    for bad in (
        ("nocolon",),
        ("k1:short",),
        ("k1:" + base64.b64encode(os.urandom(32)).decode(),) * 2,
    ):
        with pytest.raises(ConfigError) as raised:
            MasterKeys.parse(bad, "GRIDHOOK_MASTER_KEYS")
        assert "GRIDHOOK_MASTER_KEYS" in str(raised.value)
    assert MasterKeys.parse((), "X") is None


async def test_rotation_rewraps_every_key_and_the_old_master_can_go(tmp_path: Path) -> None:
    """A key wrapped by k1; k2 put first and every key re-wrapped; then k1 removed: the same
    data key opens; and an erased person has none."""
    old = master("k1")
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    store = KeyStore(url, old, writer=True)
    await store.migrate()
    data_key = await store.data_key("p1", create=True)
    await store.close()
    new = master("k2")
    both = MasterKeys(new.keys + old.keys)
    rotating = KeyStore(url, both, writer=True)
    assert await rotating.rewrap() == 1
    assert await rotating.rewrap() == 0
    await rotating.close()
    after = KeyStore(url, new, writer=True)
    assert await after.data_key("p1") == data_key
    assert await after.erase(["p1"]) == 1
    assert await after.data_key("p1") is None
    await after.close()


async def test_a_key_store_migrates_under_the_file_s_migration_lock(tmp_path: Path) -> None:
    """On SQLite the key store migrates only while it holds `<file>.lock`, as the state store
    does, so processes starting together (the ingress and the state applier under `make
    run`) never switch one new file to WAL at once and fail with "database is locked"."""
    path = tmp_path / "keys.db"
    store = KeyStore(f"sqlite:///{path}", master("k1"), writer=True)
    held = os.open(f"{path}.lock", os.O_CREAT | os.O_WRONLY)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)
        migrating = asyncio.ensure_future(store.migrate())
        done, _ = await asyncio.wait({migrating}, timeout=0.5)
        assert not done, "the key store migrated while another process held the lock"
        fcntl.flock(held, fcntl.LOCK_UN)
        assert await asyncio.wait_for(migrating, 10) == 1
    finally:
        os.close(held)
    await store.close()
