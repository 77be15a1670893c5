"""The policy's cross-key rules, and the concern library's: each problem one sentence naming
its keys."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from driver.safety.concerns import CONCERN_NAME_CHARS, MAX_COURSE_SESSIONS
from driver.safety.policy.concern import Concern
from driver.text import printable
from driver.vocabulary import mm_number

from .model import (
    BENCH_ZONE,
    DEPTH_CEILING_MAX_UM,
    DEPTH_CEILING_MIN_UM,
    ENGINEER_ROLE,
    HOME_DEPTH_LIMIT_UM,
    MAX_DAYS_SETTING,
    MIN_DAYS_CEILING,
    PRIVILEGE_ORDER,
    RATE_CEILING_MAX_HZ,
    RATE_CEILING_MIN_HZ,
    ROLE_NAMES,
    ZONE_NAMES,
    Policy,
    _value_shown,
    mm_to_um_exact,
)


def _a(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def _cross_rule_problems(p: Policy) -> list[str]:
    problems: list[str] = []
    home = p.role("home")
    if home.max_depth_um >= HOME_DEPTH_LIMIT_UM:
        problems.append(
            f"roles.home.max_depth_mm must be below {mm_number(HOME_DEPTH_LIMIT_UM)} mm under any "
            f"policy (it is {mm_number(home.max_depth_um)} mm)."
        )
    for name in ZONE_NAMES:
        z = p.zone(name)
        if z.recommended_max_um > z.hard_max_um:
            problems.append(
                f"zones.{name}.recommended_max_mm ({mm_number(z.recommended_max_um)} mm) must not "
                f"be above zones.{name}.hard_max_mm ({mm_number(z.hard_max_um)} mm)."
            )
    for name in ROLE_NAMES:
        r = p.role(name)
        if r.rate_min_hz > r.rate_max_hz:
            problems.append(
                f"roles.{name}.rate_min_hz ({r.rate_min_hz} Hz) must not be above "
                f"roles.{name}.rate_max_hz ({r.rate_max_hz} Hz)."
            )
        if name == ENGINEER_ROLE:
            if any(z != BENCH_ZONE for z in r.zones):
                problems.append(
                    "roles.engineer.zones may name only the bench zone: engineers never treat skin."
                )
        elif BENCH_ZONE in r.zones:
            problems.append(
                f"roles.{name}.zones must not name the bench zone, which is for engineers only."
            )
    for lower, higher in itertools.pairwise(PRIVILEGE_ORDER):
        lo, hi = p.role(lower), p.role(higher)
        rule = f"{_a(higher)} never gets less than {_a(lower)}"
        if hi.max_depth_um < lo.max_depth_um:
            problems.append(
                f"roles.{higher}.max_depth_mm ({mm_number(hi.max_depth_um)} mm) must not be below "
                f"roles.{lower}.max_depth_mm ({mm_number(lo.max_depth_um)} mm): {rule}."
            )
        if hi.rate_max_hz < lo.rate_max_hz:
            problems.append(
                f"roles.{higher}.rate_max_hz ({hi.rate_max_hz} Hz) must not be below "
                f"roles.{lower}.rate_max_hz ({lo.rate_max_hz} Hz): {rule}."
            )
        if hi.rate_min_hz > lo.rate_min_hz:
            problems.append(
                f"roles.{higher}.rate_min_hz ({hi.rate_min_hz} Hz) must not be above "
                f"roles.{lower}.rate_min_hz ({lo.rate_min_hz} Hz): {rule}."
            )
        missing = [z for z in lo.zones if z not in hi.zones]
        if missing:
            problems.append(
                f"roles.{higher}.zones must include every zone of roles.{lower}.zones "
                f"(missing: {', '.join(missing)}): {rule}."
            )
    problems.extend(_concern_problems(p))
    return problems


def _concern_problems(p: Policy) -> list[str]:
    """Each concern's guidance lies inside the caps of every role that may use it."""
    problems: list[str] = []
    for name, c in p.concerns.items():
        key = f"concerns.{printable(name)[:40]}"
        if (
            not name
            or name[0] not in CONCERN_NAME_CHARS[:26]
            or set(name) - set(CONCERN_NAME_CHARS)
        ):
            problems.append(
                f"{key} is not a concern name: use lower-case letters, digits and '_', starting "
                "with a letter."
            )
            continue
        problems.extend(_concern_shape_problems(p, key, c))
        problems.extend(_concern_cap_problems(p, key, c))
    return problems


def _range_problem(key: str, pair: Sequence[int], lo: int, hi: int, unit: str) -> str | None:
    a, b = pair
    if not lo <= a <= b <= hi:
        return f"{key} ({a}-{b}) must run upwards within {lo}-{hi} {unit}."
    return None


def _concern_shape_problems(p: Policy, key: str, c: Concern) -> list[str]:
    problems: list[str] = []
    if not c.label.strip() or len(c.label) > 40 or printable(c.label) != c.label:
        problems.append(f"{key}.label must be 1 to 40 printable characters.")
    for role in c.roles:
        if role not in PRIVILEGE_ORDER:
            problems.append(
                f"{key}.roles names {_value_shown(role)}, which is not a role that treats people."
            )
    checks = (
        _range_problem(f"{key}.sessions", c.sessions, 1, MAX_COURSE_SESSIONS, "sessions"),
        _range_problem(
            f"{key}.interval_days",
            c.interval_days,
            MIN_DAYS_CEILING,
            MAX_DAYS_SETTING,
            "days (a longer min_days_between_sessions moves the window's start)",
        ),
        _range_problem(f"{key}.rate_hz", c.rate_hz, RATE_CEILING_MIN_HZ, RATE_CEILING_MAX_HZ, "Hz"),
    )
    problems.extend(text for text in checks if text is not None)
    if not c.depth_mm:
        problems.append(f"{key}.depth_mm must name at least one zone.")
    for zone, (lo, hi) in c.depth_mm.items():
        where = f"{key}.depth_mm.{printable(zone)[:40]}"
        if zone not in ZONE_NAMES or zone == BENCH_ZONE:
            problems.append(f"{where} is not a treatment zone of skin.")
            continue
        lo_um, hi_um = mm_to_um_exact(lo), mm_to_um_exact(hi)
        if (
            lo_um is None
            or hi_um is None
            or not (DEPTH_CEILING_MIN_UM <= lo_um <= hi_um <= DEPTH_CEILING_MAX_UM)
        ):
            problems.append(
                f"{where} ({_value_shown(lo)}-{_value_shown(hi)}) must run upwards in whole "
                "micrometres within "
                f"{mm_number(DEPTH_CEILING_MIN_UM)}-{mm_number(DEPTH_CEILING_MAX_UM)} mm."
            )
    return problems


def _concern_cap_problems(p: Policy, key: str, c: Concern) -> list[str]:
    """Guidance above a governor cap is refused: the governor's own cap function decides (a
    clinician's cap with a recorded reason, each other role's plain cap), on a professional
    pen, so the library can never suggest a depth the governor would not send."""
    from driver.safety import DeviceLimits, Governor  # the governor imports this module

    governor = Governor(p)
    device = DeviceLimits.professional()
    problems: list[str] = []
    for role in c.roles:
        if role not in ROLE_NAMES or role == ENGINEER_ROLE:
            continue
        limits = p.role(role)
        if not limits.rate_min_hz <= c.rate_hz[0] <= c.rate_hz[1] <= limits.rate_max_hz:
            problems.append(
                f"{key}.rate_hz ({c.rate_hz[0]}-{c.rate_hz[1]} Hz) lies outside the {role} "
                f"role's {limits.rate_min_hz}-{limits.rate_max_hz} Hz."
            )
        for zone, (_, hi) in c.depth_mm.items():
            hi_um = mm_to_um_exact(hi)
            if zone not in ZONE_NAMES or zone == BENCH_ZONE or hi_um is None:
                continue  # said by the shape rules
            cap = governor.cap_for(role, zone, device, override=True)
            if cap is None:
                problems.append(
                    f"{key}.roles names {role}, who may not treat {zone} "
                    f"(concerns.*.depth_mm.{zone})."
                )
            elif hi_um > round(cap * 1000):
                problems.append(
                    f"{key}.depth_mm.{zone} goes to {mm_number(hi_um)} mm, above the {role} "
                    f"role's cap there ({mm_number(round(cap * 1000))} mm): guidance never "
                    "passes the governor's caps."
                )
    return problems
