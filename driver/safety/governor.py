"""The safety governor: the first line of defence between an operator's wish and the needle.

`Governor(policy).decide(request)` maps a request (role, zone, depth, rate, the pen's limits, an
optional override reason, the days since the last session on that zone) to a `Decision`:
allowed, clamped, needs_override or rejected, with the depth and rate to send and the typed
findings of every rule (driver/safety/rules.py) that judged it. It is pure and deterministic
(no I/O, no clock) and total: any input whatsoever, including NaN, infinities, negatives, huge
numbers, wrong types and None, gets a decision and never an exception. Nothing in the driver
may send a depth or rate it did not approve.

Invariants the driver relies on (proved by tests/driver/test_governor_properties.py):
- only allowed and clamped decisions carry a depth and rate to send; needs_override and
  rejected carry none;
- a depth to send is on the pen's step, within its range, never deeper than asked and never
  above the cap; a rate to send is within the pen's and the role's range and never higher
  than asked;
- deciding a decided depth and rate again allows them unchanged.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from protocol import DeviceClass

from ..vocabulary import (
    BENCH_ZONE,
    CLINICIAN_ROLE,
    ENGINEER_ROLE,
    HOME_CLASS,
    ROLE_NAMES,
    ZONE_NAMES,
)
from .decision import Decision, DeviceLimits, Effect, Finding, Outcome, Request, Rule
from .limits import Caps, Device, caps_for, parse_device
from .numbers import decimal_of, show
from .reason import REASON_RULE, check_override_reason
from .rules import (
    DepthVerdict,
    RateVerdict,
    depth_result,
    depth_rule,
    interval_rule,
    rate_bounds,
    rate_rule,
    zone_rule,
)

if TYPE_CHECKING:
    from .policy import Policy

__all__ = ["Governor"]


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
        return [
            z for z in ZONE_NAMES if z in allowed and (z == BENCH_ZONE) == (role == ENGINEER_ROLE)
        ]

    def cap_for(
        self, role: str, zone: str, device: DeviceLimits, *, override: bool = False
    ) -> float | None:
        """The deepest depth `role` may get on `zone` with this pen (mm), None if none at all.

        With `override=True`, the cap a clinician gets with a recorded reason (the zone's
        hard max instead of its recommended max); other roles get the same cap either way.
        """
        try:
            dev = parse_device(device)
            if isinstance(dev, str) or not isinstance(role, str) or role not in ROLE_NAMES:
                return None
            eff = HOME_CLASS if dev.klass == HOME_CLASS else role
            if not isinstance(zone, str) or zone not in self.zones_for(eff):
                return None
            caps = caps_for(self.policy, eff, zone, dev)
            cap = caps.hard_um if (override and eff == CLINICIAN_ROLE) else caps.soft_um
            return cap / 1000 if cap >= caps.floor_um else None
        except Exception:  # total, like decide()
            return None

    def rate_range_for(self, role: str, device: DeviceLimits) -> tuple[int, int] | None:
        """The lowest and highest rate `role` may get with this pen (Hz), None if none."""
        try:
            dev = parse_device(device)
            if isinstance(dev, str) or not isinstance(role, str) or role not in ROLE_NAMES:
                return None
            eff = HOME_CLASS if dev.klass == HOME_CLASS else role
            b = rate_bounds(self.policy, eff, dev)
            return (b.lo, b.hi) if b.lo <= b.hi else None
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

    def _decide(self, request: Request) -> Decision:
        early = _check_request(request)
        if isinstance(early, Decision):
            return early
        role, dev = early
        eff = HOME_CLASS if dev.klass == HOME_CLASS else role
        notes: tuple[Finding, ...] = ()
        if eff != role:
            notes = (
                Finding(
                    Rule.DEVICE,
                    Effect.NOTE,
                    (
                        "The pen is a home device, so the home role's limits apply "
                        f"(asked as {role})."
                    ),
                ),
            )
        zone = request.zone
        refused = zone_rule(self.policy, eff, zone)
        if refused is None:
            reason = _reason(request.override_reason)
            if isinstance(reason, Finding):
                refused = reason
        if refused is not None:
            return Decision.rejected((*notes, refused), eff, None, refused.bound_by)
        assert isinstance(zone, str) and isinstance(reason, str)
        caps = caps_for(self.policy, eff, zone, dev)
        requested = decimal_of(request.depth_mm)
        depth = depth_rule(requested, request.depth_mm, caps, dev, eff, zone, reason)
        interval = interval_rule(
            request.last_session_days_ago,
            self.policy.min_days_between_sessions,
            eff,
            zone,
            reason,
        )
        rate = rate_rule(request.rate_hz, rate_bounds(self.policy, eff, dev), dev, eff)
        return fold(notes, depth, interval, rate, requested, caps, dev, eff, zone, reason)


def _check_request(request: object) -> tuple[str, Device] | Decision:
    """The role and the pen's limits, or the rejection of a request that names neither."""
    if not isinstance(request, Request):
        return Decision.rejected(
            (f"The request is not a governor request ({type(request).__name__}).",),
            bound_by="input",
        )
    role = request.role
    if not isinstance(role, str) or role not in ROLE_NAMES:
        return Decision.rejected(
            (f"Unknown role {show(role)}: the roles are {', '.join(ROLE_NAMES)}.",),
            bound_by="role",
        )
    dev = parse_device(request.device)
    if isinstance(dev, str):
        klass = getattr(request.device, "device_class", None)
        home = klass == HOME_CLASS if isinstance(klass, str) else klass is DeviceClass.HOME
        return Decision.rejected(
            (Finding(Rule.DEVICE, Effect.REJECT, dev, "device"),),
            effective_role=HOME_CLASS if home else role,
            bound_by="device",
        )
    return role, dev


def _reason(reason_in: object) -> str | Finding:
    """The recorded form of an override reason ("" for none), or the rejection of a bad one."""
    if reason_in is not None and not isinstance(reason_in, str):
        return Finding(Rule.REQUEST, Effect.REJECT, "The override reason must be text.", "input")
    if isinstance(reason_in, str) and reason_in.strip():
        checked = check_override_reason(reason_in)
        if checked is None:
            return Finding(Rule.REQUEST, Effect.REJECT, REASON_RULE, "input")
        return checked
    return ""


def fold(
    notes: tuple[Finding, ...],
    depth: DepthVerdict,
    interval: Finding | None,
    rate: RateVerdict,
    requested: Decimal | None,
    caps: Caps,
    dev: Device,
    role: str,
    zone: str,
    reason: str,
) -> Decision:
    """One decision from the rules' findings: any rejection rejects, then any finding that needs
    an override asks for one, else the depth and rate are sent (clamped where a rule said so)."""
    judged = (*depth.findings, *((interval,) if interval else ()), rate.finding)
    cap_mm = depth.cap_um / 1000
    rejections = [f for f in judged if f.effect is Effect.REJECT]
    if rejections:
        return Decision.rejected((*notes, *rejections), role, cap_mm, rejections[0].bound_by)
    pending = [f for f in judged if f.effect is Effect.NEEDS_OVERRIDE]
    if pending:
        return Decision(
            Outcome.NEEDS_OVERRIDE,
            None,
            None,
            None,
            (*notes, *pending),
            role,
            cap_mm,
            pending[0].bound_by,
            None,
        )
    assert depth.depth_q is not None and rate.rate is not None
    overridden = [f for f in judged if f.effect is Effect.OVERRIDDEN]
    assert requested is not None
    depth_um, clamp, said = depth_result(
        requested, depth.depth_q, depth.cap_um, caps, dev, zone, bool(overridden)
    )
    depth_notes = [f for f in depth.findings if f.effect is Effect.NOTE]
    rate_clamped = rate.finding.effect is Effect.CLAMP
    findings = (*notes, *overridden, *said, *depth_notes, rate.finding)
    if clamp is not None:
        bound_by: str | None = clamp.bound_by
    else:
        bound_by = rate.finding.bound_by if rate_clamped else None
    return Decision(
        outcome=Outcome.CLAMPED if (clamp is not None or rate_clamped) else Outcome.ALLOWED,
        depth_mm=depth_um / 1000,
        rate_hz=rate.rate,
        depth_um=depth_um,
        findings=findings,
        effective_role=role,
        cap_mm=cap_mm,
        bound_by=bound_by,
        override_reason=reason if overridden else None,
    )
