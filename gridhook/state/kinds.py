"""The kinds of entity the state store holds, as stored in its `kind` column."""

from __future__ import annotations

LIGHT_ACCOUNT = "light.account"
LIGHT_LOCATION = "light.location"
POWERBOX_CUSTOMER = "powerbox.customer"
POWERBOX_METER = "powerbox.meter"
WATTSHIFT_HOME = "wattshift.home"
BRIGHT_ACCOUNT = "bright.account"
POWERBOX_BIND = "powerbox.bind"
INSTALLATION = "gridhook.installation"
PERSON = "person"
PERSON_INDEX = "person.index"
ACCOUNT_ERASURE = "account.erasure"
"""When an account's people were erased (its fact `erased`): people applied after it, from
another topic's records, are erased as they arrive, so the order topics are read in does not
change the state."""
