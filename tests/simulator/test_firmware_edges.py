"""The simulated pen's own checks one step either side of each threshold (found untested by
`make mutate`; docs/QA.md): battery, temperature, cartridge ids and the watchdog's edge."""

from __future__ import annotations

import pytest

from driver.testing.host import VirtualHost
from protocol import (
    Ack,
    CartridgeState,
    EventCode,
    Fault,
    Heartbeat,
    MsgType,
    Nack,
    NackError,
    Reset,
    SetRate,
    Start,
    State,
)
from simulator.errors import InjectError
from simulator.firmware import Firmware
from simulator.physics import PhysicsParams


def running() -> VirtualHost:
    host = VirtualHost()
    host.hello()
    host.settle_depth(1200)
    host.ask(SetRate(110))
    host.ask(Start())
    assert host.fw.state == State.RUNNING
    return host


def test_the_battery_flag_rises_below_10_percent_and_clears_at_10() -> None:
    host = running()
    fw = host.fw
    fw.set_battery(10)
    assert not fw.faults & Fault.BATTERY_LOW
    fw.set_battery(9)
    assert fw.faults & Fault.BATTERY_LOW
    frames = host.collect()
    fw.set_battery(10)
    frames = host.collect()
    assert not fw.faults & Fault.BATTERY_LOW
    assert EventCode.FAULT_CLEARED in host.codes(frames)


def test_an_empty_battery_stops_the_needle_and_a_nearly_empty_one_does_not() -> None:
    host = running()
    host.fw.set_battery(0.5)
    host.collect()
    assert host.fw.needle_running
    host.fw.set_battery(0)
    host.collect()
    assert not host.fw.needle_running


def test_overtemp_latches_at_its_threshold_and_reset_waits_until_below_the_clear_level() -> None:
    host = running()
    fw = host.fw
    p = PhysicsParams()  # the pen's defaults: OVERTEMP at 45.0 °C, cleared at 40.0 °C
    fw.set_temperature(p.overtemp_dc - 1)
    assert fw.needle_running and not fw.faults & Fault.OVERTEMP
    fw.set_temperature(p.overtemp_dc)
    assert not fw.needle_running and fw.faults & Fault.OVERTEMP
    fw.set_temperature(p.overtemp_clear_dc + 1)
    assert host.ask(Reset(1)) == Nack(MsgType.RESET, NackError.FAULT_LATCHED, int(Fault.OVERTEMP))
    fw.set_temperature(p.overtemp_clear_dc)
    assert host.ask(Reset(1)) == Ack(MsgType.RESET)
    assert fw.state == State.IDLE


@pytest.mark.parametrize("bad", [0, 2**32, -1, True, 1.5, "7"])
def test_a_cartridge_id_outside_1_to_2_32_minus_1_is_refused(bad: object) -> None:
    fw = Firmware()
    fw.remove_cartridge()
    with pytest.raises(InjectError):
        fw.insert_cartridge(cartridge_id=bad)  # type: ignore[arg-type]
    assert fw.cartridge_state == CartridgeState.NONE


@pytest.mark.parametrize("good", [1, 2**32 - 1])
def test_a_cartridge_id_at_the_bounds_is_taken(good: int) -> None:
    fw = Firmware()
    fw.remove_cartridge()
    assert fw.insert_cartridge(cartridge_id=good) == good
    assert (fw.cartridge_id, fw.cartridge_state) == (good, CartridgeState.FRESH)


def test_a_cartridge_used_in_a_session_comes_back_spent_and_a_fresh_one_gets_a_new_id() -> None:
    host = running()
    fw = host.fw
    used = fw.cartridge_id
    host.advance(400)  # the host falls silent: the watchdog ends the session
    assert fw.state == State.NO_SESSION and fw.cartridge_state == CartridgeState.SPENT
    fw.remove_cartridge()
    assert fw.insert_cartridge(fresh=False) == used
    assert fw.cartridge_state == CartridgeState.SPENT
    fresh = fw.fit_fresh_cartridge()
    assert fresh != used and fw.cartridge_state == CartridgeState.FRESH


def test_removing_the_cartridge_while_running_latches_cartridge_removed() -> None:
    host = running()
    host.fw.remove_cartridge()
    assert not host.fw.needle_running and host.fw.faults & Fault.CARTRIDGE_REMOVED
    with pytest.raises(InjectError):
        host.fw.remove_cartridge()


def test_the_watchdog_spares_a_host_heard_one_millisecond_before_it_trips() -> None:
    host = running()
    wd = host.fw.config.watchdog_ms
    host.advance(wd - 1)
    host.send(Heartbeat())
    host.advance(wd - 1)
    assert host.fw.state == State.RUNNING
    host.advance(1)
    assert host.fw.state == State.NO_SESSION and host.fw.faults & Fault.WATCHDOG
