"""What the console hides until an operator asks: every partner's personal data.

Light's names, emails, phones and addresses; PowerBox's contacts and site addresses; Bright's
email, username and personal number; a person's name wherever a body names one (the Data
Layer's users travel sealed, and sealed texts are shown as they are). Pure functions over a
decoded JSON body. Masking keeps the shape (the member stays, its value becomes
`•••• (hidden)`), so an operator sees that the field was sent.
"""

from __future__ import annotations

from typing import Any

HIDDEN = "•••• (hidden)"
PERSONAL_MEMBERS = frozenset(
    {
        # Light
        "first_name", "last_name", "full_name", "email", "phone", "phone_number",
        "address_1", "address_2", "billing_address",
        # PowerBox
        "firstName", "lastName", "businessName", "address1", "address2", "emailAddress",
        "phoneNumber", "contactName", "contactEmail", "contactPhone", "mobile",
        # Bright
        "username", "personalNumber",
    }
)  # fmt: skip
PERSON_OBJECTS = frozenset({"customer", "user", "owner", "contact"})
"""Objects that are a person: their `name` is personal too."""


def needs_masking(topic: str) -> bool:
    """Every topic may carry personal data (a partner's body as it came)."""
    return bool(topic)


def _personal(name: str, value: Any, in_person: bool) -> bool:
    if value in (None, "") or (isinstance(value, str) and value.startswith("v1:")):
        return False  # nothing, or sealed already
    return name in PERSONAL_MEMBERS or (in_person and name == "name")


def masked(document: Any, in_person: bool = False) -> tuple[Any, bool]:
    """`document` with every personal member's value hidden, and whether any was."""
    if isinstance(document, dict):
        hid = False
        out: dict[str, Any] = {}
        for name, value in document.items():
            if _personal(name, value, in_person):
                out[name] = HIDDEN
                hid = True
            else:
                out[name], inner = masked(value, name in PERSON_OBJECTS)
                hid = hid or inner
        return out, hid
    if isinstance(document, list):
        items = [masked(item, in_person) for item in document]
        return [item for item, _ in items], any(hid for _, hid in items)
    return document, False
