"""A fresh cartridge at every power-on of a live pen, unless pinned; the seed still repeats the
faults (issue 12 item 1). And the run-time command that fits a fresh cartridge.
"""

from __future__ import annotations

import time

import pytest
import serial

import simulator  # noqa: F401  (registers sim://)
from driver.testing.host import PortHost, VirtualHost
from driver.testing.sim import SimProcess
from protocol import (
    Ack,
    CartridgeState,
    EventCode,
    Hello,
    MsgType,
    Nack,
    NackError,
    SetTelemetry,
    Start,
    Stop,
    encode,
)
from simulator.control import execute
from simulator.errors import ConfigError, ControlError
from simulator.firmware import Firmware
from simulator.simulation import Simulation


def open_sim(url: str) -> serial.SerialBase:
    return serial.serial_for_url(url, timeout=0.05)


def cartridge_of(url: str) -> tuple[int, int, CartridgeState]:
    port = open_sim(url)
    try:
        fw = port.pen.firmware
        return fw.cartridge_id, fw.boot_id, fw.cartridge_state
    finally:
        port.close()


def test_every_power_on_of_sim_has_a_fresh_cartridge_whatever_the_seed() -> None:
    ids = set()
    boots = set()
    for _ in range(5):
        cid, boot, state = cartridge_of("sim://?seed=0")
        assert state == CartridgeState.FRESH
        ids.add(cid)
        boots.add(boot)
    assert len(ids) == 5  # new every time (2^32 ids: a repeat is a 1-in-10^9 event)
    assert len(boots) == 1  # the seed still boots the same pen


def test_the_url_pins_the_cartridge() -> None:
    first = cartridge_of("sim://?seed=0&cartridge=d82c07ce")
    second = cartridge_of("sim://?seed=3&cartridge=0xD82C07CE")
    assert first[0] == second[0] == 0xD82C07CE
    assert first[2] == CartridgeState.FRESH


@pytest.mark.parametrize("bad", ["0", "xyz", "100000000", "", "-1"])
def test_a_bad_cartridge_id_is_refused_with_one_sentence(bad: str) -> None:
    with pytest.raises(serial.SerialException, match="cartridge") as info:
        open_sim(f"sim://?cartridge={bad}")
    assert str(info.value).endswith(".")


def test_the_seed_still_repeats_the_link_faults() -> None:
    def answered(seed: int) -> tuple[list[int], int]:
        port = open_sim(f"sim://?seed={seed}&fault=drop=0.5")
        try:
            host = PortHost(port)
            for seq in range(40):
                host.send(Stop(), seq)
            end = time.monotonic() + 0.2
            while time.monotonic() < end:
                host.pump()
            return sorted(f.seq for f in host.inbox), port.pen.firmware.cartridge_id
        finally:
            port.close()

    first, cid_a = answered(11)
    second, cid_b = answered(11)
    assert first == second and 0 < len(first) < 40
    assert cid_a != cid_b


def test_on_the_virtual_clock_the_seed_decides_the_cartridge_too() -> None:
    """Firmware and Simulation stay byte-for-byte repeatable: cartridge ids from the seed."""
    assert Firmware(seed=4).cartridge_id == Firmware(seed=4).cartridge_id
    assert Simulation(seed=4).firmware.cartridge_id == Firmware(seed=4).cartridge_id
    assert Firmware(seed=4, cartridge_id=77).cartridge_id == 77
    with pytest.raises(ConfigError, match="cartridge id"):
        Firmware(cartridge_id=0)


def test_needlepen_sim_fits_a_new_cartridge_per_process_unless_pinned() -> None:
    def run(*args: str) -> int:
        with SimProcess("--pty", "--seed", "0", *args) as proc:
            port = serial.serial_for_url(proc.port_line, timeout=0.05)
            try:
                host = PortHost(port)
                host.hello()
                host.request(SetTelemetry(20))
                status = host.status()
                assert status.cartridge_state == CartridgeState.FRESH
                return status.cartridge_id
            finally:
                port.close()

    assert run() != run()
    assert run("--cartridge", "c0ffee01") == 0xC0FFEE01


# --- fresh-cartridge: the run-time command --------------------------------------------------


def spent_session() -> VirtualHost:
    host = VirtualHost(seed=2)
    host.hello()
    assert host.ask(Start()) == Ack(MsgType.START)
    host.ask(Stop())
    host.hello(nonce=2)  # a new session: the cartridge used in the earlier one is SPENT
    assert host.fw.cartridge_state == CartridgeState.SPENT
    return host


def test_fresh_cartridge_replaces_a_spent_one_and_start_is_accepted() -> None:
    host = spent_session()
    old = host.fw.cartridge_id
    assert host.ask(Start()) == Nack(MsgType.START, NackError.CARTRIDGE_USED, old & 0xFFFF)
    cid = host.fw.fit_fresh_cartridge()
    frames = host.collect()
    assert host.codes(frames) == [EventCode.CARTRIDGE_REMOVED, EventCode.CARTRIDGE_INSERTED]
    assert host.events(frames)[1].detail == cid & 0xFFFF
    assert cid != old and host.fw.cartridge_state == CartridgeState.FRESH
    assert host.ask(Start()) == Ack(MsgType.START)


def test_fresh_cartridge_command_on_a_simulation_and_without_a_cartridge() -> None:
    sim = Simulation(seed=5)
    old = sim.firmware.cartridge_id
    answer = execute(sim, "fresh-cartridge")
    new = sim.firmware.cartridge_id
    assert answer == f"Fresh cartridge 0x{new:08x} fitted."
    assert new != old and sim.firmware.cartridge_state == CartridgeState.FRESH
    execute(sim, "remove")
    execute(sim, "fresh")  # alias; with no cartridge in, it only fits one
    assert sim.firmware.cartridge_state == CartridgeState.FRESH
    assert sim.firmware.cartridge_id not in (0, old, new)
    sim.apply("fresh-cartridge@1s", from_now=True)
    before = sim.firmware.cartridge_id
    sim.tick(sim.now_ms + 1000)
    assert sim.firmware.cartridge_id != before


def test_fresh_cartridge_is_refused_while_the_needle_runs_and_changes_nothing() -> None:
    sim = Simulation(seed=3)
    sim.host_write(encode(Hello(1, 9), 0) + encode(Start(), 1))
    assert sim.firmware.needle_running
    sim.host_read()
    cid = sim.firmware.cartridge_id
    with pytest.raises(ControlError, match="Stop the needle") as info:
        execute(sim, "fresh-cartridge")
    assert str(info.value).endswith(".")
    assert sim.firmware.cartridge_id == cid and sim.firmware.needle_running
    assert sim.host_read() == b""  # no EVENT: nothing happened


def test_a_live_pen_fits_fresh_cartridges_with_new_ids_every_run() -> None:
    ids = []
    for _ in range(2):
        port = open_sim("sim://?seed=0")
        try:
            port.pen.command("fresh-cartridge")
            ids.append(port.pen.firmware.cartridge_id)
        finally:
            port.close()
    assert ids[0] != ids[1]
