"""How numbers look on screen: millimetres, hertz, durations, dates."""

from __future__ import annotations

import math
import time

from driver.vocabulary import format_mm
from protocol import CartridgeState, State

STATE_STYLE: dict[State, str] = {
    State.NO_SESSION: "dim",
    State.IDLE: "bold green",
    State.RUNNING: "bold black on yellow",
    State.FAULT: "bold white on red",
    State.ESTOP: "bold white on red",
}

CARTRIDGE_WORDS: dict[CartridgeState, str] = {
    CartridgeState.NONE: "none fitted",
    CartridgeState.FRESH: "fresh",
    CartridgeState.IN_USE: "in use",
    CartridgeState.SPENT: "SPENT (used before)",
}

#: What the governor's `bound_by` names mean, for the "bound by" line.
BOUND_BY_WORDS: dict[str, str] = {
    "zone_recommended": "the zone's recommended max",
    "zone_hard": "the zone's hard max",
    "role": "the role's cap",
    "device": "the pen's deepest setting",
    "ceiling": "the built-in ceiling",
    "role_rate": "the role's rate range",
    "device_rate": "the pen's rate range",
    "interval": "the interval since the last session",
    "depth_min": "the shallowest setting",
    "rate_min": "the lowest rate",
    "zone": "the zone rules",
    "input": "the input",
}


ZONE_WORDS: dict[str, str] = {
    "chin_jawline": "chin and jawline",
    "decolletage": "décolletage",
    "acne_scars": "acne scars",
    "stretch_marks": "stretch marks",
    "upper_lip": "upper lip",
    "bench": "bench (no skin)",
}


def mm(value: float | None, step_um: int | None = None) -> str:
    """A depth with its unit, spelled by `driver.vocabulary.format_mm` (two decimals, three
    where the micrometres need them: 0.50 mm, 0.275 mm), with one difference on purpose: on
    a pen whose step is not a multiple of 10 um every depth shows three decimals, so 0.250 mm
    stands beside 0.275 mm and a column of that pen's settings reads alike."""
    if value is None or not math.isfinite(value):
        return "—"
    if step_um is not None and step_um % 10:
        return f"{value:.3f} mm"
    return format_mm(round(value * 1000))


def mm_number(value: float, step_um: int | None = None) -> str:
    """A depth without its unit, spelled as `mm` spells it."""
    return mm(value, step_um).removesuffix(" mm")


def um_as_mm(value: int | None, step_um: int | None = None) -> str:
    return "—" if value is None else mm(value / 1000, step_um)


def hz(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.0f} Hz"


def duration(seconds: float) -> str:
    """0:07, 12:30, 1:02:03."""
    if not math.isfinite(seconds) or seconds < 0:
        seconds = 0.0
    whole = int(seconds)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def clock(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))


def date(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.localtime(ts))


def days_ago(days: float | None) -> str:
    if days is None:
        return "never"
    if days < 1:
        return "today"
    n = int(days)
    return "1 day ago" if n == 1 else f"{n} days ago"


def zone(name: str | None) -> str:
    """A zone as people say it: "upper lip", "chin and jawline"."""
    if name is None:
        return "—"
    return ZONE_WORDS.get(name, name.replace("_", " "))


def bound_by(name: str | None) -> str:
    if name is None:
        return "nothing (within limits)"
    return BOUND_BY_WORDS.get(name, name.replace("_", " "))


def temperature(decidegrees: int) -> str:
    return f"{decidegrees / 10:.1f} °C"
