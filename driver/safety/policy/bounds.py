"""The policy's built-in ceilings, its error and its exact mm -> um conversion: everything of
the policy that needs no pydantic, so that importing the governor (or starting the TUI) does not
load the model until a policy is read."""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Final

from protocol import NeedlepenError

# --- Built-in ceilings: no policy file can pass these. ------------------------------------------

#: Every depth in a policy lies within 0.25-3.00 mm (the professional hardware range).
DEPTH_CEILING_MIN_UM: Final = 250
DEPTH_CEILING_MAX_UM: Final = 3000
#: The home role's cap is always strictly below this (1.0 mm), under any policy.
HOME_DEPTH_LIMIT_UM: Final = 1000
#: Rates are whole hertz within this range (commercial pens run up to about 150 Hz).
RATE_CEILING_MIN_HZ: Final = 1
RATE_CEILING_MAX_HZ: Final = 150
#: Sessions on the same zone at least four weeks apart; a file may only lengthen the interval.
MIN_DAYS_CEILING: Final = 28
MAX_DAYS_SETTING: Final = 365
#: A policy file larger than this is not a policy file.
MAX_POLICY_BYTES: Final = 256 * 1024


class PolicyError(NeedlepenError):
    """A policy file was refused. `problems` lists every rule it broke, one sentence each."""

    def __init__(self, problems: Sequence[str], source: str | None = None) -> None:
        self.problems: tuple[str, ...] = tuple(problems) or ("the policy is not valid.",)
        self.source = source
        first = self.problems[0]
        where = f"policy file {source} refused: " if source else "policy refused: "
        super().__init__(where + first)


# --- Conversions ---------------------------------------------------------------------------------


def mm_to_um_exact(value: float) -> int | None:
    """The whole number of micrometres `value` millimetres is, or None if it is not one.

    Uses the shortest decimal that reads back as the same float (what a person typed), so
    0.3 is 300 µm and not 299.99999999999997.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, int):
        return int(value) * 1000
    try:
        um = Decimal(repr(float(value))) * 1000
    except (InvalidOperation, ValueError, OverflowError):  # pragma: no cover - finite checked
        return None
    if um != um.to_integral_value():
        return None
    return int(um)
