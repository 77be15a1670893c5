"""Safety bugs the safety suite found and that were fixed: each stays pinned here."""

from __future__ import annotations

from contextlib import suppress

import pytest

from driver.errors import DriverError
from driver.testing.safety import Rig
from protocol import Hello, MsgType, SetDepth, SetRate, Start, State, encode
from simulator.firmware import Firmware, LogRecord, PenConfig


def test_watchdog_trips_on_time_whatever_the_float_clock_reads() -> None:
    """Found by the safety machine (fixed in simulator/firmware.py): the deadline was computed
    as last_rx + watchdog_ms but checked as now - last_rx >= watchdog_ms, and when float
    rounding made the difference fall one ulp short, the trip waited for the next tick, up to
    physics.max_step_ms (100 ms) late."""
    last_rx = 760.0000000000001  # a time a virtual clock stepping in 5 ms reaches
    assert (last_rx + 300) - last_rx < 300  # the rounding that hides the deadline
    fw = Firmware(PenConfig.professional(), seed=1, now_ms=last_rx)
    trips: list[LogRecord] = []
    fw.add_listener(lambda r: trips.append(r) if r.event == "WATCHDOG_TRIPPED" else None)
    for seq, msg in enumerate((Hello(1, 7), SetDepth(500), SetRate(100))):
        fw.feed(encode(msg, seq))
    fw.tick(last_rx + 40.0)  # the needle slews to 0.50 mm (START needs it there)
    fw.feed(encode(Start(), 3))
    last_rx += 40.0
    assert fw.state == State.RUNNING
    assert [a.type_code for a in fw.applied][-1] == MsgType.START
    fw.tick(last_rx + 299.0)
    assert fw.needle_running  # within the watchdog: still running, as it should
    fw.tick(last_rx + 400.0)  # one call, as a real-time loop or a coarse caller makes it
    assert len(trips) == 1
    assert trips[0].t_ms <= last_rx + 300.0 + 1e-6, (
        f"the watchdog tripped {trips[0].t_ms - last_rx:.1f} ms after the last frame"
    )


def test_a_failed_zone_change_clamp_never_leaves_the_needle_too_deep() -> None:
    """Found by the safety machine (fixed in driver/pen.py select_zone): the zone was switched
    before the clamping SET_DEPTH; when that command got no answer the driver reported the
    new zone while the pen kept running at the old zone's deeper depth. Now the zone changes
    only after the pen acknowledged the lower depth, and a lost clamp stops the needle."""
    rig = Rig(device="professional", seed=3, watchdog_ms=1000)
    try:
        pen = rig.connect("home").pen
        assert pen is not None
        pen.select_zone("cheeks")
        pen.set_depth(0.5)
        pen.set_rate(100)
        pen.start()
        rig.run(0.2)
        rig.sim.apply("drop:host=1")  # 200 ms of loss: exactly the clamp and its resends
        with pytest.raises(DriverError):
            pen.select_zone("periorbital")
        rig.sim.link.clear()
        rig.run(0.5)
        with suppress(DriverError):
            pen.set_rate(90)  # the operator carries on
        rig.run(0.5)
        running_too_deep = (
            rig.fw.needle_running
            and pen.zone == "periorbital"
            and rig.fw.depth_set_um > round((pen.cap_mm() or 0) * 1000)
        )
        assert not running_too_deep, (
            f"the needle runs at {rig.fw.depth_set_um} µm while the driver reports zone "
            f"{pen.zone} (cap {pen.cap_mm()} mm)"
        )
    finally:
        rig.close()


def test_events_between_status_frames_are_not_counted_as_lost() -> None:
    """Found by the soak benchmark (fixed in driver/link.py): the lost-frame counter compared
    consecutive STATUS seqs only, but STATUS and EVENT share the pen's counter, so every
    EVENT between two STATUS frames was counted as a lost STATUS."""
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


def test_a_clinician_past_the_recommended_max_can_still_change_the_rate() -> None:
    """Found by the safety suite (fixed in driver/pen.py set_rate): the rate was decided with
    the current depth and no override reason, so after a clinician's recorded override every
    rate change was needs_override and nothing was sent."""
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
