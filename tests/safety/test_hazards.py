"""Hazard scenarios, each a fixed script on the safety rig with every invariant of the safety
machine checked after each step (Rig.check_all): the cases docs/SAFETY.md cites by name."""

from __future__ import annotations

import math
from contextlib import suppress

import pytest

from driver.errors import DriverError, LinkLost, PenRebooted, SessionClosed
from driver.safety import Decision
from driver.safety.policy import ZONE_NAMES
from driver.session import Pen
from driver.testing.safety import HOME_LIMIT_UM, Rig
from protocol import State


@pytest.fixture
def rigs():
    made: list[Rig] = []

    def make(**kwargs: object) -> Rig:
        rig = Rig(**kwargs)  # type: ignore[arg-type]
        made.append(rig)
        return rig

    yield make
    for rig in made:
        rig.close()


def running_deep(rig: Rig, zone: str = "cheeks", depth: float = 1.5) -> Pen:
    """A clinician treating `zone` at `depth` (with a recorded reason), needle running."""
    session = rig.connect("clinician")
    pen = session.pen
    assert pen is not None
    pen.select_zone(zone)
    session.override_zones.add(zone)
    pen.set_rate(120)
    pen.set_depth(depth, "deep acne scarring, consented")
    pen.start()
    rig.run(0.2)
    assert rig.fw.needle_running
    rig.check_all()
    return pen


@pytest.mark.parametrize(
    "faults",
    [["drop=0.3"], ["corrupt=0.3"], ["dup=0.5"], ["drop=0.1", "corrupt=0.1", "dup=0.3"]],
)
def test_damaged_lost_and_repeated_frames_apply_each_command_once_and_audited(
    rigs, faults: list[str]
) -> None:
    rig = rigs(seed=11, watchdog_ms=1000)  # a long watchdog: the link, not the pen, is tested
    running_deep(rig)
    pen = rig.pen
    assert pen is not None
    for fault in faults:
        rig.sim.apply(fault)
    done = 0
    for depth in (0.5, 0.75, 1.0, 1.25, 0.6, 0.9, 1.1, 0.8):
        try:
            got = pen.set_depth(depth, "deep acne scarring, consented")
        except DriverError:
            got = None
        if isinstance(got, Decision):
            done += 1
            assert rig.fw.depth_set_um == got.depth_um
        rig.run(0.05)
        rig.check_all()  # once, governed, decision committed first, chain verifies
        if pen.dead is not None:
            break
    assert done >= 3, "the bad link let too few commands through to test anything"


@pytest.mark.parametrize("watchdog_ms", [150, 300, 1000])
def test_a_killed_host_leaves_the_pen_to_stop_itself_within_its_watchdog(
    rigs, watchdog_ms: int
) -> None:
    rig = rigs(seed=12, watchdog_ms=watchdog_ms)
    running_deep(rig)
    assert rig.current is not None
    rig.current.abandoned = True  # the host process is gone: no reads, no heartbeat, no STOP
    rig.run(watchdog_ms / 1000 + 0.05, poll=False)  # check_watchdog at every 5 ms
    assert not rig.fw.needle_running
    assert rig.fw.depth_set_um == rig.config.depth_min_um
    assert rig.watchdog_trips and rig.watchdog_trips[-1][1] <= watchdog_ms + 1
    rig.check_all()


def test_a_home_pen_never_reaches_1_mm_whatever_anyone_asks(rigs) -> None:
    rig = rigs(device="home", seed=13)
    session = rig.connect("clinician")  # a clinician's login: the home pen forces home
    pen = session.pen
    assert pen is not None and pen.role == "home"
    asks = [0.95, 0.999, 1.0, 1.5, 3.0, math.inf, math.nan, -1.0, 10**9]
    for zone in ZONE_NAMES:
        try:
            pen.select_zone(zone)
        except DriverError:
            continue
        for depth in asks:
            for reason in (None, "I insist"):
                with suppress(DriverError):
                    pen.set_depth(depth, reason)
                assert rig.fw.depth_set_um < HOME_LIMIT_UM
                rig.check_all()
    with pytest.raises(DriverError):
        pen.select_zone("bench")


def test_a_pen_reboot_mid_treatment_resets_the_depth_and_nothing_resumes(rigs) -> None:
    rig = rigs(seed=14)
    pen = running_deep(rig)
    rig.sim.apply("reboot@0ms", from_now=True)
    rig.run(1.0)
    assert not rig.fw.needle_running and rig.fw.state == State.NO_SESSION
    assert rig.fw.depth_set_um == rig.config.depth_min_um
    assert isinstance(pen.dead, PenRebooted | LinkLost)
    with pytest.raises((PenRebooted, LinkLost, SessionClosed)):
        pen.set_depth(0.5)
    rig.run(2.0)
    assert not rig.fw.needle_running  # never resumes by itself
    rig.check_all()


def test_estop_still_reaches_the_pen_from_a_dead_session(rigs) -> None:
    rig = rigs(seed=15, watchdog_ms=1000)
    pen = running_deep(rig)
    rig.sim.apply("cut@0ms:400ms", from_now=True)
    rig.run(0.45)  # the host declares the link lost; the pen (1 s watchdog) still runs
    assert isinstance(pen.dead, LinkLost) and rig.fw.needle_running
    pen.estop()  # a dead session still writes the e-stop to the port
    rig.sync()
    assert not rig.fw.needle_running and rig.fw.state == State.ESTOP
    rig.check_all()
