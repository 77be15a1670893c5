"""Bugs the safety suite found in code QA does not own, pinned as strict xfails until fixed.

Each test states the correct behaviour. `strict=True`: the day the bug is fixed the test passes,
the xfail turns into a failure, and whoever fixed it removes the marker.
"""

from __future__ import annotations

import pytest

from tests.safety.harness import Rig


@pytest.mark.xfail(
    strict=True,
    reason=(
        "driver/pen.py set_rate: the rate is decided together with the current depth and no "
        "override reason (set_rate takes none), so once a clinician has gone past a zone's "
        "recommended max with a recorded reason, every rate change is needs_override and "
        "nothing is sent; the rate can only be changed by first coming back under the "
        "recommended max (fails safe, but blocks a legitimate treatment)"
    ),
)
def test_a_clinician_past_the_recommended_max_can_still_change_the_rate() -> None:
    rig = Rig(seed=3)
    try:
        pen = rig.connect("clinician").pen
        assert pen is not None
        pen.select_zone("cheeks")
        assert pen.set_depth(1.5, "deep acne scarring, consented").sendable
        decision = pen.set_rate(120)
        assert decision.sendable, decision.reasons
        assert rig.fw.rate_set_hz == 120
    finally:
        rig.close()
