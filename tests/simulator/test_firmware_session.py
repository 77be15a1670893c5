"""ICD rules about boot, sessions, answers and the duplicate window, on a virtual clock."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driver.testing.host import VirtualHost
from protocol import (
    Ack,
    CartridgeState,
    DeviceClass,
    Estop,
    EventCode,
    Heartbeat,
    Hello,
    Info,
    MsgType,
    Nack,
    NackError,
    Reset,
    SetDepth,
    SetRate,
    SetTelemetry,
    Start,
    State,
    Stop,
    encode,
)
from protocol.codec import encode_raw
from simulator.firmware import Firmware, PenConfig

# --- boot ----------------------------------------------------------------------------------


def test_boot_state_is_no_session_needle_stopped_depth_at_min() -> None:
    host = VirtualHost(config=PenConfig.professional())
    fw = host.fw
    assert fw.state == State.NO_SESSION
    assert not fw.needle_running
    assert fw.rate_actual_hz == 0
    assert fw.depth_set_um == fw.config.depth_min_um
    assert fw.telemetry_hz == 0
    assert host.codes(host.received) == [EventCode.BOOT]
    # telemetry is off after boot: a second of silence brings nothing but quiet
    assert host.statuses(host.advance(1000)) == []


def test_fresh_cartridge_with_random_id_at_boot() -> None:
    a, b = Firmware(seed=1), Firmware(seed=2)
    assert a.cartridge_state == b.cartridge_state == CartridgeState.FRESH
    assert a.cartridge_id != b.cartridge_id
    assert a.cartridge_id != 0


def test_boot_id_random_per_boot_and_repeats_with_seed() -> None:
    fw = Firmware(seed=5)
    ids = [fw.boot_id]
    for _ in range(20):
        fw.reboot()
        ids.append(fw.boot_id)
    assert all(x != y for x, y in itertools.pairwise(ids))
    again = Firmware(seed=5)
    ids_again = [again.boot_id]
    for _ in range(20):
        again.reboot()
        ids_again.append(again.boot_id)
    assert ids == ids_again
    assert Firmware(seed=6).boot_id != ids[0]


# --- HELLO ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "device_class", "depth_max"),
    [
        (PenConfig.professional(), DeviceClass.PROFESSIONAL, 3000),
        (PenConfig.home(), DeviceClass.HOME, 950),
    ],
)
def test_hello_opens_session_and_info_describes_the_device(
    config: PenConfig, device_class: DeviceClass, depth_max: int
) -> None:
    host = VirtualHost(config=config)
    info = host.hello(nonce=0xDEADBEEF)
    assert info == Info(
        1,
        0xDEADBEEF,
        device_class,
        1,
        0,
        0,
        config.serial,
        host.fw.boot_id,
        250,
        depth_max,
        50,
        config.rate_min_hz,
        config.rate_max_hz,
        300,
    )
    assert host.fw.state == State.IDLE


def test_home_pen_reports_depth_max_below_1000() -> None:
    info = VirtualHost(config=PenConfig.home()).hello()
    assert info.device_class == DeviceClass.HOME
    assert info.depth_max_um < 1000


@pytest.mark.parametrize("proto", [0, 2, 255])
def test_hello_with_other_proto_is_nacked_with_newest_proto(proto: int) -> None:
    host = VirtualHost()
    answer = host.ask(Hello(proto, 1))
    assert answer == Nack(MsgType.HELLO, NackError.UNSUPPORTED_VERSION, 1)
    assert host.fw.state == State.NO_SESSION


def test_bad_hello_during_session_changes_nothing() -> None:
    host = VirtualHost()
    host.hello()
    host.settle_depth(800)
    host.ask(Start())
    assert host.ask(Hello(9, 1)).error == NackError.UNSUPPORTED_VERSION  # type: ignore[attr-defined]
    assert host.fw.state == State.RUNNING
    assert host.fw.depth_set_um == 800


def test_hello_during_session_stops_needle_and_starts_new_session() -> None:
    host = VirtualHost()
    host.hello(1)
    host.settle_depth(1500)
    host.ask(SetRate(120))
    host.ask(Start())
    host.advance(50, heartbeat_every=20)
    assert host.fw.needle_running
    frames = host.send(Hello(1, 2))
    assert isinstance(frames[0].message, Info) and frames[0].message.nonce == 2
    assert host.codes(frames) == [EventCode.STOPPED]
    assert host.fw.state == State.IDLE
    assert not host.fw.needle_running
    assert host.fw.session_count == 2
    # a new session starts from the safe set-points
    assert host.fw.depth_set_um == 250
    assert host.fw.rate_set_hz == 25
    # the cartridge used in the earlier session is now SPENT
    assert host.fw.cartridge_state == CartridgeState.SPENT


# --- NO_SESSION rules ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "msg",
    [SetDepth(500), SetRate(100), Start(), Reset(1), Reset(2), SetTelemetry(10)],
    ids=lambda m: m.name,
)
def test_commands_before_a_session_are_nacked_no_session(msg: object) -> None:
    host = VirtualHost()
    answer = host.ask(msg)  # type: ignore[arg-type]
    assert isinstance(answer, Nack)
    assert answer.error == NackError.NO_SESSION
    assert answer.of_type == msg.TYPE  # type: ignore[attr-defined]
    assert host.fw.state == State.NO_SESSION
    assert host.fw.depth_set_um == 250 and host.fw.telemetry_hz == 0


def test_stop_and_estop_are_acked_without_a_session() -> None:
    host = VirtualHost()
    assert host.ask(Stop()) == Ack(MsgType.STOP)
    assert host.ask(Estop()) == Ack(MsgType.ESTOP)
    assert host.fw.estop_latched
    assert host.fw.state == State.ESTOP


def test_heartbeat_is_never_answered() -> None:
    host = VirtualHost()
    assert host.send(Heartbeat()) == []
    host.hello()
    assert host.send(Heartbeat()) == []
    host.ask(Estop())
    assert host.send(Heartbeat()) == []


# --- answers with the right seq ------------------------------------------------------------


@given(seq=st.integers(0, 0xFFFF))
def test_answer_carries_the_commands_seq(seq: int) -> None:
    host = VirtualHost()
    frames = host.send(Stop(), seq=seq)
    assert [(f.seq, f.message) for f in frames] == [(seq, Ack(MsgType.STOP))]


def test_unknown_type_is_nacked_with_its_seq_and_nothing_else() -> None:
    host = VirtualHost()
    host.hello()
    before = (host.fw.state, host.fw.depth_set_um)
    for type_code in (0x00, 0x0A, 0x7F, 0x80, 0x83, 0xFF):
        frames = host.send_raw(encode_raw(type_code, 4242, b"\x01\x02"))
        assert [(f.seq, f.message) for f in frames] == [
            (4242, Nack(type_code, NackError.UNKNOWN_TYPE, 0))
        ]
    assert (host.fw.state, host.fw.depth_set_um) == before


@pytest.mark.parametrize(
    ("type_code", "payload", "expected_len"),
    [
        (MsgType.SET_DEPTH, b"\x01", 2),
        (MsgType.SET_DEPTH, b"\x01\x02\x03", 2),
        (MsgType.START, b"\x00", 0),
        (MsgType.HELLO, b"\x01\x00\x00\x00", 5),
        (MsgType.HEARTBEAT, b"\x00", 0),
        (MsgType.ESTOP, b"\x00\x00", 0),
    ],
)
def test_bad_length_is_nacked_with_its_seq_and_expected_length(
    type_code: int, payload: bytes, expected_len: int
) -> None:
    host = VirtualHost()
    host.hello()
    frames = host.send_raw(encode_raw(type_code, 77, payload))
    assert [(f.seq, f.message) for f in frames] == [
        (77, Nack(type_code, NackError.BAD_LENGTH, expected_len))
    ]
    assert host.fw.state == State.IDLE  # a malformed ESTOP is not an e-stop: nothing happened


def test_corrupt_frames_are_dropped_silently() -> None:
    host = VirtualHost()
    frame = bytearray(encode(Hello(1, 5), 3))
    frame[2] ^= 0x10
    assert host.send_raw(bytes(frame)) == []
    assert host.send_raw(encode_raw(MsgType.HELLO, 3, b"\x01\x05\x00\x00\x00", version=2)) == []
    assert host.fw.state == State.NO_SESSION
    assert host.fw.decoder.dropped == 2


# --- duplicate window ----------------------------------------------------------------------


def test_duplicate_is_answered_again_without_executing() -> None:
    host = VirtualHost()
    host.hello()
    first = host.send(SetDepth(600), seq=100)
    host.ask(SetDepth(700), seq=101)
    again = host.send(SetDepth(600), seq=100)  # a resend of seq 100
    assert [f.message for f in again] == [f.message for f in first] == [Ack(MsgType.SET_DEPTH)]
    assert host.fw.depth_set_um == 700  # the resend did not run again
    assert host.fw.executions[(100, MsgType.SET_DEPTH)] == 1
    assert host.fw.duplicates[(100, MsgType.SET_DEPTH)] == 1


def test_duplicate_keyed_by_seq_and_type() -> None:
    host = VirtualHost()
    host.hello()
    host.ask(SetDepth(600), seq=100)
    assert host.ask(SetRate(90), seq=100) == Ack(MsgType.SET_RATE)  # same seq, other type
    assert host.fw.rate_set_hz == 90


def test_duplicate_of_a_nack_gets_the_same_nack() -> None:
    host = VirtualHost()
    host.hello()
    first = host.ask(SetDepth(5000), seq=9)
    assert host.ask(SetDepth(5000), seq=9) == first
    assert host.fw.executions[(9, MsgType.SET_DEPTH)] == 1


def test_duplicate_start_does_not_start_twice() -> None:
    host = VirtualHost()
    host.hello()
    assert host.ask(Start(), seq=50) == Ack(MsgType.START)
    host.ask(Stop(), seq=51)
    assert host.ask(Start(), seq=50) == Ack(MsgType.START)  # stored answer, not executed
    assert not host.fw.needle_running
    assert host.fw.executions[(50, MsgType.START)] == 1


def test_window_remembers_the_last_16() -> None:
    host = VirtualHost()
    host.hello()
    for i in range(17):
        host.ask(SetRate(25 + i), seq=1000 + i)
    # seq 1001..1016 are remembered: a resend of 1001 is not executed
    host.ask(SetRate(25 + 1), seq=1001)
    assert host.fw.executions[(1001, MsgType.SET_RATE)] == 1
    assert host.fw.rate_set_hz == 25 + 16
    # seq 1000 fell out of the window: it runs again
    host.ask(SetRate(25), seq=1000)
    assert host.fw.executions[(1000, MsgType.SET_RATE)] == 2
    assert host.fw.rate_set_hz == 25


def test_hello_resend_does_not_open_a_second_session() -> None:
    host = VirtualHost()
    first = host.ask(Hello(1, 11), seq=7)
    host.ask(SetDepth(900), seq=8)
    assert host.ask(Hello(1, 11), seq=7) == first
    assert host.fw.session_count == 1
    assert host.fw.depth_set_um == 900


def test_hello_with_same_seq_but_new_nonce_is_a_new_handshake() -> None:
    """A host restarted within the watchdog period numbers from 0 again with a new nonce."""
    host = VirtualHost()
    host.ask(Hello(1, 1), seq=0)
    host.ask(SetDepth(900), seq=1)
    info = host.ask(Hello(1, 2), seq=0)
    assert isinstance(info, Info) and info.nonce == 2
    assert host.fw.session_count == 2
    assert host.fw.depth_set_um == 250
    assert host.ask(Hello(1, 2), seq=0) == info  # its own resend is still a duplicate
    assert host.fw.session_count == 2


def test_unsupported_hellos_do_not_pile_up() -> None:
    host = VirtualHost()
    for seq in range(100):
        host.ask(Hello(2, seq), seq=seq)
    assert host.fw.hellos_remembered <= 17


def test_new_session_forgets_the_old_sessions_seqs() -> None:
    """A restarted host numbering from 0 again must not get the old host's answers."""
    host = VirtualHost()
    host.ask(Hello(1, 1), seq=0)
    host.ask(SetDepth(900), seq=1)
    host.advance(400)  # the old host is gone: watchdog
    info = host.ask(Hello(1, 2), seq=0)
    assert isinstance(info, Info) and info.nonce == 2
    assert host.ask(SetDepth(900), seq=1) == Ack(MsgType.SET_DEPTH)
    assert host.fw.executions[(1, MsgType.SET_DEPTH)] == 2


def test_applied_log_records_each_execution() -> None:
    host = VirtualHost()
    host.hello()
    host.ask(SetDepth(300), seq=5)
    host.ask(SetDepth(99), seq=6)
    recent = list(host.fw.applied)[-2:]
    assert [(a.seq, a.type_code, a.accepted) for a in recent] == [
        (5, MsgType.SET_DEPTH, True),
        (6, MsgType.SET_DEPTH, False),
    ]
