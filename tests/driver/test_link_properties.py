"""Properties of the host's sans-IO protocol (driver/link/sansio.py), with no thread and no
port: garbage bytes, cut frames, duplicates, gaps, late answers and time jumps."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import protocol
from driver.link import (
    ESTOP_RESEND_S,
    HEARTBEAT_PERIOD_S,
    Answered,
    EstopConfirmed,
    GiveUp,
    HostProtocol,
    Resend,
    Telemetry,
    Wait,
)
from protocol import Ack, Direction, Frame, MsgType, Nack, NackError, State

ANSWER_TIMEOUT = 0.05
RESENDS = 3
COMMANDS = [MsgType.SET_DEPTH, MsgType.SET_RATE, MsgType.START, MsgType.STOP, MsgType.RESET]

states = st.sampled_from(list(State))
seqs = st.integers(0, 0xFFFF)


def status(state: State = State.IDLE) -> protocol.Status:
    return protocol.Status(
        state, protocol.Fault(0), 500, 500, 100, 100, 0, 0, 250, 90, 0,
        protocol.CartridgeState.NONE, 0,
    )  # fmt: skip


def command(kind: MsgType) -> protocol.Message:
    return {
        MsgType.SET_DEPTH: protocol.SetDepth(500),
        MsgType.SET_RATE: protocol.SetRate(100),
        MsgType.START: protocol.Start(),
        MsgType.STOP: protocol.Stop(),
        MsgType.RESET: protocol.Reset(2),
    }[kind]


pen_messages = st.one_of(
    states.map(status),
    st.sampled_from(list(protocol.EventCode)).map(protocol.Event),
    st.sampled_from([*COMMANDS, MsgType.ESTOP]).map(Ack),
    st.sampled_from(COMMANDS).map(lambda k: Nack(k, NackError.BAD_STATE, 0)),
)


def machine(seed: int = 1) -> HostProtocol:
    return HostProtocol(rng=random.Random(seed), answer_timeout=ANSWER_TIMEOUT, resends=RESENDS)


def cut(data: bytes, points: list[int]) -> list[bytes]:
    edges = sorted({p % (len(data) + 1) for p in points} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def feed(m: HostProtocol, chunks: list[bytes], now: float = 0.0) -> list[object]:
    return [e for c in chunks for e in m.receive_data(c, now)]


@given(st.lists(st.binary(max_size=80), max_size=30), st.sets(seqs, max_size=5))
def test_garbage_never_raises_and_never_answers_what_was_not_asked(
    chunks: list[bytes], asked: set[int]
) -> None:
    m = machine()
    for seq in asked:
        m.request(protocol.SetDepth(500), seq, 0.0)
    answered: list[int] = []
    for e in feed(m, chunks):
        assert isinstance(e, Telemetry | Answered | EstopConfirmed)
        if isinstance(e, Telemetry):
            assert e.message.TYPE in (MsgType.STATUS, MsgType.EVENT)
        if isinstance(e, Answered):
            assert e.seq in asked and m.answer(e.seq) == e.message
            answered.append(e.seq)
    assert len(answered) == len(set(answered))  # each request answered at most once
    assert m.pending == asked


@given(st.lists(st.tuples(pen_messages, seqs), max_size=25), st.lists(st.integers(0, 5000)))
def test_any_cut_of_the_stream_gives_the_same_events(
    frames: list[tuple[protocol.Message, int]], points: list[int]
) -> None:
    stream = b"".join(protocol.encode(msg, seq) for msg, seq in frames)
    whole, pieces = machine(), machine()
    for m in (whole, pieces):
        m.request(protocol.SetDepth(500), 7, 0.0)
        m.send_estop(0.0)
    assert feed(whole, [stream]) == feed(pieces, cut(stream, points))
    assert whole.stats == pieces.stats
    assert whole.stats.frames_in == len(frames)


@given(st.lists(st.tuples(st.binary(max_size=40), states), max_size=20), seqs)
def test_a_frame_after_garbage_and_a_zero_always_gets_through(
    items: list[tuple[bytes, State]], first: int
) -> None:
    m = machine()
    stream = b"".join(
        junk + b"\x00" + protocol.encode(status(state), (first + i) % 0x10000)
        for i, (junk, state) in enumerate(items)
    )
    got = [e for e in feed(m, [stream]) if isinstance(e, Telemetry)]
    assert [e.seq for e in got] == [(first + i) % 0x10000 for i in range(len(items))]
    assert [e.message for e in got] == [status(s) for _, s in items]
    assert m.stats.status_gaps == 0 and m.stats.duplicates == 0


@given(seqs, st.lists(st.tuples(st.integers(1, 50), st.booleans()), min_size=1, max_size=40))
def test_gaps_and_duplicates_are_counted_exactly(first: int, steps: list[tuple[int, bool]]) -> None:
    m = machine()
    seq, stream, gaps, dups = first, [protocol.encode(status(), first)], 0, 0
    for step, twice in steps:
        seq = (seq + step) % 0x10000
        gaps += step - 1
        stream.append(protocol.encode(status(), seq))
        if twice:
            dups += 1
            stream.append(protocol.encode(status(), seq))
    got = [e for e in feed(m, stream) if isinstance(e, Telemetry)]
    assert len(got) == len(steps) + 1
    assert (m.stats.status_gaps, m.stats.duplicates) == (gaps, dups)


# --- requests, answers, time: a stateful model -------------------------------------------------


@dataclass
class Req:
    command: MsgType
    frame: bytes
    deadline: float
    attempts: int = 0
    answered: bool = False


@dataclass
class Model:
    now: float = 0.0
    reqs: dict[int, Req] = field(default_factory=dict)
    over: set[int] = field(default_factory=set)  # forgotten: an answer now is a stray
    strays: int = 0
    heartbeats: list[float] = field(default_factory=list)
    estops: list[float] = field(default_factory=list)


class HostProtocolMachine(RuleBasedStateMachine):
    """Requests, answers (right, wrong, duplicated, late), garbage, ticks and time jumps,
    against a model of what the machine must decide."""

    @initialize(seed=st.integers(0, 2**32))
    def setup(self, seed: int) -> None:
        self.m = machine(seed)
        self.model = Model()
        self.m.enable_heartbeat(0.0)
        self.model.heartbeats.append(0.0)  # the first one is due a period after this
        self.ui_deadline: float | None = None
        self.pen_seq = 0

    @rule(dt=st.one_of(st.floats(0, 0.2), st.floats(0, 100)))
    def time_passes(self, dt: float) -> None:
        self.model.now += dt

    @precondition(lambda self: len(self.model.reqs) < 8)
    @rule(kind=st.sampled_from(COMMANDS))
    def request(self, kind: MsgType) -> None:
        seq = self.m.next_seq()
        data = self.m.request(command(kind), seq, self.model.now)
        frames = protocol.Decoder(Direction.PEN).feed(data)
        assert frames == [Frame(seq, command(kind))]
        self.model.reqs[seq] = Req(kind, data.lstrip(b"\x00"), self.model.now + ANSWER_TIMEOUT)

    @rule(data=st.data(), right=st.booleans(), known=st.booleans())
    def pen_answers(self, data: st.DataObject, right: bool, known: bool) -> None:
        pool = sorted(self.model.reqs) + sorted(self.model.over)
        seq = data.draw(st.sampled_from(pool)) if known and pool else data.draw(seqs)
        req = self.model.reqs.get(seq)
        kind = req.command if req is not None else MsgType.SET_DEPTH
        if not right:
            kind = data.draw(st.sampled_from([k for k in COMMANDS if k != kind]))
        events = self.m.receive_data(protocol.encode(Ack(kind), seq), self.model.now)
        if req is not None and right and not req.answered:
            req.answered = True
            assert events == [Answered(seq, Ack(kind))]
        else:
            self.model.strays += 1
            assert events == []

    @rule(junk=st.binary(max_size=60))
    def garbage(self, junk: bytes) -> None:
        """Noise on the line, ended by a 0x00 (unended, it swallows the next frame: see
        test_garbage_never_raises_and_never_answers_what_was_not_asked)."""
        for e in self.m.receive_data(junk + b"\x00", self.model.now):
            assert isinstance(e, Telemetry)  # no garbage ever answers a request

    @precondition(lambda self: bool(self.model.reqs))
    @rule(data=st.data())
    def follow_up(self, data: st.DataObject) -> None:
        seq = data.draw(st.sampled_from(sorted(self.model.reqs)))
        req, now = self.model.reqs[seq], self.model.now
        step = self.m.follow_up(seq, now)
        if req.answered:
            assert step is None
        elif now < req.deadline:
            assert isinstance(step, Wait) and 0 < step.seconds <= ANSWER_TIMEOUT + 1e-9
        elif req.attempts >= RESENDS:
            assert step == GiveUp(seq, req.command, RESENDS, (RESENDS + 1) * ANSWER_TIMEOUT)
        else:
            req.attempts += 1
            req.deadline = now + ANSWER_TIMEOUT
            assert step == Resend(seq, req.attempts, b"\x00" + req.frame)

    @precondition(lambda self: bool(self.model.reqs))
    @rule(data=st.data())
    def forget(self, data: st.DataObject) -> None:
        seq = data.draw(st.sampled_from(sorted(self.model.reqs)))
        self.m.forget(seq)
        del self.model.reqs[seq]
        self.model.over.add(seq)

    @rule(timeout=st.floats(0.01, 5.0))
    def ui_keepalive(self, timeout: float) -> None:
        self.m.keepalive(timeout, self.model.now)
        self.ui_deadline = self.model.now + timeout

    @rule()
    def estop(self) -> None:
        self.m.send_estop(self.model.now)
        self.model.estops.append(self.model.now)

    @rule(state=states)
    def pen_status(self, state: State) -> None:
        was_pending = self.m.estop_pending
        self.pen_seq += 1
        events = self.m.receive_data(protocol.encode(status(state), self.pen_seq), self.model.now)
        confirmed = was_pending and state == State.ESTOP
        assert (EstopConfirmed(heartbeat_on=True) in events) == confirmed
        assert not self.m.estop_pending or not confirmed

    @rule()
    def tick(self) -> None:
        now = self.model.now
        out = self.m.tick(now)
        assert len(out) <= 2
        for item in out:
            msg = protocol.Decoder(Direction.PEN).feed(item.data)[0]
            assert isinstance(msg, Frame)
            if item.estop:
                assert msg.message == protocol.Estop() and self.m.estop_pending
                assert now - self.model.estops[-1] >= ESTOP_RESEND_S - 1e-9
                self.model.estops.append(now)
            else:
                assert msg.message == protocol.Heartbeat() and not self.m.estop_pending
                assert self.ui_deadline is None or now <= self.ui_deadline
                if self.model.heartbeats:
                    assert now - self.model.heartbeats[-1] >= HEARTBEAT_PERIOD_S - 1e-9
                self.model.heartbeats.append(now)

    @invariant()
    def agrees_with_the_model(self) -> None:
        assert self.m.pending == frozenset(self.model.reqs)
        assert self.m.stats.stray_answers == self.model.strays
        for seq, req in self.model.reqs.items():
            assert (self.m.answer(seq) is not None) == req.answered


TestHostProtocolMachine = HostProtocolMachine.TestCase
TestHostProtocolMachine.settings = settings(stateful_step_count=50)
