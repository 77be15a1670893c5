"""Numbers people type (a depth, a rate) and what the governor will really send for them.

Two rules from the people who use the pen:

- A value is a plain positive number with at most 3 decimals; a decimal comma is a decimal
  point ("0,8" is 0.80 mm). Anything else ("-1", "1e3", "nan", "abc", "0.8mm") is refused with
  one sentence, and nothing is sent. No character is ever dropped to make a number fit.
- When what will be sent differs from what was typed (clamped, rounded to the pen's step), the
  operator sees "this will set X" and confirms before it is sent. A confirmed proposal sends X
  itself, so nothing deeper than what the operator saw can go out.

`proposal()` reads only the governor's typed Decision (outcome, depth, rate, cap, bound_by),
never its sentences.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from driver.session import Decision, Outcome
from protocol import NeedlepenError

from . import format as fmt

_PLAIN = re.compile(r"(?:[0-9]+(?:[.,][0-9]{0,3})?|[.,][0-9]{1,3})")
#: Two values closer than this are the same (half a micrometre; a hertz is 1000 times more).
SAME = 0.0005

UNIT_WORDS = {"mm": "millimetres", "Hz": "stamps per second (Hz)"}
EXAMPLES = {"mm": "0.5 or 0,5", "Hz": "100"}


class TypedValueError(NeedlepenError, ValueError):
    """What was typed is not a value; `str()` is the one sentence to show."""


def parse_amount(text: str, unit: str) -> float:
    """A plain positive number with at most 3 decimals (decimal point or comma), or
    TypedValueError. Spaces around the number are allowed; nothing inside is dropped."""
    words = UNIT_WORDS.get(unit, unit)
    example = EXAMPLES.get(unit, "0.5")
    typed = text.strip()
    if not typed:
        raise TypedValueError(f"Type a number of {words}, such as {example}.")
    if not _PLAIN.fullmatch(typed):
        raise TypedValueError(
            f"{typed!r} is not a plain number of {words}: type digits with at most 3 decimals, "
            f"such as {example}; nothing was sent."
        )
    value = float(typed.replace(",", "."))
    if value <= 0 or not math.isfinite(value):
        raise TypedValueError(f"The value must be more than 0 {unit}; nothing was sent.")
    return value


@dataclass(frozen=True)
class Proposal:
    """What to do with a typed value, from the governor's preview of it."""

    typed: float
    #: the value to send (None: send nothing)
    send: float | None
    #: the operator must confirm `send` first (it differs from what was typed)
    confirm: bool = False
    #: the governor wants a recorded reason first (a clinician past a recommended limit)
    needs_reason: bool = False
    #: one sentence for the dialog: why `send` differs, or why nothing can be sent
    sentence: str = ""


def proposal(
    typed: float,
    decision: Decision,
    unit: str,
    *,
    running: float | None = None,
    step_um: int | None = None,
) -> Proposal:
    """What the dialog does with `typed`, given `decision` (the governor's preview of it).

    `running` is the set-point in force before the request (mm or Hz): when the value to send
    is above it although the operator asked for something else, the sentence says so.
    """
    depth = unit == "mm"

    def show(value: float | None) -> str:
        return fmt.mm(value, step_um) if depth else fmt.hz(value)

    if decision.outcome is Outcome.NEEDS_OVERRIDE:
        return Proposal(typed, None, needs_reason=True)
    if decision.outcome is Outcome.REJECTED or not decision.sendable:
        why = " ".join(decision.reasons) or "the governor refused it."
        return Proposal(typed, None, sentence=f"Nothing was sent: {why}")
    send = decision.depth_mm if depth else decision.rate_hz
    if send is None:
        return Proposal(typed, None, sentence="Nothing was sent: the governor gave no value.")
    send = float(send)
    if abs(send - typed) < SAME:
        return Proposal(typed, send)
    if decision.outcome is Outcome.CLAMPED:
        why = f"the most allowed is {show(send)}, by {fmt.bound_by(decision.bound_by)}"
    elif depth and send < typed:
        cap = decision.cap_mm
        if cap is not None and typed > cap + SAME:
            why = f"the most allowed on this zone is {show(cap)}"
        else:
            step = f"{step_um / 1000:g} mm " if step_um else ""
            why = f"the pen moves in {step}steps"
    elif not depth:
        why = "the pen takes whole hertz within its range"
    else:
        why = f"the lowest setting is {show(send)}"
    asked = show(typed) if depth else f"{typed:g} Hz"  # as typed, never rounded
    sentence = f"This will set {show(send)}, not {asked}: {why}."
    if running is not None and send > running + SAME:
        sentence += f" That is more than the {show(running)} in force now."
    return Proposal(typed, send, confirm=True, sentence=sentence)
