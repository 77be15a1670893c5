"""Exceptions of the protocol package.

As in h11, our own mistakes and the peer's are different things: `EncodeError` means this side
tried to build a frame the ICD forbids (a bug here, raised at once); the peer's bad bytes never
raise at all, the decoder drops and counts them instead.
"""

from __future__ import annotations


class ProtocolError(Exception):
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
