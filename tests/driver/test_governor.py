"""The governor, rule by rule, on worked examples (the properties are in
test_governor_properties.py)."""

from __future__ import annotations

import json
import math

import pytest

from driver.safety import Decision, DeviceLimits, Governor, Outcome, Request
from driver.safety.policy import Policy, default_policy, load_policy_text
from protocol import DeviceClass, Info

from .test_policy import DOMAIN_ZONES, SKIN_ZONES

PRO = DeviceLimits()
HOME_PEN = DeviceLimits.home()
GOV = Governor(default_policy())


def decide(
    role: str = "clinician",
    zone: str = "cheeks",
    depth: object = 0.5,
    rate: object = 100,
    **kw: object,
) -> Decision:
    kw.setdefault("device", PRO)
    return GOV.decide(Request(role=role, zone=zone, depth_mm=depth, rate_hz=rate, **kw))  # type: ignore[arg-type]


def sends(d: Decision) -> tuple[int | None, int | None]:
    return d.depth_um, d.rate_hz


def assert_sends_nothing(d: Decision) -> None:
    assert (d.depth_mm, d.depth_um, d.rate_hz) == (None, None, None)
    assert not d.sendable


# --- Device limits -------------------------------------------------------------------------------


def _info(device_class: DeviceClass, max_um: int, step_um: int = 50) -> Info:
    return Info(
        proto=1,
        nonce=7,
        device_class=device_class,
        fw_major=1,
        fw_minor=0,
        fw_patch=0,
        serial=1234,
        boot_id=99,
        depth_min_um=250,
        depth_max_um=max_um,
        depth_step_um=step_um,
        rate_min_hz=25,
        rate_max_hz=150,
        watchdog_ms=300,
    )


def test_device_limits_from_info_converts_micrometres_to_millimetres() -> None:
    pro = DeviceLimits.from_info(_info(DeviceClass.PROFESSIONAL, 3000))
    assert pro == DeviceLimits("professional", 0.25, 3.0, 0.05, 25, 150) == DeviceLimits()
    home = DeviceLimits.from_info(_info(DeviceClass.HOME, 950))
    assert home == DeviceLimits.home() == DeviceLimits.for_class("home")
    assert home.device_class == "home" and home.depth_max_mm == 0.95


def test_device_limits_for_an_unknown_class_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="'home' or 'professional'"):
        DeviceLimits.for_class("industrial")


def test_decisions_on_a_pen_from_info_are_on_its_step() -> None:
    device = DeviceLimits.from_info(_info(DeviceClass.PROFESSIONAL, 3000, step_um=100))
    d = decide("clinician", "forehead", 0.75, override_reason="deep lines", device=device)
    assert d.outcome is Outcome.ALLOWED and d.depth_um == 700  # 0.75 is between 0.1 mm steps


# --- Allowed, clamped, and the limit that bound --------------------------------------------------


def test_a_depth_within_every_limit_is_allowed_unchanged() -> None:
    d = decide("clinician", "cheeks", 0.8, 120)
    assert d.outcome is Outcome.ALLOWED
    assert (d.depth_mm, d.depth_um, d.rate_hz) == (0.8, 800, 120)
    assert d.bound_by is None and d.override_reason is None
    assert d.cap_mm == 1.0 and d.effective_role == "clinician"


@pytest.mark.parametrize("zone", SKIN_ZONES)
def test_aesthetician_is_clamped_to_the_least_of_role_cap_and_recommended(zone: str) -> None:
    rec, _hard = DOMAIN_ZONES[zone]
    cap = min(rec, 1.0)
    d = decide("aesthetician", zone, 2.9)
    assert d.outcome is Outcome.CLAMPED and d.depth_mm == cap
    assert d.bound_by == ("zone_recommended" if rec <= 1.0 else "role")
    assert any(f"{cap:.2f} mm" in r for r in d.reasons)
    assert GOV.cap_for("aesthetician", zone, PRO) == cap


@pytest.mark.parametrize("zone", SKIN_ZONES)
def test_home_gets_at_most_half_a_millimetre_and_the_recommended_max(zone: str) -> None:
    rec, _hard = DOMAIN_ZONES[zone]
    d = decide("home", zone, 0.95)
    assert d.outcome is Outcome.CLAMPED and d.depth_mm == min(rec, 0.5)
    assert GOV.cap_for("home", zone, PRO) == min(rec, 0.5)


@pytest.mark.parametrize("zone", SKIN_ZONES)
def test_clinician_caps_are_recommended_without_and_hard_with_a_reason(zone: str) -> None:
    rec, hard = DOMAIN_ZONES[zone]
    assert GOV.cap_for("clinician", zone, PRO) == rec
    assert GOV.cap_for("clinician", zone, PRO, override=True) == hard
    d = decide("clinician", zone, 3.0, override_reason="deep scarring, consented")
    if hard < 3.0:
        assert d.outcome is Outcome.CLAMPED and d.bound_by == "zone_hard"
    else:
        assert d.outcome is Outcome.ALLOWED
    assert d.depth_mm == hard and d.override_reason == "deep scarring, consented"


def test_reasons_name_the_limit_and_its_value() -> None:
    d = decide("aesthetician", "forehead", 0.9)
    assert (
        d.reasons[0]
        == "0.90 mm is above the recommended max for forehead (0.50 mm); clamped to 0.50 mm."
    )
    d = decide("home", "cheeks", 0.9)
    assert "the home role's cap (0.50 mm)" in d.reasons[0] and d.bound_by == "role"


def test_the_device_range_bounds_everything() -> None:
    small = DeviceLimits("professional", 0.25, 0.6, 0.05, 25, 150)
    d = decide("clinician", "cheeks", 0.9, device=small)
    assert d.outcome is Outcome.CLAMPED and d.depth_mm == 0.6 and d.bound_by == "device"
    assert "the pen's deepest setting (0.60 mm)" in d.reasons[0]


def test_engineer_gets_the_full_range_on_the_bench() -> None:
    d = decide("engineer", "bench", 3.0, 150)
    assert d.outcome is Outcome.ALLOWED and sends(d) == (3000, 150)
    d = decide("engineer", "bench", 0.25, 25)
    assert d.outcome is Outcome.ALLOWED and sends(d) == (250, 25)
    assert GOV.zones_for("engineer") == ["bench"]


# --- Quantisation and float trouble --------------------------------------------------------------


def test_depths_are_read_as_the_decimal_a_person_typed() -> None:
    for typed, um in [
        (0.3, 300),
        (0.35, 350),
        (0.55, 550),
        (0.1 + 0.2, 300),
        (0.7, 700),
        (1.15, 1150),
    ]:
        d = decide("clinician", "stretch_marks", typed)
        assert d.outcome is Outcome.ALLOWED and d.depth_um == um, typed
        assert d.depth_mm is not None and d.depth_mm <= typed


def test_less_than_one_step_above_the_result_is_allowed_not_clamped() -> None:
    d = decide("clinician", "cheeks", 0.549)
    assert d.outcome is Outcome.ALLOWED and d.depth_um == 500
    assert any("rounded down" in r for r in d.reasons)
    d = decide("clinician", "forehead", 0.5499)
    assert d.outcome is Outcome.ALLOWED and d.depth_um == 500


def test_a_step_above_the_cap_is_clamped() -> None:
    d = decide("aesthetician", "forehead", 0.55)
    assert d.outcome is Outcome.CLAMPED and d.depth_um == 500


def test_a_coarse_step_rounds_the_cap_down_too() -> None:
    skinpen = DeviceLimits("professional", 0.25, 2.5, 0.25, 25, 150)
    assert GOV.cap_for("clinician", "periorbital", skinpen) == 0.25  # 0.30 -> 0.25
    assert GOV.cap_for("clinician", "forehead", skinpen, override=True) == 0.75
    d = decide("clinician", "periorbital", 0.3, device=skinpen)
    assert d.outcome is Outcome.ALLOWED and d.depth_um == 250


# --- Rejected ------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [0.2499, 0.2, 0.0, -0.0, -1.0, -math.inf, -(10**400)])
def test_a_depth_below_the_minimum_is_rejected_never_clamped_up(depth: float) -> None:
    d = decide("clinician", "cheeks", depth)
    assert d.outcome is Outcome.REJECTED
    assert d.bound_by == ("input" if depth == -math.inf else "depth_min")
    assert_sends_nothing(d)


def test_exactly_the_minimum_is_allowed() -> None:
    d = decide("home", "periorbital", 0.25)
    assert d.outcome is Outcome.ALLOWED and d.depth_um == 250


def test_a_pen_with_a_higher_minimum_rejects_what_it_cannot_set_without_going_deeper() -> None:
    pen = DeviceLimits("professional", 0.3, 3.0, 0.05, 25, 150)
    assert decide("clinician", "cheeks", 0.27, device=pen).outcome is Outcome.REJECTED
    assert decide("clinician", "cheeks", 0.3, device=pen).depth_um == 300
    # Minimum off the step: 0.27 rounds down to 0.25, below the pen's 0.26, so nothing fits.
    odd = DeviceLimits("professional", 0.26, 3.0, 0.05, 25, 150)
    d = decide("clinician", "cheeks", 0.27, device=odd)
    assert d.outcome is Outcome.REJECTED and d.bound_by == "depth_min"
    assert decide("clinician", "cheeks", 0.3, device=odd).depth_um == 300


@pytest.mark.parametrize("depth", [math.nan, math.inf, "0.5", None, True, [0.5], b"1"])
def test_a_depth_that_is_not_a_finite_number_is_rejected(depth: object) -> None:
    d = decide("clinician", "cheeks", depth)
    assert d.outcome is Outcome.REJECTED
    assert_sends_nothing(d)
    assert "finite number of millimetres" in d.reasons[-1]


@pytest.mark.parametrize("role", ["surgeon", "", "Clinician", None, 3, "home "])
def test_an_unknown_role_is_rejected(role: object) -> None:
    d = decide(role, "cheeks")  # type: ignore[arg-type]
    assert d.outcome is Outcome.REJECTED and d.bound_by == "role"
    assert "Unknown role" in d.reasons[0]


@pytest.mark.parametrize("zone", ["lips", "", "Cheeks", None, 7])
def test_an_unknown_zone_is_rejected(zone: object) -> None:
    d = decide("clinician", zone)  # type: ignore[arg-type]
    assert d.outcome is Outcome.REJECTED and d.bound_by == "zone"
    assert "Unknown zone" in d.reasons[0]


@pytest.mark.parametrize("role", ["home", "aesthetician", "clinician"])
def test_the_bench_zone_is_for_engineers_only(role: str) -> None:
    d = decide(role, "bench", 0.5, override_reason="testing")
    assert d.outcome is Outcome.REJECTED and "engineers only" in d.reasons[0]
    assert GOV.cap_for(role, "bench", PRO) is None
    assert "bench" not in GOV.zones_for(role)


@pytest.mark.parametrize("zone", SKIN_ZONES)
def test_an_engineer_never_treats_skin(zone: str) -> None:
    d = decide("engineer", zone, 0.5)
    assert d.outcome is Outcome.REJECTED and "bench zone only" in d.reasons[0]
    assert GOV.cap_for("engineer", zone, PRO) is None


def test_a_zone_the_policy_takes_from_a_role_is_rejected() -> None:
    gov = Governor(load_policy_text("[roles.home]\nzones = ['forehead', 'cheeks']\n"))
    d = gov.decide(Request("home", "neck", 0.3, 100, PRO))
    assert d.outcome is Outcome.REJECTED and "may not treat neck" in d.reasons[0]
    assert gov.zones_for("home") == ["forehead", "cheeks"]
    assert gov.cap_for("home", "neck", PRO) is None


# --- Clinician's soft limit and the override reason ----------------------------------------------


def test_a_clinician_above_recommended_needs_an_override() -> None:
    d = decide("clinician", "forehead", 0.7)
    assert d.outcome is Outcome.NEEDS_OVERRIDE and d.bound_by == "zone_recommended"
    assert_sends_nothing(d)
    assert "may go up to 0.75 mm with a recorded reason" in d.reasons[0]


@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_a_blank_reason_is_no_reason(blank: str) -> None:
    assert (
        decide("clinician", "forehead", 0.7, override_reason=blank).outcome
        is Outcome.NEEDS_OVERRIDE
    )


def test_with_a_reason_a_clinician_gets_up_to_the_hard_max_and_the_reason_is_recorded() -> None:
    d = decide("clinician", "forehead", 0.7, override_reason="  deep static lines  ")
    assert d.outcome is Outcome.ALLOWED and d.depth_um == 700
    assert d.override_reason == "deep static lines"
    d = decide("clinician", "forehead", 0.9, override_reason="deep static lines")
    assert d.outcome is Outcome.CLAMPED and d.depth_um == 750 and d.bound_by == "zone_hard"


def test_a_reason_that_is_not_needed_is_not_recorded_as_an_override() -> None:
    d = decide("clinician", "forehead", 0.4, override_reason="just in case")
    assert d.outcome is Outcome.ALLOWED and d.override_reason is None


def test_an_override_reason_does_not_lift_limits_for_home_or_aesthetician() -> None:
    for role in ("home", "aesthetician"):
        d = decide(role, "forehead", 0.7, override_reason="please")
        assert d.outcome is Outcome.CLAMPED and d.depth_um == 500 and d.override_reason is None


def test_no_override_when_it_would_change_nothing() -> None:
    # Clinician cap 1.0 equals the recommended max: above it is simply clamped.
    gov = Governor(load_policy_text("[roles.clinician]\nmax_depth_mm = 1.0\n"))
    d = gov.decide(Request("clinician", "cheeks", 1.5, 100, PRO))
    assert d.outcome is Outcome.CLAMPED and d.depth_um == 1000


def test_an_override_reason_of_the_wrong_type_is_rejected() -> None:
    d = decide("clinician", "forehead", 0.7, override_reason=42)
    assert d.outcome is Outcome.REJECTED and "must be text" in d.reasons[0]


# --- Device class home forces the home role ------------------------------------------------------


@pytest.mark.parametrize("role", ["aesthetician", "clinician"])
def test_a_home_pen_forces_the_home_role(role: str) -> None:
    d = decide(role, "cheeks", 0.9, override_reason="deep", device=HOME_PEN)
    assert d.effective_role == "home" and d.depth_um == 500 and d.override_reason is None
    assert "home device" in d.reasons[0]
    assert GOV.cap_for(role, "cheeks", HOME_PEN) == 0.5


def test_an_engineer_on_a_home_pen_gets_no_bench() -> None:
    d = decide("engineer", "bench", 0.5, device=HOME_PEN)
    assert d.outcome is Outcome.REJECTED and d.effective_role == "home"


def test_a_home_pen_with_a_device_class_enum_is_understood() -> None:
    pen = DeviceLimits(DeviceClass.HOME, 0.25, 0.95, 0.05, 25, 150)  # type: ignore[arg-type]
    assert decide("clinician", "cheeks", 0.9, device=pen).effective_role == "home"


def test_home_stays_below_one_millimetre_even_with_an_unvalidated_policy() -> None:
    loose = Policy.model_construct(
        min_days_between_sessions=28,
        roles=default_policy().roles.model_copy(
            update={"home": default_policy().role("home").model_copy(update={"max_depth_mm": 3.0})}
        ),
        zones=default_policy().zones.model_copy(
            update={
                "stretch_marks": default_policy()
                .zone("stretch_marks")
                .model_copy(update={"recommended_max_mm": 3.0})
            }
        ),
    )
    d = Governor(loose).decide(Request("home", "stretch_marks", 3.0, 100, PRO))
    assert d.sendable and d.depth_um is not None and d.depth_um < 1000 and d.bound_by == "ceiling"


# --- Rate ----------------------------------------------------------------------------------------


def test_rate_is_clamped_to_the_role_and_the_pen_and_never_raised() -> None:
    d = decide("home", "cheeks", 0.5, 150)
    assert d.outcome is Outcome.CLAMPED and d.rate_hz == 120 and d.bound_by == "role_rate"
    slow_pen = DeviceLimits("professional", 0.25, 3.0, 0.05, 25, 100)
    d = decide("clinician", "cheeks", 0.5, 140, device=slow_pen)
    assert d.outcome is Outcome.CLAMPED and d.rate_hz == 100 and d.bound_by == "device_rate"
    assert d.depth_um == 500  # the depth itself was fine


@pytest.mark.parametrize(
    ("role", "device", "asked", "sent"),
    [
        ("home", PRO, 120, 120),
        ("home", PRO, 121, 120),
        ("clinician", PRO, 150, 150),
        ("clinician", PRO, 151, 150),
        ("clinician", PRO, 150.999, 150),
        ("clinician", DeviceLimits("professional", 0.25, 3.0, 0.05, 25, 90), 91, 90),
    ],
)
def test_a_rate_one_above_the_maximum_is_clamped(
    role: str, device: DeviceLimits, asked: float, sent: int
) -> None:
    d = decide(role, "cheeks", 0.5, asked, device=device)
    assert d.rate_hz == sent
    assert d.outcome is (Outcome.CLAMPED if int(asked) > sent else Outcome.ALLOWED)


def test_a_rate_below_the_range_is_rejected_not_raised() -> None:
    for rate in (24, 0, -5, 24.9):
        d = decide("clinician", "cheeks", 0.5, rate)
        assert d.outcome is Outcome.REJECTED and d.bound_by == "rate_min", rate
        assert_sends_nothing(d)


def test_a_fractional_rate_is_rounded_down_and_allowed() -> None:
    d = decide("clinician", "cheeks", 0.5, 99.9)
    assert d.outcome is Outcome.ALLOWED and d.rate_hz == 99


@pytest.mark.parametrize("rate", [math.nan, math.inf, -math.inf, None, "100", True, False])
def test_a_rate_that_is_not_a_finite_number_is_rejected(rate: object) -> None:
    d = decide("clinician", "cheeks", 0.5, rate)
    assert d.outcome is Outcome.REJECTED and "finite number of hertz" in d.reasons[-1]


def test_a_huge_rate_is_clamped() -> None:
    d = decide("engineer", "bench", 1.0, 10**30)
    assert d.outcome is Outcome.CLAMPED and d.rate_hz == 150


def test_rate_range_for_reports_the_overlap() -> None:
    assert GOV.rate_range_for("home", PRO) == (25, 120)
    assert GOV.rate_range_for("clinician", HOME_PEN) == (25, 120)
    assert GOV.rate_range_for(
        "clinician", DeviceLimits("professional", 0.25, 3.0, 0.05, 30, 90)
    ) == (30, 90)
    assert GOV.rate_range_for(
        "clinician", DeviceLimits("professional", 0.25, 3.0, 0.05, 130, 200)
    ) == (130, 150)
    assert GOV.rate_range_for("nobody", PRO) is None


def test_no_overlap_between_role_and_pen_rates_rejects() -> None:
    fast_pen = DeviceLimits("professional", 0.25, 3.0, 0.05, 125, 150)
    d = decide("home", "cheeks", 0.5, 130, device=fast_pen)
    assert d.outcome is Outcome.REJECTED and "do not overlap" in d.reasons[0]


# --- Interval since the last session on the zone -------------------------------------------------


def test_too_soon_is_rejected_for_home_and_aesthetician() -> None:
    for role in ("home", "aesthetician"):
        d = decide(role, "neck", 0.5, last_session_days_ago=27.99, override_reason="client insists")
        assert d.outcome is Outcome.REJECTED and d.bound_by == "interval", role
        assert "only a clinician may override" in d.reasons[0]


def test_too_soon_needs_an_override_from_a_clinician() -> None:
    d = decide("clinician", "neck", 0.5, last_session_days_ago=14)
    assert d.outcome is Outcome.NEEDS_OVERRIDE and d.bound_by == "interval"
    assert "14 days ago, less than the 28 days" in d.reasons[0]
    d = decide("clinician", "neck", 0.5, last_session_days_ago=14, override_reason="touch-up")
    assert d.outcome is Outcome.ALLOWED and d.depth_um == 500 and d.override_reason == "touch-up"


def test_both_soft_limits_are_reported_and_one_reason_lifts_both() -> None:
    d = decide("clinician", "neck", 1.2, last_session_days_ago=3)
    assert d.outcome is Outcome.NEEDS_OVERRIDE and len(d.reasons) == 2
    d = decide("clinician", "neck", 1.2, last_session_days_ago=3, override_reason="protocol B")
    assert d.outcome is Outcome.ALLOWED and d.depth_um == 1200


@pytest.mark.parametrize("days", [28, 28.0, 400, None])
def test_on_time_or_no_history_passes(days: float | None) -> None:
    assert decide("home", "neck", 0.5, last_session_days_ago=days).outcome is Outcome.ALLOWED


def test_the_policy_sets_the_interval() -> None:
    gov = Governor(load_policy_text("min_days_between_sessions = 42\n"))
    d = gov.decide(Request("home", "neck", 0.5, 100, PRO, last_session_days_ago=30))
    assert d.outcome is Outcome.REJECTED and "42 days" in d.reasons[0]


@pytest.mark.parametrize("days", [math.nan, -1, -0.001, math.inf * -1, "10", True])
def test_invalid_history_is_rejected_as_the_safest_choice(days: object) -> None:
    d = decide("clinician", "neck", 0.5, last_session_days_ago=days, override_reason="xyz")
    assert d.outcome is Outcome.REJECTED and d.bound_by == "interval"


def test_the_bench_has_no_interval() -> None:
    d = decide("engineer", "bench", 1.0, last_session_days_ago=0)
    assert d.outcome is Outcome.ALLOWED


# --- Totality and the shape of a decision --------------------------------------------------------


@pytest.mark.parametrize("request_", [None, {}, "clinician", 3, object(), Request])
def test_anything_that_is_not_a_request_is_rejected(request_: object) -> None:
    d = GOV.decide(request_)  # type: ignore[arg-type]
    assert d.outcome is Outcome.REJECTED
    assert_sends_nothing(d)


@pytest.mark.parametrize(
    "device",
    [
        None,
        "professional",
        DeviceLimits("industrial"),
        DeviceLimits("professional", math.nan),
        DeviceLimits("professional", 0.25, math.inf),
        DeviceLimits("professional", 0.25, 3.0, 0.0),
        DeviceLimits("professional", 0.25, 3.0, -0.05),
        DeviceLimits("professional", 0.25, 3.0, 0.0333),
        DeviceLimits("professional", 2.0, 1.0),
        DeviceLimits("professional", 0.25, 3.0, 0.05, 150, 25),
        DeviceLimits("professional", 0.25, 3.0, 0.05, 25.5, 150),  # type: ignore[arg-type]
        DeviceLimits("professional", 0.25, 3.0, 0.05, None, 150),  # type: ignore[arg-type]
    ],
)
def test_unusable_device_limits_are_rejected(device: object) -> None:
    d = decide("clinician", "cheeks", 0.5, device=device)
    assert d.outcome is Outcome.REJECTED and d.bound_by == "device"
    assert_sends_nothing(d)
    assert GOV.cap_for("clinician", "cheeks", device) is None  # type: ignore[arg-type]


def test_a_step_larger_than_the_range_leaves_no_depth() -> None:
    pen = DeviceLimits("professional", 0.25, 3.0, 3.0, 25, 150)
    d = decide("clinician", "cheeks", 1.0, device=pen)
    assert d.outcome is Outcome.REJECTED
    assert GOV.cap_for("clinician", "cheeks", pen) is None


def test_to_json_dict_is_plain_json_with_the_documented_keys() -> None:
    d = decide("clinician", "forehead", 0.9, override_reason="deep lines")
    data = json.loads(json.dumps(d.to_json_dict(), allow_nan=False))
    assert data == {
        "outcome": "clamped",
        "depth_mm": 0.75,
        "rate_hz": 100,
        "depth_um": 750,
        "reasons": list(d.reasons),
        "findings": [
            {
                "rule": "depth",
                "effect": "overridden",
                "bound_by": "zone_recommended",
                "text": d.reasons[0],
            },
            {"rule": "depth", "effect": "clamp", "bound_by": "zone_hard", "text": d.reasons[1]},
            {"rule": "rate", "effect": "within", "bound_by": None, "text": d.reasons[2]},
        ],
        "effective_role": "clinician",
        "cap_mm": 0.75,
        "bound_by": "zone_hard",
        "override_reason": "deep lines",
    }


def test_decisions_are_deterministic_and_frozen() -> None:
    a = decide("aesthetician", "cheeks", 1.7)
    assert a == decide("aesthetician", "cheeks", 1.7)
    with pytest.raises(AttributeError):
        a.depth_um = 3000  # type: ignore[misc]


def test_zones_for_and_cap_for_never_raise_on_garbage() -> None:
    assert GOV.zones_for("nobody") == [] and GOV.zones_for(None) == []  # type: ignore[arg-type]
    assert GOV.zones_for("home") == SKIN_ZONES
    assert GOV.cap_for("clinician", "lips", PRO) is None
    assert GOV.cap_for(None, None, None) is None  # type: ignore[arg-type]
