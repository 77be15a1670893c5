"""The simulated pen's latches, injections and watchdog at their edges (found untested by
`make mutate`, group firmware; docs/QA.md): RESET 1 refused while each cause persists, the
depth actuator's slip, the injections' bounds, sentences and log records (docs/SIMULATOR.md),
and the watchdog's trip record."""

from __future__ import annotations

import dataclasses
import math

import pytest

from driver.testing.host import VirtualHost
from protocol import (
    Ack,
    CartridgeState,
    Event,
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
from simulator.firmware import Firmware, PenConfig
from simulator.physics import PhysicsParams
from simulator.records import LogRecord

PRO = PenConfig.professional()
P = PhysicsParams()


def running(depth_um: int = 1000) -> VirtualHost:
    host = VirtualHost(config=PRO)
    host.hello()
    host.settle_depth(depth_um)
    assert host.ask(SetRate(100)) == Ack(MsgType.SET_RATE)
    assert host.ask(Start()) == Ack(MsgType.START)
    return host


def logged(fw: Firmware) -> list[LogRecord]:
    records: list[LogRecord] = []
    fw.add_listener(records.append)
    return records


def as_pairs(records: list[LogRecord]) -> list[tuple[str, dict[str, object]]]:
    return [(r.event, dict(r.fields)) for r in records]


def refused_mask(host: VirtualHost) -> int:
    answer = host.ask(Reset(1))
    assert isinstance(answer, Nack) and answer.error == NackError.FAULT_LATCHED, answer
    return answer.detail


def test_reset_1_names_every_cause_that_persists_and_clears_once_all_are_gone() -> None:
    host = running()
    fw = host.fw
    fw.remove_cartridge()
    fw.inject_overheat()
    fw.inject_depth_fault()
    host.advance(P.depth_settle_margin_ms + 50, heartbeat_every=50)
    every = Fault.OVERTEMP | Fault.DEPTH_ERROR | Fault.CARTRIDGE_REMOVED
    assert fw.latched_faults == every
    assert refused_mask(host) == int(every)
    fw.set_temperature(P.overtemp_clear_dc)
    assert refused_mask(host) == int(Fault.DEPTH_ERROR | Fault.CARTRIDGE_REMOVED)
    fw.insert_cartridge()
    assert refused_mask(host) == int(Fault.DEPTH_ERROR)
    fw.clear_depth_fault()  # freed, but it still has to slew back
    assert refused_mask(host) == int(Fault.DEPTH_ERROR)
    host.advance(500, heartbeat_every=50)
    assert host.ask(Reset(1)) == Ack(MsgType.RESET)
    assert fw.latched_faults == Fault(0) and fw.state == State.IDLE


def test_an_overheat_on_top_of_a_latched_fault_keeps_both() -> None:
    host = running()
    host.fw.remove_cartridge()
    host.collect()
    host.fw.inject_overheat()
    assert host.fw.latched_faults == Fault.CARTRIDGE_REMOVED | Fault.OVERTEMP
    frames = host.collect()
    assert host.events(frames) == [Event(EventCode.FAULT_RAISED, 0)]


def test_a_slipped_depth_actuator_is_off_by_the_offset_and_raises_depth_error_in_time() -> None:
    host = running(1000)
    fw = host.fw
    records = logged(fw)
    slipped = fw.depth_actual_um + P.depth_fault_offset_um
    fw.inject_depth_fault()
    assert fw.depth_actual_um == slipped
    fw.inject_depth_fault()  # already jammed: it does not slip further
    assert fw.depth_actual_um == slipped
    assert ("INJECT", {"what": "depth_fault", "depth_actual_um": slipped}) in as_pairs(records)
    host.advance(P.depth_settle_margin_ms - 10, heartbeat_every=20)
    assert fw.needle_running and not fw.latched_faults
    host.advance(20, heartbeat_every=20)
    assert fw.latched_faults == Fault.DEPTH_ERROR and not fw.needle_running
    assert fw.depth_actual_um == slipped  # it sticks there
    fw.clear_depth_fault()
    assert ("INJECT", {"what": "depth_fault_cleared"}) in as_pairs(records)
    host.advance(500, heartbeat_every=50)
    assert abs(fw.depth_actual_um - 1000) <= P.depth_tolerance_um
    fw.clear_depth_fault()  # not jammed: nothing to free
    assert abs(fw.depth_actual_um - 1000) <= P.depth_tolerance_um


@pytest.mark.parametrize("depth", [PRO.depth_max_um, PRO.depth_max_um - P.depth_fault_offset_um])
def test_a_depth_slip_never_goes_past_the_pens_maximum(depth: int) -> None:
    host = running(depth)
    actual = host.fw.depth_actual_um
    host.fw.inject_depth_fault()
    off = P.depth_fault_offset_um
    up = actual + off <= PRO.depth_max_um
    assert host.fw.depth_actual_um == (actual + off if up else actual - off)
    assert up == (depth < PRO.depth_max_um)  # the second case slips up to the maximum itself
    host.advance(P.depth_settle_margin_ms + 50, heartbeat_every=50)
    assert host.fw.latched_faults == Fault.DEPTH_ERROR


def test_a_stall_while_running_stops_the_motor_at_once_and_latches_after_its_delay() -> None:
    host = running()
    fw = host.fw
    records = logged(fw)
    host.advance(200, heartbeat_every=50)
    assert fw.rate_actual_hz > 0
    fw.inject_stall()
    assert fw.rate_actual_hz == 0 and fw.needle_running
    assert as_pairs(records)[0] == ("INJECT", {"what": "stall"})
    host.advance(P.stall_detect_ms / 2)
    fw.inject_stall()  # a second jam does not restart the clock
    host.advance(P.stall_detect_ms / 2)
    assert fw.latched_faults == Fault.MOTOR_STALL and not fw.needle_running
    raised = [f for e, f in as_pairs(records) if e == "FAULT_RAISED"]
    assert raised == [{"detail": 1, "fault": "MOTOR_STALL"}]


@pytest.mark.parametrize("temp", [-400, 1500])
def test_a_temperature_at_the_bounds_is_taken_and_logged(temp: int) -> None:
    fw = Firmware(PRO)
    records = logged(fw)
    fw.set_temperature(temp)
    assert fw.temperature_dc == temp
    assert as_pairs(records)[0] == ("INJECT", {"what": "temperature", "temp_dc": temp})


@pytest.mark.parametrize("temp", [-401, 1501, math.nan, math.inf])
def test_a_temperature_outside_the_bounds_is_refused_with_a_sentence(temp: float) -> None:
    fw = Firmware(PRO)
    before = fw.temperature_dc
    with pytest.raises(InjectError, match=r"^The temperature must be from -400 to 1500 tenths"):
        fw.set_temperature(temp)
    assert fw.temperature_dc == before


def test_an_overheat_goes_to_the_asked_temperature_and_never_cools() -> None:
    fw = Firmware(PRO)
    records = logged(fw)
    fw.inject_overheat(700)
    assert fw.temperature_dc == 700
    fw.inject_overheat(500)
    assert fw.temperature_dc == 700
    assert as_pairs(records)[0] == ("INJECT", {"what": "overheat", "temp_dc": 700})
    fw.set_temperature(200)
    fw.inject_overheat()
    assert fw.temperature_dc == P.overheat_inject_dc
    with pytest.raises(InjectError, match=r"^The temperature must be a finite number"):
        fw.inject_overheat(math.nan)  # type: ignore[arg-type]


@pytest.mark.parametrize("pct", [0, 100, 55.5])
def test_a_battery_level_from_0_to_100_is_taken_and_logged(pct: float) -> None:
    fw = Firmware(PRO)
    records = logged(fw)
    fw.set_battery(pct)
    assert ("INJECT", {"what": "battery", "battery_pct": fw.battery_pct}) in as_pairs(records)


@pytest.mark.parametrize("pct", [-1, 100.5, 101, True, math.nan])
def test_a_battery_level_outside_0_to_100_is_refused_with_a_sentence(pct: float) -> None:
    fw = Firmware(PRO)
    before = fw.battery_pct
    with pytest.raises(InjectError, match=r"^The battery level must be a number from 0 to 100"):
        fw.set_battery(pct)
    assert fw.battery_pct == before


def test_a_note_is_logged_as_given() -> None:
    fw = Firmware(PRO)
    records = logged(fw)
    fw.note("LINK_CUT", ms=200)
    assert as_pairs(records) == [("LINK_CUT", {"ms": 200})]


def test_cartridge_removal_and_insertion_are_logged_and_evented_with_their_ids() -> None:
    fw = Firmware(PRO, cartridge_id=0x12345)
    host = VirtualHost(fw)
    records = logged(fw)
    fw.remove_cartridge()
    assert fw.cartridge_id == 0 and fw.cartridge_state == CartridgeState.NONE
    fw.insert_cartridge(cartridge_id=0x1ABCD)
    frames = host.collect()
    assert host.events(frames) == [
        Event(EventCode.CARTRIDGE_REMOVED, 0x2345),
        Event(EventCode.CARTRIDGE_INSERTED, 0xABCD),
    ]
    assert as_pairs(records) == [
        ("INJECT", {"what": "remove_cartridge", "cartridge_id": 0x12345}),
        ("CARTRIDGE_REMOVED", {"detail": 0x2345, "cartridge_id": 0x12345}),
        ("INJECT", {"what": "insert_cartridge", "cartridge_id": 0x1ABCD}),
        (
            "CARTRIDGE_INSERTED",
            {"detail": 0xABCD, "cartridge_id": 0x1ABCD, "cartridge_state": "FRESH"},
        ),
    ]


def test_the_cartridge_injections_refuse_with_a_sentence_and_change_nothing() -> None:
    fw = Firmware(PRO, cartridge_id=77)
    with pytest.raises(InjectError, match=r"^A cartridge is already inserted; remove it first\."):
        fw.insert_cartridge()
    fw.remove_cartridge()
    assert fw.insert_cartridge(fresh=False) == 77  # put back: the one removed
    fw.remove_cartridge()
    with pytest.raises(InjectError, match=r"^There is no cartridge to remove\."):
        fw.remove_cartridge()
    with pytest.raises(InjectError, match=r"^A cartridge id must be a whole number\."):
        fw.insert_cartridge(cartridge_id=1.0)  # type: ignore[arg-type]
    with pytest.raises(InjectError, match=r"^A cartridge id must be from 1 to 4294967295\."):
        fw.insert_cartridge(cartridge_id=0)
    assert fw.cartridge_state == CartridgeState.NONE
    assert fw.insert_cartridge() not in (0, 77)  # fresh by default: a new id


def test_a_cartridge_put_back_after_use_is_spent_and_start_refuses_it() -> None:
    host = running()
    used = host.fw.cartridge_id
    host.fw.remove_cartridge()
    assert host.fw.insert_cartridge(fresh=False) == used
    assert host.fw.cartridge_state == CartridgeState.SPENT
    assert host.ask(Reset(1)) == Ack(MsgType.RESET)
    assert host.ask(Start()) == Nack(MsgType.START, NackError.CARTRIDGE_USED, used & 0xFFFF)


def test_the_watchdog_trip_is_logged_with_the_silence_and_the_reset_depth() -> None:
    host = running(1500)
    fw = host.fw
    host.advance(100)
    fw.set_battery(50)  # the pen's own doings do not feed the watchdog
    host.collect()
    records = logged(fw)
    host.advance(PRO.watchdog_ms)
    trips = [f for e, f in as_pairs(records) if e == "WATCHDOG_TRIPPED"]
    assert trips == [
        {"detail": PRO.watchdog_ms, "silence_ms": PRO.watchdog_ms, "depth_um": PRO.depth_min_um}
    ]
    assert fw.faults == Fault.WATCHDOG and fw.state == State.NO_SESSION
    assert fw.session_open is False


def test_the_watchdog_flag_joins_the_battery_flag_and_hello_clears_only_it() -> None:
    host = running()
    fw = host.fw
    fw.set_battery(5)
    host.advance(PRO.watchdog_ms)
    assert fw.faults == Fault.WATCHDOG | Fault.BATTERY_LOW
    host.hello(nonce=3)
    assert fw.faults == Fault.BATTERY_LOW


def test_a_tick_at_a_time_that_is_not_finite_is_refused_with_a_sentence() -> None:
    fw = Firmware(PRO)
    with pytest.raises(ValueError, match=r"^The tick time must be a finite number"):
        fw.tick(math.nan)


def test_a_pen_that_sends_fault_masks_sends_the_mask_in_each_fault_event() -> None:
    fw = Firmware(dataclasses.replace(PRO, fault_detail="mask"))
    host = VirtualHost(fw)
    host.hello()
    host.settle_depth(1000)
    host.ask(Start())
    fw.remove_cartridge()
    fw.insert_cartridge()
    events = host.events(host.collect() + host.send(Reset(1)))
    assert Event(EventCode.FAULT_RAISED, int(Fault.CARTRIDGE_REMOVED)) in events
    assert Event(EventCode.FAULT_CLEARED, int(Fault.CARTRIDGE_REMOVED)) in events


def test_depth_error_latches_at_the_same_time_however_the_time_is_cut() -> None:
    def raised_at(step_ms: float) -> float:
        host = running()
        records = logged(host.fw)
        host.fw.inject_depth_fault()
        host.advance(30)
        host.send(Heartbeat())
        for _ in range(round(200 / step_ms)):
            host.advance(step_ms)  # one tick of 200 ms, or 200 of 1 ms
        raised = [r for r in records if r.event == "FAULT_RAISED"]
        assert [r.fields["fault"] for r in raised] == ["DEPTH_ERROR"]
        return raised[0].t_ms

    assert raised_at(200) == raised_at(1)


def test_the_battery_flag_comes_and_goes_beside_the_watchdog_flag_and_is_logged() -> None:
    host = running()
    fw = host.fw
    host.advance(PRO.watchdog_ms)
    records = logged(fw)
    fw.set_battery(5)
    assert fw.faults == Fault.WATCHDOG | Fault.BATTERY_LOW
    fw.set_battery(50)
    assert fw.faults == Fault.WATCHDOG
    flags = [(e, f) for e, f in as_pairs(records) if e.startswith("FAULT_")]
    assert flags == [
        ("FAULT_RAISED", {"detail": 3, "fault": "BATTERY_LOW", "battery_pct": 5}),
        ("FAULT_CLEARED", {"detail": 3, "fault": "BATTERY_LOW", "battery_pct": 50}),
    ]
