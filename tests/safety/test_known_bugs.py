"""Bugs the safety suite found in code QA does not own, pinned as strict xfails until fixed.

Each test states the correct behaviour. `strict=True`: the day the bug is fixed the test passes,
the xfail turns into a failure, and whoever fixed it removes the marker.
"""

from __future__ import annotations

from tests.safety.harness import Rig


def test_events_between_status_frames_are_not_counted_as_lost() -> None:
    rig = Rig(seed=5)
    try:
        pen = rig.connect("home").pen
        assert pen is not None
        pen.select_zone("forehead")
        pen.set_depth(0.4)
        pen.set_rate(100)
        pen.start()  # EVENT STARTED
        rig.run(0.5)
        pen.stop()  # EVENT STOPPED
        rig.run(0.5)
        wire = rig.sim.link.pen_to_host.stats
        assert wire.dropped == wire.corrupted == wire.lost_to_cut == 0  # nothing was lost
        assert pen.link_stats.status_gaps == 0
    finally:
        rig.close()
