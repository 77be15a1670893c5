"""The rules docs/PROTOCOL.md "Pen behaviour in detail" writes down, checked on the simulator.

Issue 13 section 2: every point a firmware engineer had to guess has a choice, a reason and a
test; these are the tests (all on the virtual clock). The state table is read from the
document itself, so the text and the pen cannot drift apart.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from driver.testing.host import VirtualHost
from protocol import (
    FLAG_FAULTS,
    LATCHING_FAULTS,
    Ack,
    CartridgeState,
    Estop,
    Event,
    EventCode,
    Fault,
    Frame,
    Heartbeat,
    Hello,
    Info,
    Message,
    MsgType,
    Nack,
    NackError,
    Reset,
    SetDepth,
    SetRate,
    SetTelemetry,
    Start,
    State,
    Status,
    Stop,
    encode,
    fault_bit,
)
from protocol.codec import encode_raw
from simulator.firmware import PenConfig, StopCause
from simulator.simulation import Simulation

DOC = Path(__file__).resolve().parents[2] / "docs" / "PROTOCOL.md"
PRO = PenConfig.professional()
STATES = ("NO_SESSION", "IDLE", "RUNNING", "FAULT", "ESTOP")


# --- the state table ----------------------------------------------------------------------------


def state_table() -> dict[tuple[str, str], str]:
    text = DOC.read_text(encoding="utf-8")
    block = text.split("<!-- BEGIN STATE TABLE -->")[1].split("<!-- END STATE TABLE -->")[0]
    rows = [line for line in block.strip().splitlines() if line.startswith("|")][2:]
    table: dict[tuple[str, str], str] = {}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        command, answers = cells[0], cells[1:]
        assert len(answers) == len(STATES), row
        for state, cell in zip(STATES, answers, strict=True):
            table[(command, state)] = re.split(r"[:(]", cell)[0].strip()
    return table


def in_state(state: str) -> VirtualHost:
    host = VirtualHost(config=PRO, seed=1)
    if state == "NO_SESSION":
        return host
    host.hello()
    if state == "RUNNING":
        assert host.ask(Start()) == Ack(MsgType.START)
    elif state == "FAULT":
        assert host.ask(Start()) == Ack(MsgType.START)
        host.fw.inject_overheat()
        host.fw.set_temperature(250)  # the cause is gone; the latch stays
    elif state == "ESTOP":
        host.ask(Estop())
    host.collect()
    assert host.fw.state.name == state
    return host


COMMANDS: dict[str, Message] = {
    "HELLO": Hello(1, 99),
    "HEARTBEAT": Heartbeat(),
    "SET_DEPTH": SetDepth(PRO.depth_min_um),
    "SET_RATE": SetRate(PRO.rate_min_hz),
    "START": Start(),
    "STOP": Stop(),
    "ESTOP": Estop(),
    "RESET 1": Reset(1),
    "RESET 2": Reset(2),
    "SET_TELEMETRY": SetTelemetry(10),
}


def answer_words(frames: list[Frame]) -> str:
    answers = [f.message for f in frames if isinstance(f.message, Ack | Nack | Info)]
    if not answers:
        return "none"
    [answer] = answers
    if isinstance(answer, Nack):
        return f"NACK {answer.error.name}"
    return "INFO" if isinstance(answer, Info) else "ACK"


def test_the_state_table_covers_every_command_and_state() -> None:
    assert set(state_table()) == {(c, s) for c in COMMANDS for s in STATES}


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("command", list(COMMANDS))
def test_each_state_answers_each_command_as_the_table_says(command: str, state: str) -> None:
    host = in_state(state)
    frames = host.send(COMMANDS[command])
    assert answer_words(frames) == state_table()[(command, state)], (command, state)


def test_latched_pens_without_a_session_answer_like_no_session() -> None:
    for state in ("FAULT", "ESTOP"):
        host = in_state(state)
        host.advance(PRO.watchdog_ms)  # the watchdog ends the session; the latch stays
        assert host.fw.state.name == state and not host.fw.session_open
        for command, msg in COMMANDS.items():
            fresh = in_state(state)
            fresh.advance(PRO.watchdog_ms)
            expected = state_table()[(command, "NO_SESSION")]
            assert answer_words(fresh.send(msg)) == expected, (state, command)


# --- details ----------------------------------------------------------------------------------


def test_every_event_detail() -> None:
    host = VirtualHost(config=PRO, seed=3)
    boot = host.fw.boot_id
    host.fw.reboot()
    assert host.events(host.collect())[0] == Event(EventCode.BOOT, host.fw.boot_id & 0xFFFF)
    assert host.fw.boot_id != boot
    host.hello()
    cid = host.fw.cartridge_id
    host.settle_depth(700)
    frames = host.send(Start())
    assert host.events(frames) == [Event(EventCode.STARTED, 700)]
    host.fw.remove_cartridge()
    assert host.events(host.collect()) == [
        Event(EventCode.CARTRIDGE_REMOVED, cid & 0xFFFF),
        Event(EventCode.FAULT_RAISED, fault_bit(Fault.CARTRIDGE_REMOVED)),
        Event(EventCode.STOPPED, StopCause.FAULT),
    ]
    new = host.fw.insert_cartridge()
    assert host.events(host.collect()) == [Event(EventCode.CARTRIDGE_INSERTED, new & 0xFFFF)]
    assert host.events(host.send(Reset(1))) == [Event(EventCode.FAULT_CLEARED, 5)]
    assert host.events(host.send(Estop())) == [Event(EventCode.ESTOP, 0)]
    frames = host.advance(PRO.watchdog_ms)
    assert host.events(frames) == [Event(EventCode.WATCHDOG_TRIPPED, PRO.watchdog_ms)]


def test_every_nack_detail() -> None:
    def nack(host: VirtualHost, msg: Message) -> Nack:
        answer = host.ask(msg)
        assert isinstance(answer, Nack), answer
        return answer

    host = VirtualHost(config=PRO, seed=4)
    assert nack(host, SetDepth(500)).detail == 0  # NO_SESSION
    assert nack(host, Hello(2, 1)) == Nack(MsgType.HELLO, NackError.UNSUPPORTED_VERSION, 1)
    host.hello()
    assert nack(host, SetDepth(200)).detail == 250  # below the min
    assert nack(host, SetDepth(3050)).detail == 3000  # above the max
    assert nack(host, SetDepth(275)) == Nack(MsgType.SET_DEPTH, NackError.OUT_OF_RANGE, 50)
    assert nack(host, SetRate(10)).detail == 25 and nack(host, SetRate(200)).detail == 150
    assert nack(host, SetTelemetry(201)).detail == 200
    assert nack(host, Reset(0)).detail == 1 and nack(host, Reset(3)).detail == 2
    frames = host.send_raw(encode_raw(0x0A, 40, b""))
    assert frames[0].message == Nack(0x0A, NackError.UNKNOWN_TYPE, 0)
    frames = host.send_raw(encode_raw(MsgType.SET_DEPTH, 41, b"\x01\x02\x03"))
    assert frames[0].message == Nack(MsgType.SET_DEPTH, NackError.BAD_LENGTH, 2)
    host.fw.set_battery(5)
    assert nack(host, Start()) == Nack(MsgType.START, NackError.BATTERY_LOW, 10)
    host.fw.set_battery(90)
    host.fw.remove_cartridge()
    assert nack(host, Start()) == Nack(MsgType.START, NackError.NO_CARTRIDGE, 0)
    host.fw.insert_cartridge()
    host.ask(SetDepth(1500))
    assert nack(host, Start()) == Nack(MsgType.START, NackError.BAD_STATE, 250)
    host.settle_depth(1500)
    assert host.ask(Start()) == Ack(MsgType.START)
    cid = host.fw.cartridge_id
    host.hello(nonce=5)
    assert nack(host, Start()) == Nack(MsgType.START, NackError.CARTRIDGE_USED, cid & 0xFFFF)
    host.fw.remove_cartridge()
    host.fw.insert_cartridge()
    host.settle_depth(1500)
    host.ask(Start())
    host.fw.inject_depth_fault()
    host.fw.remove_cartridge()
    host.advance(200, heartbeat_every=50)
    latched = Fault.DEPTH_ERROR | Fault.CARTRIDGE_REMOVED
    assert host.fw.latched_faults == latched
    assert nack(host, Start()) == Nack(MsgType.START, NackError.FAULT_LATCHED, 0x24)
    assert nack(host, Reset(1)) == Nack(MsgType.RESET, NackError.FAULT_LATCHED, 0x24)
    host.ask(Estop())
    assert nack(host, Start()) == Nack(MsgType.START, NackError.ESTOP_LATCHED, 0)


# --- the watchdog ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "feed",
    [
        lambda host: host.send(SetDepth(275)),  # refused (off the step), but a valid frame
        lambda host: host.send(SetDepth(500), seq=7),  # a resend: answered from the window
        lambda host: host.send(Heartbeat()),
    ],
    ids=["nacked", "resend", "heartbeat"],
)
def test_what_feeds_the_watchdog(feed: Callable[[VirtualHost], object]) -> None:
    host = VirtualHost(config=PRO)
    host.hello()
    host.ask(SetDepth(500), seq=7)
    for _ in range(10):  # 10 x 250 ms: far past one 300 ms watchdog
        host.advance(250)
        feed(host)
    assert host.fw.session_open


@pytest.mark.parametrize(
    "garbage",
    [encode_raw(0x0A, 3, b""), encode_raw(MsgType.HEARTBEAT, 3, b"\x00")],
    ids=["unknown-type", "bad-length"],
)
def test_intact_frames_the_pen_cannot_understand_do_not_feed_it(garbage: bytes) -> None:
    host = VirtualHost(config=PRO)
    host.hello()
    host.advance(250)
    assert host.send_raw(garbage)  # NACKed ...
    host.advance(50)
    assert not host.fw.session_open  # ... but the watchdog tripped on time


# --- latches and flags, ESTOP, cartridges, stamps ------------------------------------------------


def test_latches_and_flags() -> None:
    assert LATCHING_FAULTS == Fault.OVERTEMP | Fault.MOTOR_STALL | Fault.DEPTH_ERROR | (
        Fault.CARTRIDGE_REMOVED
    )
    assert FLAG_FAULTS == Fault.BATTERY_LOW | Fault.WATCHDOG
    # a flag: BATTERY_LOW refuses START but leaves a running needle running
    host = in_state("RUNNING")
    host.fw.set_battery(5)
    host.advance(50, heartbeat_every=20)
    assert host.fw.faults & Fault.BATTERY_LOW and host.fw.state == State.RUNNING
    assert host.ask(Reset(1)) == Ack(MsgType.RESET)
    assert host.fw.faults & Fault.BATTERY_LOW  # RESET never clears a flag
    host.ask(Stop())
    answer = host.ask(Start())
    assert isinstance(answer, Nack) and answer.error == NackError.BATTERY_LOW
    # a latch: stops the needle, FAULT state
    host = in_state("RUNNING")
    host.fw.inject_stall()
    host.advance(30, heartbeat_every=10)
    assert host.fw.state == State.FAULT and not host.fw.needle_running
    assert host.ask(Reset(1)) == Ack(MsgType.RESET)  # the stopped motor ended the stall
    # WATCHDOG: a flag until the next HELLO
    host.advance(PRO.watchdog_ms)
    assert host.fw.faults & Fault.WATCHDOG and host.fw.state == State.NO_SESSION
    host.hello(nonce=8)
    assert not host.fw.faults & Fault.WATCHDOG


def test_estop_keeps_the_set_points() -> None:
    host = VirtualHost(config=PRO)
    host.hello()
    host.settle_depth(1200)
    host.ask(SetRate(120))
    host.ask(Start())
    host.advance(100, heartbeat_every=50)
    host.ask(Estop())
    assert (host.fw.depth_set_um, host.fw.rate_set_hz) == (1200, 120)
    assert host.fw.rate_actual_hz == 0 and not host.fw.needle_running
    assert host.fw.motor_ma == 0


def test_estop_confirmation_through_a_cut() -> None:
    """Copies spaced 20 ms apart: a 50 ms cut swallows the first ones, a later one latches and
    is ACKed. A host that stops heartbeating meanwhile has the watchdog as a backstop."""
    sim = Simulation(PRO, seed=2)
    sim.host_write(encode(Hello(1, 1), 0))
    sim.host_write(encode(Start(), 1))
    sim.host_read()
    assert sim.firmware.needle_running
    sim.apply("cut@0ms:50ms", from_now=True)
    acked_at = None
    seq = 2
    t = sim.now_ms
    while acked_at is None and seq < 20:
        sim.host_write(b"\x00" + encode(Estop(), seq))
        sim.tick(t + 20)
        t += 20
        if encode(Ack(MsgType.ESTOP), seq) in sim.host_read():
            acked_at = t
        seq += 1
    assert acked_at is not None and acked_at > sim.start_ms + 50
    assert sim.firmware.state == State.ESTOP and not sim.firmware.needle_running
    # every copy lost: no heartbeat either, so the watchdog stops the needle on its own
    sim = Simulation(PRO, seed=2)
    sim.host_write(encode(Hello(1, 1), 0) + encode(Start(), 1))
    sim.apply("cut@0ms:10s", from_now=True)
    for n in range(5):
        sim.host_write(b"\x00" + encode(Estop(), 2 + n))
        sim.tick(sim.now_ms + 20)
    assert sim.firmware.needle_running
    sim.tick(sim.start_ms + PRO.watchdog_ms)
    assert not sim.firmware.needle_running


def test_when_a_cartridge_becomes_spent() -> None:
    host = VirtualHost(config=PRO, seed=6)
    host.hello()
    assert host.fw.cartridge_state == CartridgeState.FRESH
    host.ask(Start())
    assert host.fw.cartridge_state == CartridgeState.IN_USE  # used: START was ACKed
    host.ask(Stop())
    assert host.ask(Start()) == Ack(MsgType.START)  # the same session: still allowed
    host.ask(Stop())
    for end in ("hello", "watchdog", "reboot"):
        if end == "hello":
            host.hello(nonce=2)
        elif end == "watchdog":
            host.advance(PRO.watchdog_ms)
        else:
            host.fw.reboot()
        assert host.fw.cartridge_state == CartridgeState.SPENT, end
        host.fw.fit_fresh_cartridge()
        host.hello(nonce=10)
        host.ask(Start())
        host.ask(Stop())
    # taken out and put back in the same session: SPENT at once
    host.fw.remove_cartridge()
    host.fw.insert_cartridge(fresh=False)
    assert host.fw.cartridge_state == CartridgeState.SPENT


def test_stamps_count_from_boot() -> None:
    host = VirtualHost(config=PRO)
    host.hello()
    host.ask(SetRate(100))
    host.ask(Start())
    host.advance(1000, heartbeat_every=100)
    first = host.fw.stamps
    assert 80 < first <= 100
    host.hello(nonce=2)  # a new session does not reset it
    assert host.fw.stamps == first
    host.fw.reboot()
    assert host.fw.stamps == 0


def test_the_answer_comes_before_its_events() -> None:
    host = in_state("RUNNING")
    frames = host.send(Estop())
    assert [type(f.message) for f in frames] == [Ack, Event, Event]
    assert host.codes(frames) == [EventCode.ESTOP, EventCode.STOPPED]
    host = in_state("RUNNING")
    frames = host.send(Hello(1, 77))
    assert isinstance(frames[0].message, Info)
    assert host.events(frames) == [Event(EventCode.STOPPED, StopCause.NEW_SESSION)]
    host = in_state("IDLE")
    frames = host.send(SetTelemetry(50))
    assert [type(f.message) for f in frames] == [Ack, Status]


def test_reset_edge_cases() -> None:
    host = in_state("RUNNING")
    assert host.ask(Reset(1)) == Ack(MsgType.RESET) and host.fw.needle_running
    assert host.ask(Reset(2)) == Ack(MsgType.RESET) and host.fw.needle_running
    # all or nothing: OVERTEMP's cause is gone, DEPTH_ERROR's is not
    host.fw.inject_overheat()
    host.fw.set_temperature(250)
    host.fw.inject_depth_fault()
    host.advance(200, heartbeat_every=50)
    assert host.fw.latched_faults == Fault.OVERTEMP | Fault.DEPTH_ERROR
    assert host.ask(Reset(1)) == Nack(MsgType.RESET, NackError.FAULT_LATCHED, 0x04)
    assert host.fw.latched_faults == Fault.OVERTEMP | Fault.DEPTH_ERROR  # nothing cleared
    host.ask(Estop())
    host.fw.clear_depth_fault()
    host.advance(200, heartbeat_every=50)
    assert host.ask(Reset(1)) == Ack(MsgType.RESET)
    assert host.fw.state == State.ESTOP  # RESET 1 never releases the e-stop
    assert host.ask(Reset(2)) == Ack(MsgType.RESET)
    assert host.fw.state == State.IDLE and not host.fw.needle_running


def test_a_bad_length_nack_enters_the_window() -> None:
    host = VirtualHost(config=PRO)
    host.hello()
    bad = encode_raw(MsgType.SET_DEPTH, 30, b"\x01\x02\x03")
    first = host.fw.take_output() or b""
    host.fw.feed(bad)
    answer = host.fw.take_output()
    host.fw.feed(bad)
    assert host.fw.take_output() == answer and first == b""
    assert host.fw.executions[(30, MsgType.SET_DEPTH)] == 1
    assert host.fw.duplicates[(30, MsgType.SET_DEPTH)] == 1


def test_uptime_wraps_without_a_reboot() -> None:
    host = VirtualHost(Simulation(PRO, uptime_ms=0xFFFF_FFFF - 150).firmware)
    boot = host.fw.boot_id
    host.hello()
    statuses = host.statuses(host.send(SetTelemetry(10)) + host.advance(400, heartbeat_every=50))
    uptimes = [s.uptime_ms for s in statuses]
    assert uptimes[0] > 0xFFFF_FF00 and uptimes[-1] < 1000  # wrapped ...
    assert host.fw.boot_id == boot and host.fw.session_open  # ... and nothing rebooted
    assert all((b - a) % 2**32 == 100 for a, b in itertools.pairwise(uptimes))
