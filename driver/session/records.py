"""Small helpers that turn what the session did into audit-record fields and sentences."""

from __future__ import annotations

import math
from typing import Any

import protocol
from protocol import Message

from ..errors import DriverError

__all__ = ["StartRefused", "command_fields", "jsonable", "sentences", "status_fields"]


class StartRefused(DriverError):
    """A start rule said no inside the store's transaction (which then writes nothing)."""

    def __init__(self, sentence: str, record: dict[str, Any]) -> None:
        super().__init__(sentence)
        self.sentence = sentence
        self.record = record


def sentences(reasons: tuple[str, ...]) -> str:
    text = " ".join(r.strip() for r in reasons if r.strip()) or "the governor refused it."
    return text if text.endswith(".") else text + "."


def status_fields(msg: protocol.Status) -> dict[str, Any]:
    return {
        "state": msg.state.name,
        "faults": int(msg.faults),
        "depth_set_um": msg.depth_set_um,
        "depth_actual_um": msg.depth_actual_um,
        "rate_set_hz": msg.rate_set_hz,
    }


def command_fields(msg: Message) -> dict[str, Any]:
    return {name: int(v) for name, v in zip(msg.FIELDS, msg.values(), strict=True)}


def jsonable(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return repr(value)
