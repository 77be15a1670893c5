"""Text that people typed, made safe to show: one helper every layer uses."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["printable"]

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable(text: str) -> str:
    """`text` with control (C0, C1), format (Cf: bidi overrides, zero-width characters),
    surrogate, private-use and unassigned characters as \\x../\\u.... escapes, for anything
    a terminal shows (names, IDs, paths, error messages): a typed string can neither move the
    cursor nor reorder what is shown."""
    out = []
    for ch in text:
        if _CONTROL_RE.match(ch) or unicodedata.category(ch) in ("Cf", "Cs", "Co", "Cn"):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)
