"""The sim:// port behaves like a real pyserial port with a pen at the other end."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import serial

import simulator  # noqa: F401  (registers sim://)
from driver.testing.host import PortHost
from protocol import (
    Ack,
    EventCode,
    Fault,
    Hello,
    MsgType,
    SetDepth,
    SetTelemetry,
    Start,
    State,
    encode,
)
from simulator.live import LivePen
from simulator.protocol_sim import Serial as SimSerial


@pytest.fixture
def port() -> serial.SerialBase:
    p = serial.serial_for_url("sim://?device_class=home&seed=1", timeout=0.02)
    yield p
    p.close()


def test_url_gives_a_live_home_pen(port: serial.SerialBase) -> None:
    assert isinstance(port, SimSerial)
    assert port.is_open
    assert isinstance(port.pen, LivePen)
    info = PortHost(port).hello()
    assert info.depth_max_um == 950 and info.boot_id == port.pen.firmware.boot_id


def test_nothing_waits_after_open(port: serial.SerialBase) -> None:
    """The BOOT event went out before anyone listened, as on a real port."""
    assert port.in_waiting == 0
    assert port.read(10) == b""  # honours the timeout: returns empty, does not hang


def test_write_read_in_waiting_and_non_blocking_read(port: serial.SerialBase) -> None:
    frame = encode(Hello(1, 3), 0)
    assert port.write(frame) == len(frame)
    port.flush()
    assert port.in_waiting > 0  # the pen answered before write() returned
    waiting = port.in_waiting
    port.timeout = 0
    first = port.read(5)
    assert len(first) == 5 and port.in_waiting == waiting - 5
    rest = port.read(1000)
    assert len(rest) == waiting - 5
    assert port.read(10) == b""


def test_read_blocks_until_enough_bytes(port: serial.SerialBase) -> None:
    port.timeout = 2.0
    host = PortHost(port)
    host.hello()
    port.write(encode(SetTelemetry(200), 1))
    data = port.read(500)  # many STATUS frames: arrives well before the timeout
    assert len(data) == 500


def test_reset_input_buffer_discards(port: serial.SerialBase) -> None:
    port.write(encode(Hello(1, 3), 0))
    assert port.in_waiting > 0
    port.reset_input_buffer()
    assert port.in_waiting == 0


def test_watchdog_acts_when_nobody_reads(port: serial.SerialBase) -> None:
    host = PortHost(port)
    host.hello()
    assert host.request(Start()) == Ack(MsgType.START)
    time.sleep(0.5)  # silence, and nobody reads either
    with port.pen.lock:
        fw = port.pen.firmware
        assert fw.state == State.NO_SESSION
        assert not fw.needle_running
    host.event(EventCode.WATCHDOG_TRIPPED)


def test_faults_injected_from_another_thread(port: serial.SerialBase) -> None:
    host = PortHost(port)
    host.hello()
    assert port.pen.command("overheat").startswith("Overheated")
    assert host.event(EventCode.FAULT_RAISED).detail == 0
    port.write(encode(SetTelemetry(50), 10))
    status = host.status()
    assert status.state == State.FAULT and status.faults & Fault.OVERTEMP
    with port.pen.lock:
        port.pen.firmware.set_temperature(250)
    port.pen.call(lambda sim: sim.firmware.inject_stall())
    assert port.pen.firmware.stall_pending


def test_close_stops_the_pen_and_the_port(port: serial.SerialBase) -> None:
    pen = port.pen
    port.close()
    assert not port.is_open
    assert pen.closed
    for action in (lambda: port.read(1), lambda: port.write(b"\x00"), lambda: port.in_waiting):
        with pytest.raises(serial.PortNotOpenError):
            action()
    port.close()  # twice is harmless


def test_reopen_powers_on_a_fresh_pen(port: serial.SerialBase) -> None:
    host = PortHost(port)
    host.hello()
    old_pen, old_boot = port.pen, port.pen.firmware.boot_id
    port.close()
    port.open()
    assert port.is_open and port.pen is not old_pen and old_pen.closed
    assert port.pen.firmware.state == State.NO_SESSION
    assert port.pen.firmware.boot_id == old_boot  # the same seed boots the same way


def test_open_twice_is_refused(port: serial.SerialBase) -> None:
    with pytest.raises(serial.SerialException, match="already open"):
        port.open()


def test_do_not_open_then_open() -> None:
    p = serial.serial_for_url("sim://?seed=2", do_not_open=True)
    assert not p.is_open and p.pen is None
    p.open()
    try:
        assert p.is_open and p.pen.firmware.config.depth_max_um == 3000
    finally:
        p.close()


def test_context_manager() -> None:
    with serial.serial_for_url("sim://", timeout=0.01) as p:
        pen = p.pen
        p.write(encode(Hello(1, 1), 0))
    assert pen.closed


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("sim://?colour=red", "not known"),
        ("sim://?seed=x", "seed"),
        ("sim://?device_class=clinic", "home or professional"),
        ("sim://?fault=teleport", "not understood"),
        ("sim://?watchdog_ms=0", "1 to 65535"),
    ],
)
def test_bad_options_refused_with_one_sentence(url: str, words: str) -> None:
    with pytest.raises(serial.SerialException, match=words) as info:
        serial.serial_for_url(url)
    assert str(info.value).endswith(".") and "\n" not in str(info.value)


def test_faults_from_the_url_apply() -> None:
    with serial.serial_for_url("sim://?seed=5&fault=battery=5&fault=drop:pen=1", timeout=0.01) as p:
        assert p.pen.firmware.battery_pct == 5
        p.write(encode(Hello(1, 1), 0))
        time.sleep(0.02)
        assert p.read(100) == b""  # every answer dropped
        assert p.pen.link.pen_to_host.stats.dropped >= 1


def test_driver_style_registration_by_package_name() -> None:
    """The driver appends "simulator" to pyserial's handler packages without importing it."""
    code = (
        "import serial, sys\n"
        "assert 'simulator' not in sys.modules\n"
        "serial.protocol_handler_packages.append('simulator')\n"
        "p = serial.serial_for_url('sim://?device_class=home&seed=1', timeout=0.01)\n"
        "print(type(p).__module__, p.pen.firmware.config.depth_max_um)\n"
        "p.close()\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert out.stdout.split() == ["simulator.protocol_sim", "950"]
    assert "simulator" not in out.stderr


def test_rx_buffer_is_bounded_like_a_uart() -> None:
    pen = LivePen(seed=1, rx_limit=1000).start()
    try:
        pen.write(encode(Hello(1, 1), 0) + encode(SetTelemetry(200), 1))
        for i in range(5):  # keep the session alive while nobody reads
            time.sleep(0.05)
            pen.write(encode(SetDepth(300), 2 + i))
        assert pen.in_waiting == 1000
        assert pen.overruns > 0
    finally:
        pen.close()
