"""The simulated pen's command handling at its edges (found untested by `make mutate`, group
firmware; docs/QA.md): every command but STOP and ESTOP refused outside a session, the rate
and telemetry bounds themselves, RESET's details, and the EVENTs and log records of an e-stop
and of a RESET 1 (docs/PROTOCOL.md "Event details", docs/SIMULATOR.md's log table)."""

from __future__ import annotations

import pytest

from driver.testing.host import VirtualHost
from protocol import (
    Ack,
    Estop,
    Event,
    EventCode,
    Fault,
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
)
from protocol.codec import encode_raw
from simulator.firmware import PenConfig
from simulator.records import LogRecord

PRO = PenConfig.professional()
HOME = PenConfig.home()

#: The commands the ICD refuses outside a session (all but HELLO, STOP, ESTOP, HEARTBEAT).
SESSION_COMMANDS: list[Message] = [
    SetDepth(1000),
    SetRate(100),
    Start(),
    Reset(1),
    Reset(2),
    SetTelemetry(10),
]


def running(config: PenConfig = PRO) -> VirtualHost:
    host = VirtualHost(config=config)
    host.hello()
    host.settle_depth(1000)
    assert host.ask(SetRate(100)) == Ack(MsgType.SET_RATE)
    assert host.ask(Start()) == Ack(MsgType.START)
    return host


def logged(host: VirtualHost) -> list[LogRecord]:
    records: list[LogRecord] = []
    host.fw.add_listener(records.append)
    return records


def pen_truth(host: VirtualHost) -> tuple[object, ...]:
    fw = host.fw
    return (
        fw.state,
        fw.depth_set_um,
        fw.rate_set_hz,
        fw.telemetry_hz,
        fw.needle_running,
        fw.estop_latched,
        fw.cartridge_state,
    )


def assert_refused_without_a_session(host: VirtualHost) -> None:
    before = pen_truth(host)
    for msg in SESSION_COMMANDS:
        assert host.ask(msg) == Nack(msg.TYPE, NackError.NO_SESSION, 0), msg
    assert pen_truth(host) == before
    assert not host.statuses(host.advance(100))  # SET_TELEMETRY turned nothing on


def test_every_session_command_is_refused_before_the_first_hello() -> None:
    host = VirtualHost(config=PRO)
    assert_refused_without_a_session(host)
    assert host.fw.depth_set_um == PRO.depth_min_um and host.fw.rate_set_hz == PRO.rate_min_hz


def test_every_session_command_is_refused_after_the_watchdog_ended_the_session() -> None:
    host = running()
    host.advance(PRO.watchdog_ms)
    assert host.fw.state == State.NO_SESSION
    assert_refused_without_a_session(host)
    assert not host.fw.needle_running


def test_an_estop_latched_outside_a_session_is_not_released_by_reset_2() -> None:
    host = VirtualHost(config=PRO)
    assert host.ask(Estop()) == Ack(MsgType.ESTOP)
    assert host.ask(Reset(2)) == Nack(MsgType.RESET, NackError.NO_SESSION, 0)
    assert host.fw.estop_latched is True and host.fw.state == State.ESTOP
    assert host.ask(Stop()) == Ack(MsgType.STOP)  # STOP is always obeyed too
    host.hello()
    assert host.ask(Reset(2)) == Ack(MsgType.RESET)
    assert host.fw.estop_latched is False and host.fw.state == State.IDLE


@pytest.mark.parametrize("config", [PRO, HOME], ids=["professional", "home"])
def test_set_rate_takes_its_bounds_and_refuses_one_past_them(config: PenConfig) -> None:
    host = VirtualHost(config=config)
    host.hello()
    low, high = config.rate_min_hz, config.rate_max_hz
    for rate in (low, low + 1, high - 1, high):
        assert host.ask(SetRate(rate)) == Ack(MsgType.SET_RATE)
        assert host.fw.rate_set_hz == rate
    for rate, bound in ((low - 1, low), (0, low), (high + 1, high), (0xFFFF, high)):
        assert host.ask(SetRate(rate)) == Nack(MsgType.SET_RATE, NackError.OUT_OF_RANGE, bound)
        assert host.fw.rate_set_hz == high  # unchanged: never clamped


def test_set_telemetry_takes_200_hz_refuses_201_and_0_turns_it_off() -> None:
    host = VirtualHost(config=PRO)
    host.hello()
    assert host.ask(SetTelemetry(201)) == Nack(MsgType.SET_TELEMETRY, NackError.OUT_OF_RANGE, 200)
    assert host.fw.telemetry_hz == 0
    assert not host.statuses(host.advance(100, heartbeat_every=50))
    assert host.ask(SetTelemetry(200)) == Ack(MsgType.SET_TELEMETRY)
    statuses = host.statuses(host.advance(100, heartbeat_every=50))
    assert 19 <= len(statuses) <= 21  # 200 Hz for 100 ms
    assert host.ask(SetTelemetry(0)) == Ack(MsgType.SET_TELEMETRY)
    assert host.fw.telemetry_hz == 0
    assert host.fw.next_deadline() == host.now + PRO.watchdog_ms  # only the watchdog is due
    assert not host.statuses(host.advance(200, heartbeat_every=50))


@pytest.mark.parametrize(("what", "detail"), [(0, 1), (3, 2), (4, 2), (255, 2)])
def test_reset_of_an_unknown_what_names_the_bound_and_releases_nothing(
    what: int, detail: int
) -> None:
    host = running()
    host.ask(Estop())
    assert host.ask(Reset(what)) == Nack(MsgType.RESET, NackError.OUT_OF_RANGE, detail)
    assert host.fw.estop_latched is True and host.fw.state == State.ESTOP


def test_an_estop_while_running_sends_estop_then_stopped_and_logs_them() -> None:
    host = running()
    records = logged(host)
    frames = host.send(Estop(), seq=41)
    assert not host.fw.needle_running and host.fw.rate_actual_hz == 0
    assert host.events(frames) == [Event(EventCode.ESTOP, 0), Event(EventCode.STOPPED, 1)]
    assert [(r.event, dict(r.fields)) for r in records] == [
        ("ESTOP", {"seq": 41}),
        ("ESTOP", {"detail": 0, "was_running": True}),
        ("STOPPED", {"detail": 1, "cause": "ESTOP"}),
        ("STATE", {"from": "RUNNING"}),
    ]
    assert {r.state for r in records} == {State.ESTOP}


def test_an_estop_at_rest_sends_only_estop_and_logs_that_the_needle_was_still() -> None:
    host = VirtualHost(config=PRO)
    host.hello()
    records = logged(host)
    frames = host.send(Estop(), seq=7)
    assert host.events(frames) == [Event(EventCode.ESTOP, 0)]
    assert [(r.event, dict(r.fields)) for r in records] == [
        ("ESTOP", {"seq": 7}),
        ("ESTOP", {"detail": 0, "was_running": False}),
        ("STATE", {"from": "IDLE"}),
    ]
    records.clear()
    frames = host.send(Estop(), seq=8)  # executed again when already latched
    assert host.events(frames) == [Event(EventCode.ESTOP, 0)]
    assert [(r.event, dict(r.fields)) for r in records] == [
        ("ESTOP", {"seq": 8}),
        ("ESTOP", {"detail": 0, "was_running": False}),
    ]


def test_an_estop_stops_a_stalled_motor_and_no_stall_fault_follows() -> None:
    host = running()
    host.fw.inject_stall()
    host.ask(Estop())
    host.advance(1000, heartbeat_every=50)
    assert host.fw.latched_faults == Fault(0) and host.fw.state == State.ESTOP


def test_reset_1_clears_each_latched_fault_with_one_event_each_in_bit_order() -> None:
    host = running()
    host.fw.remove_cartridge()  # while running: latched
    host.fw.inject_overheat()  # latched at rest too
    assert host.fw.latched_faults == Fault.OVERTEMP | Fault.CARTRIDGE_REMOVED
    host.fw.set_temperature(300)
    host.fw.insert_cartridge()
    host.collect()
    records = logged(host)
    frames = host.send(Reset(1))
    assert [f.message for f in frames if not isinstance(f.message, (Event, Status))] == [
        Ack(MsgType.RESET)
    ]
    assert host.events(frames) == [
        Event(EventCode.FAULT_CLEARED, 0),
        Event(EventCode.FAULT_CLEARED, 5),
    ]
    cleared = [dict(r.fields) for r in records if r.event == "FAULT_CLEARED"]
    assert cleared == [
        {"detail": 0, "fault": "OVERTEMP"},
        {"detail": 5, "fault": "CARTRIDGE_REMOVED"},
    ]
    assert host.fw.state == State.IDLE and host.fw.latched_faults == Fault(0)


# --- the duplicate window, HELLO, START --------------------------------------------------------


def test_a_resent_set_depth_is_answered_again_and_not_executed_again() -> None:
    host = VirtualHost(config=PRO)
    host.hello()
    records = logged(host)
    first = host.ask(SetDepth(1000), seq=5)
    assert host.ask(SetDepth(500), seq=6) == Ack(MsgType.SET_DEPTH)
    for n in (1, 2):
        assert host.ask(SetDepth(1000), seq=5) == first == Ack(MsgType.SET_DEPTH)
        assert host.fw.duplicates[(5, MsgType.SET_DEPTH)] == n
    assert host.fw.depth_set_um == 500  # the resend did not set 1000 again
    assert host.fw.executions[(5, MsgType.SET_DEPTH)] == 1
    assert host.ask(SetRate(100), seq=5) == Ack(MsgType.SET_RATE)  # same seq, other type: new
    assert [dict(r.fields) for r in records if r.event == "DUPLICATE"] == [
        {"of": "SET_DEPTH", "seq": 5},
        {"of": "SET_DEPTH", "seq": 5},
    ]


def test_a_resent_frame_of_a_bad_length_is_answered_from_the_window() -> None:
    host = VirtualHost(config=PRO)
    host.hello()
    records = logged(host)
    bad = encode_raw(MsgType.SET_DEPTH, 30, b"\x01\x02\x03")
    answers = [host.send_raw(bad) for _ in range(3)]
    assert [[f.message for f in a] for a in answers] == 3 * [
        [Nack(MsgType.SET_DEPTH, NackError.BAD_LENGTH, 2)]
    ]
    assert host.fw.executions[(30, MsgType.SET_DEPTH)] == 1
    assert host.fw.duplicates[(30, MsgType.SET_DEPTH)] == 2
    assert [(r.event, dict(r.fields)) for r in records] == [
        ("NACK", {"of": "SET_DEPTH", "seq": 30, "error": "BAD_LENGTH", "detail": 2}),
        ("DUPLICATE", {"of": "SET_DEPTH", "seq": 30}),
        ("DUPLICATE", {"of": "SET_DEPTH", "seq": 30}),
    ]
    unknown = host.send_raw(encode_raw(0x0A, 31, b"\x01"))
    assert [f.message for f in unknown] == [Nack(0x0A, NackError.UNKNOWN_TYPE, 0)]
    assert host.fw.depth_set_um == PRO.depth_min_um and host.fw.state == State.IDLE


def test_a_hello_resent_with_its_nonce_is_a_duplicate_and_another_nonce_a_new_session() -> None:
    host = VirtualHost(config=PRO)
    assert host.hello(nonce=9) == host.ask(Hello(1, 9), seq=0)  # the same seq and nonce
    assert host.fw.session_count == 1
    host.ask(SetDepth(1000))
    again = host.ask(Hello(1, 10), seq=0)  # a restarted host: same seq, other nonce
    assert isinstance(again, Info) and again.nonce == 10
    assert host.fw.session_count == 2 and host.fw.depth_set_um == PRO.depth_min_um


def test_hello_of_another_proto_is_refused_and_opens_nothing() -> None:
    host = VirtualHost(config=PRO)
    assert host.ask(Hello(2, 1)) == Nack(MsgType.HELLO, NackError.UNSUPPORTED_VERSION, 1)
    assert not host.fw.session_open and host.fw.session_count == 0


def test_start_ramps_the_motor_up_from_rest() -> None:
    host = VirtualHost(config=PRO)
    host.hello()
    host.settle_depth(1000)
    assert host.ask(Start()) == Ack(MsgType.START)
    assert host.fw.needle_running and host.fw.rate_actual_hz == 0


def test_a_stall_armed_at_rest_jams_one_start_only() -> None:
    host = VirtualHost(config=PRO)
    host.hello()
    host.settle_depth(1000)
    host.fw.inject_stall()
    assert host.ask(Start()) == Ack(MsgType.START)
    host.advance(1000, heartbeat_every=50)
    assert host.fw.latched_faults == Fault.MOTOR_STALL and not host.fw.needle_running
    assert host.ask(Reset(1)) == Ack(MsgType.RESET)
    assert host.ask(Start()) == Ack(MsgType.START)
    host.advance(1000, heartbeat_every=50)
    assert host.fw.needle_running and host.fw.latched_faults == Fault(0)


def test_each_executed_command_is_logged_with_its_fields_and_kept_in_applied() -> None:
    host = VirtualHost(config=PRO)
    records = logged(host)
    host.advance(5)
    info = host.ask(Hello(1, 99), seq=3)
    assert isinstance(info, Info)
    host.ask(SetDepth(1000), seq=4)
    host.ask(SetDepth(3100), seq=5)
    commands = [(r.event, dict(r.fields)) for r in records if r.event not in ("STATE",)]
    assert commands == [
        ("HELLO", {"seq": 3, "proto": 1, "nonce": 99, "boot_id": info.boot_id}),
        ("SET_DEPTH", {"seq": 4, "depth_um": 1000}),
        (
            "NACK",
            {
                "of": "SET_DEPTH",
                "seq": 5,
                "depth_um": 3100,
                "error": "OUT_OF_RANGE",
                "detail": 3000,
            },
        ),
    ]
    last = host.fw.applied[-1]
    assert (last.t_ms, last.seq, last.type_code) == (host.now, 5, MsgType.SET_DEPTH)
    assert last.message == SetDepth(3100)
    assert last.answer == Nack(MsgType.SET_DEPTH, NackError.OUT_OF_RANGE, 3000)
    host.hello(nonce=100)  # a new session forgets the window: seq 4 is a new command again
    host.ask(SetDepth(1000), seq=4)
    assert host.fw.executions[(4, MsgType.SET_DEPTH)] == 2
