"""The one rule for override reasons: the governor, the API and the TUI all use it."""

from __future__ import annotations

import unicodedata
from typing import Final

__all__ = ["MAX_REASON_CHARS", "MIN_REASON_CHARS", "REASON_RULE", "check_override_reason"]

#: An override reason needs at least this many letters or digits.
MIN_REASON_CHARS: Final = 3
MAX_REASON_CHARS: Final = 500
#: The rule, in one sentence, for a UI to show beside the reason field.
REASON_RULE: Final = (
    f"An override reason must say why in words: at least {MIN_REASON_CHARS} letters or "
    f"digits (spaces, control and invisible characters do not count), at most "
    f"{MAX_REASON_CHARS} characters."
)


def check_override_reason(reason: object) -> str | None:
    """The reason as it is recorded, or None when it is not a reason at all.

    After removing control (Cc), format (Cf: zero-width, bidi) and whitespace characters, at
    least `MIN_REASON_CHARS` letters or digits must remain. The recorded form has control and
    format characters removed and the ends stripped; at most `MAX_REASON_CHARS` characters.
    """
    if not isinstance(reason, str) or len(reason) > 4 * MAX_REASON_CHARS:
        return None
    kept = "".join(ch for ch in reason if unicodedata.category(ch) not in ("Cc", "Cf"))
    kept = " ".join(kept.split())  # line breaks and runs of spaces become one space
    if len(kept) > MAX_REASON_CHARS:
        return None
    visible = sum(1 for ch in kept if unicodedata.category(ch)[0] in ("L", "N"))
    return kept if visible >= MIN_REASON_CHARS else None
