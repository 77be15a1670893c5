"""The real driver against the simulator on a virtual clock: no threads, no sleeping."""

from __future__ import annotations

import pytest

from driver.errors import LinkLost, NoAnswer, NotAllowed, SessionClosed
from driver.session import Pen
from protocol import State
from simulator.firmware import PenConfig
from simulator.simulation import Simulation
from simulator.virtual import VirtualClock, VirtualPort


def open_virtual(store, seed=1, faults=(), **begin):
    clock = VirtualClock()
    sim = Simulation(PenConfig.professional(), seed=seed, faults=faults)
    port = VirtualPort(sim, clock)
    pen = Pen.connect("virtual", db=store, port=port, clock=clock.now, idle=clock.advance)
    pen.begin(**(begin or {"role": "home"}))
    return pen, sim, clock


def run_for(pen, clock, seconds, step=0.005):
    end = clock.now() + seconds
    while clock.now() < end:
        clock.advance(step)
        pen.poll()


def test_an_hour_of_treatment_in_virtual_time(store):
    pen, sim, clock = open_virtual(store)
    try:
        pen.select_zone("forehead")
        pen.set_depth(0.5)
        pen.set_rate(100)
        pen.start()
        run_for(pen, clock, 60.0, step=0.01)  # a minute of pen time, with heartbeats
        assert sim.firmware.state == State.RUNNING
        assert sim.firmware.stamps > 5000  # ~100 Hz for a minute
        assert pen.status is not None and pen.status.state == State.RUNNING
        pen.stop()
    finally:
        pen.close()


def test_a_silent_host_is_stopped_by_the_pen_watchdog(store):
    pen, sim, clock = open_virtual(store, seed=2)
    try:
        pen.select_zone("forehead")
        pen.set_depth(0.5)
        pen.set_rate(100)
        pen.start()
        t0 = clock.now()
        # the host hangs: no poll, no heartbeat; only time passes for the pen
        while sim.firmware.needle_running:
            clock.advance(0.001)
            sim.tick(clock.now() * 1000)
        assert (clock.now() - t0) * 1000 <= sim.config.watchdog_ms + 101  # + one heartbeat
        assert sim.firmware.state == State.NO_SESSION
        run_for(pen, clock, 0.5)
        assert pen.dead is not None
        with pytest.raises((LinkLost, SessionClosed)):
            pen.set_depth(0.4)
    finally:
        pen.close()


def test_link_cut_is_noticed_after_300_ms_of_silence(store):
    pen, sim, clock = open_virtual(store, seed=3)
    try:
        run_for(pen, clock, 0.2)
        sim.apply("cut@0ms:2s", from_now=True)
        t0 = clock.now()
        while pen.dead is None:
            clock.advance(0.001)
            pen.poll()
        silent_ms = (clock.now() - t0) * 1000
        assert 250 <= silent_ms <= 300 + 60  # last STATUS before the cut + 300 ms
        assert isinstance(pen.dead, LinkLost)
    finally:
        pen.close()


def test_a_zone_change_whose_clamp_is_lost_never_leaves_the_needle_too_deep(store):
    """The clamp to the new zone's cap gets no answer: the zone does not change, and the needle
    is stopped (here even STOP is lost, so the host stops its heartbeat and the pen's watchdog
    stops the needle)."""
    clock = VirtualClock()
    sim = Simulation(PenConfig.professional(watchdog_ms=1000), seed=3)
    port = VirtualPort(sim, clock)
    pen = Pen.connect("virtual", db=store, port=port, clock=clock.now, idle=clock.advance)
    try:
        pen.begin(role="clinician", operator="c1", pin="1234", client="P-1")
        pen.select_zone("cheeks")
        pen.set_depth(1.0)
        pen.set_rate(100)
        pen.start()
        run_for(pen, clock, 0.2)
        sim.apply("drop:host=1")  # every host frame from now on is lost
        with pytest.raises(NotAllowed, match="zone stays cheeks"):
            pen.select_zone("periorbital")
        assert pen.zone == "cheeks"
        assert pen.dead is not None
        sim.link.clear()
        t0 = clock.now()
        while sim.firmware.needle_running:
            clock.advance(0.005)
            pen.poll()  # the host keeps running, but sends no heartbeat any more
            assert clock.now() - t0 < 2.0, "the pen was never stopped"
        assert sim.firmware.depth_set_um <= 1000
        assert "zone_change_failed" in [r.kind for r in store.records(pen.session_id)]
    finally:
        pen.close()


def test_a_depth_sent_without_answer_counts_as_possibly_applied(store):
    """set_depth's ACK is lost but the pen applied it: a later zone change still clamps."""
    pen, sim, _clock = open_virtual(
        store, seed=4, role="clinician", operator="c1", pin="1234", client="P-1"
    )
    try:
        pen.select_zone("cheeks")
        pen.set_depth(0.5)
        sim.apply("drop:pen=1")  # answers are lost; commands still arrive
        with pytest.raises(NoAnswer):
            pen.set_depth(1.0)
        assert sim.firmware.depth_set_um == 1000  # applied, though unconfirmed
        sim.link.clear()
        d = pen.select_zone("forehead")
        assert d is not None and d.depth_um == 500
        assert sim.firmware.depth_set_um == 500
    finally:
        pen.close()
