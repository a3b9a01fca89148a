"""The console's operators: named people with a role, from a users file
(`GRIDHOOK_CONSOLE_USERS`), their passwords hashed with argon2 (`argon2-cffi`).

    {"users": [{"name": "ana", "role": "operator", "password": "$argon2id$v=19$..."}]}

`viewer` sees everything (personal data masked) and acts on nothing; `operator` also re-drives,
replays, reveals, resumes and cancels. `gridhook console-user NAME --role ROLE` adds or
changes one. The read API's admin token is for machines: it does not open the console.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

Role = Literal["viewer", "operator"]
ROLES: tuple[Role, ...] = ("viewer", "operator")
_HASHER = PasswordHasher()
_NOBODY = _HASHER.hash(os.urandom(16).hex())
"""Verified against when the name is unknown, so a wrong name takes as long as a wrong password."""


@dataclass(frozen=True)
class Operator:
    name: str
    role: Role

    @property
    def may_act(self) -> bool:
        return self.role == "operator"


def _read(path: Path) -> list[dict[str, str]]:
    try:
        users = orjson.loads(path.read_bytes()).get("users", [])
    except FileNotFoundError:
        return []
    return [user for user in users if isinstance(user, dict)]


def authenticate(path: Path, name: str, password: str) -> Operator | None:
    """The operator `name` when `password` is theirs; None otherwise (in the same time)."""
    found = next((user for user in _read(path) if user.get("name") == name), None)
    try:
        _HASHER.verify(found["password"] if found else _NOBODY, password)
    except (VerificationError, InvalidHashError):
        return None
    if found is None or found.get("role") not in ROLES:
        return None
    return Operator(name, found["role"])  # type: ignore[arg-type]


def put(path: Path, name: str, role: Role, password: str) -> None:
    """Add operator `name`, or change their role and password."""
    users = [user for user in _read(path) if user.get("name") != name]
    users.append({"name": name, "role": role, "password": _HASHER.hash(password)})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps({"users": users}, option=orjson.OPT_INDENT_2))
    path.chmod(0o600)
