"""The concern library: treatment protocols by concern, inside the policy's hard limits.

Clinicians and clients think in concerns (fine lines, acne scars, stretch marks...), not in
depths. Like an infusion pump's drug library, each concern of the library names the zones it
applies to, the usual depth range per zone, a rate range, how many sessions a course has and
the days between them. The library is the `[concerns.NAME]` tables of the policy file; this
module holds their shape, `driver.safety.policy` holds the rules that refuse a library whose
guidance passes a governor cap (one place for every policy rule). Guidance only suggests: the
governor decides every depth that is sent, whatever a concern says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Final

from pydantic import AfterValidator, BaseModel, ConfigDict

from driver.safety.aftercare import Downtime, downtime

__all__ = [
    "CONCERN_NAME_CHARS",
    "MAX_COURSE_SESSIONS",
    "Concern",
    "Guidance",
    "guidance_for",
]

#: A course has at most this many sessions (DOMAIN: 3 to 6; a clinic may plan more).
MAX_COURSE_SESSIONS: Final = 12
#: Concern names: lower-case letters, digits and "_", starting with a letter.
CONCERN_NAME_CHARS: Final = "abcdefghijklmnopqrstuvwxyz0123456789_"


def _pair_float(value: list[float]) -> list[float]:
    if len(value) != 2:
        raise ValueError("must be a pair [lowest, highest]")
    return value


def _pair_int(value: list[int]) -> list[int]:
    if len(value) != 2:
        raise ValueError("must be a pair [lowest, highest]")
    return value


FloatPair = Annotated[list[float], AfterValidator(_pair_float)]
IntPair = Annotated[list[int], AfterValidator(_pair_int)]


class Concern(BaseModel):
    """One protocol of the library (the rules that tie it to the caps: driver.safety.policy)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    #: how people say it: "acne scars"
    label: str
    #: roles that may plan a course of this concern (each zone's guidance fits their cap)
    roles: list[str]
    #: the usual number of sessions of a course [fewest, most]; a plan defaults to the most
    sessions: IntPair
    #: days from one session on a zone to the next [earliest, latest]
    interval_days: IntPair
    #: the usual stamp rate [lowest, highest] in hertz
    rate_hz: IntPair
    #: per zone the usual depth [shallowest, deepest] in millimetres
    depth_mm: dict[str, FloatPair]

    @property
    def zones(self) -> tuple[str, ...]:
        return tuple(self.depth_mm)

    def downtime(self) -> Downtime | None:
        """The downtime to expect at this concern's deepest guidance (driver.safety.aftercare)."""
        deepest = max((hi for _, hi in self.depth_mm.values()), default=0.0)
        return downtime(deepest)


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
