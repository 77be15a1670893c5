"""The concern library: treatment protocols by concern, inside the policy's hard limits.

Clinicians and clients think in concerns (fine lines, acne scars, stretch marks...), not in
depths. Like an infusion pump's drug library, each concern of the library names the zones it
applies to, the usual depth range per zone, a rate range, how many sessions a course has and
the days between them. The library is the `[concerns.NAME]` tables of the policy file; this
module holds their limits and guidance, `driver.safety.policy.concern` their shape and
`driver.safety.policy` the rules that refuse a library whose
guidance passes a governor cap (one place for every policy rule). Guidance only suggests: the
governor decides every depth that is sent, whatever a concern says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:  # the pydantic model, imported when a policy is loaded (start-up stays light)
    from driver.safety.policy.concern import Concern

__all__ = [
    "CONCERN_NAME_CHARS",
    "MAX_COURSE_SESSIONS",
    "Guidance",
    "guidance_for",
]

#: A course has at most this many sessions (DOMAIN: 3 to 6; a clinic may plan more).
MAX_COURSE_SESSIONS: Final = 12
#: Concern names: lower-case letters, digits and "_", starting with a letter.
CONCERN_NAME_CHARS: Final = "abcdefghijklmnopqrstuvwxyz0123456789_"


@dataclass(frozen=True, slots=True)
class Guidance:
    """What a concern suggests for one zone (never what is sent: the governor decides)."""

    concern: str
    label: str
    zone: str
    min_mm: float
    max_mm: float
    rate_min_hz: int
    rate_max_hz: int

    def words(self) -> str:
        return f"{self.label}: {self.min_mm:.2f}-{self.max_mm:.2f} mm suggested"


def guidance_for(concerns: Mapping[str, Concern], concern: str, zone: str) -> Guidance | None:
    """The depth and rate guidance of `concern` on `zone`, None when it has none there."""
    c = concerns.get(concern)
    if c is None or zone not in c.depth_mm:
        return None
    lo, hi = c.depth_mm[zone]
    return Guidance(concern, c.label, zone, float(lo), float(hi), c.rate_hz[0], c.rate_hz[1])
