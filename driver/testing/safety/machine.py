"""The safety property machine: a hypothesis state machine over the real driver `Pen` and the
simulated pen on a virtual clock, with faults, and the safety case's invariants after every step.

Rules: set depth and rate to anything (NaN, infinities, negatives, huge, each cap and one step
past it), change zone, change role (a new session with another operator), a typical treatment
step (zone, depth at its cap, rate, start), start, stop, e-stop, reset, let time pass, inject
faults (dropped, corrupted and duplicated frames; link cuts; motor stall; overheat; depth
actuator fault; cartridge removal and reinsertion; flat battery; pen reboot), hang the host or
kill it (time passes for the pen only).

Invariants, after every step (the pen's firmware is the truth):
- cap: the pen's depth set-point never exceeds the governor's cap for the current zone and role
  of the session that set it (the override cap only where an override reason was given);
- home: a home role or a home-class pen never reaches 1.0 mm;
- running: the needle runs only in RUNNING (a session, no latched e-stop or fault);
- watchdog: the needle stops within watchdog_ms of the last valid frame from the host;
- once: every command the driver reports done (an "ack" record) was executed by the pen, and
  the pen accepted no command twice (per (seq, type) within a driver session);
- governed: the pen never has to refuse a governed depth or rate for its own range;
- rate: the pen's rate set-point never exceeds the role's rate cap;
- audit: the hash chain verifies, and every SET_DEPTH the pen executed has its "decision"
  record (same seq and depth) committed before the pen executed it.

Parameterised by a `RigFactory` (as zarr's stateful tests take the store under test):
`machine_for(make_rig)` is a machine class whose rig (pen, port and store) comes from
`make_rig(device=..., seed=..., watchdog_ms=..., seq_start=...)`; the runner in tests/safety
sets its settings (`TestSafetyMachine = machine_for(Rig).TestCase`). What ran is counted in
`counters.COUNTS`.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from driver.errors import DriverError, LinkLost, NoAnswer
from driver.safety import Decision
from driver.safety.policy import ZONE_NAMES
from driver.session import Pen
from driver.testing.strategies import odd_numbers
from protocol import MsgType, State

from .counters import COUNTS
from .parts import one_sentence
from .rig import Rig

__all__ = ["PEN_FAULTS", "REASONS", "ROLES", "ZONES", "RigFactory", "SafetyMachine", "machine_for"]


class RigFactory(Protocol):
    """Makes the rig under test (`Rig` itself, or one with another store, say)."""

    def __call__(
        self, *, device: str, seed: int, watchdog_ms: int, seq_start: int | None
    ) -> Rig: ...


NAN = math.nan
INF = math.inf

ROLES = ["home", "aesthetician", "clinician", "engineer", "clinician-wrong-pin", "home-by-c1"]
ZONES = [*ZONE_NAMES, "nowhere", "", 42, None]
REASONS: list[Any] = [None, "", "   ", "deep acne scarring, discussed and consented", 42]
PEN_FAULTS = [
    "stall",
    "overheat",
    "depth-fault",
    "remove-cartridge",
    "insert-cartridge",
    "reinsert-cartridge",
    "reboot",
    "battery=5",
    "battery=0",
]


class SafetyMachine(RuleBasedStateMachine):
    """The driver + the simulated pen, with an operator, faults and a clock that QA controls."""

    def __init__(self, make_rig: RigFactory = Rig) -> None:
        super().__init__()
        self.make_rig = make_rig
        self.rig: Rig | None = None
        self.host_link_dirty = False  # host -> pen frames may be lost or damaged
        COUNTS.examples += 1

    # --- set-up ------------------------------------------------------------------------------

    @initialize(
        device=st.sampled_from(["professional", "professional", "home"]),
        seed=st.integers(0, 2**32 - 1),
        watchdog_ms=st.sampled_from([300, 300, 150, 1000]),
        seq_start=st.sampled_from([None, 0, 0xFFF0, 0xFFFF]),
        role=st.sampled_from(ROLES),
    )
    def boot(
        self, device: str, seed: int, watchdog_ms: int, seq_start: int | None, role: str
    ) -> None:
        self.rig = self.make_rig(
            device=device, seed=seed, watchdog_ms=watchdog_ms, seq_start=seq_start
        )
        self._begin(role)

    def teardown(self) -> None:
        if self.rig is not None:
            self.rig.close()

    # --- helpers -----------------------------------------------------------------------------

    @property
    def r(self) -> Rig:
        assert self.rig is not None
        return self.rig

    def _call(self, fn: Any, *args: Any) -> Any:
        """Call a driver method; a DriverError is an answer (one sentence), anything else a bug."""
        COUNTS.steps += 1
        try:
            return fn(*args)
        except DriverError as exc:
            one_sentence(exc)
            COUNTS.refusals[type(exc).__name__] += 1
            return exc

    def _begin(self, role: str) -> None:
        kwargs: dict[str, Any] = {}
        if role == "clinician-wrong-pin":
            role, kwargs = "clinician", {"operator": "c1", "pin": "0000"}
        elif role == "home-by-c1":
            role, kwargs = "home", {"operator": "c1", "pin": "1234"}
        self._call(lambda: self.r.connect(role, **kwargs))

    def _pen(self) -> Pen | None:
        return self.r.pen

    def _fault(self, name: str) -> None:
        COUNTS.faults[name] += 1

    # --- rules: the operator -----------------------------------------------------------------

    @rule(role=st.sampled_from(ROLES))
    def new_session(self, role: str) -> None:
        self._begin(role)

    @rule(data=st.data())
    def set_depth(self, data: st.DataObject) -> None:
        pen = self._pen()
        if pen is None:
            return
        dev = pen.device
        step = dev.depth_step_mm
        edges: list[float] = [
            0.0,
            0.999,
            0.9999999999,
            1.0,
            1.0000000001,
            dev.depth_min_mm,
            dev.depth_min_mm - step,
            dev.depth_max_mm,
            dev.depth_max_mm + step,
            3.0,
            3.05,
        ]
        if pen.zone is not None:
            for override in (False, True):
                cap = pen.governor.cap_for(pen.role, pen.zone, dev, override=override)
                if cap is not None:
                    edges += [cap, cap + step, round(cap + step, 3), cap - step, cap + 0.001]
        depth = data.draw(st.one_of(st.sampled_from(edges), odd_numbers, st.floats(0, 3.5)))
        reason = data.draw(st.sampled_from(REASONS))
        self._set_depth(pen, depth, reason)

    def _set_depth(self, pen: Pen, depth: Any, reason: Any) -> None:
        session = self.r.current
        assert session is not None
        zone = pen.zone
        if isinstance(reason, str) and reason.strip() and zone is not None:
            session.override_zones.add(zone)
        fw = self.r.fw
        before = (fw.depth_set_um, pen.depth_decision)
        applied_before = self.r.applied_count()
        got = self._call(pen.set_depth, depth, reason)
        if not isinstance(got, Decision):
            return
        if not got.sendable:
            # bad input never changes state: nothing was sent, nothing moved
            assert (fw.depth_set_um, pen.depth_decision) == before
            sent = self.r.applied_since(applied_before)
            assert not [a for a in sent if a.type_code == MsgType.SET_DEPTH]
            return
        assert got.depth_um is not None
        assert fw.depth_set_um == got.depth_um, "an acknowledged depth is the pen's set-point"
        if got.override_reason is None and zone is not None:
            session.override_zones.discard(zone)

    @rule(data=st.data())
    def set_rate(self, data: st.DataObject) -> None:
        pen = self._pen()
        if pen is None:
            return
        dev = pen.device
        edges: list[float] = [0, 1, dev.rate_min_hz - 1, dev.rate_min_hz, dev.rate_max_hz]
        edges.append(dev.rate_max_hz + 1)
        edges += [100, 100.5, 150, 151, 10**9]
        rate = data.draw(st.one_of(st.sampled_from(edges), odd_numbers))
        fw = self.r.fw
        before = (fw.rate_set_hz, pen.rate_decision)
        got = self._call(pen.set_rate, rate)
        if isinstance(got, Decision):
            if got.sendable:
                assert fw.rate_set_hz == got.rate_hz
            else:
                assert (fw.rate_set_hz, pen.rate_decision) == before

    @rule(zone=st.sampled_from(ZONES), reason=st.sampled_from(REASONS))
    def select_zone(self, zone: Any, reason: Any) -> None:
        pen = self._pen()
        if pen is not None:
            self._select_zone(pen, zone, reason)

    def _select_zone(self, pen: Pen, zone: Any, reason: Any) -> None:
        session = self.r.current
        assert session is not None
        if isinstance(reason, str) and reason.strip() and isinstance(zone, str):
            session.override_zones.add(zone)
        before = self.r.fw.depth_set_um
        got = self._call(pen.select_zone, zone, reason)
        after = self.r.fw.depth_set_um
        assert after <= before, f"a zone change raised the set-point from {before} to {after} µm"
        if isinstance(got, Decision) and got.override_reason is None:
            session.override_zones.discard(zone)

    @rule(
        zone=st.sampled_from(ZONE_NAMES),
        fraction=st.sampled_from([0.5, 1.0, 1.0, 2.0]),
        override=st.booleans(),
        go=st.booleans(),
    )
    def treat(self, zone: str, fraction: float, override: bool, go: bool) -> None:
        """What an operator mostly does: choose a zone, go to (a share of) its cap, set a
        rate and maybe start; it brings the pen to deep, running states that the single
        rules reach only rarely."""
        pen = self._pen()
        if pen is None:
            return
        reason = "documented clinical need" if override else None
        self._select_zone(pen, zone, reason)
        cap = pen.cap_mm() if pen.zone is not None else None
        if cap is None or pen.dead is not None:
            return
        if override and pen.zone is not None:
            cap = pen.governor.cap_for(pen.role, pen.zone, pen.device, override=True) or cap
        self._set_depth(pen, round(cap * fraction, 3), reason)
        self._call(pen.set_rate, 100)
        if go:
            self._call(pen.start)

    @rule()
    def start(self) -> None:
        pen = self._pen()
        if pen is not None:
            self._call(pen.start)

    @rule()
    def stop(self) -> None:
        pen = self._pen()
        if pen is None:
            return
        got = self._call(pen.stop)
        if got is None:
            assert not self.r.fw.needle_running, "STOP was acknowledged, yet the needle runs"

    @rule()
    def estop(self) -> None:
        session = self.r.current
        if session is None or session.pen is None or session.pen.closed or session.abandoned:
            return
        pen = session.pen
        COUNTS.steps += 1
        pen.estop()  # never raises, whatever the state of the session
        self.r.note_estop()
        self.r.sync()
        clean = not self.host_link_dirty and not self.r.sim.link.is_cut(self.r.sim.now_ms)
        if clean:
            fw = self.r.fw
            assert not fw.needle_running, "the needle runs after an e-stop on a clean link"
            assert fw.state == State.ESTOP

    @rule(what=st.sampled_from(["fault", "estop", "fault", "estop", "both", "nonsense"]))
    def reset(self, what: str) -> None:
        pen = self._pen()
        if pen is None:
            return
        for w in ("fault", "estop") if what == "both" else (what,):
            answer = self._call(pen.reset, w)
            # A RESET 2 sent whose every answer was lost (NoAnswer, a lost link) may still have
            # reached the pen: only RESET 2 (or a reboot, tracked apart) clears the pen's
            # latch, so a latch that is off after such an attempt was released by it. A
            # refusal before sending (NotAllowed) released nothing.
            sent = answer is None or isinstance(answer, NoAnswer | LinkLost)
            if w == "estop" and sent and (answer is None or not self.r.fw.estop_latched):
                self.r.note_estop_released()

    # --- rules: time and the host ------------------------------------------------------------

    @rule(ms=st.sampled_from([1, 5, 20, 49, 50, 51, 99, 100, 101, 250, 299, 300, 301, 1000, 3000]))
    def advance(self, ms: int) -> None:
        COUNTS.steps += 1
        self.r.run(ms / 1000)

    @rule(ms=st.sampled_from([50, 150, 250, 299, 301, 350, 500, 1200]), dies=st.booleans())
    def hang_or_kill_host(self, ms: int, dies: bool) -> None:
        """The host stops: no reads, no heartbeat. A hung host comes back; a dead one never
        does (its Pen is abandoned, as a killed process leaves it)."""
        self._fault("host_killed" if dies else "host_hung")
        COUNTS.steps += 1
        self.r.run(ms / 1000, poll=False)
        if self.r.link_clean_since is not None:  # a host that was away resends from now on
            self.r.link_clean_since = max(self.r.link_clean_since, self.r.fw.now_ms)
        session = self.r.current
        if dies and session is not None:
            session.abandoned = True
            self.r.note_host_killed()
            self.r.run(self.r.config.watchdog_ms / 1000 + 0.01, poll=False)
            assert not self.r.fw.needle_running, "the needle outlived a dead host"

    # --- rules: faults -----------------------------------------------------------------------

    @rule(
        kind=st.sampled_from(["drop", "corrupt", "dup"]),
        sender=st.sampled_from(["", ":host", ":pen"]),
        p=st.sampled_from([0.0, 0.05, 0.2, 0.5, 1.0]),
    )
    def link_fault(self, kind: str, sender: str, p: float) -> None:
        if p > 0:
            self._fault(kind)
        COUNTS.steps += 1
        self.r.sim.apply(f"{kind}{sender}={p}")
        if kind in ("drop", "corrupt") and sender != ":pen" and p > 0:
            self.host_link_dirty = True
            self.r.link_clean_since = None

    @rule()
    def clean_link(self) -> None:
        COUNTS.steps += 1
        self.r.sim.link.clear()
        self.host_link_dirty = False
        # a cut already under way still runs to its end
        self.r.link_clean_since = max(self.r.fw.now_ms, self.r.cut_until_ms)

    @rule(ms=st.sampled_from([10, 100, 250, 350, 600, 2000]), wait=st.booleans())
    def cut_link(self, ms: int, wait: bool) -> None:
        self._fault("cut")
        COUNTS.steps += 1
        r = self.r
        r.sync()
        r.sim.apply(f"cut@0ms:{ms}ms", from_now=True)
        r.cut_until_ms = max(r.cut_until_ms, r.fw.now_ms + ms)
        if r.link_clean_since is not None:
            r.link_clean_since = max(r.link_clean_since, r.fw.now_ms + ms)
        pen = self._pen()
        was_alive = pen is not None and pen.alive
        if wait:
            r.run(ms / 1000 + 0.05)
            if was_alive and ms >= 400 and pen is not None:
                assert not pen.alive, "the driver did not notice a link cut of 400 ms or more"

    @rule(fault=st.sampled_from(PEN_FAULTS))
    def pen_fault(self, fault: str) -> None:
        self._fault(fault.split("=")[0])
        COUNTS.steps += 1
        r = self.r
        r.sync()
        r.sim.apply(f"{fault}@0ms", from_now=True)

    @rule()
    def repair_pen(self) -> None:
        """Cool the pen, free the actuator, fit a fresh cartridge, charge the battery."""
        COUNTS.steps += 1
        r = self.r
        r.sync()
        fw = r.fw
        fw.set_temperature(250)
        fw.clear_depth_fault()
        if fw.cartridge_id == 0:
            fw.insert_cartridge(fresh=True)
        fw.set_battery(100)

    # --- invariants (the checks live in rig.Rig) ---------------------------------------

    @invariant()
    def watchdog(self) -> None:
        if self.rig is not None:
            COUNTS.invariants["watchdog"] += 1
            self.r.check_watchdog()

    @invariant()
    def needle_runs_only_in_running(self) -> None:
        if self.rig is not None:
            COUNTS.invariants["running"] += 1
            self.r.check_running()

    @invariant()
    def depth_within_cap(self) -> None:
        if self.rig is not None:
            COUNTS.invariants["cap"] += 1
            COUNTS.invariants["home"] += 1
            self.r.check_depth()

    @invariant()
    def rate_within_cap(self) -> None:
        if self.rig is not None:
            COUNTS.invariants["rate"] += 1
            self.r.check_rate()

    @invariant()
    def estop_latched_once_the_link_is_usable(self) -> None:
        if self.rig is not None:
            COUNTS.invariants["estop_latched"] += 1
            self.r.check_estop()

    @invariant()
    def start_only_at_depth(self) -> None:
        if self.rig is not None:
            COUNTS.invariants["start_at_depth"] += 1
            self.r.check_start_depth()

    @invariant()
    def commands_once_and_audited(self) -> None:
        if self.rig is None:
            return
        records = self.r.store.records()
        COUNTS.invariants["once"] += 1
        COUNTS.invariants["governed"] += 1
        self.r.check_commands(records)
        COUNTS.invariants["audit_chain"] += 1
        COUNTS.invariants["decision_first"] += 1
        self.r.check_audit(records)
        COUNTS.invariants["decided_for_zone"] += 1
        self.r.check_decided(records)


def machine_for(make_rig: RigFactory) -> type[SafetyMachine]:
    """A `SafetyMachine` class whose rigs come from `make_rig` (its `.TestCase` is a test)."""

    class Bound(SafetyMachine):
        def __init__(self) -> None:
            super().__init__(make_rig)

    Bound.__name__ = Bound.__qualname__ = f"SafetyMachine[{getattr(make_rig, '__name__', 'rig')}]"
    return Bound
