"""ICD "Pen behaviour": sessions. HELLO opens one (INFO echoes the nonce); another proto is
refused with UNSUPPORTED_VERSION; before a session every command but STOP and ESTOP gets
NACK NO_SESSION; HEARTBEAT is never answered; a HELLO during a session stops the needle and
starts a new one. INFO describes a pen that can keep its own promises."""

from __future__ import annotations

import pytest

from driver.testing.conformance.client import PenClient
from driver.testing.conformance.hands import Hands, run_needle, trip_watchdog
from driver.testing.conformance.reasons import OTHER_CLASS_REASON
from protocol import (
    PROTOCOL_VERSION,
    WATCHDOG_MAX_MS,
    WATCHDOG_MIN_MS,
    DeviceClass,
    Estop,
    Heartbeat,
    Hello,
    Message,
    NackError,
    Reset,
    SetDepth,
    SetRate,
    SetTelemetry,
    Start,
    State,
    Stop,
)


@pytest.mark.ends_session
def test_hello_opens_a_session_and_info_echoes_the_nonce(pen: PenClient) -> None:
    trip_watchdog(pen)
    assert pen.status().state == State.NO_SESSION
    pen.keepalive = True
    for nonce in (0, 0xFFFF_FFFF, 0x1234_5678):
        info = pen.hello(nonce=nonce)  # checks the echo and the proto
        assert info.nonce == nonce
    assert pen.status().state == State.IDLE


@pytest.mark.ends_session
def test_info_describes_a_pen_that_can_keep_its_promises(pen: PenClient) -> None:
    info = pen.session()
    assert info.proto == PROTOCOL_VERSION
    assert info.depth_step_um > 0
    assert 0 < info.depth_min_um <= info.depth_max_um
    assert info.depth_min_um % info.depth_step_um == 0, "depth_min_um is not a step multiple"
    assert info.depth_max_um % info.depth_step_um == 0, "depth_max_um is not a step multiple"
    assert 0 < info.rate_min_hz <= info.rate_max_hz
    assert WATCHDOG_MIN_MS <= info.watchdog_ms <= WATCHDOG_MAX_MS, (
        f"INFO says watchdog_ms {info.watchdog_ms}; a pen reports {WATCHDOG_MIN_MS} to "
        f"{WATCHDOG_MAX_MS} ms (a host's 100 ms heartbeat cannot feed a shorter one safely, and a "
        "longer one lets a needle run on too long after the host is gone)"
    )
    again = pen.hello()
    assert again.boot_id == info.boot_id, "boot_id changed without a reboot"
    assert again.serial == info.serial


def test_a_home_pen_reports_depth_max_below_1_mm(pen: PenClient) -> None:
    info = pen.session()
    if info.device_class != DeviceClass.HOME:
        pytest.skip(f"{OTHER_CLASS_REASON} professional pen: the 1 mm rule is for home pens")
    assert info.depth_max_um < 1000
    refused = pen.nack(SetDepth(1000), NackError.OUT_OF_RANGE, why="a home pen stays below 1 mm")
    assert refused.detail == info.depth_max_um


@pytest.mark.parametrize("proto", [0, 2, 0xFF])
@pytest.mark.ends_session
def test_hello_with_another_proto_is_refused_and_changes_nothing(
    pen: PenClient, proto: int
) -> None:
    info = pen.session()
    depth = info.depth_min_um + info.depth_step_um
    pen.ack(SetDepth(depth))
    refused = pen.nack(Hello(proto, 99), NackError.UNSUPPORTED_VERSION)
    assert refused.detail >= PROTOCOL_VERSION, "detail is the newest proto the pen speaks"
    assert refused.detail != proto
    st = pen.status()
    assert st.state == State.IDLE
    assert st.depth_set_um == depth, "a refused HELLO ended the session"
    # and without a session, it does not open one
    trip_watchdog(pen)
    pen.keepalive = True
    pen.nack(Hello(proto, 98), NackError.UNSUPPORTED_VERSION)
    pen.nack(SetDepth(depth), NackError.NO_SESSION, why="a refused HELLO opens no session")


@pytest.mark.ends_session
def test_every_command_but_stop_and_estop_needs_a_session(pen: PenClient) -> None:
    info = pen.session()
    trip_watchdog(pen)
    pen.keepalive = True
    refused: list[Message] = [
        SetDepth(info.depth_min_um + info.depth_step_um),
        SetRate(info.rate_max_hz),
        Start(),
        Reset(1),
        Reset(2),
        SetTelemetry(50),
    ]
    for msg in refused:
        pen.nack(msg, NackError.NO_SESSION, why="no session is open")
    st = pen.status()
    assert st.state == State.NO_SESSION
    assert st.depth_set_um == info.depth_min_um
    pen.ack(Stop(), why="STOP is always obeyed and ACKed")
    assert pen.status().state == State.NO_SESSION


@pytest.mark.ends_session
def test_stop_and_estop_are_obeyed_without_a_session_and_the_latch_needs_one(
    pen: PenClient,
) -> None:
    pen.session()
    trip_watchdog(pen)
    pen.keepalive = True
    pen.ack(Estop(), why="ESTOP is always obeyed and ACKed")
    assert pen.status().state == State.ESTOP, "an e-stop latches even without a session"
    pen.nack(Reset(2), NackError.NO_SESSION, why="only RESET within a session clears a latch")
    assert pen.status().state == State.ESTOP
    pen.hello()
    assert pen.status().state == State.ESTOP, "the latch outlives the new session"
    pen.ack(Reset(2))
    assert pen.status().state == State.IDLE


@pytest.mark.parametrize(
    "where", ["session", pytest.param("no_session", marks=pytest.mark.ends_session), "estop"]
)
def test_heartbeat_is_never_answered(pen: PenClient, where: str) -> None:
    pen.session()
    if where == "no_session":
        trip_watchdog(pen)
    elif where == "estop":
        pen.ack(Estop())
    mark = pen.mark()
    for _ in range(5):
        pen.send(Heartbeat())
    probe = pen.probe()
    assert not pen.answers(mark, probe.index), "HEARTBEAT was answered"


@pytest.mark.ends_session
def test_hello_during_a_session_stops_the_needle_and_starts_a_new_session(
    pen: PenClient, hands: Hands
) -> None:
    pen.session()
    run_needle(pen, hands)
    pen.hello()
    st = pen.status()
    assert st.state == State.IDLE, f"after HELLO while RUNNING the pen is {st.state.name}"
    pen.wait_status(lambda s: s.rate_actual_hz == 0, what="STATUS with the motor stopped")
    pen.ack(SetDepth(pen.session().depth_min_um), why="the new session takes commands")
