"""Bugs the safety suite found in code QA does not own, pinned as strict xfails until fixed.

Each test states the correct behaviour. `strict=True`: the day the bug is fixed the test passes,
the xfail turns into a failure, and whoever fixed it removes the marker.
"""

from __future__ import annotations

from tests.safety.harness import Rig


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
