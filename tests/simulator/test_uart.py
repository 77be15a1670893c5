"""`baud`: the software pen as an 8N1 UART (issue 13 item 4), on the virtual clock.

10 bits a byte: a 39-byte STATUS frame takes 3.39 ms at 115200 baud, SET_DEPTH (12 bytes) and
its ACK (11) 2.00 ms together. Answers and EVENTs go before a STATUS waiting for the line, and
at most one STATUS waits, so an ESTOP's ACK waits behind one STATUS at most.
"""

from __future__ import annotations

import math
import time

import pytest
import serial
from hypothesis import given
from hypothesis import strategies as st

import simulator  # noqa: F401  (registers sim://)
from driver.testing.host import PortHost
from protocol import (
    Ack,
    Decoder,
    Direction,
    Estop,
    Frame,
    Hello,
    Message,
    MsgType,
    SetDepth,
    SetTelemetry,
    Status,
    encode,
)
from simulator.errors import ConfigError
from simulator.link import byte_time_ms, wire_time_ms
from simulator.options import parse_sim_url
from simulator.simulation import Simulation

BAUD = 115_200
STATUS_LEN = len(encode(Status(*([0] * 13)), 0))  # type: ignore[arg-type]


def test_wire_times() -> None:
    assert STATUS_LEN == 39
    assert wire_time_ms(STATUS_LEN, BAUD) == pytest.approx(3.385, abs=0.001)
    assert byte_time_ms(9600) == pytest.approx(1.0417, abs=1e-4)
    # 200 Hz telemetry fills 68 % of a 115200 line
    assert 200 * wire_time_ms(STATUS_LEN, BAUD) / 1000 == pytest.approx(0.677, abs=0.001)


def answer_time(sim: Simulation, msg: Message, seq: int, step: float = 0.001) -> float:
    """Write `msg` now; the virtual ms until its answer has arrived completely."""
    decoder = Decoder(Direction.HOST)
    start = sim.now_ms
    sim.host_write(encode(msg, seq))
    t = start
    while t < start + 100:
        for item in decoder.feed(sim.host_read()):
            if isinstance(item, Frame) and item.seq == seq and not isinstance(item.message, Status):
                return sim.now_ms - start
        nxt = min(sim.link.next_release(), t + 1.0)
        t = max(nxt, t + step)
        sim.tick(t)
    raise AssertionError(f"no answer to {msg}")


def session(baud: int | None = BAUD, telemetry: int = 0) -> Simulation:
    sim = Simulation(seed=1, baud=baud)
    sim.host_write(encode(Hello(1, 5), 0))
    sim.tick(10)
    if telemetry:
        sim.host_write(encode(SetTelemetry(telemetry), 1))
        sim.tick(20)
    sim.host_read()
    return sim


def test_set_depth_to_ack_takes_the_wire_time_on_a_quiet_line() -> None:
    sim = session()
    took = answer_time(sim, SetDepth(500), 5)
    sizes = len(encode(SetDepth(500), 5)) + len(encode(Ack(MsgType.SET_DEPTH), 5))
    wire = wire_time_ms(sizes, BAUD)
    assert wire == pytest.approx(2.0, abs=0.01)
    assert took == pytest.approx(wire, abs=0.002)


def test_without_baud_nothing_is_paced() -> None:
    sim = session(baud=None)
    sim.host_write(encode(SetDepth(500), 5))
    assert encode(Ack(MsgType.SET_DEPTH), 5) in sim.host_read()  # at once


@given(phase=st.floats(0, 5.0))
def test_an_estop_waits_behind_one_status_at_most(phase: float) -> None:
    sim = session(telemetry=200)
    sim.tick(sim.now_ms + phase)
    took = answer_time(sim, Estop(), 9)
    wire = wire_time_ms(len(encode(Estop(), 9)) + len(encode(Ack(MsgType.ESTOP), 9)), BAUD)
    assert wire <= took + 1e-9
    assert took <= wire + wire_time_ms(STATUS_LEN, BAUD) + 1e-6


def test_status_is_shed_when_it_does_not_fit_the_line() -> None:
    """At 9600 baud a STATUS takes 40.6 ms: 200 Hz cannot fit; the pen sends the newest one
    each time the line is free and counts the others as shed; answers are not held back."""
    sim = session(baud=9600, telemetry=200)
    decoder = Decoder(Direction.HOST)
    frames: list[Frame] = []
    for n in range(1, 101):
        sim.tick(20 + n * 10)
        frames += [f for f in decoder.feed(sim.host_read()) if isinstance(f, Frame)]
    statuses = [f for f in frames if isinstance(f.message, Status)]
    line_ms = wire_time_ms(STATUS_LEN, 9600)
    assert len(statuses) == pytest.approx(1000 / line_ms, abs=2)  # the line is full of them
    assert sim.link.pen_to_host.stats.shed > 150
    assert sim.link.pen_to_host.in_flight <= 2  # one on the line, one waiting: no backlog
    took = answer_time(sim, SetDepth(500), 77, step=0.05)
    assert took <= wire_time_ms(12 + 11, 9600) + line_ms + 0.1


def test_the_url_and_the_cli_take_baud() -> None:
    assert parse_sim_url("sim://?baud=115200").baud == BAUD
    assert parse_sim_url("sim://").baud is None
    for bad in ("0", "abc", "5000000"):
        with pytest.raises(ConfigError, match="baud"):
            parse_sim_url(f"sim://?baud={bad}")


def test_a_paced_sim_port_in_real_time() -> None:
    """Generous bounds only: the answer cannot come before its wire time."""
    port = serial.serial_for_url("sim://?baud=9600", timeout=0.05)
    try:
        host = PortHost(port)
        host.hello()
        took = []
        for depth in (300, 350, 400):
            start = time.perf_counter()
            assert host.request(SetDepth(depth)) == Ack(MsgType.SET_DEPTH)
            took.append((time.perf_counter() - start) * 1000)
        assert min(took) >= wire_time_ms(12 + 11, 9600) - 0.5  # 24 ms of wire
        assert not math.isnan(min(took))
        assert port.pen.link.baud == 9600
    finally:
        port.close()


def test_a_status_due_while_a_command_arrives_waits_for_its_answer() -> None:
    """The pen sees its UART receiving: a STATUS falling due then goes after the answer."""
    sim = session(telemetry=10)  # STATUS every 100 ms, the next one due at 120 ms
    due = sim.firmware.next_deadline()
    sim.tick(due - 0.5)  # the STATUS falls due half way through the SET_DEPTH's 1.04 ms
    sim.host_read()
    took = answer_time(sim, SetDepth(500), 6)
    assert took == pytest.approx(wire_time_ms(12 + 11, BAUD), abs=0.002)
    assert sim.link.pen_to_host.stats.shed == 0  # delayed, not dropped
