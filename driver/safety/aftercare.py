"""Aftercare instructions given at the end of a session, and the downtime to expect by depth.

The instructions and the downtime figures are those of the project's domain notes:
0.2-0.5 mm about 2-3 days, 0.8-1.5 mm 4-5 days, 2-3 mm 6-7 days. Depths that fall between
those bands get the next band up, so the downtime told is never shorter than the notes give
for a shallower depth nearby; depths past 3 mm (never sent) get the deepest band.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

__all__ = [
    "AFTERCARE",
    "DOWNTIME_BANDS",
    "Delivered",
    "Downtime",
    "delivered_instructions",
    "downtime",
    "instructions",
]

#: What the client is told after every session, in this order.
AFTERCARE: Final[tuple[str, ...]] = (
    "Redness and swelling are normal for 2 to 5 days.",
    "Use a high-SPF sunscreen every day.",
    "No retinoids or acids for several days.",
    "No make-up for the first day or so.",
    "Use a gentle moisturiser.",
)


@dataclass(frozen=True, slots=True)
class Downtime:
    """The days of visible recovery to expect after needling to a given depth."""

    min_days: int
    max_days: int

    def sentence(self, depth_mm: float) -> str:
        um = depth_mm * 1000
        if not math.isfinite(um) or abs(um) > 1e9:  # absurd (a bug upstream): still a sentence
            shown = f"{depth_mm:.3g}"
        else:
            shown = f"{depth_mm:.3f}" if round(um) % 10 else f"{depth_mm:.2f}"
        return f"After {shown} mm expect about {self.min_days} to {self.max_days} days of downtime."


#: (deepest depth of the band in micrometres, downtime); the last band is open-ended.
DOWNTIME_BANDS: Final[tuple[tuple[int, Downtime], ...]] = (
    (500, Downtime(2, 3)),
    (1500, Downtime(4, 5)),
    (3000, Downtime(6, 7)),
)


def _depth_um(depth_mm: object) -> int | None:
    if isinstance(depth_mm, bool) or not isinstance(depth_mm, int | float):
        return None
    value = float(depth_mm)
    if not math.isfinite(value) or value <= 0:
        return None
    if value > 1e6:  # absurd, but still deeper than every band
        return DOWNTIME_BANDS[-1][0] + 1
    return math.ceil(round(value * 1000, 6))


def downtime(depth_mm: float) -> Downtime | None:
    """The downtime after needling to `depth_mm`; None when that is no depth (NaN, <= 0, not
    a number). Total: never raises."""
    um = _depth_um(depth_mm)
    if um is None:
        return None
    for upper_um, band in DOWNTIME_BANDS:
        if um <= upper_um:
            return band
    return DOWNTIME_BANDS[-1][1]


def instructions(
    depths_mm: Iterable[float], min_days_between_sessions: int | None = None
) -> list[str]:
    """The aftercare lines for a session that used these depths (the deepest one sets the
    downtime), then when the next session on the same zones may be."""
    lines = list(AFTERCARE)
    valid = [d for d in depths_mm if downtime(d) is not None]
    if valid:
        deepest = max(valid)
        band = downtime(deepest)
        assert band is not None
        lines.insert(0, band.sentence(deepest))
    if min_days_between_sessions is not None and min_days_between_sessions > 0:
        weeks = min_days_between_sessions / 7
        when = f"{weeks:g} weeks" if weeks == int(weeks) else f"{min_days_between_sessions} days"
        lines.append(
            f"Next session on the same area no sooner than {when} (a course is 3 to 6 sessions, "
            "4 to 8 weeks apart)."
        )
    return lines


#: Zones that are no skin: nothing delivered there calls for aftercare.
NO_SKIN_ZONES: Final[frozenset[str]] = frozenset({"bench"})


@dataclass(frozen=True, slots=True)
class Delivered:
    """What the pen delivered on one zone: stamps counted by its telemetry while treating
    that zone, and the deepest actual depth (mm) it reported while stamping."""

    zone: str
    stamps: int
    depth_mm: float


def delivered_instructions(
    delivered: Iterable[Delivered],
    min_days_between_sessions: int | None = None,
    *,
    blocked: bool = False,
) -> list[str]:
    """The client's aftercare from what was delivered, not from set-points: only zones of
    skin with stamps > 0 count, and the deepest actual depth among them sets the downtime.
    Empty (no client aftercare) when nothing reached skin: a 0-stamp session, a session the
    screening blocked, a bench session."""
    if blocked:
        return []
    depths = [
        d.depth_mm
        for d in delivered
        if d.zone not in NO_SKIN_ZONES and d.stamps > 0 and downtime(d.depth_mm) is not None
    ]
    if not depths:
        return []
    return instructions(depths, min_days_between_sessions)
