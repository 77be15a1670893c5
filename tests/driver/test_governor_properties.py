"""The governor's invariants over arbitrary requests, pens and valid policies (hypothesis).

Run with `--hypothesis-profile=thorough` for the release evidence (`make qa`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from decimal import Decimal
from typing import Any

from hypothesis import event, given, note
from hypothesis import strategies as st

from driver.safety import Decision, DeviceLimits, Governor, Outcome, Request
from driver.safety.policy import ROLE_NAMES, ZONE_NAMES, Policy
from driver.testing.strategies import (
    SKIN_ZONES,
    any_days,
    any_depths,
    any_devices,
    any_rates,
    any_reasons,
    garbage,
    good_days,
    good_depths,
    good_devices,
    good_rates,
    good_reasons,
    known_roles,
    known_zones,
)

from .test_policy import valid_policies

# --- Strategies ----------------------------------------------------------------------------------


@st.composite
def _role_zone(draw: st.DrawFn) -> tuple[str, str]:
    """Mostly a pair a policy could allow (the bench for engineers), sometimes any pair."""
    role = draw(known_roles)
    fitting = st.just("bench") if role == "engineer" else st.sampled_from(SKIN_ZONES)
    return role, draw(st.one_of(fitting, fitting, fitting, known_zones))


def requests(
    roles: st.SearchStrategy[Any] | None = None,
    zones: st.SearchStrategy[Any] | None = None,
    depths: st.SearchStrategy[Any] = good_depths,
    rates: st.SearchStrategy[Any] = good_rates,
    devices: st.SearchStrategy[Any] = good_devices,
    reasons: st.SearchStrategy[Any] = good_reasons,
    days: st.SearchStrategy[Any] = good_days,
) -> st.SearchStrategy[Request]:
    """Requests; with neither roles nor zones given, role and zone mostly fit each other."""
    pairs = (
        _role_zone()
        if roles is None and zones is None
        else st.tuples(
            roles if roles is not None else known_roles, zones if zones is not None else known_zones
        )
    )
    return st.builds(
        lambda rz, *rest: Request(rz[0], rz[1], *rest),
        pairs,
        depths,
        rates,
        devices,
        reasons,
        days,
    )


any_requests = requests(
    roles=st.one_of(st.sampled_from(ROLE_NAMES), garbage),
    zones=st.one_of(st.sampled_from(ZONE_NAMES), garbage),
    depths=any_depths,
    rates=any_rates,
    devices=any_devices,
    reasons=any_reasons,
    days=any_days,
)


# --- Oracles (written from the rules, not from the implementation) -------------------------------


def _um(mm: float) -> int:
    return round(Decimal(repr(float(mm))) * 1000)


def _typed_um(value: float) -> Decimal:
    """The micrometres a person meant by `value` (the shortest decimal of the float)."""
    if isinstance(value, int):
        return Decimal(value) * 1000
    return Decimal(repr(float(value))) * 1000


def _assert_shape(d: Decision) -> None:
    assert isinstance(d, Decision)
    assert isinstance(d.outcome, Outcome)
    assert d.reasons and all(isinstance(r, str) and r for r in d.reasons)
    assert not any("could not evaluate" in r for r in d.reasons), d.reasons
    if d.outcome in (Outcome.ALLOWED, Outcome.CLAMPED):
        assert d.depth_um is not None and d.rate_hz is not None and d.depth_mm is not None
        assert type(d.depth_um) is int and type(d.rate_hz) is int
        assert d.depth_mm == d.depth_um / 1000
    else:
        assert (d.depth_mm, d.depth_um, d.rate_hz) == (None, None, None)
        assert d.override_reason is None
    json.dumps(d.to_json_dict(), allow_nan=False)


def _assert_safe(policy: Policy, req: Request, d: Decision) -> None:
    """Everything a sendable decision must respect, checked against the request and the policy."""
    _assert_shape(d)
    dev = req.device
    if isinstance(dev, DeviceLimits) and dev.device_class == "home" and d.effective_role:
        assert d.effective_role == "home"
    if not d.sendable:
        return
    assert d.depth_um is not None and d.depth_mm is not None and d.rate_hz is not None
    role, zone = d.effective_role, req.zone
    step, dmin, dmax = _um(dev.depth_step_mm), _um(dev.depth_min_mm), _um(dev.depth_max_mm)
    um = d.depth_um
    # Never deeper than requested (compared as Python numbers, exactly).
    assert d.depth_mm <= req.depth_mm
    assert um <= _typed_um(req.depth_mm)
    # On the pen's step, within its range and the built-in range.
    assert um % step == 0
    assert max(dmin, 250) <= um <= min(dmax, 3000)
    # Never above any applicable cap.
    assert um <= policy.role(role).max_depth_um
    assert um <= policy.zone(zone).hard_max_um
    if role != "engineer" and (role in ("home", "aesthetician") or d.override_reason is None):
        assert um <= policy.zone(zone).recommended_max_um
    if role == "home":
        assert um < 1000
    assert d.cap_mm is not None and um <= round(d.cap_mm * 1000)
    # The zone is the role's, and the bench is the engineer's alone.
    assert zone in policy.role(role).zones
    assert (zone == "bench") == (role == "engineer")
    # Rate: never higher than asked, within the pen's and the role's range.
    assert d.rate_hz <= math.floor(req.rate_hz)
    assert dev.rate_min_hz <= d.rate_hz <= dev.rate_max_hz
    r = policy.role(role)
    assert r.rate_min_hz <= d.rate_hz <= r.rate_max_hz
    # Interval: only a clinician with a reason goes ahead too soon.
    days = req.last_session_days_ago
    if days is not None and zone != "bench" and days < policy.min_days_between_sessions:
        assert role == "clinician" and d.override_reason is not None
    # Allowed means nothing was cut but the step's remainder; clamped means something was cut.
    asked_q = (int(_typed_um(req.depth_mm)) // step) * step
    rate_asked = math.floor(req.rate_hz)
    if d.outcome is Outcome.ALLOWED:
        assert asked_q == um and d.rate_hz == rate_asked and d.bound_by is None
    else:
        assert asked_q > um or d.rate_hz < rate_asked
        assert d.bound_by is not None


# --- Properties ----------------------------------------------------------------------------------


@given(valid_policies(), any_requests)
def test_total_any_input_gets_a_decision(policy: Policy, req: Request) -> None:
    gov = Governor(policy)
    d = gov.decide(req)
    _assert_shape(d)
    assert gov.decide(req) == d  # deterministic
    if d.sendable:
        _assert_safe(policy, req, d)


@given(valid_policies(), st.one_of(garbage, any_requests, st.integers(), st.floats()))
def test_total_even_for_things_that_are_not_requests(policy: Policy, thing: Any) -> None:
    gov = Governor(policy)
    _assert_shape(gov.decide(thing))
    gov.cap_for(thing, thing, thing)
    gov.zones_for(thing)
    gov.rate_range_for(thing, thing)


@given(valid_policies(), requests())
def test_sent_depths_and_rates_respect_every_limit(policy: Policy, req: Request) -> None:
    d = Governor(policy).decide(req)
    note(repr(d))
    event(f"{d.outcome.value} (bound by {d.bound_by})")
    _assert_safe(policy, req, d)


@given(
    valid_policies(),
    requests(roles=st.sampled_from(ROLE_NAMES), depths=st.one_of(good_depths, st.floats(0, 1e6))),
)
def test_home_is_below_one_millimetre_under_every_accepted_policy(
    policy: Policy, req: Request
) -> None:
    gov = Governor(policy)
    d = gov.decide(req)
    if d.sendable and d.effective_role == "home":
        assert d.depth_um is not None and d.depth_um < 1000
    for zone in ZONE_NAMES:
        for override in (False, True):
            cap = gov.cap_for("home", zone, req.device, override=override)
            assert cap is None or cap < 1.0
    assert policy.role("home").max_depth_um < 1000


@given(
    valid_policies(),
    requests(zones=st.sampled_from(SKIN_ZONES)),
    st.sampled_from(
        [("home", "aesthetician"), ("aesthetician", "clinician"), ("home", "clinician")]
    ),
)
def test_a_more_privileged_role_never_gets_less(
    policy: Policy, req: Request, pair: tuple[str, str]
) -> None:
    lower, higher = pair
    gov = Governor(policy)
    lo = gov.decide(dataclasses.replace(req, role=lower))
    hi = gov.decide(dataclasses.replace(req, role=higher))
    event(f"{lower}: {lo.outcome.value}, {higher}: {hi.outcome.value}")
    if lo.sendable:
        assert lo.depth_um is not None and lo.rate_hz is not None
        if higher == "clinician" and hi.outcome is Outcome.NEEDS_OVERRIDE:
            # The clinician is asked for a reason; with one, still never less.
            hi = gov.decide(
                dataclasses.replace(req, role=higher, override_reason="recorded reason")
            )
        assert hi.sendable, (lo, hi)
        assert hi.depth_um is not None and hi.rate_hz is not None
        assert hi.depth_um >= lo.depth_um
        assert hi.rate_hz >= lo.rate_hz
    lo_cap = gov.cap_for(lower, req.zone, req.device)
    hi_cap = gov.cap_for(higher, req.zone, req.device, override=True)
    if lo_cap is not None:
        assert hi_cap is not None and hi_cap >= lo_cap
    assert set(gov.zones_for(lower)) <= set(gov.zones_for(higher))


@given(valid_policies(), requests(reasons=st.one_of(good_reasons, st.text(min_size=1, max_size=8))))
def test_deciding_a_decided_depth_again_allows_it_unchanged(policy: Policy, req: Request) -> None:
    gov = Governor(policy)
    first = gov.decide(req)
    event(first.outcome.value)
    if not first.sendable:
        return
    again = gov.decide(dataclasses.replace(req, depth_mm=first.depth_mm, rate_hz=first.rate_hz))
    assert again.outcome is Outcome.ALLOWED, again
    assert (again.depth_um, again.rate_hz) == (first.depth_um, first.rate_hz)
    assert again.override_reason == first.override_reason


@given(valid_policies(), requests())
def test_cap_for_tells_the_truth(policy: Policy, req: Request) -> None:
    gov = Governor(policy)
    for override in (False, True):
        reason = "recorded reason" if override else None
        cap = gov.cap_for(req.role, req.zone, req.device, override=override)
        deepest = gov.decide(
            dataclasses.replace(
                req, depth_mm=3.5, override_reason=reason, last_session_days_ago=None
            )
        )
        if deepest.sendable:
            assert cap is not None and deepest.depth_mm == cap
        elif deepest.outcome is Outcome.REJECTED and deepest.bound_by in (
            "zone",
            "depth_min",
            "device",
        ):
            assert cap is None
        if cap is not None:
            at_cap = gov.decide(
                dataclasses.replace(
                    req, depth_mm=cap, override_reason=reason, last_session_days_ago=None
                )
            )
            assert at_cap.outcome in (Outcome.ALLOWED, Outcome.CLAMPED, Outcome.REJECTED)
            if at_cap.sendable:
                assert at_cap.depth_mm == cap
