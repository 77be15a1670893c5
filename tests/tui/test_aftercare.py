"""Aftercare instructions and downtime by depth (driver/aftercare.py)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driver.safety.aftercare import AFTERCARE, Downtime, downtime, instructions


@pytest.mark.parametrize(
    ("depth", "days"),
    [
        (0.2, (2, 3)),
        (0.25, (2, 3)),
        (0.5, (2, 3)),
        (0.55, (4, 5)),  # between the bands: the next band up, never less downtime
        (0.8, (4, 5)),
        (1.0, (4, 5)),
        (1.5, (4, 5)),
        (1.55, (6, 7)),
        (2.0, (6, 7)),
        (3.0, (6, 7)),
        (3.05, (6, 7)),  # past every band (never sent): the deepest band
        (1e300, (6, 7)),
    ],
)
def test_downtime_bands(depth, days):
    band = downtime(depth)
    assert band == Downtime(*days)


@pytest.mark.parametrize("bad", [0, 0.0, -0.5, math.nan, math.inf, -math.inf, None, "0.5", True])
def test_no_downtime_for_what_is_no_depth(bad):
    assert downtime(bad) is None


@given(a=st.floats(0.001, 10), b=st.floats(0.001, 10))
def test_downtime_never_shrinks_as_the_depth_grows(a, b):
    lo, hi = sorted((a, b))
    assert downtime(lo).min_days <= downtime(hi).min_days  # type: ignore[union-attr]


@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(), st.none()))
def test_downtime_is_total(value):
    result = downtime(value)  # type: ignore[arg-type]
    assert result is None or isinstance(result, Downtime)


def test_instructions_use_the_deepest_depth_and_the_interval():
    lines = instructions([0.5, 1.25, float("nan")], 28)
    assert lines[0] == "After 1.25 mm expect about 4 to 5 days of downtime."
    assert lines[1 : 1 + len(AFTERCARE)] == list(AFTERCARE)
    assert "no sooner than 4 weeks" in lines[-1]
    text = " ".join(lines).lower()
    for must in ("sunscreen", "retinoids", "make-up", "moisturiser"):
        assert must in text


def test_instructions_without_depths_still_give_the_aftercare():
    assert instructions([]) == list(AFTERCARE)
    assert "no sooner than 30 days" in instructions([], 30)[-1]


def test_aftercare_comes_from_what_was_delivered_not_from_set_points():
    from driver.safety.aftercare import Delivered, delivered_instructions

    lines = delivered_instructions(
        [Delivered("forehead", 800, 0.5), Delivered("cheeks", 0, 1.5)], 28
    )
    assert lines[0] == "After 0.50 mm expect about 2 to 3 days of downtime."  # cheeks: 0 stamps
    assert lines[1:6] == list(AFTERCARE)


@pytest.mark.parametrize(
    ("delivered", "blocked"),
    [
        ([], False),  # nothing treated
        ([("forehead", 0, 0.5)], False),  # a 0-stamp session
        ([("bench", 5000, 3.0)], False),  # a bench session: no skin
        ([("forehead", 800, 0.5)], True),  # the screening blocked the session
    ],
)
def test_no_client_aftercare_when_nothing_reached_skin(delivered, blocked):
    from driver.safety.aftercare import Delivered, delivered_instructions

    zones = [Delivered(z, n, d) for z, n, d in delivered]
    assert delivered_instructions(zones, 28, blocked=blocked) == []


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["forehead", "cheeks", "bench"]),
            st.integers(min_value=-5, max_value=10_000),
            st.floats(allow_nan=True, allow_infinity=True),
        ),
        max_size=6,
    )
)
def test_the_deepest_delivered_skin_depth_sets_the_downtime(zones):
    from driver.safety.aftercare import Delivered, delivered_instructions

    lines = delivered_instructions([Delivered(*z) for z in zones])
    skin = [d for z, n, d in zones if z != "bench" and n > 0 and downtime(d) is not None]
    if not skin:
        assert lines == []
    else:
        band = downtime(max(skin))
        assert band is not None and lines[0] == band.sentence(max(skin))


def test_a_pens_fine_step_shows_in_the_downtime_sentence():
    assert Downtime(2, 3).sentence(0.275).startswith("After 0.275 mm")


def test_an_absurd_delivered_depth_still_gets_a_sentence_not_an_overflow():
    """Hypothesis found it: 1.8e305 mm times 1000 is infinite, and rounding it raised."""
    from driver.safety.aftercare import Delivered, delivered_instructions

    lines = delivered_instructions([Delivered("forehead", 1, 1.797693134862316e305)])
    assert lines[0] == "After 1.8e+305 mm expect about 6 to 7 days of downtime."
