"""Exceptions of the protocol package, and the error root of the whole distribution.

`NeedlepenError` sits above every package's errors (protocol, simulator, driver, tui): a
caller that catches it has caught every error raised on purpose, each with one sentence a
person can act on; anything else that escapes is a bug. protocol/ is the bottom layer, so the
root lives here and the other packages import it from `protocol`.

As in h11, our own mistakes and the peer's are different things: `EncodeError` means this side
tried to build a frame the ICD forbids (a bug here, raised at once); the peer's bad bytes never
raise at all, the decoder drops and counts them instead.
"""

from __future__ import annotations


class NeedlepenError(Exception):
    """Root of every error needlepen raises on purpose (its message is one clear sentence)."""


class ProtocolError(NeedlepenError):
    """Base class of every error raised by the protocol package."""


class EncodeError(ProtocolError, ValueError):
    """A message could not be encoded because a field is outside what the wire allows."""

    def __init__(self, message_name: str, field: str, value: object, rule: str) -> None:
        self.message_name = message_name
        self.field = field
        self.value = value
        self.rule = rule
        super().__init__(f"{message_name}.{field} = {value!r} is not allowed: {rule}.")


class CobsError(ProtocolError, ValueError):
    """Bytes that are not a valid COBS encoding (used inside the decoder, never escapes it)."""
