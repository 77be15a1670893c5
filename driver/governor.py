"""The safety governor: the first line of defence between an operator's wish and the needle.

`Governor(policy).decide(request)` maps a request (role, zone, depth, rate, the pen's limits, an
optional override reason, the days since the last session on that zone) to a `Decision`:
allowed, clamped, needs_override or rejected, with the depth and rate to send and the reasons
in words. It is pure and deterministic (no I/O, no clock) and total: any input whatsoever,
including NaN, infinities, negatives, huge numbers, wrong types and None, gets a decision and
never an exception. Nothing in the driver may send a depth or rate it did not approve.

Invariants the driver relies on (proved by tests/driver/test_governor_properties.py):
- only allowed and clamped decisions carry a depth and rate to send; needs_override and
  rejected carry none;
- a depth to send is on the pen's step, within its range, never deeper than asked and never
  above the cap; a rate to send is within the pen's and the role's range and never higher
  than asked;
- deciding a decided depth and rate again allows them unchanged.

All arithmetic is in whole micrometres; millimetres appear only at the edges.
"""

from __future__ import annotations

import enum
import math
import unicodedata
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Final

from protocol import DeviceClass, Info

from .policy import (
    BENCH_ZONE,
    DEPTH_CEILING_MAX_UM,
    DEPTH_CEILING_MIN_UM,
    ENGINEER_ROLE,
    HOME_DEPTH_LIMIT_UM,
    RATE_CEILING_MAX_HZ,
    RATE_CEILING_MIN_HZ,
    ROLE_NAMES,
    ZONE_NAMES,
    Policy,
)

__all__ = [
    "MIN_REASON_CHARS",
    "REASON_RULE",
    "Decision",
    "DeviceLimits",
    "Governor",
    "Outcome",
    "Request",
    "check_override_reason",
]

HOME_CLASS: Final = "home"
PROFESSIONAL_CLASS: Final = "professional"
DEVICE_CLASSES: Final = (HOME_CLASS, PROFESSIONAL_CLASS)

#: The most a home role ever gets, whatever else is said (below 1.0 mm, on a 1 µm grid).
_HOME_CEILING_UM: Final = HOME_DEPTH_LIMIT_UM - 1


class Outcome(enum.StrEnum):
    """What the governor decided. Only ALLOWED and CLAMPED carry a depth and rate to send."""

    ALLOWED = "allowed"
    CLAMPED = "clamped"
    NEEDS_OVERRIDE = "needs_override"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class DeviceLimits:
    """The pen's own range, as its INFO reports it (defaults: a professional pen)."""

    device_class: str = PROFESSIONAL_CLASS
    depth_min_mm: float = 0.25
    depth_max_mm: float = 3.00
    depth_step_mm: float = 0.05
    rate_min_hz: int = 25
    rate_max_hz: int = 150

    @classmethod
    def from_info(cls, info: Info) -> DeviceLimits:
        """The limits a pen reported in its INFO (µm on the wire, mm here)."""
        klass = HOME_CLASS if info.device_class == DeviceClass.HOME else PROFESSIONAL_CLASS
        return cls(
            device_class=klass,
            depth_min_mm=info.depth_min_um / 1000,
            depth_max_mm=info.depth_max_um / 1000,
            depth_step_mm=info.depth_step_um / 1000,
            rate_min_hz=info.rate_min_hz,
            rate_max_hz=info.rate_max_hz,
        )

    @classmethod
    def professional(cls) -> DeviceLimits:
        """A professional pen's default range: 0.25-3.00 mm in 0.05 mm steps, 25-150 Hz."""
        return cls()

    @classmethod
    def home(cls) -> DeviceLimits:
        """A home pen's default range: 0.25-0.95 mm in 0.05 mm steps, 25-150 Hz."""
        return cls(device_class=HOME_CLASS, depth_max_mm=0.95)

    @classmethod
    def for_class(cls, device_class: str) -> DeviceLimits:
        """The default range of a device class ("home" or "professional")."""
        if device_class == HOME_CLASS:
            return cls.home()
        if device_class == PROFESSIONAL_CLASS:
            return cls.professional()
        raise ValueError(
            f"The device class must be 'home' or 'professional', not {device_class!r}."
        )


@dataclass(frozen=True, slots=True)
class Request:
    """What an operator asks for. A rate change alone is the same request with the current depth."""

    role: str
    zone: str
    depth_mm: float
    rate_hz: float
    device: DeviceLimits  # required: a forgotten pen must not default to a professional one
    override_reason: str | None = None
    last_session_days_ago: float | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The governor's answer. `depth_um` is what goes on the wire (None: send nothing)."""

    outcome: Outcome
    depth_mm: float | None
    rate_hz: int | None
    depth_um: int | None
    reasons: tuple[str, ...]
    effective_role: str
    cap_mm: float | None
    bound_by: str | None
    override_reason: str | None

    @property
    def sendable(self) -> bool:
        """True when the driver may send this decision's depth and rate."""
        return self.outcome in (Outcome.ALLOWED, Outcome.CLAMPED)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "depth_mm": self.depth_mm,
            "rate_hz": self.rate_hz,
            "depth_um": self.depth_um,
            "reasons": list(self.reasons),
            "effective_role": self.effective_role,
            "cap_mm": self.cap_mm,
            "bound_by": self.bound_by,
            "override_reason": self.override_reason,
        }

    @classmethod
    def rejected(
        cls,
        reasons: tuple[str, ...] | list[str],
        effective_role: str = "",
        cap_mm: float | None = None,
        bound_by: str | None = None,
    ) -> Decision:
        """A decision that sends nothing."""
        return cls(
            outcome=Outcome.REJECTED,
            depth_mm=None,
            rate_hz=None,
            depth_um=None,
            reasons=tuple(reasons),
            effective_role=effective_role,
            cap_mm=cap_mm,
            bound_by=bound_by,
            override_reason=None,
        )


# --- Override reasons ------------------------------------------------------------------------

#: An override reason needs at least this many letters or digits.
MIN_REASON_CHARS: Final = 3
MAX_REASON_CHARS: Final = 500
#: The rule, in one sentence, for a UI to show beside the reason field.
REASON_RULE: Final = (
    f"An override reason must say why in words: at least {MIN_REASON_CHARS} letters or "
    f"digits (spaces, control and invisible characters do not count), at most "
    f"{MAX_REASON_CHARS} characters."
)


def check_override_reason(reason: object) -> str | None:
    """The reason as it is recorded, or None when it is not a reason at all.

    The one rule for the governor, the API and the TUI: after removing control (Cc), format
    (Cf: zero-width, bidi) and whitespace characters, at least `MIN_REASON_CHARS` letters or
    digits must remain. The recorded form has control and format characters removed and the
    ends stripped; at most `MAX_REASON_CHARS` characters.
    """
    if not isinstance(reason, str) or len(reason) > 4 * MAX_REASON_CHARS:
        return None
    kept = "".join(ch for ch in reason if unicodedata.category(ch) not in ("Cc", "Cf"))
    kept = " ".join(kept.split())  # line breaks and runs of spaces become one space
    if len(kept) > MAX_REASON_CHARS:
        return None
    visible = sum(1 for ch in kept if unicodedata.category(ch)[0] in ("L", "N"))
    return kept if visible >= MIN_REASON_CHARS else None


# --- Helpers (integer micrometres) ---------------------------------------------------------------


def _mm(um: int) -> str:
    return f"{um / 1000:.2f} mm" if um % 10 == 0 else f"{um / 1000:.3f} mm"


def _show(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**18:
        return f"{Decimal(value):.3e}"  # repr() of a huge int may refuse (str digits limit)
    try:
        text = repr(value)
    except Exception:
        text = f"a {type(value).__name__}"
    return text if len(text) <= 40 else text[:37] + "..."


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _decimal_mm(value: object) -> Decimal | None:
    """The exact decimal millimetres a person meant by `value`, or None if it is no number."""
    if not _is_number(value):
        return None
    if isinstance(value, int):
        return Decimal(int(value))
    f = float(value)  # type: ignore[arg-type]
    if not math.isfinite(f):
        return None
    return Decimal(repr(f))  # the shortest decimal that reads back as this float


def _um_floor(mm: Decimal) -> int:
    if mm == mm.to_integral_value() and abs(mm) > 10**12:  # huge: exact integer arithmetic
        return int(mm) * 1000
    return int((mm * 1000).to_integral_value(rounding=ROUND_FLOOR))


def _um_ceil(mm: Decimal) -> int:
    if mm == mm.to_integral_value() and abs(mm) > 10**12:
        return int(mm) * 1000
    return int((mm * 1000).to_integral_value(rounding=ROUND_CEILING))


def _floor_step(um: int, step: int) -> int:
    return (um // step) * step


def _ceil_step(um: int, step: int) -> int:
    return -((-um) // step) * step


def _whole(value: object) -> int | None:
    """A whole number from an int or an integral finite float; None otherwise."""
    if not _is_number(value):
        return None
    if isinstance(value, int):
        return int(value)
    f = float(value)  # type: ignore[arg-type]
    if not math.isfinite(f) or not f.is_integer():
        return None
    return int(f)


@dataclass(frozen=True, slots=True)
class _Device:
    klass: str
    min_um: int  # rounded up: never shallower than the pen allows
    max_um: int  # rounded down to the step: never deeper than the pen allows
    step_um: int
    rate_min: int
    rate_max: int


def _parse_device(device: object) -> _Device | str:
    """The pen's limits in µm, or one sentence saying why they cannot be used."""
    if not isinstance(device, DeviceLimits):
        return "The pen's limits are missing, so nothing can be sent."
    klass: object = device.device_class
    if isinstance(klass, DeviceClass):
        klass = klass.name.lower()
    if not isinstance(klass, str) or klass not in DEVICE_CLASSES:
        return (
            f"The pen's device class {_show(klass)} is neither 'home' nor 'professional', "
            "so nothing can be sent."
        )
    dmin, dmax, dstep = (
        _decimal_mm(device.depth_min_mm),
        _decimal_mm(device.depth_max_mm),
        _decimal_mm(device.depth_step_mm),
    )
    if dmin is None or dmax is None or dstep is None:
        return "The pen reported a depth range that is not made of finite numbers."
    step_um = dstep * 1000
    if step_um <= 0 or step_um != step_um.to_integral_value() or step_um > DEPTH_CEILING_MAX_UM:
        return (
            f"The pen reported a depth step of {_show(device.depth_step_mm)} mm, which is not a "
            "whole number of micrometres between 0.001 and 3.00 mm."
        )
    step = int(step_um)
    min_um, max_um = _um_ceil(dmin), _floor_step(_um_floor(dmax), step)
    if min_um > max_um:
        return (
            f"The pen reported a depth range ({_show(device.depth_min_mm)} to "
            f"{_show(device.depth_max_mm)} mm) with no setting in it."
        )
    rmin, rmax = _whole(device.rate_min_hz), _whole(device.rate_max_hz)
    if rmin is None or rmax is None or rmin > rmax:
        return (
            f"The pen reported a rate range ({_show(device.rate_min_hz)} to "
            f"{_show(device.rate_max_hz)} Hz) that is not two whole numbers in order."
        )
    return _Device(klass, min_um, max_um, step, rmin, rmax)


@dataclass(frozen=True, slots=True)
class _Limit:
    name: str  # what bound_by reports
    um: int
    words: str  # "the hard max for cheeks (2.00 mm)"


@dataclass(frozen=True, slots=True)
class _Caps:
    floor_um: int  # the shallowest depth that may be sent (on the step)
    soft: _Limit  # the cap without an override (the least limit, recommended max included)
    hard: _Limit  # the cap with a clinician's override (recommended max left out)
    soft_um: int  # soft.um rounded down to the step
    hard_um: int


def _least(limits: list[_Limit]) -> _Limit:
    # Ties go to the first named, ordered from the most to the least specific to the request.
    return min(limits, key=lambda lim: lim.um)


class Governor:
    """Decides every depth and rate the driver may send, under one policy."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    # --- Queries for the UI --------------------------------------------------------------------

    def zones_for(self, role: str) -> list[str]:
        """The zones `role` may treat under this policy, in canonical order ([] if unknown)."""
        if not isinstance(role, str) or role not in ROLE_NAMES:
            return []
        allowed = self.policy.role(role).zones
        return [z for z in ZONE_NAMES if z in allowed and _zone_fits_role(role, z)]

    def cap_for(
        self, role: str, zone: str, device: DeviceLimits, *, override: bool = False
    ) -> float | None:
        """The deepest depth `role` may get on `zone` with this pen (mm), None if none at all.

        With `override=True`, the cap a clinician gets with a recorded reason (the zone's
        hard max instead of its recommended max); other roles get the same cap either way.
        """
        try:
            dev = _parse_device(device)
            if isinstance(dev, str) or not isinstance(role, str) or role not in ROLE_NAMES:
                return None
            eff = HOME_CLASS if dev.klass == HOME_CLASS else role
            if not isinstance(zone, str) or zone not in self.zones_for(eff):
                return None
            caps = self._caps(eff, zone, dev)
            cap = caps.hard_um if (override and eff == "clinician") else caps.soft_um
            return cap / 1000 if cap >= caps.floor_um else None
        except Exception:  # total, like decide()
            return None

    def rate_range_for(self, role: str, device: DeviceLimits) -> tuple[int, int] | None:
        """The lowest and highest rate `role` may get with this pen (Hz), None if none."""
        try:
            dev = _parse_device(device)
            if isinstance(dev, str) or not isinstance(role, str) or role not in ROLE_NAMES:
                return None
            eff = HOME_CLASS if dev.klass == HOME_CLASS else role
            lo, hi, _, _ = self._rate_bounds(eff, dev)
            return (lo, hi) if lo <= hi else None
        except Exception:
            return None

    # --- The decision --------------------------------------------------------------------------

    def decide(self, request: Request) -> Decision:
        """The decision for `request`. Never raises: an unusable request is rejected."""
        try:
            return self._decide(request)
        except Exception as exc:  # fail safe: anything unforeseen sends nothing
            try:
                detail = type(exc).__name__
            except Exception:  # pragma: no cover
                detail = "error"
            return Decision.rejected(
                (f"The governor could not evaluate this request ({detail}), so nothing is sent.",)
            )

    def _rate_bounds(self, role: str, dev: _Device) -> tuple[int, int, str, str]:
        limits = self.policy.role(role)
        lo_sources = [
            (max(limits.rate_min_hz, RATE_CEILING_MIN_HZ), "role_rate"),
            (dev.rate_min, "device_rate"),
        ]
        hi_sources = [
            (min(limits.rate_max_hz, RATE_CEILING_MAX_HZ), "role_rate"),
            (dev.rate_max, "device_rate"),
        ]
        lo, lo_by = max(lo_sources, key=lambda s: s[0])
        hi, hi_by = min(hi_sources, key=lambda s: s[0])
        return lo, hi, lo_by, hi_by

    def _caps(self, role: str, zone: str, dev: _Device) -> _Caps:
        step = dev.step_um
        role_cap = self.policy.role(role).max_depth_um
        z = self.policy.zone(zone)
        ceiling = _HOME_CEILING_UM if role == HOME_CLASS else DEPTH_CEILING_MAX_UM
        hard_limits = [
            _Limit("zone_hard", z.hard_max_um, f"the hard max for {zone} ({_mm(z.hard_max_um)})"),
            _Limit("role", role_cap, f"the {role} role's cap ({_mm(role_cap)})"),
            _Limit("device", dev.max_um, f"the pen's deepest setting ({_mm(dev.max_um)})"),
            _Limit("ceiling", ceiling, f"the built-in ceiling ({_mm(ceiling)})"),
        ]
        hard = _least(hard_limits)
        if role == ENGINEER_ROLE:
            soft = hard  # the bench has no recommended limit that binds an engineer
        else:
            rec = _Limit(
                "zone_recommended",
                z.recommended_max_um,
                f"the recommended max for {zone} ({_mm(z.recommended_max_um)})",
            )
            soft = _least([rec, *hard_limits])
        floor_um = _ceil_step(max(dev.min_um, DEPTH_CEILING_MIN_UM), step)
        return _Caps(
            floor_um=floor_um,
            soft=soft,
            hard=hard,
            soft_um=_floor_step(soft.um, step),
            hard_um=_floor_step(hard.um, step),
        )

    def _decide(self, request: Request) -> Decision:
        if not isinstance(request, Request):
            return Decision.rejected(
                (f"The request is not a governor request ({type(request).__name__}).",),
                bound_by="input",
            )
        role = request.role
        if not isinstance(role, str) or role not in ROLE_NAMES:
            return Decision.rejected(
                (f"Unknown role {_show(role)}: the roles are {', '.join(ROLE_NAMES)}.",),
                bound_by="role",
            )
        dev = _parse_device(request.device)
        if isinstance(dev, str):
            klass = getattr(request.device, "device_class", None)
            home = klass == HOME_CLASS if isinstance(klass, str) else klass is DeviceClass.HOME
            return Decision.rejected(
                (dev,), effective_role=HOME_CLASS if home else role, bound_by="device"
            )
        eff = HOME_CLASS if dev.klass == HOME_CLASS else role
        notes: list[str] = []
        if eff != role:
            notes.append(
                f"The pen is a home device, so the home role's limits apply (asked as {role})."
            )

        def reject(reason: str, bound_by: str, cap_mm: float | None = None) -> Decision:
            return Decision.rejected((*notes, reason), eff, cap_mm, bound_by)

        zone = request.zone
        if not isinstance(zone, str) or zone not in ZONE_NAMES:
            return reject(
                f"Unknown zone {_show(zone)}: the zones are {', '.join(ZONE_NAMES)}.", "zone"
            )
        if zone == BENCH_ZONE and eff != ENGINEER_ROLE:
            return reject(
                "The bench zone is for engineers only: it is a test block, not skin.", "zone"
            )
        if eff == ENGINEER_ROLE and zone != BENCH_ZONE:
            return reject("Engineers work on the bench zone only, never on skin.", "zone")
        if zone not in self.policy.role(eff).zones:
            return reject(f"The {eff} role may not treat {zone} under this policy.", "zone")

        reason_in = request.override_reason
        if reason_in is not None and not isinstance(reason_in, str):
            return reject("The override reason must be text.", "input")
        override = ""
        if isinstance(reason_in, str) and reason_in.strip():
            checked = check_override_reason(reason_in)
            if checked is None:
                return reject(REASON_RULE, "input")
            override = checked

        caps = self._caps(eff, zone, dev)
        rejections: list[tuple[str, str]] = []  # (reason, bound_by)
        overrides: list[tuple[str, str]] = []  # (reason, bound_by) that a reason would lift
        notes_after: list[str] = []  # said after the depth's own reason
        override_notes: list[str] = []  # what a recorded override reason lifted

        # Depth.
        requested = _decimal_mm(request.depth_mm)
        depth_q: int | None = None
        cap_um = caps.soft_um
        override_used = False
        if requested is None:
            rejections.append(
                (
                    f"The depth must be a finite number of millimetres "
                    f"(got {_show(request.depth_mm)}).",
                    "input",
                )
            )
        else:
            req_um = _um_floor(requested)
            depth_q = _floor_step(req_um, dev.step_um) if req_um > 0 else 0
            floor_um = caps.floor_um
            if req_um < floor_um or depth_q < floor_um:
                rejections.append(
                    (
                        f"{_show_mm(requested)} is shallower than the shallowest setting allowed, "
                        f"{_mm(floor_um)}; the governor never makes a depth deeper than asked.",
                        "depth_min",
                    )
                )
            else:
                over_soft = depth_q > caps.soft_um
                can_override = eff == "clinician" and caps.hard_um > caps.soft_um
                if over_soft and can_override:
                    if override:
                        cap_um = caps.hard_um
                        override_used = True
                        override_notes.append(
                            f"{_show_mm(requested)} is above {caps.soft.words}; allowed up to "
                            f"{_mm(caps.hard_um)} with the recorded reason."
                        )
                    else:
                        overrides.append(
                            (
                                f"{_show_mm(requested)} is above {caps.soft.words}; a clinician "
                                f"may go up to {_mm(caps.hard_um)} with a recorded reason.",
                                "zone_recommended",
                            )
                        )
                elif over_soft and override and caps.soft.name == "zone_recommended":
                    notes_after.append(
                        f"The recommended max is a hard limit for the {eff} role: an override "
                        "reason does not lift it."
                    )
                if cap_um < floor_um:
                    rejections.append(
                        (
                            f"No depth is allowed on {zone}: the cap ({_mm(cap_um)}) is below the "
                            f"shallowest setting allowed ({_mm(floor_um)}).",
                            caps.soft.name,
                        )
                    )

        # Interval since the last session on this zone (not for the bench: no skin).
        days = request.last_session_days_ago
        min_days = self.policy.min_days_between_sessions
        if days is not None and zone != BENCH_ZONE:
            d = _decimal_mm(days)  # the same exact-number reading, in days
            if d is None or d < 0:
                rejections.append(
                    (
                        f"The time since the last session on {zone} ({_show(days)}) is not a "
                        "valid number of days, so the interval cannot be checked.",
                        "interval",
                    )
                )
            elif d < min_days:
                too_soon = (
                    f"The last session on {zone} was {_days(d)} ago, less than the "
                    f"{min_days} days the policy requires between sessions"
                )
                if eff == "clinician":
                    if override:
                        override_used = True
                        override_notes.append(too_soon + "; going ahead with the recorded reason.")
                    else:
                        overrides.append(
                            (
                                too_soon + "; a clinician may go ahead with a recorded reason.",
                                "interval",
                            )
                        )
                else:
                    rejections.append(
                        (too_soon + "; only a clinician may override the interval.", "interval")
                    )

        # Rate.
        lo, hi, _, hi_by = self._rate_bounds(eff, dev)
        rate_in = request.rate_hz
        rate: int | None = None
        rate_clamped = False
        if not _is_number(rate_in) or (
            isinstance(rate_in, float) and not math.isfinite(float(rate_in))
        ):
            rejections.append(
                (f"The rate must be a finite number of hertz (got {_show(rate_in)}).", "input")
            )
        elif lo > hi:
            rejections.append(
                (
                    f"No rate is allowed: the {eff} role's range and the pen's range "
                    f"({dev.rate_min}-{dev.rate_max} Hz) do not overlap.",
                    "role_rate",
                )
            )
        else:
            asked = math.floor(rate_in)
            if asked < lo:
                rejections.append(
                    (
                        f"A rate of {_show(rate_in)} Hz is below the lowest allowed, {lo} Hz; "
                        "the governor never raises a rate.",
                        "rate_min",
                    )
                )
            elif asked > hi:
                rate, rate_clamped = hi, True
                which = (
                    "the pen's maximum" if hi_by == "device_rate" else f"the {eff} role's maximum"
                )
                notes_after.append(
                    f"A rate of {_show(rate_in)} Hz is above {which} ({hi} Hz); clamped to {hi} Hz."
                )
            else:
                rate = asked

        cap_mm = cap_um / 1000
        if rejections:
            return Decision.rejected(
                (*notes, *(r for r, _ in rejections)), eff, cap_mm, rejections[0][1]
            )
        if overrides:
            return Decision(
                outcome=Outcome.NEEDS_OVERRIDE,
                depth_mm=None,
                rate_hz=None,
                depth_um=None,
                reasons=(*notes, *(r for r, _ in overrides)),
                effective_role=eff,
                cap_mm=cap_mm,
                bound_by=overrides[0][1],
                override_reason=None,
            )

        assert depth_q is not None and rate is not None and requested is not None
        depth_clamped = depth_q > cap_um
        depth_um = min(depth_q, cap_um)
        reasons = [*notes, *override_notes]
        if depth_clamped:
            binding = caps.hard if override_used else caps.soft
            reasons.append(
                f"{_show_mm(requested)} is above {binding.words}; clamped to {_mm(depth_um)}."
            )
            bound_by: str | None = binding.name
        else:
            bound_by = hi_by if rate_clamped else None
            if Decimal(depth_um) != requested * 1000:
                reasons.append(
                    f"{_show_mm(requested)} was rounded down to {_mm(depth_um)}, the pen's "
                    f"{_mm(dev.step_um)} step."
                )
            reasons.append(f"{_mm(depth_um)} on {zone} is within the limits (cap {_mm(cap_um)}).")
        reasons.extend(notes_after)
        if not rate_clamped:
            reasons.append(f"A rate of {rate} Hz is within the allowed {lo}-{hi} Hz.")
        return Decision(
            outcome=Outcome.CLAMPED if (depth_clamped or rate_clamped) else Outcome.ALLOWED,
            depth_mm=depth_um / 1000,
            rate_hz=rate,
            depth_um=depth_um,
            reasons=tuple(reasons),
            effective_role=eff,
            cap_mm=cap_mm,
            bound_by=bound_by,
            override_reason=override if override_used else None,
        )


def _zone_fits_role(role: str, zone: str) -> bool:
    return (zone == BENCH_ZONE) == (role == ENGINEER_ROLE)


def _show_mm(mm: Decimal) -> str:
    if abs(mm) >= 10**6:
        return f"{mm:.3e} mm"
    text = format(mm.normalize(), "f")
    if "." not in text:
        text += ".00"
    elif len(text.split(".")[1]) < 2:
        text += "0"
    return f"{text} mm"


def _days(d: Decimal) -> str:
    value = float(d)
    if value < 1:
        return "less than a day"
    whole = int(value)  # "3 days" for 3.7: the whole days that have passed
    return "1 day" if whole == 1 else f"{whole} days"
