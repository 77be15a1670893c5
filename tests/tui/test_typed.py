"""Typed depths and rates (tui/typed.py) and depths with the pen's precision (tui/format.py)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from driver.safety import Decision, Effect, Finding, Outcome, Rule
from tui import format as fmt
from tui.typed import SAME, TypedValueError, parse_amount, proposal

PLAIN = re.compile(r"(?:[0-9]+(?:[.,][0-9]{0,3})?|[.,][0-9]{1,3})")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0,8", 0.8),
        ("0.8", 0.8),
        (" 1 ", 1.0),
        (".5", 0.5),
        (",25", 0.25),
        ("0.275", 0.275),
        ("3.", 3.0),
        ("100", 100.0),
    ],
)
def test_plain_numbers_with_a_point_or_a_comma(text, value):
    assert parse_amount(text, "mm") == value


@pytest.mark.parametrize(
    "text",
    [
        "-1",
        "1e3",
        "nan",
        "inf",
        "abc",
        "",
        "  ",
        "0.8mm",
        "0.2345",
        "1 2",
        "1,2,3",
        "+1",
        "0",
        "0,000",
        "0x10",
        "１",
        "1_000",
        "0..5",
        "٣",
    ],
)
def test_everything_else_is_refused_with_one_sentence(text):
    with pytest.raises(TypedValueError) as err:
        parse_amount(text, "mm")
    sentence = str(err.value)
    assert sentence.endswith(".") and "\n" not in sentence


@given(st.text(max_size=12))
def test_any_text_is_a_value_exactly_when_it_is_a_plain_positive_number(text):
    typed = text.strip()
    try:
        value = parse_amount(text, "mm")
    except TypedValueError:
        assert not PLAIN.fullmatch(typed) or float(typed.replace(",", ".")) == 0
        return
    assert PLAIN.fullmatch(typed)
    assert value == float(typed.replace(",", ".")) > 0  # no character was dropped


@given(
    st.decimals(min_value=Decimal("0.001"), max_value=Decimal("9999"), places=3),
    st.sampled_from([".", ","]),
)
def test_every_plain_number_reads_back_exactly(number, point):
    text = format(number, "f").replace(".", point)
    assert parse_amount(text, "mm") == float(number)


def _decision(outcome: Outcome, depth_mm: float | None, cap: float | None = 0.5, rate=None):
    return Decision(
        outcome=outcome,
        depth_mm=depth_mm,
        rate_hz=rate,
        depth_um=None if depth_mm is None else round(depth_mm * 1000),
        findings=(Finding(Rule.DEPTH, Effect.NOTE, "the governor's own sentence."),),
        effective_role="home",
        cap_mm=cap,
        bound_by="zone_recommended" if outcome is Outcome.CLAMPED else None,
        override_reason=None,
    )


def test_what_is_typed_and_allowed_is_sent_without_asking():
    p = proposal(0.4, _decision(Outcome.ALLOWED, 0.4), "mm")
    assert p.send == 0.4 and not p.confirm


def test_a_clamp_is_shown_and_confirmed_and_says_when_it_is_deeper_than_now():
    p = proposal(0.8, _decision(Outcome.CLAMPED, 0.5), "mm", running=0.3)
    assert p.send == 0.5 and p.confirm
    assert p.sentence.startswith("This will set 0.50 mm, not 0.80 mm")
    assert "more than the 0.30 mm in force now" in p.sentence


def test_rounding_to_the_pens_step_is_shown_with_its_precision():
    p = proposal(0.29, _decision(Outcome.ALLOWED, 0.275, cap=0.5), "mm", step_um=25)
    assert p.confirm and "This will set 0.275 mm, not 0.290 mm" in p.sentence
    assert "0.025 mm steps" in p.sentence


def test_refused_and_needs_a_reason_send_nothing():
    refused = proposal(0.4, _decision(Outcome.REJECTED, None), "mm")
    assert refused.send is None and "the governor's own sentence." in refused.sentence
    asks = proposal(0.7, _decision(Outcome.NEEDS_OVERRIDE, None), "mm")
    assert asks.send is None and asks.needs_reason


@given(
    st.floats(min_value=0.001, max_value=10),
    st.floats(min_value=0.25, max_value=3),
    st.sampled_from([Outcome.ALLOWED, Outcome.CLAMPED]),
    st.one_of(st.none(), st.floats(min_value=0.25, max_value=3)),
)
def test_a_value_other_than_the_typed_one_is_never_sent_unconfirmed(typed, allowed, outcome, now):
    assume(outcome is Outcome.CLAMPED or allowed <= typed + SAME)
    p = proposal(typed, _decision(outcome, allowed, cap=allowed), "mm", running=now)
    assert p.send == allowed
    if abs(allowed - typed) >= SAME:
        assert p.confirm and p.sentence.startswith("This will set")


def test_rates_are_proposed_in_whole_hertz():
    p = proposal(99.5, _decision(Outcome.ALLOWED, None, rate=99), "Hz", running=100.0)
    assert p.send == 99 and p.confirm and "This will set 99 Hz, not 99.5 Hz" in p.sentence


@pytest.mark.parametrize(
    ("value", "step", "shown"),
    [
        (0.275, 25, "0.275 mm"),
        (0.25, 25, "0.250 mm"),
        (0.5, 10, "0.50 mm"),
        (0.5, None, "0.50 mm"),
        (0.275, None, "0.275 mm"),
        (1.0, 100, "1.00 mm"),
        (None, 25, "—"),
    ],
)
def test_depths_have_the_pens_precision(value, step, shown):
    assert fmt.mm(value, step) == shown
