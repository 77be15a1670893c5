"""Firmware + link + schedule on a virtual clock: timing of scheduled faults, and that a
fault run repeats exactly with the same seed."""

from __future__ import annotations

import pytest

from protocol import (
    Decoder,
    Direction,
    Event,
    EventCode,
    Frame,
    Heartbeat,
    Hello,
    Info,
    SetDepth,
    SetTelemetry,
    Start,
    State,
    encode,
)
from simulator.errors import FaultSpecError
from simulator.firmware import LogRecord, PenConfig
from simulator.simulation import Simulation


def script(sim: Simulation, seconds: float = 3.0) -> tuple[bytes, list[tuple[float, str]]]:
    """A host that opens a session, starts and sends heartbeats; returns all pen bytes."""
    log: list[tuple[float, str]] = []
    sim.firmware.add_listener(lambda r: log.append((r.t_ms, r.event)))
    out = bytearray()
    seq = 0
    for cmd in (Hello(1, 99), SetTelemetry(50), SetDepth(700), Start()):
        sim.host_write(b"\x00" + encode(cmd, seq))
        seq += 1
    t = 0.0
    while t < seconds * 1000:
        t += 10.0
        sim.tick(t)
        if int(t) % 50 == 0:
            sim.host_write(encode(Heartbeat(), seq))
            seq += 1
        out += sim.host_read()
    return bytes(out), log


FAULTS = [
    "drop=0.1",
    "corrupt=0.05",
    "dup=0.05",
    "delay=0.1:15ms",
    "overheat@1s",
    "cut@2s:200ms",
]


def test_a_fault_run_repeats_exactly_with_the_same_seed() -> None:
    a = script(Simulation(PenConfig.home(), seed=42, faults=FAULTS))
    b = script(Simulation(PenConfig.home(), seed=42, faults=FAULTS))
    c = script(Simulation(PenConfig.home(), seed=43, faults=FAULTS))
    assert a == b
    assert a[0] != c[0]


def frames_of(data: bytes) -> list[Frame]:
    return [f for f in Decoder(Direction.HOST).feed(data) if isinstance(f, Frame)]


def infos(data: bytes) -> list[Info]:
    return [f.message for f in frames_of(data) if isinstance(f.message, Info)]


def test_scheduled_pen_fault_happens_on_time() -> None:
    sim = Simulation(faults=["overheat@1500ms"])
    records: list[LogRecord] = []
    sim.firmware.add_listener(records.append)
    sim.tick(1499.0)
    assert sim.firmware.state == State.NO_SESSION
    sim.tick(5000.0)  # one big jump: the fault still happens at 1500 ms
    raised = [r for r in records if r.event == "FAULT_RAISED"]
    assert [r.t_ms for r in raised] == [1500.0]
    assert sim.firmware.state == State.FAULT


def test_scheduled_cut_stops_the_host_and_the_watchdog_acts() -> None:
    sim = Simulation(faults=["cut@100ms:1s"])
    sim.host_write(encode(Hello(1, 1), 0))
    assert len(infos(sim.host_read())) == 1
    t = 0.0
    while t < 800:
        t += 20
        sim.tick(t)
        sim.host_write(encode(Heartbeat(), 1))  # lost in the cut from 100 ms
    assert sim.firmware.state == State.NO_SESSION
    assert sim.host_read() == b""  # the WATCHDOG_TRIPPED event was lost in the cut too
    assert sim.link.host_to_pen.stats.lost_to_cut > 20


def test_delayed_answer_arrives_late() -> None:
    sim = Simulation(faults=["delay:pen=1:40ms"])
    sim.host_write(encode(Hello(1, 1), 0))
    assert sim.host_read() == b""
    sim.tick(39.0)
    assert sim.host_read() == b""
    sim.tick(40.0)
    assert len(infos(sim.host_read())) == 1


def test_battery_and_cartridge_faults_from_the_schedule() -> None:
    sim = Simulation(faults=["battery=8", "remove-cartridge@1s", "remove-cartridge@2s"])
    assert sim.firmware.battery_pct == 8
    records: list[LogRecord] = []
    sim.firmware.add_listener(records.append)
    sim.tick(3000.0)
    assert sim.firmware.cartridge_id == 0
    failed = [r for r in records if r.event == "INJECT_FAILED"]
    assert len(failed) == 1 and "no cartridge" in str(failed[0].fields["reason"])


def test_reboot_from_the_schedule_sends_boot() -> None:
    sim = Simulation(seed=3, faults=["reboot@1s"])
    sim.host_read()
    old = sim.firmware.boot_id
    sim.tick(1000.0)
    events = [f.message for f in frames_of(sim.host_read()) if isinstance(f.message, Event)]
    assert events == [Event(EventCode.BOOT, sim.firmware.boot_id & 0xFFFF)]
    assert sim.firmware.boot_id != old


def test_fault_from_now() -> None:
    sim = Simulation()
    sim.tick(10_000.0)
    sim.apply("stall@1s", from_now=True)
    assert sim.pending_faults[0].kind == "stall"
    sim.tick(10_999.0)
    assert not sim.firmware.stall_pending
    sim.tick(11_000.0)
    assert sim.firmware.stall_pending


def test_bad_fault_spec_refused_before_anything_runs() -> None:
    with pytest.raises(FaultSpecError):
        Simulation(faults=["drop=2"])
