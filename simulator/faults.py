"""The `--fault SPEC` language, shared by `needlepen sim --fault` and `sim://?fault=`.

Two kinds of fault:

* link faults act on whole frames in one or both directions, with a probability drawn from a
  seeded random generator, so a run repeats exactly with the same seed;
* pen faults happen once, at a time counted from the simulator's start (default: at once).

    drop=0.05            drop 5 % of the frames in both directions
    drop:host=0.1        drop 10 % of the frames the host sends (host -> pen)
    corrupt:pen=0.01     flip one bit in 1 % of the frames the pen sends (pen -> host)
    dup=0.02             deliver 2 % of the frames twice
    delay=0.1:20ms       hold 10 % of the frames back 20 ms (the line stays in order)
    cut@3s:1s            cut the link 3 s after start, for 1 s (both directions)
    overheat@5s          heat the pen past its OVERTEMP threshold
    stall@2s             jam the motor (MOTOR_STALL while running, else at the next START)
    depth-fault@4s       the depth actuator slips and sticks (DEPTH_ERROR)
    remove-cartridge@10s pull the cartridge out (CARTRIDGE_REMOVED while running)
    insert-cartridge@12s insert a fresh cartridge
    reinsert-cartridge@12s  put the last removed cartridge back (SPENT if it was used)
    fresh-cartridge@12s  take the cartridge out (if one is in) and fit a fresh one
    reboot@30s           power-cycle the firmware
    battery=8            set the battery to 8 % at start (battery=8@1min: later)

Times and durations need a unit: ms, s or min. `:host` and `:pen` name the sender of the frames.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass

from .errors import FaultSpecError

LINK_KINDS = ("drop", "corrupt", "dup", "delay")
#: Pen actions and their aliases -> canonical name.
PEN_ACTIONS: dict[str, str] = {
    "overheat": "overheat",
    "stall": "stall",
    "depth-fault": "depth-fault",
    "depth": "depth-fault",
    "remove-cartridge": "remove-cartridge",
    "remove": "remove-cartridge",
    "insert-cartridge": "insert-cartridge",
    "insert": "insert-cartridge",
    "reinsert-cartridge": "reinsert-cartridge",
    "reinsert": "reinsert-cartridge",
    "fresh-cartridge": "fresh-cartridge",
    "fresh": "fresh-cartridge",
    "reboot": "reboot",
}
MAX_AT_MS = 7 * 24 * 3600 * 1000.0
MAX_DELAY_MS = 60_000.0
MAX_CUT_MS = 24 * 3600 * 1000.0
MAX_SPEC_LEN = 200

FAULT_HELP = (
    "fault specs: drop=P, corrupt=P, dup=P, delay=P:DURATION (each optionally drop:host=P or "
    "drop:pen=P for frames sent by the host or by the pen), cut@TIME:DURATION, overheat@TIME, "
    "stall@TIME, depth-fault@TIME, remove-cartridge@TIME, insert-cartridge@TIME, "
    "reinsert-cartridge@TIME, fresh-cartridge@TIME, reboot@TIME, battery=PCT[@TIME]; P is 0..1 "
    "or a percentage, TIME and DURATION need a unit (ms, s or min); @TIME defaults to the start"
)


class Sender(enum.Enum):
    """Which end sent a frame: HOST (host -> pen) or PEN (pen -> host)."""

    HOST = "host"
    PEN = "pen"


@dataclass(frozen=True, slots=True)
class LinkFault:
    """Damage `probability` of the frames sent by `senders` (drop, corrupt, dup or delay)."""

    kind: str
    senders: tuple[Sender, ...]
    probability: float
    delay_ms: float = 0.0
    spec: str = ""


@dataclass(frozen=True, slots=True)
class PenFault:
    """Something that happens to the pen once, `at_ms` after the start (or after now)."""

    kind: str  # a value of PEN_ACTIONS, or "cut" or "battery"
    at_ms: float = 0.0
    duration_ms: float = 0.0  # cut
    value: float = 0.0  # battery percent
    spec: str = ""


FaultSpec = LinkFault | PenFault

_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_LINK_RE = re.compile(r"(drop|corrupt|dup|delay)(?::(host|pen))?=(.*)")
_DURATION_RE = re.compile(rf"({_NUMBER})\s*(ms|s|sec|min)")
_PROB_RE = re.compile(rf"({_NUMBER})(%?)")
_UNITS = {"ms": 1.0, "s": 1000.0, "sec": 1000.0, "min": 60_000.0}


def _fail(spec: str, why: str) -> FaultSpecError:
    return FaultSpecError(f"The fault spec {spec!r} is not valid: {why}.")


def parse_duration(text: str, spec: str, what: str, limit_ms: float) -> float:
    """A duration such as `20ms`, `1.5s` or `2min`, in ms."""
    m = _DURATION_RE.fullmatch(text.strip())
    if m is None:
        raise _fail(spec, f"{what} {text!r} needs a number and a unit (ms, s or min), e.g. 5s")
    ms = float(m.group(1)) * _UNITS[m.group(2)]
    if not math.isfinite(ms) or ms > limit_ms:
        raise _fail(spec, f"{what} {text!r} is longer than the limit of {limit_ms / 1000:g} s")
    return ms


def _probability(text: str, spec: str) -> float:
    m = _PROB_RE.fullmatch(text.strip())
    if m is None:
        raise _fail(spec, f"the probability {text!r} must be a number from 0 to 1, or a percentage")
    value = float(m.group(1))
    if m.group(2):
        value /= 100.0
    if not 0.0 <= value <= 1.0:
        raise _fail(spec, f"the probability {text!r} must be from 0 to 1 (0 % to 100 %)")
    return value


def parse_fault(text: str) -> FaultSpec:
    """Parse one fault spec; a bad one raises `FaultSpecError` with one clear sentence."""
    if not isinstance(text, str):
        raise FaultSpecError(f"A fault spec must be text, not {type(text).__name__}.")
    spec = text.strip().lower()
    if not spec:
        raise FaultSpecError("A fault spec is empty; give one such as drop=0.05 or overheat@5s.")
    if len(spec) > MAX_SPEC_LEN:
        raise FaultSpecError(f"A fault spec is longer than {MAX_SPEC_LEN} characters.")
    shown = text.strip()

    m = _LINK_RE.fullmatch(spec)
    if m is not None:
        kind, sender, value = m.group(1), m.group(2), m.group(3)
        senders = (Sender(sender),) if sender else (Sender.HOST, Sender.PEN)
        delay_ms = 0.0
        if kind == "delay":
            prob_text, sep, dur_text = value.partition(":")
            if not sep:
                raise _fail(
                    shown, "a delay needs a probability and a duration, e.g. delay=0.1:20ms"
                )
            delay_ms = parse_duration(dur_text, shown, "the delay", MAX_DELAY_MS)
            value = prob_text
        return LinkFault(kind, senders, _probability(value, shown), delay_ms, shown)

    name, at_sep, at_text = spec.partition("@")
    if name.startswith("battery"):
        key, eq, pct_text = name.partition("=")
        if key != "battery" or not eq:
            raise _fail(shown, "the battery level is written battery=PCT, e.g. battery=8")
        m = re.fullmatch(_NUMBER, pct_text.strip().rstrip("%"))
        pct = float(pct_text.strip().rstrip("%")) if m else math.nan
        if not 0.0 <= pct <= 100.0:
            raise _fail(shown, f"the battery level {pct_text!r} must be from 0 to 100 percent")
        at_ms = parse_duration(at_text, shown, "the time", MAX_AT_MS) if at_sep else 0.0
        return PenFault("battery", at_ms, value=pct, spec=shown)

    if name == "cut":
        if not at_sep:
            raise _fail(shown, "a link cut is written cut@TIME:DURATION, e.g. cut@3s:1s")
        when, sep, dur_text = at_text.partition(":")
        if not sep:
            raise _fail(shown, "a link cut needs a duration after the time, e.g. cut@3s:1s")
        at_ms = parse_duration(when, shown, "the time", MAX_AT_MS)
        duration = parse_duration(dur_text, shown, "the cut's duration", MAX_CUT_MS)
        if duration <= 0:
            raise _fail(shown, "the cut's duration must be longer than 0 ms")
        return PenFault("cut", at_ms, duration_ms=duration, spec=shown)

    action = PEN_ACTIONS.get(name)
    if action is None:
        raise FaultSpecError(
            f"The fault spec {shown!r} is not understood; use forms such as drop=0.05, "
            "corrupt:pen=0.01, dup=0.02, delay=0.1:20ms, cut@3s:1s, overheat@5s, stall@2s, "
            "depth-fault@4s, remove-cartridge@10s, insert-cartridge@12s, "
            "reinsert-cartridge@12s, reboot@30s or battery=8 (see docs/SIMULATOR.md)."
        )
    at_ms = parse_duration(at_text, shown, "the time", MAX_AT_MS) if at_sep else 0.0
    return PenFault(action, at_ms, spec=shown)


def parse_faults(texts: list[str] | tuple[str, ...]) -> tuple[FaultSpec, ...]:
    """Parse several specs (all or nothing)."""
    return tuple(parse_fault(t) for t in texts)
