"""The governor's rules, one small function each: every rule reads the request and returns its
typed findings (and, for depth and rate, the value it would send). `governor.fold` turns them
into one Decision. All arithmetic is in whole micrometres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from ..vocabulary import BENCH_ZONE, CLINICIAN_ROLE, ENGINEER_ROLE, ZONE_NAMES, format_mm
from .decision import Effect, Finding, Rule
from .limits import Caps, Device
from .numbers import decimal_of, floor_step, is_number, show, show_days, show_mm, um_floor
from .policy import RATE_CEILING_MAX_HZ, RATE_CEILING_MIN_HZ

if TYPE_CHECKING:
    from .policy import Policy

R, E = Rule, Effect


def zone_rule(policy: Policy, role: str, zone: object) -> Finding | None:
    """A rejection when `role` may not treat `zone`, None when it may."""
    if not isinstance(zone, str) or zone not in ZONE_NAMES:
        text = f"Unknown zone {show(zone)}: the zones are {', '.join(ZONE_NAMES)}."
    elif zone == BENCH_ZONE and role != ENGINEER_ROLE:
        text = "The bench zone is for engineers only: it is a test block, not skin."
    elif role == ENGINEER_ROLE and zone != BENCH_ZONE:
        text = "Engineers work on the bench zone only, never on skin."
    elif zone not in policy.role(role).zones:
        text = f"The {role} role may not treat {zone} under this policy."
    else:
        return None
    return Finding(R.ZONE, E.REJECT, text, "zone")


@dataclass(frozen=True, slots=True)
class DepthVerdict:
    findings: tuple[Finding, ...]
    depth_q: int | None  # the asked depth on the pen's step (None: no number)
    cap_um: int  # the cap that applies (the hard cap when a reason lifted the soft one)
    overridden: bool


def depth_rule(
    requested: Decimal | None,
    raw: object,
    caps: Caps,
    dev: Device,
    role: str,
    zone: str,
    reason: str,
) -> DepthVerdict:
    """The asked depth against the floor and the caps (a reason may lift the soft cap)."""
    if requested is None:
        text = f"The depth must be a finite number of millimetres (got {show(raw)})."
        return DepthVerdict((Finding(R.DEPTH, E.REJECT, text, "input"),), None, caps.soft_um, False)
    req_um = um_floor(requested)
    depth_q = floor_step(req_um, dev.step_um) if req_um > 0 else 0
    if req_um < caps.floor_um or depth_q < caps.floor_um:
        text = (
            f"{show_mm(requested)} is shallower than the shallowest setting allowed, "
            f"{format_mm(caps.floor_um)}; the governor never makes a depth deeper than asked."
        )
        return DepthVerdict(
            (Finding(R.DEPTH, E.REJECT, text, "depth_min"),), depth_q, caps.soft_um, False
        )
    found: list[Finding] = []
    cap_um, overridden = caps.soft_um, False
    over_soft = depth_q > caps.soft_um
    if over_soft and role == CLINICIAN_ROLE and caps.hard_um > caps.soft_um:
        if reason:
            cap_um, overridden = caps.hard_um, True
            found.append(
                Finding(
                    R.DEPTH,
                    E.OVERRIDDEN,
                    (
                        f"{show_mm(requested)} is above {caps.soft.words}; allowed up to "
                        f"{format_mm(caps.hard_um)} with the recorded reason."
                    ),
                    caps.soft.name,
                )
            )
        else:
            found.append(
                Finding(
                    R.DEPTH,
                    E.NEEDS_OVERRIDE,
                    (
                        f"{show_mm(requested)} is above {caps.soft.words}; a clinician "
                        f"may go up to {format_mm(caps.hard_um)} with a recorded reason."
                    ),
                    "zone_recommended",
                )
            )
    elif over_soft and reason and caps.soft.name == "zone_recommended":
        found.append(
            Finding(
                R.DEPTH,
                E.NOTE,
                (
                    f"The recommended max is a hard limit for the {role} role: an override "
                    "reason does not lift it."
                ),
                caps.soft.name,
            )
        )
    if cap_um < caps.floor_um:
        found.append(
            Finding(
                R.DEPTH,
                E.REJECT,
                (
                    f"No depth is allowed on {zone}: the cap ({format_mm(cap_um)}) is below the "
                    f"shallowest setting allowed ({format_mm(caps.floor_um)})."
                ),
                caps.soft.name,
            )
        )
    return DepthVerdict(tuple(found), depth_q, cap_um, overridden)


def interval_rule(days: object, min_days: int, role: str, zone: str, reason: str) -> Finding | None:
    """The days since the last session on `zone` against the policy's interval (not the bench)."""
    if days is None or zone == BENCH_ZONE:
        return None
    d = decimal_of(days)  # the same exact-number reading, in days
    if d is None or d < 0:
        return Finding(
            R.INTERVAL,
            E.REJECT,
            (
                f"The time since the last session on {zone} ({show(days)}) is not a "
                "valid number of days, so the interval cannot be checked."
            ),
            "interval",
        )
    if d >= min_days:
        return None
    too_soon = (
        f"The last session on {zone} was {show_days(d)} ago, less than the "
        f"{min_days} days the policy requires between sessions"
    )
    if role != CLINICIAN_ROLE:
        return Finding(
            R.INTERVAL,
            E.REJECT,
            too_soon + "; only a clinician may override the interval.",
            "interval",
        )
    if reason:
        return Finding(
            R.INTERVAL,
            E.OVERRIDDEN,
            too_soon + "; going ahead with the recorded reason.",
            "interval",
        )
    return Finding(
        R.INTERVAL,
        E.NEEDS_OVERRIDE,
        too_soon + "; a clinician may go ahead with a recorded reason.",
        "interval",
    )


@dataclass(frozen=True, slots=True)
class RateBounds:
    lo: int
    hi: int
    hi_by: str  # "role_rate" or "device_rate"


def rate_bounds(policy: Policy, role: str, dev: Device) -> RateBounds:
    """The lowest and highest rate `role` may get with this pen."""
    limits = policy.role(role)
    lo = max(max(limits.rate_min_hz, RATE_CEILING_MIN_HZ), dev.rate_min)
    role_hi = min(limits.rate_max_hz, RATE_CEILING_MAX_HZ)
    hi, hi_by = min([(role_hi, "role_rate"), (dev.rate_max, "device_rate")], key=lambda s: s[0])
    return RateBounds(lo, hi, hi_by)


@dataclass(frozen=True, slots=True)
class RateVerdict:
    finding: Finding
    rate: int | None  # what would be sent (None: nothing)


def rate_rule(rate_in: object, bounds: RateBounds, dev: Device, role: str) -> RateVerdict:
    """The asked rate against the role's and the pen's range (too high is clamped)."""
    lo, hi = bounds.lo, bounds.hi
    if not is_number(rate_in) or (isinstance(rate_in, float) and not math.isfinite(rate_in)):
        text = f"The rate must be a finite number of hertz (got {show(rate_in)})."
        return RateVerdict(Finding(R.RATE, E.REJECT, text, "input"), None)
    if lo > hi:
        text = (
            f"No rate is allowed: the {role} role's range and the pen's range "
            f"({dev.rate_min}-{dev.rate_max} Hz) do not overlap."
        )
        return RateVerdict(Finding(R.RATE, E.REJECT, text, "role_rate"), None)
    asked = math.floor(rate_in)  # type: ignore[call-overload]
    if asked < lo:
        text = (
            f"A rate of {show(rate_in)} Hz is below the lowest allowed, {lo} Hz; "
            "the governor never raises a rate."
        )
        return RateVerdict(Finding(R.RATE, E.REJECT, text, "rate_min"), None)
    if asked > hi:
        which = (
            "the pen's maximum" if bounds.hi_by == "device_rate" else f"the {role} role's maximum"
        )
        text = f"A rate of {show(rate_in)} Hz is above {which} ({hi} Hz); clamped to {hi} Hz."
        return RateVerdict(Finding(R.RATE, E.CLAMP, text, bounds.hi_by), hi)
    text = f"A rate of {asked} Hz is within the allowed {lo}-{hi} Hz."
    return RateVerdict(Finding(R.RATE, E.WITHIN, text), asked)


def depth_result(
    requested: Decimal,
    depth_q: int,
    cap_um: int,
    caps: Caps,
    dev: Device,
    zone: str,
    overridden: bool,
) -> tuple[int, Finding | None, tuple[Finding, ...]]:
    """The depth that is sent, the clamp finding (if clamped) and the findings said about it."""
    depth_um = min(depth_q, cap_um)
    if depth_q > cap_um:
        binding = caps.hard if overridden else caps.soft
        text = f"{show_mm(requested)} is above {binding.words}; clamped to {format_mm(depth_um)}."
        clamp = Finding(R.DEPTH, E.CLAMP, text, binding.name)
        return depth_um, clamp, (clamp,)
    said: list[Finding] = []
    if Decimal(depth_um) != requested * 1000:
        said.append(
            Finding(
                R.DEPTH,
                E.ROUND,
                (
                    f"{show_mm(requested)} was rounded down to {format_mm(depth_um)}, the pen's "
                    f"{format_mm(dev.step_um)} step."
                ),
            )
        )
    said.append(
        Finding(
            R.DEPTH,
            E.WITHIN,
            (f"{format_mm(depth_um)} on {zone} is within the limits (cap {format_mm(cap_um)})."),
        )
    )
    return depth_um, None, tuple(said)
