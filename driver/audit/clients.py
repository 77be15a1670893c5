"""Client references: the one form a client is compared, stored and shown in, so that
'P-0042', 'p-0042' and ' P-0042 ' are one client to the interval rule (SAFETY.md HS1), and the
client of a home pen, whatever name is typed.

Pure functions (no database); the store, the driver and the records use them.
"""

from __future__ import annotations

import unicodedata

from driver.audit.canon import _check_text
from driver.audit.values import _CONTROL_RE
from driver.errors import StoreError


def normalise_client(client_ref: str) -> str:
    """The form a client reference is compared, stored and shown in: Unicode NFKC,
    case-folded, surrounding whitespace removed ('P-0042', 'p-0042' and ' P-0042 ' are one
    client, stored and shown as 'p-0042')."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", client_ref).casefold())
    return folded.strip()


def home_client(device_serial: int) -> str:
    """The client of every home session on the pen with this serial: its own user, whatever
    name is typed, so a new name cannot dodge the interval rule."""
    return f"home-pen-{device_serial:08x}"


def check_client(client_ref: object) -> str | None:
    """The normalised client reference, or StoreError naming what is wrong with it."""
    if client_ref is None:
        return None
    if not isinstance(client_ref, str):
        raise StoreError("The client reference must be text.")
    if _CONTROL_RE.search(client_ref) or any(unicodedata.category(ch) == "Cf" for ch in client_ref):
        raise StoreError("The client reference must not contain control characters.")
    return _check_text(normalise_client(client_ref), "client reference", 64)


def _client_key(ref: object) -> str | None:
    """normalise_client for SQL (rows of schema 1 hold references as typed)."""
    if not isinstance(ref, str):
        return None
    try:
        return normalise_client(ref)
    except Exception:  # a malformed legacy row matches nothing
        return None
