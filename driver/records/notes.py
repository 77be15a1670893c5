"""Session notes the clinical record needs, each a chained audit record of its session.

- `note_consent`: the client's consent was given, and which operator recorded it;
- `note_reaction`: the skin's end-point reaction on a zone (none / erythema / pinpoint bleeding);
- `note_adverse`: an adverse event seen (visible text);
- `note_free`: a free note (visible text).

Text is what a person typed: 1 to MAX_NOTE_CHARS printable characters, no control or format
characters, so the report shows it as it was typed and a note cannot reorder what is shown.
Bad input is one sentence (NoteError) and nothing is recorded.
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from driver.audit import AuditStore, Record
from driver.errors import DriverError
from driver.safety.policy import ZONE_NAMES

__all__ = [
    "MAX_NOTE_CHARS",
    "NOTE_KINDS",
    "Note",
    "NoteError",
    "Reaction",
    "notes_of",
    "record_adverse_event",
    "record_consent",
    "record_note",
    "record_reaction",
]

MAX_NOTE_CHARS: Final = 500
CONSENT: Final = "note_consent"
REACTION: Final = "note_reaction"
ADVERSE: Final = "note_adverse"
FREE: Final = "note_free"
NOTE_KINDS: Final = (CONSENT, REACTION, ADVERSE, FREE)


class NoteError(DriverError):
    """A note was refused (nothing was recorded)."""


class Reaction(enum.StrEnum):
    """The skin's end-point reaction on a zone at the end of its treatment."""

    NONE = "none"
    ERYTHEMA = "erythema"
    PINPOINT_BLEEDING = "pinpoint_bleeding"


@dataclass(frozen=True, slots=True)
class Note:
    ts: float
    kind: str
    text: str
    zone: str | None = None
    by: str | None = None


def _visible(text: object, what: str) -> str:
    if not isinstance(text, str):
        raise NoteError(f"The {what} must be text.")
    value = text.strip()
    if not value:
        raise NoteError(f"The {what} must not be empty.")
    if len(value) > MAX_NOTE_CHARS:
        raise NoteError(
            f"The {what} is too long ({len(value)} characters; at most {MAX_NOTE_CHARS})."
        )
    if any(unicodedata.category(ch)[0] == "C" and ch not in "\n" for ch in value):
        raise NoteError(f"The {what} must not contain control or invisible characters.")
    return value


def record_consent(store: AuditStore, session_id: int, by: str, now: float | None = None) -> Record:
    """The client gave consent; `by` is the operator who recorded it."""
    who = _visible(by, "operator who recorded the consent")
    return store.append(CONSENT, {"by": who}, session_id=session_id, now=now)


def record_reaction(
    store: AuditStore,
    session_id: int,
    zone: str,
    reaction: Reaction | str,
    now: float | None = None,
) -> Record:
    """The skin's end-point reaction on `zone`."""
    if zone not in ZONE_NAMES:
        raise NoteError(f"{zone!r} is not a treatment zone.")
    try:
        value = Reaction(reaction)
    except ValueError:
        choices = ", ".join(r.value for r in Reaction)
        raise NoteError(
            f"{reaction!r} is not an end-point reaction; it is one of {choices}."
        ) from None
    return store.append(
        REACTION, {"zone": zone, "reaction": value.value}, session_id=session_id, now=now
    )


def record_adverse_event(
    store: AuditStore, session_id: int, text: str, now: float | None = None
) -> Record:
    """An adverse event seen during or after the session."""
    return store.append(
        ADVERSE, {"text": _visible(text, "adverse event")}, session_id=session_id, now=now
    )


def record_note(store: AuditStore, session_id: int, text: str, now: float | None = None) -> Record:
    """A free note on the session."""
    return store.append(FREE, {"text": _visible(text, "note")}, session_id=session_id, now=now)


def notes_of(records: Iterable[Record]) -> list[Note]:
    """The notes among a session's records, in order (unreadable ones are skipped)."""
    out: list[Note] = []
    for r in records:
        if r.kind not in NOTE_KINDS:
            continue
        d = r.data
        if r.kind == CONSENT:
            out.append(Note(r.ts, r.kind, "consent given", by=str(d.get("by", ""))))
        elif r.kind == REACTION:
            out.append(Note(r.ts, r.kind, str(d.get("reaction", "")), zone=str(d.get("zone", ""))))
        else:
            out.append(Note(r.ts, r.kind, str(d.get("text", ""))))
    return out
