"""Exact arithmetic for the governor: whole micrometres from whatever a caller passed.

Every reading is total: a value that is not a finite number reads as None, never an exception.
"""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

__all__ = [
    "ceil_step",
    "decimal_of",
    "floor_step",
    "is_number",
    "show",
    "show_days",
    "show_mm",
    "um_ceil",
    "um_floor",
    "whole",
]


def show(value: object) -> str:
    """A short, safe rendering of any value for a sentence."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**18:
        return f"{Decimal(value):.3e}"  # repr() of a huge int may refuse (str digits limit)
    try:
        text = repr(value)
    except Exception:
        text = f"a {type(value).__name__}"
    return text if len(text) <= 40 else text[:37] + "..."


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def decimal_of(value: object) -> Decimal | None:
    """The exact decimal a person meant by `value`, or None if it is no finite number."""
    if not is_number(value):
        return None
    if isinstance(value, int):
        return Decimal(int(value))
    f = float(value)  # type: ignore[arg-type]
    if not math.isfinite(f):
        return None
    return Decimal(repr(f))  # the shortest decimal that reads back as this float


def um_floor(mm: Decimal) -> int:
    if mm == mm.to_integral_value() and abs(mm) > 10**12:  # huge: exact integer arithmetic
        return int(mm) * 1000
    return int((mm * 1000).to_integral_value(rounding=ROUND_FLOOR))


def um_ceil(mm: Decimal) -> int:
    if mm == mm.to_integral_value() and abs(mm) > 10**12:
        return int(mm) * 1000
    return int((mm * 1000).to_integral_value(rounding=ROUND_CEILING))


def floor_step(um: int, step: int) -> int:
    return (um // step) * step


def ceil_step(um: int, step: int) -> int:
    return -((-um) // step) * step


def whole(value: object) -> int | None:
    """A whole number from an int or an integral finite float; None otherwise."""
    if not is_number(value):
        return None
    if isinstance(value, int):
        return int(value)
    f = float(value)  # type: ignore[arg-type]
    if not math.isfinite(f) or not f.is_integer():
        return None
    return int(f)


def show_mm(mm: Decimal) -> str:
    """An asked depth as asked (at least two decimals), for a sentence."""
    if abs(mm) >= 10**6:
        return f"{mm:.3e} mm"
    text = format(mm.normalize(), "f")
    if "." not in text:
        text += ".00"
    elif len(text.split(".")[1]) < 2:
        text += "0"
    return f"{text} mm"


def show_days(d: Decimal) -> str:
    value = float(d)
    if value < 1:
        return "less than a day"
    whole_days = int(value)  # "3 days" for 3.7: the whole days that have passed
    return "1 day" if whole_days == 1 else f"{whole_days} days"
