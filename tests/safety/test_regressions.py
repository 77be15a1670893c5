"""Safety bugs the safety suite found and that were fixed: each stays pinned here."""

from __future__ import annotations

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
    for seq, msg in enumerate((Hello(1, 7), SetDepth(500), SetRate(100), Start())):
        fw.feed(encode(msg, seq))
    assert fw.state == State.RUNNING
    assert [a.type_code for a in fw.applied][-1] == MsgType.START
    fw.tick(last_rx + 299.0)
    assert fw.needle_running  # within the watchdog: still running, as it should
    fw.tick(last_rx + 400.0)  # one call, as a real-time loop or a coarse caller makes it
    assert len(trips) == 1
    assert trips[0].t_ms <= last_rx + 300.0 + 1e-6, (
        f"the watchdog tripped {trips[0].t_ms - last_rx:.1f} ms after the last frame"
    )
