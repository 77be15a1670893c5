"""A busy host does not end a treatment; a hung host or UI still lets the pen's watchdog stop
the needle (issue 11, item 5; docs/SAFETY.md H41-H43).

The pen is `needlepen sim --pty` in its own process, as a real pen has its own processor; the
host is this test process. A host stall is made the way a full garbage collection of a big
heap makes one: one thread holds the GIL, so every other thread of the process (the link's
reader among them) waits. Assertions are on behaviour (the session survives, the needle
stops), not on speed.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator

import pytest

import protocol
from driver.errors import NotAllowed, SessionClosed
from driver.link import Link
from driver.link.transport import open_port
from driver.session import Pen
from driver.testing.sim import SimProcess
from protocol import State
from tests.helpers import wait_for


@pytest.fixture
def sim() -> Iterator[SimProcess]:
    with SimProcess("--pty", "--log-json", "--seed", "11") as proc:
        yield proc


def bare_link(path: str) -> Link:
    """A link with a session open on the pen and the heartbeat on (no Pen around it)."""
    link = Link(open_port(path), on_message=lambda m, s: None, on_lost=lambda e: None)
    link.start()
    answer = link.request(protocol.Hello(1, 7))
    assert isinstance(answer, protocol.Info)
    link.enable_heartbeat()
    return link


def hold_the_gil(seconds: float) -> None:
    """Keep every other thread of this process off the interpreter for `seconds`."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(seconds + 5.0)
    try:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pass
    finally:
        sys.setswitchinterval(old)


@pytest.fixture
def store(make_store):
    """A store with no operator: these are home sessions."""
    return make_store()


def trips(sim: SimProcess) -> int:
    return sum(1 for r in sim.records() if r["event"] == "WATCHDOG_TRIPPED")


def running(pen: Pen) -> None:
    pen.set_depth(0.5)
    pen.set_rate(100)
    pen.start()
    wait_for(lambda: pen.status and pen.status.state == State.RUNNING, 3.0, "RUNNING")


def test_a_host_stalled_for_600_ms_keeps_the_treatment_going(sim, store):
    """600 ms without a turn of the reader thread (twice the pen's watchdog): the heartbeat
    comes from a child process, so the pen's watchdog does not trip and the link holds."""
    with Pen.open(sim.port_line, role="home", zone="forehead", db=store) as pen:
        running(pen)
        time.sleep(0.3)
        for _ in range(3):
            hold_the_gil(0.6)
            time.sleep(0.4)
        assert trips(sim) == 0, sim.records()[-5:]
        assert pen.alive, pen.dead
        assert pen.status is not None and pen.status.state == State.RUNNING
        pen.stop()


def test_a_hung_ui_lets_the_pens_watchdog_stop_the_needle(sim, store):
    """A UI that keeps a lease and then hangs (its thread blocked for 2 s): the heartbeat
    ends, the pen's watchdog stops the needle and ends the session, and the host says so."""
    with Pen.open(sim.port_line, role="home", zone="forehead", db=store) as pen:
        running(pen)
        alive = threading.Event()
        alive.set()

        def ui() -> None:
            while alive.is_set():
                pen.keepalive()
                time.sleep(0.05)
            time.sleep(2.0)  # the UI thread blocked: no keepalive for 2 s

        thread = threading.Thread(target=ui, daemon=True)
        thread.start()
        time.sleep(0.5)
        alive.clear()
        sim.wait_record("WATCHDOG_TRIPPED", timeout=3.0)
        wait_for(lambda: isinstance(pen.dead, SessionClosed), 3.0, "the session to end")
        # From the end on, the host shows nothing or what the pen says now (NO_SESSION, as
        # STATUS keeps streaming), never the RUNNING it said before the trip.
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            st = pen.status
            assert st is None or st.state == State.NO_SESSION, st
            time.sleep(0.005)
        thread.join(timeout=3.0)


def test_a_hung_ui_on_the_in_process_pen_stops_the_needle_too(store):
    """sim:// has no child process (no file descriptor): the reader's own heartbeat obeys the
    UI's lease the same way."""
    with Pen.open("sim://?seed=12", role="home", zone="forehead", db=store) as pen:
        running(pen)
        for _ in range(10):
            pen.keepalive(0.3)
            time.sleep(0.05)
        wait_for(lambda: isinstance(pen.dead, SessionClosed), 3.0, "the watchdog's end")
        assert not pen.port.pen.firmware.needle_running


def test_stopping_the_heartbeat_on_a_pty_silences_the_child(sim):
    """`stop_heartbeat` (an unconfirmed e-stop, an unanswered pen) must silence the child at
    once: the pen's watchdog trips."""
    link = bare_link(sim.port_line)
    try:
        keeper = link.keeper
        assert keeper is not None
        wait_for(lambda: keeper.ready, 3.0, "the child")
        time.sleep(0.5)
        assert trips(sim) == 0 and keeper.beats > 0
        link.stop_heartbeat()
        sim.wait_record("WATCHDOG_TRIPPED", timeout=2.0)
    finally:
        link.close()


def test_a_stalled_reader_stops_the_child_after_its_lease(sim):
    """The child heartbeats only while the host's reader renews its lease: a host process
    whose threads do not run for longer than the lease (here: the GIL held for it, as a hung
    process holds it) lets the pen's watchdog trip, though the child itself never stopped."""
    link = bare_link(sim.port_line)
    keeper = link.keeper
    assert keeper is not None
    try:
        wait_for(lambda: keeper.ready, 3.0, "the child")
        link.stop_reading()  # the reader thread ends; nobody renews the lease
        sim.wait_record("WATCHDOG_TRIPPED", timeout=3.0)
        assert keeper.proc.poll() is None  # the child is still there, but silent
    finally:
        link.close()
    assert keeper.proc.poll() is not None  # and it ends with the link


@pytest.mark.parametrize("bad", [0, -1, 0.0, float("nan"), float("inf"), 6.0, True, "1", None])
def test_a_bad_keepalive_timeout_is_one_sentence_and_changes_nothing(store, bad):
    with Pen.open("sim://?seed=13", role="home", zone="forehead", db=store) as pen:
        with pytest.raises(NotAllowed, match=r"^A UI's keepalive timeout must be") as err:
            pen.keepalive(bad)
        assert str(err.value).count(".") == 1
        time.sleep(0.5)  # no UI lease was taken: the heartbeat goes on
        assert pen.alive, pen.dead
