"""One behaviour suite, run over the three transports: in-process sim://, a kernel pty and TCP.

The client only knows the ICD (driver.testing.host.PortHost over a pyserial port).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import serial

import simulator  # noqa: F401  (registers sim://)
from driver.testing.host import PortHost
from protocol import (
    Ack,
    EventCode,
    Hello,
    Info,
    MsgType,
    Nack,
    NackError,
    SetDepth,
    SetRate,
    SetTelemetry,
    Start,
    State,
    encode,
)
from simulator.errors import ServeError
from simulator.live import LivePen
from simulator.serve import PtyServer, TcpServer, parse_host_port

TRANSPORTS = ["sim", "pty", "tcp"]


@dataclass
class Rig:
    name: str
    port: serial.SerialBase
    pen: LivePen
    reopen_target: str


@pytest.fixture(params=TRANSPORTS)
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    name = request.param
    if name == "sim":
        port = serial.serial_for_url("sim://?seed=11", timeout=0.02)
        yield Rig(name, port, port.pen, "")
        port.close()
        return
    pen = LivePen(seed=11).start()
    server: PtyServer | TcpServer
    if name == "pty":
        server = PtyServer(pen)
        target = server.start()
        port = serial.Serial(target, 115200, timeout=0.02)
    else:
        server = TcpServer(pen, "127.0.0.1", 0)
        target = server.start()
        port = serial.serial_for_url(target, timeout=0.02)
    try:
        yield Rig(name, port, pen, target)
    finally:
        port.close()
        server.close()
        pen.close()


def test_handshake(rig: Rig) -> None:
    info = PortHost(rig.port).hello(nonce=0x1234_5678)
    assert isinstance(info, Info)
    assert info.boot_id == rig.pen.firmware.boot_id
    assert (info.depth_min_um, info.depth_max_um, info.watchdog_ms) == (250, 3000, 300)


def test_commands_telemetry_and_depth_following(rig: Rig) -> None:
    host = PortHost(rig.port)
    host.hello()
    assert host.request(SetTelemetry(100)) == Ack(MsgType.SET_TELEMETRY)
    host.settle_depth(1250)
    assert host.request(SetRate(120)) == Ack(MsgType.SET_RATE)
    assert host.request(Start()) == Ack(MsgType.START)
    assert host.event(EventCode.STARTED).detail == 1250
    host.keep_alive(0.25)
    status = host.status(lambda s: s.depth_actual_um == 1250 and s.rate_actual_hz == 120)
    assert status.state == State.RUNNING and status.stamps > 0
    assert host.request(SetDepth(1260)) == Nack(MsgType.SET_DEPTH, NackError.OUT_OF_RANGE, 50)


def test_watchdog_over_the_transport(rig: Rig) -> None:
    host = PortHost(rig.port)
    host.hello()
    host.request(SetTelemetry(50))
    host.settle_depth(800)
    assert host.request(Start()) == Ack(MsgType.START)
    # no more frames from the host: the pen stops on its own and says so
    assert host.event(EventCode.WATCHDOG_TRIPPED).detail == 300
    status = host.status()
    assert status.state == State.NO_SESSION
    assert status.rate_actual_hz == 0 and status.depth_set_um == 250


def test_estop(rig: Rig) -> None:
    from protocol import Estop

    host = PortHost(rig.port)
    host.hello()
    host.request(Start())
    assert host.request(Estop()) == Ack(MsgType.ESTOP)
    host.event(EventCode.ESTOP)
    assert not rig.pen.firmware.needle_running
    assert host.request(Start()) == Nack(MsgType.START, NackError.ESTOP_LATCHED, 0)


def test_garbage_then_resync(rig: Rig) -> None:
    rig.port.write(bytes(range(1, 256)) * 3 + b"\x00")
    info = PortHost(rig.port).hello(nonce=99)
    assert info.nonce == 99
    assert rig.pen.firmware.decoder.dropped >= 1


def test_resend_is_answered_without_executing(rig: Rig) -> None:
    host = PortHost(rig.port)
    host.hello()
    frame = encode(SetDepth(600), 500)
    rig.port.write(frame)
    first = host.wait_for(lambda f: f.seq == 500)
    rig.port.write(b"\x00" + frame)
    again = host.wait_for(lambda f: f.seq == 500)
    assert first.message == again.message == Ack(MsgType.SET_DEPTH)
    assert rig.pen.firmware.executions[(500, MsgType.SET_DEPTH)] == 1


def test_fault_injected_at_run_time(rig: Rig) -> None:
    host = PortHost(rig.port)
    host.hello()
    host.request(Start())
    rig.pen.command("remove")
    host.event(EventCode.CARTRIDGE_REMOVED)
    assert host.event(EventCode.FAULT_RAISED).detail == 5
    assert host.event(EventCode.STOPPED).detail == 3


# --- transport-specific ------------------------------------------------------------------------


def test_pty_client_can_close_and_reopen() -> None:
    with LivePen(seed=2) as pen, PtyServer(pen) as server:
        for nonce in (1, 2, 3):
            port = serial.Serial(server.path, 115200, timeout=0.02)
            try:
                assert PortHost(port).hello(nonce).nonce == nonce
            finally:
                port.close()
        assert pen.firmware.session_count == 3


def test_pty_is_raw_bytes_pass_unchanged() -> None:
    """Every byte value, including XON/XOFF, CR, LF, ^C and ^D, reaches the pen unchanged."""
    received = bytearray()
    with LivePen(seed=2) as pen, PtyServer(pen) as server:
        original = pen.sim.host_write

        def spy(data: bytes) -> None:
            received.extend(data)
            original(data)

        pen.sim.host_write = spy  # type: ignore[method-assign]
        fd = os.open(server.path, os.O_RDWR | os.O_NOCTTY)
        try:
            payload = bytes(range(256))
            os.write(fd, payload)
            deadline = time.monotonic() + 2
            while len(received) < 256 and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            os.close(fd)
    assert bytes(received) == payload


def test_pty_pen_keeps_running_without_client() -> None:
    with LivePen(seed=2) as pen, PtyServer(pen) as server:
        port = serial.Serial(server.path, 115200, timeout=0.02)
        host = PortHost(port)
        host.hello()
        host.request(SetTelemetry(200))
        host.request(Start())
        port.close()  # the host went away with the needle running
        time.sleep(0.6)  # and telemetry fills the pty's buffer meanwhile
        assert pen.firmware.state == State.NO_SESSION
        assert not pen.firmware.needle_running
        port = serial.Serial(server.path, 115200, timeout=0.02)
        try:
            assert PortHost(port).hello(9).nonce == 9
        finally:
            port.close()


def test_tcp_one_client_at_a_time() -> None:
    with LivePen(seed=3) as pen, TcpServer(pen, "127.0.0.1", 0) as server:
        first = serial.serial_for_url(server.url, timeout=0.02)
        try:
            PortHost(first).hello(1)
            second = socket.create_connection(("127.0.0.1", server.port), timeout=1)
            second.settimeout(2)
            assert second.recv(100) == b""  # refused: closed at once
            second.close()
            assert server.clients_refused == 1
        finally:
            first.close()
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:  # the server notices the first client left
            try:
                third = serial.serial_for_url(server.url, timeout=0.02)
            except serial.SerialException:
                continue
            try:
                if PortHost(third).request(Hello(1, 3), timeout=0.3).nonce == 3:  # type: ignore[attr-defined]
                    break
            except AssertionError:
                continue
            finally:
                third.close()
        else:
            pytest.fail("the TCP server never served a client after the first one left")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:5555", ("127.0.0.1", 5555)),
        ("[::1]:0", ("::1", 0)),
        ("localhost:1", ("localhost", 1)),
    ],
)
def test_parse_host_port(text: str, expected: tuple[str, int]) -> None:
    assert parse_host_port(text) == expected


@pytest.mark.parametrize("text", ["5555", ":5555", "host:", "host:port", "host:70000", "host:-1"])
def test_parse_host_port_refuses(text: str) -> None:
    with pytest.raises(ServeError, match="TCP"):
        parse_host_port(text)


def test_tcp_port_in_use_is_one_sentence() -> None:
    pattern = r"Cannot listen on 127\.0\.0\.1:\d+: .*\.$"
    with (
        LivePen() as pen,
        TcpServer(pen, "127.0.0.1", 0) as server,
        pytest.raises(ServeError, match=pattern),
    ):
        TcpServer(pen, "127.0.0.1", server.port)
