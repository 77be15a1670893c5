"""The session's command path, edge by edge, on the virtual pen (no threads, no sleeping).

DESIGN.md's two command rules, as a clinician relies on them:

- a risk-raising command (a deeper or changed depth, a rate, START, a RESET) is in the audit
  store before the pen sees it, and is not sent when its record cannot be written;
- a risk-lowering command (STOP, ESTOP, a shallower depth) goes out first and is recorded
  after, so a store that fails or is full never holds it up.

The store here is the real SQLite `AuditStore`, watched: every record it commits notes what
the pen had executed at that instant (the firmware is the truth), and it can be made to fail
as a full disk does.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

import protocol
from driver.audit import AuditStore, StartFacts
from driver.errors import CommandRefused, DriverError, LinkLost, NotAllowed, StoreError
from driver.safety import screening
from driver.safety.screening import KEYS
from driver.session import DEPTH_TOLERANCE_UM, Pen, PenUpdate
from driver.session.estops import (
    confirm_estop,
    estop_held,
    forget_estops,
    hold_estop,
    release_estop,
)
from driver.testing.stores import STAFF, TEST_SCRYPT_N, StoreMaker
from protocol import Direction, MsgType, State
from protocol.codec import Frame
from simulator.control import execute
from simulator.firmware import Firmware, PenConfig
from simulator.simulation import Simulation
from simulator.virtual import VirtualClock, VirtualPort

#: what the pen had executed when a record was committed: (seq, message type name)
Executed = frozenset[tuple[int, str]]


class WatchedStore(AuditStore):
    """The real store; each committed record notes what the pen had executed by then, and
    `failing` makes every write fail as a full disk does (nothing is written)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failing = False
        #: a withdrawal cannot be written (the disk filled up just then)
        self.withdrawal_fails = False
        self.fw: Firmware | None = None
        #: (kind, data, what the pen had executed at the commit)
        self.seen: list[tuple[str, dict[str, Any], Executed]] = []

    def executed(self) -> Executed:
        if self.fw is None:
            return frozenset()
        return frozenset((a.seq, MsgType(a.type_code).name) for a in self.fw.applied)

    def _fail(self) -> None:
        if self.failing:
            raise StoreError(f"The audit store {self.path} could not be written (disk is full).")

    def append(
        self,
        kind: str,
        data: Mapping[str, object],
        session_id: int | None = None,
        now: float | None = None,
        *,
        before: Sequence[tuple[str, Mapping[str, object], int | None]] = (),
    ) -> Any:
        self._fail()
        record = super().append(kind, data, session_id, now, before=before)
        done = self.executed()
        for k, d, _ in [*before, (kind, data, session_id)]:
            self.seen.append((k, dict(d), done))
        return record

    def begin_treatment(
        self,
        session_id: int,
        zone: str,
        cartridge_id: int | None,
        check: Callable[[StartFacts], Mapping[str, object] | None],
        now: float | None = None,
    ) -> int:
        self._fail()
        got = super().begin_treatment(session_id, zone, cartridge_id, check, now)
        self.seen.append(("treatment_recorded", {"zone": zone}, self.executed()))
        return got

    def withdraw_treatment(
        self, treatment_record: int, reason: str, now: float | None = None
    ) -> None:
        self._fail()
        if self.withdrawal_fails:
            raise StoreError(f"The audit store {self.path} could not be written (disk is full).")
        super().withdraw_treatment(treatment_record, reason, now)

    def kinds(self) -> list[str]:
        return [k for k, _, _ in self.seen]

    def commits(self, kind: str) -> list[tuple[dict[str, Any], Executed]]:
        return [(d, done) for k, d, done in self.seen if k == kind]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [d for k, d, _ in self.seen if k == kind]


class Bench:
    """One virtual pen, one watched store, and the sessions opened on them."""

    def __init__(self, directory: Path, config: PenConfig | None = None, seed: int = 1) -> None:
        forget_estops()
        self.store = WatchedStore(directory / "audit.db", scrypt_n=TEST_SCRYPT_N)
        StoreMaker.add_staff(self.store, STAFF)
        self.clock = VirtualClock()
        self.sim = Simulation(config or PenConfig.professional(), seed=seed)
        self.fw = self.sim.firmware
        self.store.fw = self.fw
        self.pens: list[Pen] = []
        #: called once, from the next wait of the pen's thread (as another thread would act)
        self.meanwhile: Callable[[], object] | None = None

    def _idle(self, seconds: float) -> None:
        self.clock.advance(seconds)
        action, self.meanwhile = self.meanwhile, None
        if action is not None:
            action()

    def open(
        self,
        role: str = "clinician",
        client: str | None = "P-1",
        zone: str | None = "cheeks",
        sim: Simulation | None = None,
        port: VirtualPort | None = None,
    ) -> Pen:
        pen = Pen.connect(
            "virtual",
            db=self.store,
            port=port or VirtualPort(sim or self.sim, self.clock),
            clock=self.clock.now,
            idle=self._idle,
        )
        self.pens.append(pen)
        login = {r: (op, pin) for op, _, r, pin in STAFF}
        if role == "home":
            pen.begin(role="home")
        else:
            op, pin = login[role]
            pen.begin(role=role, operator=op, pin=pin, client=client)
        if zone is not None:
            pen.select_zone(zone)
        return pen

    def run(self, pen: Pen, seconds: float, step: float = 0.005) -> None:
        end = self.clock.now() + seconds
        while self.clock.now() < end:
            self.clock.advance(step)
            pen.poll()

    def ready(self, depth: float) -> Pen:
        """A clinician's session on the cheeks with `depth` and 100 Hz set, the needle settled."""
        pen = self.open()
        pen.set_depth(depth)
        pen.set_rate(100)
        self.run(pen, 0.3)
        return pen

    def treating(self, role: str = "clinician", depth: float = 0.8, zone: str = "cheeks") -> Pen:
        pen = self.open(role, zone=zone)
        pen.set_depth(depth)
        pen.set_rate(100)
        pen.start()
        assert self.fw.needle_running
        return pen

    def pen_got(self, kind: str) -> list[int]:
        """The seqs of the commands of `kind` the pen executed (accepted or not), in order."""
        return [a.seq for a in self.fw.applied if MsgType(a.type_code).name == kind]

    def order(self) -> list[str]:
        """The types of the commands the pen executed, in the order it executed them."""
        return [MsgType(a.type_code).name for a in self.fw.applied]

    def close(self) -> None:
        self.store.failing = False
        for pen in self.pens:
            pen.close()
        self.store.close()


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    b = Bench(tmp_path)
    yield b
    b.close()


def settled(action: Callable[[], object]) -> None:
    """Run `action`, then wait for the threads it started (a store that fails while the
    needle may run makes the session stop it from a thread of its own)."""
    before = set(threading.enumerate())
    action()
    for thread in set(threading.enumerate()) - before:
        thread.join(10.0)
        assert not thread.is_alive()


def told(pen: Pen) -> list[PenUpdate]:
    out: list[PenUpdate] = []
    pen.subscribe(out.append)
    return out


# --- risk-raising: recorded first, not sent when the record fails ------------------------------


def test_a_depth_raise_is_in_the_store_before_the_pen_sees_it(bench: Bench) -> None:
    pen = bench.open()
    pen.set_depth(0.5)
    pen.set_depth(0.9)
    sent = [(d, done) for d, done in bench.store.commits("decision") if d["command"] is not None]
    assert len(sent) == 2
    for data, at_commit in sent:
        seq = data["command"]["seq"]
        assert (seq, "SET_DEPTH") not in at_commit, f"SET_DEPTH seq {seq} reached the pen first"
        assert seq in bench.pen_got("SET_DEPTH")
    assert bench.fw.depth_set_um == 900
    record = sent[-1][0]
    assert record["what"] == "depth" and record["why"] == "set_depth"
    assert record["zone"] == "cheeks" and record["requested_mm"] == 0.9
    assert record["command"]["type"] == "SET_DEPTH" and record["command"]["depth_um"] == 900
    assert pen.depth_mm == 0.9


def test_a_depth_raise_whose_record_fails_is_not_sent(bench: Bench) -> None:
    pen = bench.open()
    pen.set_depth(0.5)
    got = len(bench.pen_got("SET_DEPTH"))
    bench.store.failing = True
    with pytest.raises(
        StoreError,
        match=r"^Nothing was sent: The audit store .* could not be written \(disk is full\)\.$",
    ):
        pen.set_depth(0.9)
    assert len(bench.pen_got("SET_DEPTH")) == got and bench.fw.depth_set_um == 500
    with pytest.raises(StoreError, match=r"^Nothing was sent"):
        pen.set_depth(0.5)  # the same depth again is not lower: recorded first too
    assert pen.depth_mm == 0.5


def test_a_rate_is_in_the_store_before_the_pen_sees_it_and_not_sent_unrecorded(
    bench: Bench,
) -> None:
    pen = bench.open()
    pen.set_depth(0.5)
    pen.set_rate(60)
    data, at_commit = [(d, x) for d, x in bench.store.commits("decision") if d["what"] == "rate"][
        -1
    ]
    assert data["command"]["type"] == "SET_RATE" and data["command"]["rate_hz"] == 60
    assert data["zone"] == "cheeks" and data["requested_hz"] == 60
    assert (data["command"]["seq"], "SET_RATE") not in at_commit
    assert bench.fw.rate_set_hz == 60 and pen.rate_hz == 60
    assert bench.pen_got("SET_RATE")[-1] == data["command"]["seq"]
    bench.store.failing = True
    with pytest.raises(StoreError, match=r"^Nothing was sent"):
        pen.set_rate(40)  # even a slower rate is a changed rate: recorded first
    assert bench.fw.rate_set_hz == 60 and pen.rate_hz == 60


def test_a_refused_rate_sends_nothing_and_is_recorded(bench: Bench) -> None:
    pen = bench.open()
    pen.set_depth(0.5)
    got = len(bench.pen_got("SET_RATE"))
    decision = pen.set_rate(1000)  # clamped to the role's maximum, never above
    assert decision.rate_hz is not None and decision.rate_hz <= 150
    assert bench.fw.rate_set_hz == decision.rate_hz
    assert len(bench.pen_got("SET_RATE")) == got + 1


def test_start_is_recorded_before_the_pen_sees_it(bench: Bench) -> None:
    pen = bench.treating()
    (start_seq,) = bench.pen_got("START")
    (treated,) = bench.store.commits("treatment_recorded")
    assert (start_seq, "START") not in treated[1]
    assert pen.status is not None
    bench.run(pen, 0.1)
    assert bench.fw.state == State.RUNNING


def test_a_start_whose_record_fails_leaves_the_needle_stopped(bench: Bench) -> None:
    pen = bench.open()
    pen.set_depth(0.5)
    pen.set_rate(100)
    bench.store.failing = True
    with pytest.raises(StoreError):
        pen.start()
    assert bench.pen_got("START") == [] and not bench.fw.needle_running


def test_a_reset_is_recorded_before_it_is_sent(bench: Bench) -> None:
    pen = bench.treating()
    pen.estop()
    bench.run(pen, 0.1)
    assert bench.fw.estop_latched and not pen.estop_pending
    bench.store.failing = True
    with pytest.raises(StoreError, match=r"^Nothing was sent"):
        pen.reset("estop")
    assert bench.fw.estop_latched and bench.pen_got("RESET") == []
    with pytest.raises(NotAllowed, match="release it before starting"):
        pen.start()  # still latched in the host too
    bench.store.failing = False
    pen.reset("estop")
    assert not bench.fw.estop_latched
    (seq,) = bench.pen_got("RESET")
    resets = [(d, x) for d, x in bench.store.commits("command") if d["type"] == "RESET"]
    data, at_commit = resets[0]
    assert data["seq"] == seq and (seq, "RESET") not in at_commit
    assert estop_held(pen.info.serial) is None


# --- risk-lowering: sent first, never waiting on the store --------------------------------------


def test_a_stop_goes_out_while_the_store_fails_and_is_recorded_after(bench: Bench) -> None:
    pen = bench.treating()
    updates = told(pen)
    bench.store.failing = True
    settled(pen.stop)
    assert not bench.fw.needle_running and bench.fw.state == State.IDLE
    assert any(u.kind == "store_trouble" for u in updates)
    assert pen.store_trouble is not None
    bench.store.failing = False
    pen.set_depth(0.5)  # the next write takes the kept records first, in order
    stops = [(d, x) for d, x in bench.store.commits("command") if d["type"] == "STOP"]
    assert stops and all((d["seq"], "STOP") in x for d, x in stops)  # the pen had it first
    assert pen.flush_log()


def test_an_estop_goes_out_while_the_store_fails(bench: Bench) -> None:
    pen = bench.treating()
    updates = told(pen)
    bench.store.failing = True
    settled(pen.estop)
    bench.run(pen, 0.1)
    assert bench.fw.estop_latched and not bench.fw.needle_running
    assert any(u.kind == "estop" and u.message.startswith("E-stop sent") for u in updates)
    assert any(u.kind == "estop_confirmed" for u in updates)
    assert estop_held(pen.info.serial) is True
    bench.store.failing = False
    pen.stop()  # a write: the kept records go in first
    (estop,) = bench.store.of("estop")
    assert estop["seq"] in bench.pen_got("ESTOP")
    assert estop["serial"] == pen.info.serial and estop["error"] is None
    assert bench.store.of("estop_confirmed") == [{"serial": pen.info.serial}]


def test_a_shallower_depth_goes_out_while_the_store_fails(bench: Bench) -> None:
    pen = bench.open()
    pen.set_depth(0.9)
    bench.store.failing = True
    decision = pen.set_depth(0.6)
    assert bench.fw.depth_set_um == 600 and pen.depth_mm == 0.6
    assert decision.depth_um == 600
    bench.store.failing = False
    pen.set_rate(100)
    lowered = [
        d
        for d in bench.store.of("decision")
        if d["what"] == "depth" and d["command"] and d["command"]["depth_um"] == 600
    ]
    assert len(lowered) == 1 and lowered[0]["why"] == "set_depth"


def test_lowering_more_than_the_tolerance_while_running_stops_the_needle_first(
    bench: Bench,
) -> None:
    pen = bench.treating(depth=1.0)
    updates = told(pen)
    pen.set_depth(0.5)
    assert not bench.fw.needle_running and bench.fw.depth_set_um == 500
    assert bench.order()[-2:] == ["STOP", "SET_DEPTH"]  # the stop went first
    (retract,) = [u for u in updates if u.kind == "retracting"]
    assert retract.message == (
        "The needle was stopped while it retracts from 1.00 mm to 0.50 mm; start again when ready."
    )
    assert bench.store.of("retract_stop") == [{"from_um": 1000, "to_um": 500}]


def test_lowering_within_the_tolerance_while_running_keeps_the_needle_running(
    bench: Bench,
) -> None:
    pen = bench.treating(depth=1.0)

    pen.set_depth((1000 - DEPTH_TOLERANCE_UM) / 1000)  # exactly the tolerance
    assert bench.fw.needle_running and bench.pen_got("STOP") == []
    assert bench.fw.depth_set_um == 1000 - DEPTH_TOLERANCE_UM


def test_lowering_while_stopped_sends_no_stop(bench: Bench) -> None:
    pen = bench.open()
    pen.set_depth(1.0)
    pen.set_depth(0.3)
    assert bench.pen_got("STOP") == [] and bench.fw.depth_set_um == 300


# --- START: its checks, and a refusal that says why ---------------------------------------------


@pytest.mark.parametrize(
    ("before", "sentence"),
    [
        ((), "Set a depth before starting."),
        (("depth",), "Set a stamp rate before starting."),
    ],
)
def test_start_without_its_set_points_is_refused(
    bench: Bench, before: tuple[str, ...], sentence: str
) -> None:
    pen = bench.open()
    if "depth" in before:
        pen.set_depth(0.5)
    with pytest.raises(NotAllowed) as refused:
        pen.start()
    assert str(refused.value) == sentence
    assert bench.pen_got("START") == [] and not bench.fw.needle_running


def test_start_refused_for_the_interval_leaves_the_needle_stopped_and_says_why(
    bench: Bench,
) -> None:
    """Another workstation treated the client's cheeks after this session's depth was
    approved: START re-checks the interval in its write transaction and refuses."""
    late = bench.open()
    late.set_depth(0.5)
    late.set_rate(100)
    other_pen = Simulation(PenConfig.professional(), seed=9)
    other = bench.open(sim=other_pen)
    other.set_depth(0.5)
    other.set_rate(100)
    other.start()
    other.stop()
    other.close()
    with pytest.raises(NotAllowed) as refused:
        late.start()
    assert str(refused.value).startswith("Treatment cannot start on cheeks: The last session on")
    assert "28 days" in str(refused.value)
    assert bench.pen_got("START") == [] and not bench.fw.needle_running
    (record,) = bench.store.of("start_refused")
    assert record["reason"] == "rules" and record["outcome"] == "needs_override"
    # the next decision reads the interval afresh and asks for the reason
    decision = late.set_depth(0.55)
    assert not decision.sendable and bench.fw.depth_set_um == 500


# --- the e-stop: sent first, held until the pen confirms it and it is released -------------------


class FlakyPort(VirtualPort):
    """The virtual wire, whose writes can be made to fail as an unplugged adapter's do."""

    broken = False

    def write(self, data: bytes, /) -> int:
        if self.broken:
            raise OSError("the adapter was unplugged")
        return super().write(data)


def test_the_estop_books_of_this_process_per_pen(bench: Bench) -> None:
    serial, other = 4242, 4343
    assert estop_held(serial) is None
    release_estop(serial)  # releasing what was never held changes nothing and says nothing
    hold_estop(serial)
    assert estop_held(serial) is False and estop_held(other) is None
    hold_estop(serial)
    assert estop_held(serial) is False
    confirm_estop(serial)
    assert estop_held(serial) is True
    hold_estop(serial)  # pressed again once confirmed: it stays confirmed
    assert estop_held(serial) is True and estop_held(other) is None
    release_estop(serial)
    assert estop_held(serial) is None
    hold_estop(other)
    forget_estops()
    assert estop_held(other) is None


def test_an_estop_is_recorded_with_its_seq_and_the_pen_confirms_it(bench: Bench) -> None:
    pen = bench.treating()
    updates = told(pen)
    pen.estop()
    assert pen.estop_pending and estop_held(pen.info.serial) is False
    with pytest.raises(NotAllowed, match=r"^E-STOP NOT CONFIRMED by the pen"):
        pen.start()
    with pytest.raises(
        NotAllowed, match=r"^E-STOP NOT CONFIRMED by the pen: it cannot be released"
    ):
        pen.reset("estop")
    assert pen.wait_estop_confirmed(1.0) is True
    assert not pen.estop_pending and bench.fw.estop_latched
    assert [u.message for u in updates if u.kind in ("estop", "estop_confirmed")] == [
        "E-stop sent; waiting for the pen to confirm it.",
        "The pen confirmed the e-stop.",
    ]
    (record,) = bench.store.of("estop")
    assert record == {
        "seq": bench.pen_got("ESTOP")[0],
        "serial": pen.info.serial,
        "why": None,
        "error": None,
    }
    assert bench.store.of("estop_confirmed") == [{"serial": pen.info.serial}]
    assert pen.wait_estop_confirmed(0.0) is True  # none pending: at once


def test_an_unconfirmed_estop_is_waited_for_no_longer_than_asked(bench: Bench) -> None:
    pen = bench.treating()
    execute(bench.sim, "fault drop:host=1")  # nothing reaches the pen any more
    t0 = bench.clock.now()
    pen.estop()
    assert pen.wait_estop_confirmed(0.25) is False
    waited = bench.clock.now() - t0
    assert 0.25 <= waited < 0.3
    assert pen.estop_pending


def test_after_a_confirmed_and_released_estop_a_lower_depth_needs_no_stop(bench: Bench) -> None:
    pen = bench.treating(depth=1.0)
    pen.estop()
    assert pen.wait_estop_confirmed(1.0)
    pen.reset("estop")
    bench.run(pen, 0.1)
    assert bench.fw.state == State.IDLE
    updates = told(pen)
    stops = len(bench.pen_got("STOP"))
    pen.set_depth(0.5)
    assert len(bench.pen_got("STOP")) == stops, "a needless STOP: the host thinks it may run"
    assert not [u for u in updates if u.kind == "retracting"]


def test_an_estop_that_cannot_be_written_says_so_and_is_recorded(tmp_path: Path) -> None:
    forget_estops()
    store = WatchedStore(tmp_path / "audit.db", scrypt_n=TEST_SCRYPT_N)
    clock = VirtualClock()
    sim = Simulation(PenConfig.professional(), seed=3)
    port = FlakyPort(sim, clock)
    pen = Pen.connect("virtual", db=store, port=port, clock=clock.now, idle=clock.advance)
    try:
        pen.begin(role="home")
        updates = told(pen)
        port.broken = True
        pen.estop()  # returns: nothing blocks or raises out of an e-stop
        (update,) = [u for u in updates if u.kind == "estop"]
        assert update.message.startswith("E-stop could not be written (")
        assert update.message.endswith("); the host keeps trying.")
        assert "unplugged" in update.message
        assert pen.estop_pending and estop_held(pen.info.serial) is False
        (record,) = store.of("estop")
        assert record["seq"] is None and "unplugged" in str(record["error"])
    finally:
        port.broken = False
        pen.close()
        store.close()


# --- rates and previews ------------------------------------------------------------------------


def test_a_rate_keeps_the_reason_the_depth_was_approved_with(bench: Bench) -> None:
    pen = bench.open()
    depth = pen.set_depth(1.5, override_reason="deep acne scars, consented")
    assert depth.sendable and bench.fw.depth_set_um == 1500
    updates = told(pen)
    assert pen.preview_rate(80) == pen.set_rate(80)
    assert bench.fw.rate_set_hz == 80
    assert pen.rate_decision is not None and pen.rate_decision.depth_mm == 1.5  # judged there
    (update,) = [u for u in updates if u.kind == "decision"]
    assert update.decision is not None and update.decision.rate_hz == 80
    assert update.message == "; ".join(update.decision.reasons)


def test_a_rate_before_any_depth_is_judged_at_the_shallowest_depth(bench: Bench) -> None:
    pen = bench.open()
    decision = pen.set_rate(100)
    assert decision.sendable and decision.rate_hz == 100 and bench.fw.rate_set_hz == 100
    assert decision.depth_mm == 0.25
    assert not [
        f for f in decision.findings if f.rule.name == "DEPTH" and f.effect.name == "WITHIN"
    ]


def test_a_rate_that_is_not_a_number_sends_nothing_and_is_recorded(bench: Bench) -> None:
    pen = bench.open()
    updates = told(pen)
    got = len(bench.pen_got("SET_RATE"))
    decision = pen.set_rate(float("nan"))
    assert not decision.sendable and pen.rate_hz is None
    assert len(bench.pen_got("SET_RATE")) == got
    record = bench.store.of("decision")[-1]
    assert record["what"] == "rate" and record["command"] is None
    assert record["requested_hz"] is not None
    assert [u.decision for u in updates if u.kind == "decision"] == [decision]


def test_commands_need_a_zone_first(bench: Bench) -> None:
    pen = bench.open(zone=None)
    for call, sentence in [
        (lambda: pen.set_rate(100), "Choose a treatment zone before setting a rate."),
        (lambda: pen.preview_rate(100), "Choose a treatment zone before setting a rate."),
        (lambda: pen.set_depth(0.5), "Choose a treatment zone before setting a depth."),
        (lambda: pen.preview_depth(0.5), "Choose a treatment zone before setting a depth."),
        (pen.start, "Choose a treatment zone before starting."),
    ]:
        with pytest.raises(NotAllowed) as refused:
            call()
        assert str(refused.value) == sentence
    assert bench.pen_got("SET_RATE") == bench.pen_got("SET_DEPTH") == bench.pen_got("START") == []


def test_a_preview_says_what_the_command_would_do_and_sends_nothing(bench: Bench) -> None:
    pen = bench.open()
    pen.set_rate(90)
    records, frames = len(bench.store.seen), len(bench.fw.applied)
    deep = pen.preview_depth(1.5)
    assert not deep.sendable  # past the recommended max: a reason is needed
    reasoned = pen.preview_depth(1.5, override_reason="deep acne scars, consented")
    shallow = pen.preview_depth(0.6)
    rate = pen.preview_rate(70)
    assert len(bench.store.seen) == records and len(bench.fw.applied) == frames
    assert reasoned.sendable and reasoned.depth_um == 1500
    assert shallow.depth_um == 600 and shallow.rate_hz == 90
    assert rate.rate_hz == 70
    assert pen.set_depth(1.5, override_reason="deep acne scars, consented") == reasoned
    assert pen.preview_rate(70) == pen.set_rate(70)
    assert not [f for f in rate.findings if f.rule.name == "DEPTH" and f.effect.name == "WITHIN"]
    again = pen.set_depth(0.6)
    assert (again.outcome, again.depth_um, again.reasons) == (
        shallow.outcome,
        shallow.depth_um,
        shallow.reasons,
    )


# --- START's own checks -------------------------------------------------------------------------


def test_a_treatment_records_its_interval_and_reason_before_start(bench: Bench) -> None:
    pen = bench.open()
    reason = "deep acne scars, consented"
    pen.set_depth(1.5, override_reason=reason)
    pen.set_rate(100)
    pen.start()
    (treated,) = [r for r in bench.store.records(pen.session_id) if r.kind == "treatment_recorded"]
    assert treated.data["override_reason"] == reason
    assert "days_since_last" in treated.data and treated.data["days_since_last"] is None


def test_a_cartridge_used_in_an_earlier_session_is_refused_with_its_id(bench: Bench) -> None:
    first = bench.treating()
    cartridge = first.status.cartridge_id if first.status else None
    assert cartridge
    first.stop()
    first.close()
    second = bench.open(client="P-2")  # another client: the interval does not apply
    second.set_depth(0.5)
    second.set_rate(100)
    with pytest.raises(NotAllowed) as refused:
        second.start()
    assert str(refused.value) == (
        f"Cartridge {cartridge:08x} was used in an earlier session; fit a fresh one."
    )
    assert bench.store.of("start_refused")[-1] == {
        "reason": "cartridge_reused",
        "cartridge_id": cartridge,
    }
    assert len(bench.pen_got("START")) == 1 and not bench.fw.needle_running


def test_start_waits_for_the_needle_and_refuses_when_it_does_not_get_there(bench: Bench) -> None:
    pen = bench.open()
    pen.set_depth(1.0)
    pen.set_rate(100)
    bench.run(pen, 0.2)
    execute(bench.sim, "jam")  # the actuator sticks where it is
    pen.set_depth(0.5)
    t0 = bench.clock.now()
    with pytest.raises(NotAllowed) as refused:
        pen.start()
    assert bench.clock.now() - t0 >= 1.0
    actual = bench.fw.depth_actual_um
    assert str(refused.value) == (
        f"Not started: the needle has not reached 0.50 mm yet (it is at {actual / 1000:.2f} mm); "
        "try again in a moment."
    )
    assert bench.store.of("start_refused")[-1] == {
        "reason": "depth_not_settled",
        "depth_set_um": 500,
        "depth_actual_um": pen.status.depth_actual_um if pen.status else None,
    }
    assert bench.pen_got("START") == []


def test_a_second_estop_not_yet_confirmed_refuses_start_as_unconfirmed(bench: Bench) -> None:
    pen = bench.treating()
    pen.estop()
    assert pen.wait_estop_confirmed(1.0)
    with pytest.raises(NotAllowed) as latched:
        pen.start()
    assert str(latched.value) == "The e-stop is latched: release it before starting."
    execute(bench.sim, "fault drop:host=1")
    pen.estop()  # pressed again; this one does not reach the pen
    with pytest.raises(NotAllowed) as refused:
        pen.start()
    assert str(refused.value) == (
        "E-STOP NOT CONFIRMED by the pen: it may not have stopped; the host keeps sending the "
        "e-stop. Start is refused until the pen confirms it and it is released."
    )


# --- RESET -------------------------------------------------------------------------------------


def test_reset_says_what_it_can_reset_and_sends_nothing_else(bench: Bench) -> None:
    pen = bench.open()
    with pytest.raises(NotAllowed) as refused:
        pen.reset("everything")  # type: ignore[arg-type]
    assert str(refused.value) == "Reset what? Say 'fault' or 'estop'."
    assert bench.pen_got("RESET") == []


def test_reset_fault_clears_a_cooled_overheat_recorded_first(bench: Bench) -> None:
    pen = bench.treating()
    execute(bench.sim, "overheat")
    bench.run(pen, 0.2)
    assert not bench.fw.needle_running and bench.fw.state == State.FAULT
    execute(bench.sim, "cool")
    pen.reset("fault")
    bench.run(pen, 0.1)
    assert bench.fw.state == State.IDLE
    (seq,) = bench.pen_got("RESET")
    resets = [(d, x) for d, x in bench.store.commits("command") if d["type"] == "RESET"]
    assert resets[0][0]["seq"] == seq and (seq, "RESET") not in resets[0][1]


# --- a zone change whose clamp fails ------------------------------------------------------------


def test_a_zone_change_whose_clamp_gets_no_answer_stops_the_needle_and_keeps_the_zone(
    bench: Bench,
) -> None:
    """The clamp's SET_DEPTH and all its resends fall in a cut of the link; the STOP after it
    does not, and goes out even though the store cannot be written meanwhile."""
    pen = bench.open()
    pen.set_depth(0.9)
    pen.set_rate(100)
    bench.run(pen, 0.2)
    bench.store.failing = True
    execute(bench.sim, "cut 230ms")
    with pytest.raises(NotAllowed) as refused:
        pen.select_zone("forehead")
    assert str(refused.value) == (
        "The zone stays cheeks: the depth could not be lowered for forehead (0.50 mm was sent "
        "without an answer); the needle was stopped."
    )
    assert pen.zone == "cheeks" and pen.dead is None and pen.alive
    assert bench.order()[-1] == "STOP"
    bench.store.failing = False
    pen.set_depth(0.5)  # the kept records go in first
    (record,) = bench.store.of("zone_change_failed")
    assert record["zone"] == "forehead" and record["sent_depth_um"] == 500
    assert record["then"] == "the needle was stopped" and "did not answer" in record["error"]


def test_a_zone_change_while_running_whose_stop_gets_no_answer_says_what_failed(
    bench: Bench,
) -> None:
    pen = bench.treating(depth=0.9)
    bench.run(pen, 0.2)
    execute(bench.sim, "cut 230ms")  # the STOP before the clamp is lost, the next one is not
    with pytest.raises(NotAllowed) as refused:
        pen.select_zone("forehead")
    assert str(refused.value).startswith(
        "The zone stays cheeks: the depth could not be lowered for forehead (The pen did not "
        "answer STOP"
    )
    assert str(refused.value).endswith("; the needle was stopped.")
    assert pen.zone == "cheeks" and not bench.fw.needle_running
    (record,) = bench.store.of("zone_change_failed")
    assert record["sent_depth_um"] is None


def test_a_zone_change_whose_clamp_and_stop_are_lost_leaves_it_to_the_watchdog(
    tmp_path: Path,
) -> None:
    bench = Bench(tmp_path, PenConfig.professional(watchdog_ms=1000))
    try:
        _lost_clamp_and_stop(bench)
    finally:
        bench.close()


def _lost_clamp_and_stop(bench: Bench) -> None:
    pen = bench.treating(depth=0.9)
    bench.run(pen, 0.2)
    execute(bench.sim, "fault drop:host=1")
    with pytest.raises(NotAllowed) as refused:
        pen.select_zone("forehead")
    assert str(refused.value).endswith(
        "; the pen does not answer, so its watchdog will stop the needle."
    )
    assert isinstance(pen.dead, LinkLost)
    assert str(pen.dead) == (
        "The pen does not answer: the host stopped its heartbeat so the pen's watchdog stops "
        "the needle; start again."
    )
    (record,) = bench.store.of("zone_change_failed")
    assert record["then"] == "the pen does not answer, so its watchdog will stop the needle"


@pytest.mark.parametrize(
    ("role", "zone", "sentence", "reason"),
    [
        (
            "home",
            "forehead",
            "The screening found a contraindication: this session may not treat.",
            "screening_blocked",
        ),
        (
            "clinician",
            "cheeks",
            "The screening found a contraindication: a clinician must acknowledge it with a "
            "reason before treatment.",
            "screening_unacknowledged",
        ),
    ],
)
def test_a_positive_screening_refuses_start_and_records_why(
    bench: Bench, role: str, zone: str, sentence: str, reason: str
) -> None:
    pen = bench.open(role, zone=zone)
    pen.screen(dict.fromkeys(KEYS, False) | {"pregnancy": True})
    pen.set_depth(0.4)
    pen.set_rate(100)
    with pytest.raises(NotAllowed) as refused:
        pen.start()
    assert str(refused.value) == sentence
    assert bench.store.of("start_refused")[-1] == {"reason": reason}
    assert bench.pen_got("START") == [] and "treatment_recorded" not in bench.store.kinds()


def test_a_zero_timeout_looks_at_the_estop_and_does_not_wait(bench: Bench) -> None:
    pen = bench.treating()
    pen.estop()
    t0 = bench.clock.now()
    assert pen.wait_estop_confirmed(0.0) is False
    assert bench.clock.now() == t0
    assert pen.wait_estop_confirmed(1.0) is True


def test_a_rate_after_an_unanswered_deeper_depth_is_judged_at_that_depth(bench: Bench) -> None:
    pen = bench.open()
    pen.set_depth(0.5)
    bench.run(pen, 0.1)
    execute(bench.sim, "fault drop:pen=1")  # the pen hears the host; its answers are lost
    with pytest.raises(DriverError):
        pen.set_depth(0.9)  # sent, never answered: the pen may hold 0.9 mm
    execute(bench.sim, "clear")
    bench.run(pen, 0.1)
    assert pen.depth_mm == 0.5
    decision = pen.set_rate(100)
    assert decision.depth_mm == 0.9


# --- zone changes -------------------------------------------------------------------------------


def test_a_zone_change_that_keeps_the_depth_records_its_decision_and_the_zone(
    bench: Bench,
) -> None:
    pen = bench.open()
    pen.set_depth(0.5)
    pen.set_rate(100)
    depths = len(bench.pen_got("SET_DEPTH"))
    updates = told(pen)
    decision = pen.select_zone("chin_jawline")
    assert decision is not None and decision.sendable and decision.depth_um == 500
    assert pen.zone == "chin_jawline" and pen.depth_decision == decision
    assert len(bench.pen_got("SET_DEPTH")) == depths  # nothing to send
    record = bench.store.of("decision")[-1]
    assert record["what"] == "depth" and record["why"] == "zone_change"
    assert record["zone"] == "chin_jawline" and record["command"] is None
    assert record["requested_mm"] == 0.5 and record["reason_given"] is None
    assert bench.store.of("zone")[-1] == {"zone": "chin_jawline", "from": "cheeks"}
    assert [u.decision for u in updates if u.kind == "decision"] == [decision]


def test_a_zone_change_brings_the_depth_down_before_the_zone_changes(bench: Bench) -> None:
    pen = bench.open()
    pen.set_depth(0.9)
    pen.set_rate(100)
    decision = pen.select_zone("forehead")
    assert decision is not None and decision.depth_um == 500
    assert bench.fw.depth_set_um == 500 and pen.zone == "forehead"
    clamp = bench.store.of("decision")[-1]
    assert clamp["why"] == "zone_change" and clamp["zone"] == "forehead"
    assert clamp["command"]["depth_um"] == 500 and clamp["requested_mm"] == 0.9
    kinds = bench.store.kinds()
    last_zone = len(kinds) - 1 - kinds[::-1].index("zone")
    last_decision = len(kinds) - 1 - kinds[::-1].index("decision")
    assert last_decision < last_zone  # the zone changes once the lower depth is in
    assert bench.store.of("zone")[-1] == {"zone": "forehead", "from": "cheeks"}


def test_a_zone_the_role_may_not_treat_is_refused_and_recorded(bench: Bench) -> None:
    pen = bench.open()
    pen.set_depth(0.5)
    with pytest.raises(NotAllowed) as refused:
        pen.select_zone("bench")
    assert str(refused.value).startswith("Zone bench is not available: ")
    assert pen.zone == "cheeks"
    record = bench.store.of("zone_refused")[-1]
    assert record["zone"] == "bench" and record["from"] == "cheeks"
    assert record["outcome"] == "rejected"


def test_a_deep_zone_change_with_a_reason_keeps_the_depth_and_records_the_reason(
    bench: Bench,
) -> None:
    pen = bench.open()
    reason = "deep acne scars, consented"
    pen.set_depth(1.4, override_reason=reason)
    pen.set_rate(100)
    decision = pen.select_zone("neck", override_reason=reason)
    assert decision is not None and decision.depth_um == 1400 and pen.zone == "neck"
    record = bench.store.of("decision")[-1]
    assert record["reason_given"] == reason and record["command"] is None
    assert bench.fw.depth_set_um == 1400
    # without the reason the depth comes down to the zone's cap, never stays deeper
    pen.select_zone("cheeks", override_reason=reason)
    lowered = pen.select_zone("neck")
    assert lowered is not None and lowered.depth_um == 1000 and bench.fw.depth_set_um == 1000


# --- START overtaken, refused or unanswered -----------------------------------------------------


def withdrawals(bench: Bench, pen: Pen) -> list[dict[str, Any]]:
    """The session's treatment_withdrawn records, as the store holds them."""
    return [
        dict(r.data) for r in bench.store.records(pen.session_id) if r.kind == "treatment_withdrawn"
    ]


def test_a_stop_while_start_waits_for_the_needle_cancels_start_and_withdraws_it(
    bench: Bench,
) -> None:
    """The operator presses Stop while START waits for the needle to reach a deeper depth:
    START is not sent, the treatment recorded for it no longer counts for the interval, and
    the host knows the needle never ran (a lower depth afterwards needs no STOP)."""
    pen = bench.ready(0.5)
    pen.set_depth(1.0)  # START must wait for the needle to get there
    bench.meanwhile = pen.stop
    with pytest.raises(NotAllowed) as refused:
        pen.start()
    assert str(refused.value) == "Not started: a stop or an e-stop came first."
    assert bench.pen_got("START") == [] and not bench.fw.needle_running
    (withdrawn,) = withdrawals(bench, pen)
    assert withdrawn["reason"] == "a stop or an e-stop came before START was sent"
    assert bench.store.last_treatment_days_ago("P-1", "cheeks") is None
    stops = len(bench.pen_got("STOP"))
    pen.set_depth(0.5)
    assert len(bench.pen_got("STOP")) == stops, "a needless STOP: the host thinks it may run"
    pen.start()  # and START works once nothing overtakes it
    assert bench.fw.needle_running


def test_a_start_the_pen_refuses_is_withdrawn_with_the_pens_reason(bench: Bench) -> None:
    pen = bench.ready(1.0)
    execute(bench.sim, "battery 5")  # the pen answers START with NACK BATTERY_LOW
    with pytest.raises(CommandRefused, match="battery"):
        pen.start()
    assert not bench.fw.needle_running
    (withdrawn,) = withdrawals(bench, pen)
    assert withdrawn["reason"] == "the pen refused START (BATTERY_LOW)"
    assert bench.store.last_treatment_days_ago("P-1", "cheeks") is None
    stops = len(bench.pen_got("STOP"))
    pen.set_depth(0.5)
    assert len(bench.pen_got("STOP")) == stops, "a needless STOP: the host thinks it may run"


def test_an_unanswered_start_is_followed_by_a_stop_that_does_not_wait_for_its_record(
    bench: Bench,
) -> None:
    """START and its resends are lost: the pen may have started, so the treatment stays
    recorded and a STOP goes out at once, recorded after it was sent."""
    pen = bench.ready(0.8)
    execute(bench.sim, "cut 230ms")
    with pytest.raises(DriverError, match="START"):
        pen.start()
    assert bench.order()[-1] == "STOP" and not bench.fw.needle_running
    (stop_seq,) = bench.pen_got("STOP")
    stops = [(d, done) for d, done in bench.store.commits("command") if d["type"] == "STOP"]
    assert stops and stops[0][0]["seq"] == stop_seq
    assert (stop_seq, "STOP") in stops[0][1], "the STOP waited for its record"
    assert withdrawals(bench, pen) == []
    assert bench.store.last_treatment_days_ago("P-1", "cheeks") is not None


def test_a_screening_in_the_store_refuses_start_though_this_pen_holds_none(
    bench: Bench,
) -> None:
    """Another program recorded a blocking screening for this session: the store's record,
    read in START's transaction, refuses START although this Pen never screened."""
    pen = bench.open("home", zone="forehead")
    screening.record(
        bench.store, pen.session_id, dict.fromkeys(KEYS, False) | {"pregnancy": True}, "home"
    )
    pen.set_depth(0.4)
    pen.set_rate(100)
    assert pen.screening is None
    with pytest.raises(NotAllowed) as refused:
        pen.start()
    assert (
        str(refused.value) == "The screening found a contraindication: this session may not treat."
    )
    assert bench.store.of("start_refused")[-1] == {"reason": "screening_blocked"}
    assert bench.pen_got("START") == []


def test_an_unacknowledged_screening_in_the_store_refuses_start(bench: Bench) -> None:
    pen = bench.open("clinician")
    screening.record(
        bench.store, pen.session_id, dict.fromkeys(KEYS, False) | {"pregnancy": True}, "clinician"
    )
    pen.set_depth(0.4)
    pen.set_rate(100)
    with pytest.raises(NotAllowed) as refused:
        pen.start()
    assert str(refused.value) == (
        "The screening found a contraindication: a clinician must acknowledge it with a "
        "reason before treatment."
    )
    assert bench.store.of("start_refused")[-1] == {"reason": "screening_unacknowledged"}
    assert bench.pen_got("START") == []


def test_the_real_answer_to_start_is_raised_when_its_withdrawal_cannot_be_written(
    bench: Bench,
) -> None:
    pen = bench.ready(1.0)
    execute(bench.sim, "battery 5")

    bench.store.withdrawal_fails = True
    with pytest.raises(CommandRefused, match="battery"):
        pen.start()
    assert not bench.fw.needle_running and withdrawals(bench, pen) == []


def test_when_neither_start_nor_its_stop_is_answered_the_error_names_start(
    bench: Bench,
) -> None:
    pen = bench.ready(0.8)
    execute(bench.sim, "cut 2s")
    with pytest.raises(DriverError) as failed:
        pen.start()
    assert "START" in str(failed.value) and "STOP" not in str(failed.value)


class StatusFilterPort(VirtualPort):
    """The host's end of the wire, where each STATUS the pen sends passes through `edit`:
    dropped when it returns None (a pen that sends no telemetry), changed when it returns
    another STATUS (a pen whose needle settles elsewhere)."""

    def __init__(
        self,
        sim: Simulation,
        clock: VirtualClock,
        edit: Callable[[protocol.Status], protocol.Status | None],
    ) -> None:
        super().__init__(sim, clock)
        self._edit = edit
        self._decoder = protocol.Decoder(Direction.HOST)
        self._kept = bytearray()

    def _pump(self) -> None:
        for item in self._decoder.feed(super().read(super().in_waiting)):
            if not isinstance(item, Frame):
                continue
            message: protocol.Message | None = item.message
            if isinstance(message, protocol.Status):
                message = self._edit(message)
            if message is not None:
                self._kept += protocol.encode(message, item.seq)

    @property
    def in_waiting(self) -> int:
        self._pump()
        return len(self._kept)

    def read(self, size: int = 1) -> bytes:
        self._pump()
        out = bytes(self._kept[:size])
        del self._kept[:size]
        return out


def test_start_on_a_pen_that_sends_no_telemetry_is_a_lost_link_and_sends_nothing(
    bench: Bench,
) -> None:
    """START waits for a STATUS showing the needle at its depth; a pen that sends none is
    declared lost (300 ms without STATUS) long before START's settle time runs out."""
    pen = bench.open(port=StatusFilterPort(bench.sim, bench.clock, lambda _: None))
    pen.set_depth(0.8)
    pen.set_rate(100)
    assert pen.status is None
    with pytest.raises(LinkLost, match="no telemetry for 300 ms"):
        pen.start()
    assert bench.pen_got("START") == [] and not bench.fw.needle_running


def test_an_estop_pressed_again_and_not_yet_confirmed_cannot_be_released(bench: Bench) -> None:
    """The first e-stop was confirmed; the second one, pressed after, has not reached the
    pen: RESET 2 is refused until the pen confirms that one too."""
    pen = bench.treating()
    pen.estop()
    assert pen.wait_estop_confirmed(1.0)
    execute(bench.sim, "fault drop:host=1")
    pen.estop()
    assert pen.estop_pending and estop_held(pen.info.serial) is True
    resets = len(bench.pen_got("RESET"))
    with pytest.raises(NotAllowed) as refused:
        pen.reset("estop")
    assert str(refused.value) == (
        "E-STOP NOT CONFIRMED by the pen: it cannot be released until the pen confirms it."
    )
    assert len(bench.pen_got("RESET")) == resets and bench.fw.estop_latched


def test_a_new_session_on_a_pen_whose_estop_was_never_confirmed_sends_it_again(
    bench: Bench,
) -> None:
    first = bench.treating()
    execute(bench.sim, "fault drop:host=1")
    first.estop()
    first.close()  # closed with its e-stop never confirmed
    execute(bench.sim, "clear")
    second = bench.open(client="P-2", zone=None)
    assert bench.order()[-3:-1] == ["HELLO", "ESTOP"]
    assert second.wait_estop_confirmed(1.0) and bench.fw.estop_latched
    with pytest.raises(NotAllowed, match="release it before starting"):
        second.select_zone("cheeks")
        second.set_depth(0.5)
        second.set_rate(100)
        second.start()


def test_an_unconfirmed_estop_is_waited_for_one_second_by_default(bench: Bench) -> None:
    pen = bench.treating()
    execute(bench.sim, "fault drop:host=1")
    pen.estop()
    t0 = bench.clock.now()
    assert pen.wait_estop_confirmed() is False
    assert 1.0 <= bench.clock.now() - t0 < 1.05


def test_after_the_pen_stops_the_needle_itself_a_lower_depth_needs_no_stop(bench: Bench) -> None:
    pen = bench.treating(depth=1.0)
    bench.run(pen, 0.3)
    execute(bench.sim, "stall")  # the motor jams: the pen stops the needle and says so
    bench.run(pen, 0.3)
    assert not bench.fw.needle_running
    assert pen.status is not None and pen.status.state != State.RUNNING
    stops = len(bench.pen_got("STOP"))
    pen.set_depth(0.5)
    assert len(bench.pen_got("STOP")) == stops, "a needless STOP: the host thinks it may run"


def test_the_time_treated_is_counted_per_zone_from_start_to_stop(bench: Bench) -> None:
    pen = bench.treating()
    bench.run(pen, 2.0)
    pen.stop()
    assert pen.zone_seconds["cheeks"] == pytest.approx(2.0, abs=0.05)


def test_start_accepts_a_needle_that_settles_at_the_edge_of_the_tolerance(bench: Bench) -> None:
    """A pen whose needle comes to rest exactly DEPTH_TOLERANCE_UM short of its set-point
    has reached it (ICD: within the tolerance); one a micrometre further off has not."""

    def short_by(um: int) -> Callable[[protocol.Status], protocol.Status]:
        def edit(st: protocol.Status) -> protocol.Status:
            at = min(st.depth_actual_um, st.depth_set_um - um)
            return dataclasses.replace(st, depth_actual_um=max(at, 0))

        return edit

    pen = bench.open(port=StatusFilterPort(bench.sim, bench.clock, short_by(DEPTH_TOLERANCE_UM)))
    pen.set_depth(0.8)
    pen.set_rate(100)
    bench.run(pen, 0.3)
    pen.start()
    assert bench.fw.needle_running
    pen.close()
    (Path(bench.store.path).parent / "other").mkdir()
    other = Bench(Path(bench.store.path).parent / "other", seed=2)
    try:
        far = other.open(
            port=StatusFilterPort(other.sim, other.clock, short_by(DEPTH_TOLERANCE_UM + 1))
        )
        far.set_depth(0.8)
        far.set_rate(100)
        with pytest.raises(NotAllowed, match=r"has not reached 0\.80 mm"):
            far.start()
    finally:
        other.close()


def test_an_estop_while_idle_leaves_no_belief_that_the_needle_may_run(bench: Bench) -> None:
    pen = bench.ready(1.0)
    pen.estop()
    assert pen.wait_estop_confirmed(1.0)
    pen.reset("estop")
    bench.run(pen, 0.1)
    stops = len(bench.pen_got("STOP"))
    pen.set_depth(0.5)
    assert len(bench.pen_got("STOP")) == stops, "a needless STOP: the host thinks it may run"


def test_a_start_over_a_slow_link_keeps_running_without_a_contradiction(bench: Bench) -> None:
    """STATUS frames the pen sent before it executed START still arrive after START went out:
    they say IDLE, which is no reason to think the needle stopped."""
    pen = bench.ready(0.8)
    updates = told(pen)
    execute(bench.sim, "fault delay:pen=1:30ms")
    bench.run(pen, 0.1)  # IDLE STATUS frames are on their way when START goes out
    pen.start()
    bench.run(pen, 0.5)
    assert bench.fw.needle_running and not bench.fw.estop_latched
    assert [u for u in updates if u.kind == "contradiction"] == []
