"""The governor's answers at the edges a mutation run found untested (docs/QA.md, `make
mutate`): each test states what an operator or the UI relies on, one step either side of a
limit."""

from __future__ import annotations

import dataclasses

import pytest

from driver.safety import Decision, DeviceLimits, Effect, Governor, Outcome, Request, Rule
from driver.safety.policy import Policy, default_policy
from driver.safety.reason import REASON_RULE, check_override_reason
from protocol import DeviceClass

PRO = DeviceLimits()
HOME_PEN = DeviceLimits.home()
GOV = Governor(default_policy())


# --- The UI's queries: an unknown role gets nothing, on either pen ----------------------------


@pytest.mark.parametrize("device", [PRO, HOME_PEN], ids=["professional", "home"])
@pytest.mark.parametrize("role", ["surgeon", "", "Clinician"])
def test_an_unknown_role_gets_no_cap_and_no_rate_range_on_any_pen(
    role: str, device: DeviceLimits
) -> None:
    # A home pen applies the home role's limits to every known role; an unknown role is not
    # a known role, so it gets nothing to show (and the decision rejects it).
    assert GOV.cap_for(role, "cheeks", device) is None
    assert GOV.cap_for(role, "cheeks", device, override=True) is None
    assert GOV.rate_range_for(role, device) is None
    assert (
        GOV.decide(
            Request(role=role, zone="cheeks", depth_mm=0.3, rate_hz=60, device=device)
        ).outcome
        is Outcome.REJECTED
    )


def test_a_pen_with_one_rate_inside_the_roles_range_offers_exactly_that_rate() -> None:
    one = dataclasses.replace(PRO, rate_min_hz=60, rate_max_hz=60)
    assert GOV.rate_range_for("clinician", one) == (60, 60)
    d = GOV.decide(Request(role="clinician", zone="cheeks", depth_mm=0.5, rate_hz=60, device=one))
    assert (d.outcome, d.rate_hz) == (Outcome.ALLOWED, 60)


def test_a_pen_whose_rates_miss_the_roles_range_offers_no_rate() -> None:
    # home: 25-120 Hz under the default policy; this pen runs 130-150 Hz only
    fast = dataclasses.replace(PRO, rate_min_hz=130, rate_max_hz=150)
    assert GOV.rate_range_for("home", fast) is None
    assert GOV.rate_range_for("clinician", fast) == (130, 150)


# --- What the operator reads back: the asked depth as asked, the days as whole days -----------


def _texts(depth: object, role: str = "clinician", **kw: object) -> str:
    d = GOV.decide(Request(role=role, zone="cheeks", depth_mm=depth, rate_hz=60, device=PRO, **kw))  # type: ignore[arg-type]
    return " ".join(f.text for f in d.findings)


@pytest.mark.parametrize(
    ("asked", "shown"),
    [
        (2.5, "2.50 mm is above"),
        (2.55, "2.55 mm is above"),
        (2.555, "2.555 mm is above"),
        (5, "5.00 mm is above"),
        (999_999, "999999.00 mm is above"),
        (1_000_000, "1.000e+6 mm is above"),
        (0.1, "0.10 mm is shallower"),
    ],
)
def test_a_depth_is_read_back_as_asked_with_at_least_two_decimals(asked: float, shown: str) -> None:
    assert shown in _texts(asked, override_reason="scar tissue, agreed with the patient")


@pytest.mark.parametrize(
    ("days", "shown"),
    [
        (0, "was less than a day ago"),
        (0.99, "was less than a day ago"),
        (1, "was 1 day ago"),
        (1.9, "was 1 day ago"),
        (2, "was 2 days ago"),
        (27.99, "was 27 days ago"),
    ],
)
def test_the_interval_says_how_many_whole_days_ago(days: float, shown: str) -> None:
    assert shown in _texts(0.5, last_session_days_ago=days)


def test_a_depth_on_the_pens_step_is_not_said_to_be_rounded() -> None:
    on_step = GOV.decide(
        Request(role="clinician", zone="cheeks", depth_mm=0.55, rate_hz=60, device=PRO)
    )
    assert [f.effect for f in on_step.findings] == [Effect.WITHIN, Effect.WITHIN]
    off_step = GOV.decide(
        Request(role="clinician", zone="cheeks", depth_mm=0.57, rate_hz=60, device=PRO)
    )
    rounded = [f for f in off_step.findings if f.effect is Effect.ROUND]
    assert len(rounded) == 1 and rounded[0].rule is Rule.DEPTH
    assert off_step.depth_um == 550 and "0.57 mm was rounded down to 0.55 mm" in rounded[0].text


# --- The override reason: its size limits, one character either side --------------------------


def test_a_reason_of_500_characters_is_kept_and_501_is_refused() -> None:
    assert check_override_reason("a" * 500) == "a" * 500
    assert check_override_reason("a" * 501) is None


def test_a_padded_reason_is_judged_after_cleaning_up_to_2000_characters_as_typed() -> None:
    # invisible characters do not count, but a paste of more than 2000 is refused unread
    padded = "why" + "\u200b" * 1997
    assert len(padded) == 2000
    assert check_override_reason(padded) == "why"
    assert check_override_reason(padded + "\u200b") is None


@pytest.mark.parametrize("not_text", [None, 42, b"scar tissue", ["scar tissue"]])
def test_a_reason_that_is_not_text_is_no_reason(not_text: object) -> None:
    assert check_override_reason(not_text) is None


@pytest.mark.parametrize(
    ("depth", "got"), [(float("nan"), "nan"), ("deep", "'deep'"), (None, "None")]
)
def test_a_depth_that_is_no_number_is_rejected_by_the_depth_rule_saying_what_came(
    depth: object, got: str
) -> None:
    d = GOV.decide(Request(role="clinician", zone="cheeks", depth_mm=depth, rate_hz=60, device=PRO))  # type: ignore[arg-type]
    assert d.outcome is Outcome.REJECTED and d.bound_by == "input"
    (finding,) = [f for f in d.findings if f.effect is Effect.REJECT]
    assert finding.rule is Rule.DEPTH
    assert f"(got {got})" in finding.text


# --- What each finding says about itself (the audit record and the UI read these fields) -------


def _decide(role: str, depth: float, reason: str | None = None, zone: str = "cheeks") -> Decision:
    return GOV.decide(
        Request(
            role=role, zone=zone, depth_mm=depth, rate_hz=60, device=PRO, override_reason=reason
        )
    )


def _effects(d: Decision) -> list[tuple[Rule, Effect, str | None]]:
    return [(f.rule, f.effect, f.bound_by) for f in d.findings]


def test_a_clinicians_recorded_override_is_a_depth_finding_bound_by_the_recommended_max() -> None:
    d = _decide("clinician", 1.5, "thick scar tissue, agreed")
    assert d.outcome is Outcome.ALLOWED and d.depth_um == 1500
    assert _effects(d)[0] == (Rule.DEPTH, Effect.OVERRIDDEN, "zone_recommended")
    assert d.override_reason == "thick scar tissue, agreed"


def test_an_aesthetician_within_the_limits_hears_nothing_about_overrides() -> None:
    d = _decide("aesthetician", 0.5)
    assert _effects(d) == [(Rule.DEPTH, Effect.WITHIN, None), (Rule.RATE, Effect.WITHIN, None)]
    with_reason = _decide("aesthetician", 0.5, "a reason nobody needs")
    assert _effects(with_reason) == _effects(d)


def test_an_aesthetician_past_the_recommended_max_is_clamped_and_told_a_reason_cannot_lift_it() -> (
    None
):
    plain = _decide("aesthetician", 1.5)
    assert plain.outcome is Outcome.CLAMPED and plain.depth_um == 1000
    assert _effects(plain) == [
        (Rule.DEPTH, Effect.CLAMP, "zone_recommended"),
        (Rule.RATE, Effect.WITHIN, None),
    ]
    reasoned = _decide("aesthetician", 1.5, "the client insists")
    assert reasoned.outcome is Outcome.CLAMPED and reasoned.depth_um == 1000
    assert reasoned.override_reason is None
    assert _effects(reasoned) == [
        (Rule.DEPTH, Effect.CLAMP, "zone_recommended"),
        (Rule.DEPTH, Effect.NOTE, "zone_recommended"),
        (Rule.RATE, Effect.WITHIN, None),
    ]
    assert "an override reason does not lift it" in reasoned.findings[1].text


def test_a_reason_does_not_earn_the_note_when_the_roles_own_cap_binds() -> None:
    # home on cheeks: the role's 0.5 mm cap binds before the zone's 1.0 mm recommended max
    d = _decide("home", 0.9, "the client insists")
    assert d.outcome is Outcome.CLAMPED and d.depth_um == 500
    assert _effects(d) == [(Rule.DEPTH, Effect.CLAMP, "role"), (Rule.RATE, Effect.WITHIN, None)]


def test_a_zone_whose_cap_is_shallower_than_the_pens_shallowest_setting_gets_no_depth() -> None:
    # a pen that cannot go shallower than 0.60 mm, on the periorbital zone (0.30 mm for an
    # aesthetician): nothing the pen can do is allowed there, so nothing is sent
    deep_pen = dataclasses.replace(PRO, depth_min_mm=0.6)
    d = GOV.decide(
        Request(role="aesthetician", zone="periorbital", depth_mm=0.7, rate_hz=60, device=deep_pen)
    )
    assert d.outcome is Outcome.REJECTED and not d.sendable
    assert d.bound_by == "zone_recommended"
    (rejection,) = [f for f in d.findings if f.effect is Effect.REJECT]
    assert (rejection.rule, rejection.bound_by) == (Rule.DEPTH, "zone_recommended")
    assert rejection.text.startswith("No depth is allowed on periorbital: the cap (0.30 mm)")
    assert GOV.cap_for("aesthetician", "periorbital", deep_pen) is None


@pytest.mark.parametrize(
    ("days", "shown"), [(-1, "(-1)"), (-0.5, "(-0.5)"), (float("nan"), "(nan)")]
)
def test_a_time_since_the_last_session_that_is_no_number_of_days_is_rejected_by_the_interval_rule(
    days: float, shown: str
) -> None:
    d = GOV.decide(
        Request(
            role="clinician",
            zone="cheeks",
            depth_mm=0.5,
            rate_hz=60,
            device=PRO,
            last_session_days_ago=days,
            override_reason="agreed with the patient",
        )
    )
    assert d.outcome is Outcome.REJECTED and d.bound_by == "interval"
    (rejection,) = [f for f in d.findings if f.effect is Effect.REJECT]
    assert rejection.rule is Rule.INTERVAL
    assert f"on cheeks {shown} is not a valid number of days" in rejection.text


def test_a_session_earlier_today_is_too_soon_not_an_invalid_time() -> None:
    for days in (0, 0.0, 0.5):
        d = GOV.decide(
            Request(
                role="home",
                zone="cheeks",
                depth_mm=0.3,
                rate_hz=60,
                device=HOME_PEN,
                last_session_days_ago=days,
            )
        )
        assert d.outcome is Outcome.REJECTED and d.bound_by == "interval"
        (rejection,) = [f for f in d.findings if f.effect is Effect.REJECT]
        assert "was less than a day ago, less than the 28 days" in rejection.text


def test_a_clinicians_reason_lifts_the_interval_and_says_so_as_an_interval_finding() -> None:
    asked = {"role": "clinician", "zone": "cheeks", "depth_mm": 0.5, "rate_hz": 60, "device": PRO}
    waiting = GOV.decide(Request(**asked, last_session_days_ago=10))  # type: ignore[arg-type]
    assert waiting.outcome is Outcome.NEEDS_OVERRIDE and waiting.bound_by == "interval"
    assert _effects(waiting) == [(Rule.INTERVAL, Effect.NEEDS_OVERRIDE, "interval")]
    lifted = GOV.decide(
        Request(**asked, last_session_days_ago=10, override_reason="skin healed, checked")  # type: ignore[arg-type]
    )
    assert lifted.outcome is Outcome.ALLOWED and lifted.depth_um == 500
    assert lifted.override_reason == "skin healed, checked"
    assert _effects(lifted)[0] == (Rule.INTERVAL, Effect.OVERRIDDEN, "interval")
    assert lifted.findings[0].text.endswith("; going ahead with the recorded reason.")


def _rate(rate: object, device: DeviceLimits = PRO, role: str = "clinician") -> Decision:
    return GOV.decide(Request(role=role, zone="cheeks", depth_mm=0.5, rate_hz=rate, device=device))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rate", "got"), [(float("nan"), "nan"), ("fast", "'fast'"), (None, "None")]
)
def test_a_rate_that_is_no_number_is_rejected_by_the_rate_rule_as_input(
    rate: object, got: str
) -> None:
    d = _rate(rate)
    assert d.outcome is Outcome.REJECTED and d.bound_by == "input"
    assert _effects(d)[-1] == (Rule.RATE, Effect.REJECT, "input")
    assert f"(got {got})" in d.findings[-1].text


def test_a_pen_whose_rates_miss_the_roles_range_gets_a_rate_rejection_bound_by_the_role() -> None:
    fast = dataclasses.replace(HOME_PEN, rate_min_hz=130, rate_max_hz=150)
    d = _rate(130, fast, role="home")
    assert d.outcome is Outcome.REJECTED and d.bound_by == "role_rate"
    assert _effects(d)[-1] == (Rule.RATE, Effect.REJECT, "role_rate")
    assert "(130-150 Hz) do not overlap" in d.findings[-1].text


def test_a_rate_below_the_lowest_is_rejected_naming_it_never_raised() -> None:
    d = _rate(10.5)
    assert d.outcome is Outcome.REJECTED and d.bound_by == "rate_min"
    assert _effects(d)[-1] == (Rule.RATE, Effect.REJECT, "rate_min")
    assert d.findings[-1].text.startswith("A rate of 10.5 Hz is below the lowest allowed, 25 Hz")
    assert _rate(25).rate_hz == 25 and _rate(24.99).outcome is Outcome.REJECTED


@pytest.mark.parametrize(
    ("device", "asked", "said", "bound_by"),
    [
        # the clinician's 150 Hz and this pen's 150 Hz tie: the role's limit is named
        (
            PRO,
            200,
            "A rate of 200 Hz is above the clinician role's maximum (150 Hz); clamped to 150 Hz.",
            "role_rate",
        ),
        (
            dataclasses.replace(PRO, rate_max_hz=100),
            120.5,
            "A rate of 120.5 Hz is above the pen's maximum (100 Hz); clamped to 100 Hz.",
            "device_rate",
        ),
    ],
)
def test_a_rate_above_the_maximum_is_clamped_naming_the_limit_that_binds(
    device: DeviceLimits, asked: float, said: str, bound_by: str
) -> None:
    d = _rate(asked, device)
    assert d.outcome is Outcome.CLAMPED and d.bound_by == bound_by
    assert _effects(d)[-1] == (Rule.RATE, Effect.CLAMP, bound_by)
    assert d.findings[-1].text == said


@pytest.mark.parametrize("reason", [42, b"why", ["why"]])
def test_an_override_reason_that_is_not_text_is_rejected_as_input(reason: object) -> None:
    d = _decide("clinician", 1.5, reason)  # type: ignore[arg-type]
    assert d.outcome is Outcome.REJECTED and d.bound_by == "input"
    assert _effects(d) == [(Rule.REQUEST, Effect.REJECT, "input")]
    assert d.findings[0].text == "The override reason must be text."


@pytest.mark.parametrize("reason", ["ab", "...", "a\u200bb"])
def test_an_override_reason_without_three_letters_is_rejected_with_the_rule(reason: str) -> None:
    d = _decide("clinician", 1.5, reason)
    assert d.outcome is Outcome.REJECTED and d.bound_by == "input"
    assert _effects(d) == [(Rule.REQUEST, Effect.REJECT, "input")]
    assert d.findings[0].text == REASON_RULE


def test_a_refusal_still_says_whose_limits_and_which_cap_applied() -> None:
    # the UI shows the cap in force beside a refusal or a request for a reason
    too_soon = GOV.decide(
        Request(
            role="clinician",
            zone="cheeks",
            depth_mm=0.5,
            rate_hz=60,
            device=HOME_PEN,
            last_session_days_ago=3,
        )
    )
    assert too_soon.outcome is Outcome.REJECTED
    assert (too_soon.effective_role, too_soon.cap_mm) == ("home", 0.5)
    waiting = _decide("clinician", 1.5)
    assert waiting.outcome is Outcome.NEEDS_OVERRIDE
    assert (waiting.effective_role, waiting.cap_mm, waiting.bound_by) == (
        "clinician",
        1.0,
        "zone_recommended",
    )


def test_the_decision_names_the_zone_and_the_cap_it_was_judged_against() -> None:
    d = _decide("clinician", 0.5)
    assert d.findings[0].text == "0.50 mm on cheeks is within the limits (cap 1.00 mm)."
    past_hard = _decide("clinician", 2.5, "deep acne scarring, agreed")
    assert past_hard.outcome is Outcome.CLAMPED and past_hard.depth_um == 2000
    assert past_hard.bound_by == "zone_hard"
    clamp = next(f for f in past_hard.findings if f.effect is Effect.CLAMP)
    assert clamp.text == "2.50 mm is above the hard max for cheeks (2.00 mm); clamped to 2.00 mm."


def test_the_built_in_home_ceiling_is_named_when_it_is_what_binds() -> None:
    # only a policy that skipped validation lets the home role ask past 1 mm: the ceiling binds
    base = default_policy()
    loose = Policy.model_construct(
        min_days_between_sessions=28,
        roles=base.roles.model_copy(
            update={"home": base.role("home").model_copy(update={"max_depth_mm": 3.0})}
        ),
        zones=base.zones,
    )
    d = Governor(loose).decide(
        Request(
            role="home",
            zone="cheeks",
            depth_mm=1.5,
            rate_hz=60,
            device=dataclasses.replace(PRO, depth_step_mm=0.001),
        )
    )
    assert d.outcome is Outcome.CLAMPED and d.depth_um == 999 and d.bound_by == "ceiling"
    clamp = next(f for f in d.findings if f.effect is Effect.CLAMP)
    assert "is above the built-in ceiling (0.999 mm); clamped to 0.999 mm." in clamp.text


def test_a_pen_that_starts_between_steps_is_used_from_its_next_step_and_says_so() -> None:
    # 0.27 mm is not on this pen's 0.05 mm grid: its shallowest setting is 0.30 mm
    pen = dataclasses.replace(PRO, depth_min_mm=0.27)
    d = GOV.decide(Request(role="clinician", zone="cheeks", depth_mm=0.28, rate_hz=60, device=pen))
    assert d.outcome is Outcome.REJECTED and d.bound_by == "depth_min"
    assert _effects(d)[0] == (Rule.DEPTH, Effect.REJECT, "depth_min")  # a depth finding
    assert d.to_json_dict()["findings"][0]["rule"] == "depth"  # as the audit record says
    assert "shallower than the shallowest setting allowed, 0.30 mm;" in d.findings[0].text
    ok = GOV.decide(Request(role="clinician", zone="cheeks", depth_mm=0.3, rate_hz=60, device=pen))
    assert ok.outcome is Outcome.ALLOWED and ok.depth_um == 300


@pytest.mark.parametrize(("zone", "shown"), [("chin", "'chin'"), (42, "42"), (None, "None")])
def test_an_unknown_zone_is_named_back_with_the_zones_there_are(zone: object, shown: str) -> None:
    d = GOV.decide(Request(role="clinician", zone=zone, depth_mm=0.5, rate_hz=60, device=PRO))  # type: ignore[arg-type]
    assert d.outcome is Outcome.REJECTED and d.bound_by == "zone"
    assert d.findings[0].text.startswith(f"Unknown zone {shown}: the zones are forehead, ")


def test_a_pen_reporting_an_absurdly_deep_minimum_is_refused_with_its_range() -> None:
    absurd = dataclasses.replace(PRO, depth_min_mm=10**13)
    d = GOV.decide(
        Request(role="clinician", zone="cheeks", depth_mm=0.5, rate_hz=60, device=absurd)
    )
    assert d.outcome is Outcome.REJECTED and d.bound_by == "device"
    assert d.findings[0].text == (
        "The pen reported a depth range (10000000000000 to 3.0 mm) with no setting in it."
    )


@pytest.mark.parametrize(
    ("rate_min", "rate_max", "usable"),
    [
        (25.0, 150.0, True),
        (25, 150.0, True),
        (25.5, 150, False),
        (25, float("inf"), False),
        (float("nan"), 150, False),
    ],
)
def test_a_pens_rates_are_usable_when_they_are_whole_numbers_even_written_as_floats(
    rate_min: float, rate_max: float, usable: bool
) -> None:
    pen = dataclasses.replace(PRO, rate_min_hz=rate_min, rate_max_hz=rate_max)  # type: ignore[arg-type]
    d = GOV.decide(Request(role="clinician", zone="cheeks", depth_mm=0.5, rate_hz=60, device=pen))
    assert (d.outcome is Outcome.ALLOWED) is usable
    if not usable:
        assert d.bound_by == "device" and "not two whole numbers in order" in d.findings[0].text


class _Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


@pytest.mark.parametrize(
    ("zone", "shown"),
    [
        (10**18, "1000000000000000000"),
        (10**18 + 1, "1.000e+18"),
        (-(10**18) - 1, "-1.000e+18"),
        ("x" * 38, "'" + "x" * 38 + "'"),  # 40 characters: shown whole
        ("x" * 39, "'" + "x" * 36 + "..."),  # 41: cut to 40
        (_Unprintable(), "a _Unprintable"),
    ],
)
def test_whatever_came_is_named_back_in_at_most_40_characters(zone: object, shown: str) -> None:
    d = GOV.decide(Request(role="clinician", zone=zone, depth_mm=0.5, rate_hz=60, device=PRO))  # type: ignore[arg-type]
    assert d.outcome is Outcome.REJECTED
    assert d.findings[0].text.startswith(f"Unknown zone {shown}: the zones are ")


# --- The pen's own limits as the governor reads them ---------------------------------------------


def _with(
    pen: DeviceLimits, role: str = "clinician", zone: str = "cheeks", depth: float = 0.5
) -> Decision:
    return GOV.decide(Request(role=role, zone=zone, depth_mm=depth, rate_hz=60, device=pen))


def test_a_device_class_given_as_the_protocols_enum_is_read_like_its_name() -> None:
    home = _with(dataclasses.replace(PRO, device_class=DeviceClass.HOME, depth_max_mm=0.95))  # type: ignore[arg-type]
    assert home.effective_role == "home" and home.depth_um == 500
    pro = _with(dataclasses.replace(PRO, device_class=DeviceClass.PROFESSIONAL))  # type: ignore[arg-type]
    assert pro.effective_role == "clinician" and pro.outcome is Outcome.ALLOWED


def test_an_unknown_device_class_is_named_back() -> None:
    d = _with(dataclasses.replace(PRO, device_class="tablet"))
    assert d.outcome is Outcome.REJECTED and d.bound_by == "device"
    assert d.findings[0].text.startswith("The pen's device class 'tablet' is neither")


def test_a_depth_step_of_exactly_3_mm_is_usable_and_one_micrometre_more_is_not() -> None:
    one_setting = dataclasses.replace(PRO, depth_min_mm=3.0, depth_max_mm=3.0, depth_step_mm=3.0)
    bench = _with(one_setting, role="engineer", zone="bench", depth=3.0)
    assert bench.outcome is Outcome.ALLOWED and bench.depth_um == 3000
    d = _with(dataclasses.replace(one_setting, depth_step_mm=3.001), role="engineer", zone="bench")
    assert d.outcome is Outcome.REJECTED and d.bound_by == "device"
    assert d.findings[0].text.startswith("The pen reported a depth step of 3.001 mm, which is not")


def test_a_pen_with_a_single_depth_setting_is_usable_at_it() -> None:
    single = dataclasses.replace(PRO, depth_min_mm=0.5, depth_max_mm=0.5)
    d = _with(single)
    assert d.outcome is Outcome.ALLOWED and d.depth_um == 500


def test_a_pen_whose_range_is_upside_down_is_refused_naming_both_ends() -> None:
    d = _with(dataclasses.replace(PRO, depth_min_mm=1.0, depth_max_mm=0.5))
    assert d.outcome is Outcome.REJECTED and d.bound_by == "device"
    assert (
        d.findings[0].text
        == "The pen reported a depth range (1.0 to 0.5 mm) with no setting in it."
    )


def test_past_the_recommended_max_without_a_reason_the_depth_rule_asks_for_one() -> None:
    d = _decide("clinician", 1.5)
    assert d.outcome is Outcome.NEEDS_OVERRIDE and not d.sendable
    assert _effects(d) == [(Rule.DEPTH, Effect.NEEDS_OVERRIDE, "zone_recommended")]
    assert "a clinician may go up to 2.00 mm with a recorded reason" in d.findings[0].text


def test_a_rate_range_that_is_not_whole_numbers_is_named_back() -> None:
    d = _with(dataclasses.replace(PRO, rate_min_hz=25.5))  # type: ignore[arg-type]
    assert d.findings[0].text == (
        "The pen reported a rate range (25.5 to 150 Hz) that is not two whole numbers in order."
    )


def test_a_pen_minimum_between_micrometres_is_rounded_up_never_down() -> None:
    # 0.2505 mm: the shallowest setting allowed is 0.251 mm, not 0.250 mm
    pen = dataclasses.replace(PRO, depth_min_mm=0.2505, depth_step_mm=0.001)
    d = _with(pen, depth=0.25)
    assert d.outcome is Outcome.REJECTED and d.bound_by == "depth_min"
    assert "the shallowest setting allowed, 0.251 mm;" in d.findings[0].text
    assert _with(pen, depth=0.251).depth_um == 251


def test_a_whole_number_of_millimetres_is_read_back_in_plain_digits() -> None:
    assert "100.00 mm is above" in _texts(100)
    assert "120.00 mm is above" in _texts(120.0)


def test_an_unforeseen_error_in_the_policy_is_a_rejection_naming_its_type() -> None:
    broken = Policy.model_construct()  # skipped validation, no roles or zones at all
    d = Governor(broken).decide(
        Request(role="clinician", zone="cheeks", depth_mm=0.5, rate_hz=60, device=PRO)
    )
    assert d.outcome is Outcome.REJECTED and not d.sendable
    assert d.findings[0].text == (
        "The governor could not evaluate this request (AttributeError), so nothing is sent."
    )


@pytest.mark.parametrize(
    ("thing", "name"), [("cheeks", "str"), (None, "NoneType"), (PRO, "DeviceLimits")]
)
def test_something_that_is_not_a_request_is_rejected_as_input_naming_its_type(
    thing: object, name: str
) -> None:
    d = GOV.decide(thing)  # type: ignore[arg-type]
    assert d.outcome is Outcome.REJECTED and d.bound_by == "input"
    assert d.findings[0].text == f"The request is not a governor request ({name})."


def test_an_unknown_role_is_named_back_with_the_roles_there_are() -> None:
    d = GOV.decide(Request(role="surgeon", zone="cheeks", depth_mm=0.5, rate_hz=60, device=PRO))
    assert d.outcome is Outcome.REJECTED and d.bound_by == "role"
    assert d.findings[0].text.startswith("Unknown role 'surgeon': the roles are ")


@pytest.mark.parametrize(
    ("device_class", "effective"),
    [
        ("home", "home"),
        (DeviceClass.HOME, "home"),
        ("professional", "clinician"),
        (DeviceClass.PROFESSIONAL, "clinician"),
    ],
)
def test_an_unusable_pen_is_rejected_under_the_role_its_class_would_force(
    device_class: object, effective: str
) -> None:
    # a home pen forces the home role even when its limits cannot be used: the UI shows home
    broken = dataclasses.replace(PRO, device_class=device_class, depth_step_mm=0)  # type: ignore[arg-type]
    d = _with(broken)
    assert d.outcome is Outcome.REJECTED and d.bound_by == "device"
    assert d.effective_role == effective
    assert _effects(d) == [(Rule.DEVICE, Effect.REJECT, "device")]
