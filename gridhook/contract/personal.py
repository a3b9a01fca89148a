"""Personal data sealed per person: pure functions over keys (`cryptography`'s AES-GCM and
HMAC; no I/O).

- Each person has a **data key** (256-bit AES). Their fields (name, email, phone, personal
  number) are sealed with it: AES-GCM, the person and the field's name as associated data, so a
  sealed field cannot be moved to another person or field. The nonce is synthetic (an HMAC of
  the field under the data key, as AES-SIV does): the same value sealed twice gives the same
  text, so an installer's document sent again is the same document (idempotent), and two
  different values never share a nonce.
- Data keys are stored only **wrapped** by a master key (AES-GCM, the person as associated
  data). `MasterKeys` holds several, by id: the first wraps, any unwraps, so a master key is
  rotated by adding a new one first, re-wrapping (`gridhook keys rewrap`), then removing the
  old one.
- A **blind index** (HMAC-SHA256 under a key of its own, not the master key) of a normalised
  email or personal number finds a person without keeping the datum.

Deleting a person's data key makes every sealed copy of their fields, wherever it is (the
store, a compacted topic, a backup), unreadable: crypto-shredding.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass

from gridhook.contract.errors import ConfigError, Unreadable

SEALED = "v1:"
"""The prefix of a sealed field: its scheme's version."""
FIELDS = ("name", "email", "phone", "personalNumber")
"""The personal fields a person may have."""
INDEXED = ("email", "personalNumber")
"""The fields a person can be found by (through their blind index)."""
KEY_BYTES = 32


def new_data_key() -> bytes:
    return os.urandom(KEY_BYTES)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def decode_key(text: str, name: str) -> bytes:
    """A 256-bit key written in base64 (standard or URL-safe); `ConfigError` naming `name`."""
    try:
        raw = base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ConfigError(f"{name}: not base64") from None
    if len(raw) != KEY_BYTES:
        raise ConfigError(f"{name}: a key must be {KEY_BYTES} bytes (base64 of 32 random bytes)")
    return raw


@dataclass(frozen=True)
class MasterKeys:
    """Master keys by id, the first the one that wraps."""

    keys: tuple[tuple[str, bytes], ...]

    @classmethod
    def parse(cls, entries: tuple[str, ...], name: str) -> MasterKeys | None:
        """`id:base64key` entries (None when there are none)."""
        keys = []
        for entry in entries:
            key_id, _, text = entry.partition(":")
            if not key_id or not text or not key_id.isalnum():
                raise ConfigError(f"{name}: each entry is id:base64key, the id alphanumeric")
            keys.append((key_id, decode_key(text, name)))
        if len({key_id for key_id, _ in keys}) != len(keys):
            raise ConfigError(f"{name}: two keys have one id")
        return cls(tuple(keys)) if keys else None

    @property
    def current(self) -> str:
        return self.keys[0][0]

    def wrap(self, data_key: bytes, person_id: str) -> str:
        """`data_key` wrapped by the current master key: `<master id>:<nonce + ciphertext>`."""
        key_id, master = self.keys[0]
        nonce = os.urandom(12)
        return f"{key_id}:{_b64(nonce + _encrypt(master, nonce, data_key, person_id.encode()))}"

    def unwrap(self, wrapped: str, person_id: str) -> bytes:
        """The data key `wrap` wrapped, by whichever master key did; `Unreadable` otherwise."""
        key_id, _, text = wrapped.partition(":")
        master = dict(self.keys).get(key_id)
        if master is None:
            raise Unreadable(f"no master key {key_id!r} among the configured ones")
        data_key = _decrypt(master, _unb64(text), person_id.encode())
        if data_key is None:
            raise Unreadable("the wrapped key does not open")
        return data_key

    def wraps_with_current(self, wrapped: str) -> bool:
        return wrapped.startswith(self.current + ":")


def _associated(person_id: str, field: str) -> bytes:
    return f"{person_id}\x00{field}".encode()


def seal(data_key: bytes, person_id: str, field: str, value: str) -> str:
    """`value` sealed for `person_id`'s `field`."""
    plain = value.encode()
    nonce = hmac.digest(data_key, b"nonce\x00" + field.encode() + b"\x00" + plain, "sha256")[:12]
    return SEALED + _b64(nonce + _encrypt(data_key, nonce, plain, _associated(person_id, field)))


def unseal(data_key: bytes, person_id: str, field: str, sealed: str) -> str:
    """The value `seal` sealed; `Unreadable` when the text was altered or is not this
    person's field."""
    if not sealed.startswith(SEALED):
        raise Unreadable("not a sealed field")
    plain = _decrypt(data_key, _unb64(sealed[len(SEALED) :]), _associated(person_id, field))
    if plain is None:
        raise Unreadable("the sealed field does not open")
    return plain.decode()


# cryptography is imported by the first call, not with this module: a process that never
# seals (an ingress taking only webhooks) stays 9 MB smaller (bench/README.md, memory).
def _encrypt(key: bytes, nonce: bytes, plain: bytes, associated: bytes) -> bytes:
    """AES-GCM ciphertext and tag of `plain` under `key`."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key).encrypt(nonce, plain, associated)


def _decrypt(key: bytes, sealed: bytes, associated: bytes) -> bytes | None:
    """The plain text of `nonce + ciphertext`, or None when it does not open under `key`
    and `associated` (altered, another key, another person or field)."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        return AESGCM(key).decrypt(sealed[:12], sealed[12:], associated)
    except (InvalidTag, ValueError):
        return None


def normalised(field: str, value: str) -> str:
    """What a blind index is taken of: an email trimmed and lower-cased; a personal number's
    digits only (a Swedish personnummer written with or without its separator)."""
    if field == "email":
        return value.strip().lower()
    return "".join(ch for ch in value if ch.isdigit())


def blind_index(index_key: bytes, field: str, value: str) -> str:
    """The keyed hash a person is found by, for one field."""
    message = f"{field}\x00{normalised(field, value)}".encode()
    return hmac.new(index_key, message, hashlib.sha256).hexdigest()


def seal_person(
    data_key: bytes, index_key: bytes, person_id: str, fields: Mapping[str, str | None]
) -> dict[str, dict[str, str]]:
    """A person's fields as gridhook keeps and publishes them: `sealed` texts and the blind
    `indexes` of the searchable ones (fields that are None or absent are left out)."""
    present = {name: value for name, value in fields.items() if value is not None}
    unknown = set(present) - set(FIELDS)
    if unknown:
        raise ValueError(f"not personal fields: {sorted(unknown)}")
    return {
        "sealed": {name: seal(data_key, person_id, name, value) for name, value in present.items()},
        "indexes": {
            name: blind_index(index_key, name, value)
            for name, value in present.items()
            if name in INDEXED
        },
    }


def open_person(
    data_key: bytes | None, person_id: str, sealed: Mapping[str, str]
) -> dict[str, str | None]:
    """A person's fields in the clear (None for each when their key is gone: erased)."""
    if data_key is None:
        return dict.fromkeys(FIELDS)
    return {
        name: unseal(data_key, person_id, name, sealed[name]) if name in sealed else None
        for name in FIELDS
    }
