"""What the host makes of the pen's telemetry and events (driver/session/reader.py), one case
per rule (found untested by `make mutate`; docs/QA.md, group pen-checks): what it records
(`pen_state`, `progress`, `pen_event`, `reboot`, `link_lost`, `pen_contradiction`; the fields
docs/AUDIT.md lists), what it tells subscribers, when it decides the pen rebooted, and when it
answers a pen that contradicts it with an e-stop.

Everything runs on a virtual clock in whole 1/1024 s ticks (differences of its readings are
exact, so "every 5 s" can be checked to the STATUS) against the simulated pen, behind a wire
that can slip in frames of its own (a pen that lies) or go silent (a cut)."""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import protocol
from driver.audit import AuditStore, Interruption
from driver.errors import LinkLost, PenRebooted, SessionClosed
from driver.session import Lifecycle, Pen, PenUpdate
from driver.testing.safety.parts import scratch_dir
from protocol import EventCode, Fault, State
from simulator.firmware import PenConfig
from simulator.simulation import Simulation
from simulator.virtual import VirtualPort

U32 = 1 << 32
HALF = 1 << 31


class TickClock:
    """Virtual seconds in whole ticks of 1/1024 s (at least one tick per advance)."""

    def __init__(self, start_s: int = 1000) -> None:
        self.ticks = start_s * 1024

    def now(self) -> float:
        return self.ticks / 1024

    def advance(self, seconds: float) -> None:
        if seconds > 0:
            self.ticks += max(1, round(seconds * 1024))


class Wire:
    """The host's end of the wire to the simulated pen; it can slip frames of its own to the
    host (they come before anything the pen sent since) and cut the pen's side."""

    def __init__(self, inner: VirtualPort) -> None:
        self.inner = inner
        self.extra = bytearray()
        self.cut = False

    def inject(self, msg: protocol.Message, seq: int = 60000) -> None:
        self.extra += protocol.encode(msg, seq)

    @property
    def in_waiting(self) -> int:
        if self.cut:
            self.inner.read(self.inner.in_waiting)  # lost on the cut wire
        return len(self.extra) + (0 if self.cut else self.inner.in_waiting)

    def read(self, size: int = 1) -> bytes:
        if self.extra:
            out = bytes(self.extra[:size])
            del self.extra[:size]
            return out
        if self.cut:
            self.inner.read(self.inner.in_waiting)
            return b""
        return self.inner.read(size)

    def write(self, data: bytes, /) -> int:
        return self.inner.write(data)

    def close(self) -> None:
        self.inner.close()


class Bench:
    """A professional simulated pen, a store, a home session on the forehead at 0.5 mm and
    100 Hz (not started), every update and every STATUS's host time kept."""

    def __init__(self, directory: Path) -> None:
        self.store = AuditStore(directory / "audit.db", scrypt_n=16)
        self.clock = TickClock()
        self.sim = Simulation(PenConfig.professional(), seed=5)
        self.wire = Wire(VirtualPort(self.sim, self.clock))  # type: ignore[arg-type]
        self.pen = Pen.connect(
            "virtual://edges",
            db=self.store,
            port=self.wire,
            clock=self.clock.now,
            idle=self.clock.advance,
        )
        self.updates: list[PenUpdate] = []
        #: (host time, STATUS) of every STATUS published
        self.seen: list[tuple[float, protocol.Status]] = []
        self.pen.subscribe(self._note)
        self.pen.begin(role="home")
        self.pen.select_zone("forehead")
        self.pen.set_depth(0.5)
        self.pen.set_rate(100)
        self.run(0.1)

    def _note(self, update: PenUpdate) -> None:
        self.updates.append(update)
        if update.kind == "status" and update.status is not None:
            self.seen.append((self.clock.now(), update.status))

    def run(self, seconds: float, step_ticks: int = 5) -> None:
        """Let `seconds` pass, the host's reader turning every `step_ticks` (5: about 5 ms)."""
        end = self.clock.ticks + round(seconds * 1024)
        while self.clock.ticks < end:
            self.clock.ticks += step_ticks
            self.pen.poll()

    def records(self, kind: str) -> list[dict[str, object]]:
        return [r.data for r in self.store.records() if r.kind == kind]

    def kinds(self, kind: str) -> list[PenUpdate]:
        return [u for u in self.updates if u.kind == kind]

    def lie(self, **changes: object) -> protocol.Status:
        """Slip in the pen's last STATUS with `changes`, and let the host read it."""
        assert self.pen.last_status is not None
        msg = dataclasses.replace(self.pen.last_status, **changes)  # type: ignore[arg-type]
        self.wire.inject(msg)
        self.run(0.02)
        return msg


@pytest.fixture
def bench() -> Iterator[Bench]:
    # the store in RAM where there is some: the same SQLite code without the disk's fsync
    with tempfile.TemporaryDirectory(prefix="needlepen-edges-", dir=scratch_dir()) as tmp:
        b = Bench(Path(tmp))
        yield b
        b.pen.close()
        b.store.close()


# --- what the host keeps and tells of each STATUS --------------------------------------------


def test_every_status_is_published_and_is_the_pens_present_state(bench: Bench) -> None:
    statuses = [u.status for u in bench.kinds("status")]
    assert len(statuses) >= 2 and all(isinstance(s, protocol.Status) for s in statuses)
    assert all(u.message == "" and u.event is None for u in bench.kinds("status"))
    now = bench.pen.status
    assert now is statuses[-1] and bench.pen.last_status is statuses[-1]
    assert now is not None and now.depth_set_um == 500 and now.state == State.IDLE


def test_a_change_of_state_is_recorded_once_with_what_the_pen_reported(bench: Bench) -> None:
    assert bench.records("pen_state") == []  # nothing changed yet
    bench.pen.start()
    bench.run(1.0)
    bench.pen.stop()
    bench.run(0.5)
    states = bench.records("pen_state")
    assert [(s["from"], s["state"]) for s in states] == [("IDLE", "RUNNING"), ("RUNNING", "IDLE")]
    last = bench.pen.last_status
    assert last is not None and last.stamps > 0
    assert states[1] == {
        "state": "IDLE",
        "from": "RUNNING",
        "faults": 0,
        "depth_set_um": 500,
        "stamps": last.stamps,  # a run's stamps, counted to its end
    }


def test_a_change_of_the_faults_alone_is_a_change_of_state(bench: Bench) -> None:
    bench.lie(faults=Fault.BATTERY_LOW)
    states = bench.records("pen_state")
    assert [(s["from"], s["state"], s["faults"]) for s in states] == [
        ("IDLE", "IDLE", int(Fault.BATTERY_LOW))
    ]


def _progress(status: protocol.Status) -> dict[str, object]:
    return {
        "zone": "forehead",
        "stamps": status.stamps,
        "depth_actual_um": status.depth_actual_um,
        "depth_set_um": 500,
        "rate_actual_hz": status.rate_actual_hz,
    }


def test_progress_is_recorded_from_the_first_status_of_a_run_never_while_idle(
    bench: Bench,
) -> None:
    assert bench.records("progress") == []
    start = len(bench.seen)
    bench.pen.start()
    bench.run(1.0)
    first = next(s for _, s in bench.seen[start:] if s.state == State.RUNNING)
    assert bench.records("progress") == [_progress(first)]


def test_progress_is_recorded_every_5_s_of_running(bench: Bench) -> None:
    start = len(bench.seen)
    bench.pen.start()
    bench.run(10.2, step_ticks=10)
    running = [(t, s) for t, s in bench.seen[start:] if s.state == State.RUNNING]
    at = dict(running)
    t0 = running[0][0]
    # the first STATUS in RUNNING, then the STATUS exactly 5 s and 10 s later (not one after)
    expected = [at[t0], at[t0 + 5.0], at[t0 + 10.0]]
    progress = bench.records("progress")
    assert progress == [_progress(s) for s in expected]
    assert len({p["stamps"] for p in progress}) == 3


def test_time_on_the_zone_ends_when_the_pen_stops_the_needle_itself(bench: Bench) -> None:
    bench.pen.start()
    bench.run(2.0)
    bench.sim.apply("overheat@0ms", from_now=True)
    bench.run(3.0)
    assert bench.pen.status is not None and bench.pen.status.state == State.FAULT
    assert 1.9 <= bench.pen.zone_seconds["forehead"] <= 2.2


# --- events ------------------------------------------------------------------------------------


def test_an_event_is_recorded_and_published_and_ends_nothing(bench: Bench) -> None:
    event = protocol.Event(EventCode.FAULT_RAISED, int(Fault.OVERTEMP))
    bench.wire.inject(event, seq=4321)
    bench.run(0.05)
    assert bench.records("pen_event") == [
        {"code": "FAULT_RAISED", "detail": int(Fault.OVERTEMP), "seq": 4321}
    ]
    (update,) = bench.kinds("event")
    assert update.message == "FAULT_RAISED" and update.event == event
    assert bench.pen.dead is None and bench.pen.lifecycle is Lifecycle.IN_SESSION


def test_a_boot_event_ends_the_session_as_a_reboot(bench: Bench) -> None:
    bench.wire.inject(protocol.Event(EventCode.BOOT, 0))
    bench.run(0.05)
    sentence = "The pen rebooted; the session is over, start again."
    assert isinstance(bench.pen.dead, PenRebooted) and str(bench.pen.dead) == sentence
    assert bench.pen.interruption is Interruption.PEN_REBOOTED
    assert bench.records("reboot") == [{"message": sentence}]
    assert [u.message for u in bench.kinds("rebooted")] == [sentence]
    # the pen's telemetry after it is history, not the state of this session's pen
    seen = len(bench.seen)
    bench.run(0.2)
    assert len(bench.seen) > seen and bench.pen.status is None
    assert bench.pen.last_status is bench.seen[-1][1]


def test_a_rebooted_pen_is_no_longer_judged_against_the_ended_session(bench: Bench) -> None:
    bench.wire.inject(protocol.Event(EventCode.BOOT, 0))
    bench.run(0.05)
    bench.lie(depth_set_um=900, depth_actual_um=900)  # its own set-point after the boot
    assert bench.kinds("contradiction") == [] and bench.records("pen_contradiction") == []
    assert not bench.sim.firmware.estop_latched


def test_the_pens_watchdog_ends_the_session_and_its_telemetry_stays_current(
    bench: Bench,
) -> None:
    bench.clock.advance(0.5)  # the host hangs: no heartbeat, the pen's watchdog trips
    bench.run(0.1)
    sentence = "The pen's watchdog stopped the needle and ended the session; start again."
    assert isinstance(bench.pen.dead, SessionClosed) and str(bench.pen.dead) == sentence
    assert bench.pen.interruption is Interruption.PEN_ENDED
    assert [u.message for u in bench.kinds("session_ended")] == [sentence]
    assert [r["code"] for r in bench.records("pen_event")] == ["WATCHDOG_TRIPPED"]
    # the link is still up: what the pen reports is its present state
    bench.run(0.2)
    assert bench.pen.status is not None and bench.pen.status is bench.seen[-1][1]
    assert bench.pen.status.depth_set_um == 250  # the pen's watchdog reset it


# --- the pen's uptime: a reboot, or the counter wrapping -----------------------------------


def test_uptime_that_goes_back_is_a_reboot_even_without_a_boot_event(bench: Bench) -> None:
    assert bench.pen.last_status is not None
    bench.lie(uptime_ms=bench.pen.last_status.uptime_ms - 1)
    sentence = "The pen rebooted (its uptime went back); start again."
    assert isinstance(bench.pen.dead, PenRebooted) and str(bench.pen.dead) == sentence
    assert bench.records("reboot") == [{"message": sentence}]
    assert [u.message for u in bench.kinds("rebooted")] == [sentence]


def test_the_same_uptime_twice_is_no_reboot(bench: Bench) -> None:
    assert bench.pen.last_status is not None
    bench.lie(uptime_ms=bench.pen.last_status.uptime_ms)
    bench.run(0.2)
    assert bench.pen.dead is None and bench.records("reboot") == []


@pytest.mark.parametrize("back_ms", [1, 1000, HALF - 1])
def test_uptime_that_goes_back_less_than_half_the_counter_is_a_reboot_at_any_age(
    bench: Bench, back_ms: int
) -> None:
    high = U32 - 10  # 49.7 days up
    bench.lie(uptime_ms=high)
    assert bench.pen.dead is None
    bench.lie(uptime_ms=high - back_ms)
    assert isinstance(bench.pen.dead, PenRebooted)


@pytest.mark.parametrize("back_ms", [HALF, HALF + 1, U32 - 60_000])
def test_uptime_that_goes_back_by_half_the_counter_or_more_is_it_wrapping(
    bench: Bench, back_ms: int
) -> None:
    bench.lie(uptime_ms=back_ms)  # the host's next STATUS is `back_ms` below this
    bench.lie(uptime_ms=0)
    bench.run(0.3)  # then the pen's own, counting on from its uptime
    assert bench.pen.dead is None and bench.records("reboot") == []


def test_a_reboot_noticed_twice_is_one_reboot(bench: Bench) -> None:
    assert bench.pen.last_status is not None
    bench.wire.inject(protocol.Event(EventCode.BOOT, 0))
    bench.lie(uptime_ms=0)
    assert len(bench.records("reboot")) == 1 and len(bench.kinds("rebooted")) == 1
    assert str(bench.pen.dead) == "The pen rebooted; the session is over, start again."


# --- the link --------------------------------------------------------------------------------


def test_a_silent_pen_ends_the_session_as_a_lost_link(bench: Bench) -> None:
    bench.wire.cut = True
    bench.run(0.5)
    dead = bench.pen.dead
    assert isinstance(dead, LinkLost) and "no telemetry for 300 ms" in str(dead)
    assert bench.pen.interruption is Interruption.LINK_LOST
    assert bench.records("link_lost") == [{"message": str(dead)}]
    assert [u.message for u in bench.kinds("link_lost")] == [str(dead)]


# --- a pen that contradicts the host ---------------------------------------------------------


def test_a_contradiction_is_answered_recorded_and_told_with_its_reason(bench: Bench) -> None:
    lie = bench.lie(depth_set_um=750, depth_actual_um=740)
    why = "the pen holds a depth set-point of 750 µm that this host did not approve"
    assert bench.sim.firmware.estop_latched
    assert [r["why"] for r in bench.records("estop")] == [why]
    assert bench.records("pen_contradiction") == [
        {
            "why": why,
            "state": "IDLE",
            "faults": 0,
            "depth_set_um": 750,
            "depth_actual_um": 740,
            "rate_set_hz": lie.rate_set_hz,
        }
    ]
    (update,) = bench.kinds("contradiction")
    assert update.message == f"E-stop: {why}." and update.status == lie


def test_running_with_a_latched_fault_names_the_fault(bench: Bench) -> None:
    bench.pen.start()
    bench.run(0.2)
    bench.lie(faults=Fault.OVERTEMP)
    (update,) = bench.kinds("contradiction")
    assert update.message == (
        f"E-stop: the pen reports RUNNING with a latched fault ({int(Fault.OVERTEMP):#06x})."
    )


def test_a_pen_that_faults_by_itself_while_idle_contradicts_nothing(bench: Bench) -> None:
    bench.sim.apply("overheat@0ms", from_now=True)
    bench.run(0.5)
    assert bench.pen.status is not None and bench.pen.status.state == State.FAULT
    assert int(bench.pen.status.faults) & int(Fault.OVERTEMP)
    assert bench.kinds("contradiction") == [] and not bench.sim.firmware.estop_latched


def test_running_again_after_the_pen_stopped_itself_is_answered_with_an_estop(
    bench: Bench,
) -> None:
    bench.pen.start()
    bench.run(0.5)
    bench.sim.apply("stall@0ms", from_now=True)  # the pen stops the needle itself
    bench.run(0.5)
    assert bench.pen.status is not None and bench.pen.status.state != State.RUNNING
    bench.lie(state=State.RUNNING, faults=Fault(0))  # and then says it runs again
    assert [u.message for u in bench.kinds("contradiction")] == [
        "E-stop: the pen reports RUNNING although this host did not start it."
    ]
    assert bench.sim.firmware.estop_latched


def test_the_pens_own_set_point_before_the_host_set_one_is_no_contradiction(
    tmp_path: Path,
) -> None:
    store = AuditStore(tmp_path / "audit.db", scrypt_n=16)  # (a few records: the disk will do)
    clock = TickClock()
    wire = Wire(VirtualPort(Simulation(PenConfig.professional(), seed=2), clock))  # type: ignore[arg-type]
    pen = Pen.connect("virtual://x", db=store, port=wire, clock=clock.now, idle=clock.advance)
    try:
        pen.begin(role="home")
        for _ in range(10):
            clock.advance(0.005)
            pen.poll()
        assert pen.last_status is not None
        # a pen whose idle set-point is not its shallowest: nothing was approved yet
        wire.inject(dataclasses.replace(pen.last_status, depth_set_um=700))
        for _ in range(10):
            clock.advance(0.005)
            pen.poll()
        assert pen.dead is None and not pen.estop_pending
        assert not [r for r in store.records() if r.kind == "pen_contradiction"]
    finally:
        pen.close()
        store.close()
