"""The governor's answers at the edges a mutation run found untested (docs/QA.md, `make
mutate`): each test states what an operator or the UI relies on, one step either side of a
limit."""

from __future__ import annotations

import dataclasses

import pytest

from driver.safety import DeviceLimits, Governor, Outcome, Request
from driver.safety.policy import default_policy

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
    assert GOV.decide(Request(role=role, zone="cheeks", depth_mm=0.3, rate_hz=60, device=device)
                      ).outcome is Outcome.REJECTED


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
