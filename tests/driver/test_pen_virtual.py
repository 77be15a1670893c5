"""The real driver against the simulator on a virtual clock: no threads, no sleeping."""

from __future__ import annotations

import pytest

from driver.errors import LinkLost, SessionClosed
from driver.pen import Pen
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
