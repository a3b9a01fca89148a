"""Console sessions and CSRF tokens: pure bookkeeping, no I/O.

An operator logging in (`service.console.operators`) opens a session: a random id (the HttpOnly,
SameSite=Strict cookie), a random CSRF token that every form posts back, and who they are. No
password is stored, put in a URL or logged; sessions live in the console process's memory, so
restarting it logs everyone out.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field

from service.console.operators import Operator

COOKIE = "gridhook_console"
LOGIN_COOKIE = "gridhook_console_login"


@dataclass(frozen=True)
class Session:
    session_id: str
    csrf: str
    expires_at: float
    operator: Operator


@dataclass
class Sessions:
    """Open sessions, each expiring `lifetime` seconds after login."""

    lifetime: float
    _open: dict[str, Session] = field(default_factory=dict)

    def open(self, operator: Operator, now: float) -> Session:
        self._expire(now)
        session = Session(
            secrets.token_urlsafe(32), secrets.token_urlsafe(32), now + self.lifetime, operator
        )
        self._open[session.session_id] = session
        return session

    def find(self, session_id: str | None, now: float) -> Session | None:
        """The live session of `session_id`, or None."""
        if not session_id:
            return None
        session = self._open.get(session_id)
        if session is None or session.expires_at <= now:
            self._open.pop(session_id or "", None)
            return None
        return session

    def close(self, session_id: str) -> None:
        self._open.pop(session_id, None)

    def _expire(self, now: float) -> None:
        for session_id in [sid for sid, s in self._open.items() if s.expires_at <= now]:
            del self._open[session_id]


def same_secret(given: str, expected: str | None) -> bool:
    """Constant-time comparison; False when no secret is configured."""
    if not expected or not given:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())
