"""What the console hides until an operator asks: Bright's personal number and email.

Pure functions over a decoded JSON body. Masking keeps the shape (the member stays, its value
becomes `•••• (hidden)`), so an operator sees that the field was sent.
"""

from __future__ import annotations

from typing import Any

from gridhook.contract import topics

HIDDEN = "•••• (hidden)"
PERSONAL_MEMBERS = frozenset({"email", "username", "personalNumber"})
MASKED_TOPICS = frozenset({topics.BRIGHT_EVENTS, topics.BRIGHT_EVENTS + topics.DLQ_SUFFIX})


def needs_masking(topic: str) -> bool:
    return topic in MASKED_TOPICS


def masked(document: Any) -> tuple[Any, bool]:
    """`document` with every personal member's value hidden, and whether any was."""
    if isinstance(document, dict):
        hid = False
        out: dict[str, Any] = {}
        for name, value in document.items():
            if name in PERSONAL_MEMBERS and value not in (None, ""):
                out[name] = HIDDEN
                hid = True
            else:
                out[name], inner = masked(value)
                hid = hid or inner
        return out, hid
    if isinstance(document, list):
        items = [masked(item) for item in document]
        return [item for item, _ in items], any(hid for _, hid in items)
    return document, False
