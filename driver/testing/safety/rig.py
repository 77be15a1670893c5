"""A rig for the safety suites: the real driver `Pen` against the simulator on a virtual clock.

Nothing here sleeps or starts a thread. The rig owns the clock, the simulation, the audit
store (made by a `StoreFactory`, SQLite by default) and the chain of `Pen` sessions opened on
it, and it watches the pen from the inside (the firmware is the truth) so that the invariants
can be checked after any step:

- every valid frame the pen receives is timed (`last_rx_ms`), so "the needle stops within
  watchdog_ms of the link going quiet" can be checked against the pen's own clock;
- every SET_DEPTH the pen executes is noted with the audit store's head at that instant, so
  "its decision was committed before it" can be checked afterwards;
- every HELLO the pen accepts, every boot and every watchdog trip resets the pen's
  set-points, and the rig remembers which driver session owns the set-points since then.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from contextlib import suppress

from driver.audit import Record
from driver.errors import DriverError
from driver.session import Pen, forget_estops
from protocol import DeviceClass, State
from simulator.firmware import Applied, Firmware, LogRecord, PenConfig
from simulator.simulation import Simulation
from simulator.virtual import VirtualClock, VirtualPort

from .parts import (
    HOME_LIMIT_UM,
    OPERATORS,
    POLL_S,
    DepthApplied,
    FirstSeq,
    Session,
    StoreFactory,
    accepted,
    ack_records,
    cap_um,
    default_store,
    refused_out_of_range,
    scratch_dir,
)

__all__ = ["Rig"]


class Rig:
    """Clock + simulation + store + the driver sessions opened on them."""

    def __init__(
        self,
        *,
        device: str = "professional",
        seed: int = 0,
        watchdog_ms: int = 300,
        seq_start: int | None = None,
        make_store: StoreFactory = default_store,
    ) -> None:
        """`make_store`: the audit store under test, made in the rig's scratch directory
        (the rig adds its operators and closes it)."""
        forget_estops()  # a rig is one host process: it starts with no e-stop outstanding
        self.tmp = tempfile.mkdtemp(prefix="needlepen-safety-", dir=scratch_dir())
        self.store = make_store(self.tmp)
        admin = OPERATORS["clinician"]  # the first operator administers the store
        for role, (op_id, pin) in OPERATORS.items():
            by = None if op_id == admin[0] else admin
            self.store.add_operator(op_id, f"Test {role}", role, pin, by=by)
        self.clock = VirtualClock()
        self.config = PenConfig.for_device_class(device, watchdog_ms=watchdog_ms)
        self.sim = Simulation(self.config, seed=seed)
        self.fw: Firmware = self.sim.firmware
        self.sessions: list[Session] = []
        self.current: Session | None = None
        #: the session whose HELLO set the pen's set-points last (None: reset by a boot or trip)
        self.owner: Session | None = None
        self.depth_applied: list[DepthApplied] = []
        self.watchdog_trips: list[tuple[float, int]] = []  # (pen time, silence in ms)
        self.last_rx_ms = self.fw.now_ms
        #: an e-stop the operator pressed and has not released (pen time of the press)
        self.estop_pressed_ms: float | None = None
        self.rebooted_since_estop = False
        #: pen time since which host -> pen frames arrive unharmed (None: not now)
        self.link_clean_since: float | None = self.fw.now_ms
        self.cut_until_ms = 0.0  # pen time at which the last link cut ends
        #: (depth_actual_um, depth_set_um) of the pen at each STARTED event
        self.start_depths: list[tuple[int, int]] = []
        self._start_checked = 0
        self._decoder = self.fw.decoder
        self._frames_seen = self._decoder.frames
        self._depth_checked = 0
        self._connecting: Session | None = None
        self.fw.add_listener(self._on_pen_record)
        self._wrap_feed()
        self._next_seq_start = seq_start

    # --- set-up and tear-down --------------------------------------------------------------

    def _rng(self) -> random.Random:
        """The link's randomness: its first seq chosen by the test (near the wrap, say), else
        counted up; the HELLO nonce from a generator seeded per session (a run repeats)."""
        start = self._next_seq_start
        if start is None:
            start = (len(self.sessions) * 7919) & 0xFFFF
        self._next_seq_start = (start + 4099) & 0xFFFF
        return FirstSeq(start, seed=len(self.sessions))

    def close(self) -> None:
        """Close every session still open, the store, and remove the temp dir."""
        try:
            for s in self.sessions:
                if s.pen is not None and not s.pen.closed:
                    with suppress(DriverError):
                        s.pen.close("test over")
        finally:
            self.store.close()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _wrap_feed(self) -> None:
        """Time every valid frame the pen receives (the firmware's own watchdog input)."""
        fw = self.fw
        original = fw.feed

        def feed(data: bytes) -> None:
            original(data)
            decoder = fw.decoder
            if decoder is not self._decoder:  # rebooted inside: a new decoder
                self._decoder, self._frames_seen = decoder, 0
            if decoder.frames != self._frames_seen:
                self._frames_seen = decoder.frames
                self.last_rx_ms = fw.now_ms

        fw.feed = feed  # type: ignore[method-assign]

    def _on_pen_record(self, record: LogRecord) -> None:
        fields = record.fields
        if record.event == "SET_DEPTH" and "seq" in fields:
            seq, depth = fields["seq"], fields["depth_um"]
            assert isinstance(seq, int) and isinstance(depth, int)
            index = self.current.index if self.current is not None else -1
            self.depth_applied.append(DepthApplied(seq, depth, self.store.head(), index))
        elif record.event == "HELLO" and "seq" in fields:
            self.owner = self._connecting or self.current
        elif record.event == "STARTED":
            self.start_depths.append((self.fw.depth_actual_um, self.fw.depth_set_um))
        elif record.event in ("BOOT", "WATCHDOG_TRIPPED"):
            self.owner = None
            if record.event == "BOOT":
                self.rebooted_since_estop = True
            if record.event == "WATCHDOG_TRIPPED":
                silence = fields.get("silence_ms")
                assert isinstance(silence, int)
                self.watchdog_trips.append((record.t_ms, silence))

    # --- driving ---------------------------------------------------------------------------

    def sync(self) -> None:
        """Bring the pen's clock up to the rig's (as a port read would)."""
        now_ms = self.clock.now() * 1000.0
        if now_ms > self.sim.now_ms:
            self.sim.tick(now_ms)

    def connect(
        self,
        role: str = "home",
        *,
        operator: str | None = None,
        pin: str | None = None,
        client: str | None = None,
    ) -> Session:
        """Close the current session, connect a new `Pen` and begin (errors propagate, and
        the session is kept as far as it got: connected without a session if begin failed)."""
        self.close_current()
        self.sync()
        session = Session(index=len(self.sessions))
        records = self.store.records()
        session.records_before = records[-1].id if records else 0
        session.applied_before = self.applied_count()
        if self.current is not None:
            self.current.records_until = session.records_before
            self.current.applied_until = session.applied_before
        self.sessions.append(session)
        self.current = session
        self._connecting = session
        try:
            port = VirtualPort(self.sim, self.clock)
            session.pen = Pen.connect(
                f"virtual://{session.index}",
                db=self.store,
                port=port,
                clock=self.clock.now,
                idle=self.clock.advance,
                rng=self._rng(),
            )
        finally:
            self._connecting = None
        if role in OPERATORS and operator is None:
            operator, pin = OPERATORS[role]
        if client is None and role in ("aesthetician", "clinician"):
            client = "rig-client"  # a professional session names its client
        session.pen.begin(role=role, operator=operator, pin=pin, client=client)
        session.role = session.pen.role
        return session

    def close_current(self) -> None:
        s = self.current
        if s is not None and s.pen is not None and not s.abandoned and not s.pen.closed:
            s.pen.close("next session")

    @property
    def pen(self) -> Pen | None:
        s = self.current
        if s is None or s.abandoned or s.pen is None or s.pen.closed:
            return None
        return s.pen

    def run(self, seconds: float, poll: bool = True, step: float = POLL_S) -> None:
        """Let `seconds` of virtual time pass; the host's reader turns every `step` unless
        `poll` is False (a host that hangs or died: the pen alone lives on)."""
        end = self.clock.now() + seconds
        while self.clock.now() < end - 1e-12:
            self.clock.advance(min(step, end - self.clock.now()))
            pen = self.pen
            if poll and pen is not None:
                pen.poll()
            else:
                self.sync()
            self.check_watchdog()

    # --- truth from inside the pen ---------------------------------------------------------

    def applied_count(self) -> int:
        return sum(self.fw.executions.values())

    def applied_since(self, start: int) -> list[Applied]:
        """Commands the firmware executed since it had executed `start` of them."""
        total = self.applied_count()
        new = total - start
        if new <= 0:
            return []
        items = list(self.fw.applied)
        if new > len(items):  # pragma: no cover - the firmware keeps 4096
            raise AssertionError("the firmware's log of executed commands overflowed")
        return items[-new:]

    def check_watchdog(self) -> None:
        """The needle never runs longer than watchdog_ms after the last valid frame, and
        every watchdog trip came exactly watchdog_ms after it (to the pen's 1 ms rounding)."""
        wd = self.config.watchdog_ms
        if self.fw.needle_running:
            quiet = self.fw.now_ms - self.last_rx_ms
            assert quiet <= wd + 1e-6, (
                f"the needle still runs {quiet:.1f} ms after the last valid frame "
                f"(watchdog {wd} ms)"
            )
        for t_ms, silence in self.watchdog_trips:
            assert silence <= wd + 1, f"the watchdog tripped after {silence} ms at {t_ms} ms"

    # --- the invariants (the safety machine calls these after every step) ----------------

    def check_running(self) -> None:
        """The needle runs only in RUNNING: a session, no latched e-stop, no latched fault."""
        fw = self.fw
        if fw.needle_running:
            assert fw.state == State.RUNNING, f"the needle runs in {fw.state.name}"
            assert fw.session_open and not fw.estop_latched and not fw.latched_faults
        else:
            assert fw.rate_actual_hz == 0, "the motor turns with the needle stopped"

    def check_depth(self) -> None:
        """The pen's set-point is within the governor's cap for the zone and role of the
        session that set it (the override cap where a reason was given), and a home role or
        a home pen never reaches 1.0 mm."""
        fw = self.fw
        depth = fw.depth_set_um
        if self.config.device_class == DeviceClass.HOME:
            assert depth < HOME_LIMIT_UM and fw.depth_actual_um < HOME_LIMIT_UM
        if depth == self.config.depth_min_um:
            return  # the reset value: every boot, HELLO and watchdog trip comes back to it
        owner = self.owner
        assert owner is not None, f"the pen holds {depth} µm that no live session set"
        pen = owner.pen
        assert pen is not None and owner.role is not None, (
            f"the pen holds {depth} µm set by a session that never began"
        )
        if owner.role == "home":
            assert depth < HOME_LIMIT_UM, f"a home session reached {depth} µm"
        zone = pen.zone
        assert zone is not None, f"the pen holds {depth} µm but no zone was chosen"
        override = zone in owner.override_zones
        cap = cap_um(pen.governor.cap_for(pen.role, zone, pen.device, override=override))
        assert cap is not None, f"the pen holds {depth} µm on {zone}, where {pen.role} has no cap"
        assert depth <= cap, (
            f"the pen's set-point {depth} µm is above the {pen.role} cap for {zone} "
            f"({cap} µm, override={override})"
        )

    def check_rate(self) -> None:
        """The pen's rate set-point never exceeds the role's rate cap."""
        rate = self.fw.rate_set_hz
        if rate == self.config.rate_min_hz:
            return
        owner = self.owner
        assert owner is not None and owner.pen is not None and owner.role is not None, (
            f"the pen runs at {rate} Hz that no live session set"
        )
        span = owner.pen.governor.rate_range_for(owner.role, owner.pen.device)
        assert span is not None and rate <= span[1], f"{rate} Hz is above the {owner.role} cap"

    def check_commands(self, records: list[Record]) -> None:
        """Per driver session: no command executed twice, every command the driver logged as
        acknowledged executed, and no governed value refused by the pen's own range."""
        for s in self.sessions:
            if s.final_checked:
                continue
            items = self.applied_since(s.applied_before)
            if s.applied_until is not None:
                items = items[: max(0, s.applied_until - s.applied_before)]
            done = accepted(items)
            twice = {k: n for k, n in done.items() if n > 1}
            assert not twice, f"commands executed more than once: {twice}"
            scope = [r for r in records if s.records_until is None or r.id <= s.records_until]
            for key in ack_records(scope, s.records_before):
                assert done[key] >= 1, f"the driver reports {key} done; the pen never ran it"
            bad = refused_out_of_range(items)
            assert not bad, f"the pen refused governed values: {bad}"
            s.final_checked = s.applied_until is not None

    def check_audit(self, records: list[Record]) -> None:
        """The hash chain verifies, and every SET_DEPTH the pen executed has its decision
        record (same seq, same depth, same session) committed before the pen executed it."""
        result = self.store.verify()
        assert result.ok, f"the audit chain does not verify: {result.problem}"
        ids = {rec.hash: rec.id for rec in records}
        for applied in self.depth_applied[self._depth_checked :]:
            owner = self.sessions[applied.session] if applied.session >= 0 else None
            assert owner is not None and owner.pen is not None, "a depth set outside any session"
            sid = owner.pen.session_id
            limit = ids[applied.head]
            wanted = {"type": "SET_DEPTH", "seq": applied.seq, "depth_um": applied.depth_um}
            found = [
                rec
                for rec in records
                if rec.kind == "decision"
                and rec.session_id == sid
                and rec.id <= limit
                and rec.data.get("command") == wanted
            ]
            assert found, (
                f"SET_DEPTH {applied.depth_um} µm (seq {applied.seq}) was executed with no "
                "decision committed before it"
            )
        self._depth_checked = len(self.depth_applied)

    # --- the command-path invariants (issue 10) ---------------------------------------------

    def note_estop(self) -> None:
        if self.estop_pressed_ms is None:
            self.estop_pressed_ms = self.fw.now_ms
            self.rebooted_since_estop = False

    def note_estop_released(self) -> None:
        self.estop_pressed_ms = None

    def note_host_killed(self) -> None:
        """A killed host takes its memory of e-stops with it (the next one is a new process)."""
        forget_estops()
        self.estop_pressed_ms = None

    def check_estop(self) -> None:
        """An e-stop that was pressed and not released is latched at the pen once the link
        has carried host frames unharmed for 60 ms with a host reading it (unless the pen
        rebooted since, which clears every latch; then START is refused by the host)."""
        if self.estop_pressed_ms is None or self.rebooted_since_estop or self.pen is None:
            return
        since = self.link_clean_since
        if since is None or self.fw.now_ms - max(since, self.estop_pressed_ms) < 60:
            return
        if self.sim.link.is_cut(self.sim.now_ms):
            return
        assert self.fw.estop_latched, (
            f"an e-stop pressed at {self.estop_pressed_ms:.0f} ms is not latched at the pen "
            f"{self.fw.now_ms - self.estop_pressed_ms:.0f} ms later on a clean link"
        )

    def check_start_depth(self) -> None:
        """At every START the pen executed, the needle was within the tolerance of its
        set-point (it had finished moving to a shallower one)."""
        from driver.session import DEPTH_TOLERANCE_UM

        for actual, wanted in self.start_depths[self._start_checked :]:
            assert abs(actual - wanted) <= DEPTH_TOLERANCE_UM, (
                f"the needle started at {actual} µm, its set-point is {wanted} µm"
            )
        self._start_checked = len(self.start_depths)

    def check_decided(self, records: list[Record]) -> None:
        """While the needle runs for a live session, the depth in force has a decision
        record for the zone it is used on."""
        pen = self.pen
        if not self.fw.needle_running or pen is None or not pen.alive or pen.zone is None:
            return
        if self.owner is not self.current or pen.session_id < 0:
            return
        depth = self.fw.depth_set_um
        found = any(
            r.kind == "decision"
            and r.session_id == pen.session_id
            and r.data.get("what") == "depth"
            and r.data.get("zone") == pen.zone
            and r.data.get("depth_um") == depth
            for r in records
        )
        assert found, f"the needle runs at {depth} µm on {pen.zone} with no decision for it"

    def check_all(self) -> None:
        """Every invariant, as the safety machine checks them after each step."""
        self.check_watchdog()
        self.check_running()
        self.check_depth()
        self.check_rate()
        self.check_estop()
        self.check_start_depth()
        records = self.store.records()
        self.check_commands(records)
        self.check_audit(records)
