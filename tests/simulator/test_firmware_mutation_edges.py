"""The simulated pen's behaviour that `make mutate` (group firmware; docs/QA.md) found untested:
STATUS at exactly its configured period, the STARTED log record's set-points, resent HELLOs
after many refused ones, an injected depth fault honouring the settle margin, a battery level
given as a bool, and a supplied cartridge-id source that repeats a used id."""

from __future__ import annotations

import pytest

from driver.testing.host import VirtualHost
from protocol import (
    Ack,
    CartridgeState,
    Event,
    EventCode,
    Fault,
    Hello,
    Info,
    MsgType,
    Nack,
    SetRate,
    SetTelemetry,
    Start,
    Stop,
)
from simulator.errors import InjectError
from simulator.firmware import Firmware
from simulator.records import LogRecord, StopCause


def status_times(host: VirtualHost, ms: float) -> list[int]:
    """Advance `ms` with heartbeats every 10 ms; the uptime of each STATUS sent meanwhile."""
    return [s.uptime_ms for s in host.statuses(host.advance(ms, heartbeat_every=10))]


def test_status_comes_every_period_counted_from_set_telemetry() -> None:
    host = VirtualHost()
    host.hello()
    host.advance(5, heartbeat_every=5)
    frames = host.send(SetTelemetry(50))
    first = [s.uptime_ms for s in host.statuses(frames)]
    assert first == [5]  # the first STATUS at once
    assert status_times(host, 100) == [25, 45, 65, 85, 105]  # then every 1000/50 = 20 ms


def test_status_at_200_hz_is_sent_200_times_a_second() -> None:
    host = VirtualHost()
    host.hello()
    host.send(SetTelemetry(200))
    times = status_times(host, 1000)
    assert len(times) == 200
    assert times == list(range(5, 1001, 5))


def test_the_started_record_carries_the_set_points() -> None:
    host = VirtualHost()
    host.hello()
    host.settle_depth(1200)
    assert host.ask(SetRate(110)) == Ack(MsgType.SET_RATE)
    records: list[LogRecord] = []
    host.fw.add_listener(records.append)
    assert host.ask(Start()) == Ack(MsgType.START)
    started = [r for r in records if r.event == "STARTED"]
    assert len(started) == 1
    assert started[0].fields["depth_um"] == 1200
    assert started[0].fields["rate_hz"] == 110


def test_an_injected_depth_fault_latches_only_after_the_settle_margin() -> None:
    host = VirtualHost()
    host.hello()
    host.settle_depth(1200)
    host.advance(1000, heartbeat_every=100)  # long settled: no depth check is pending
    host.fw.inject_depth_fault()
    host.collect()
    assert not host.fw.faults & Fault.DEPTH_ERROR
    host.advance(99, heartbeat_every=33)
    assert not host.fw.faults & Fault.DEPTH_ERROR
    host.advance(1)
    assert host.fw.faults & Fault.DEPTH_ERROR


@pytest.mark.parametrize("bad", [True, False])
def test_a_battery_level_given_as_a_bool_is_refused(bad: bool) -> None:
    fw = Firmware()
    before = fw.battery_pct
    with pytest.raises(InjectError):
        fw.set_battery(bad)
    assert fw.battery_pct == before


def test_a_cartridge_id_source_repeating_a_used_id_is_asked_again() -> None:
    ids = iter([11, 22, 11, 22, 33])
    host = VirtualHost(Firmware(cartridge_ids=lambda: next(ids)))
    fw = host.fw
    assert fw.cartridge_id == 11
    host.hello()
    host.settle_depth(1200)
    for expected in (11, 22):
        assert fw.cartridge_id == expected
        assert host.ask(Start()) == Ack(MsgType.START)
        assert host.ask(Stop()) == Ack(MsgType.STOP)
        host.hello(nonce=expected)  # a new session: the cartridge just used is spent
        if expected == 11:
            assert fw.fit_fresh_cartridge() == 22
        host.settle_depth(1200)
    # 11 and 22 are both used (22 is in): the source's repeats are refused, 33 is fitted fresh
    assert fw.fit_fresh_cartridge() == 33
    assert fw.cartridge_state == CartridgeState.FRESH


def test_resent_refused_hellos_stay_duplicates_after_more_than_a_window_of_them() -> None:
    # 20 HELLOs of another protocol version, each on its own seq (a host retrying with a
    # wrong proto): each is refused; a resend of any still in the window (the last 16) is
    # answered from it, not handled again, including the latest one.
    host = VirtualHost()
    code = int(MsgType.HELLO)
    for seq in range(1, 21):
        assert isinstance(host.ask(Hello(2, 1000 + seq), seq=seq), Nack)
    for seq in (20, 12, 5):
        host.send(Hello(2, 1000 + seq), seq=seq)
        assert host.fw.executions[(seq, code)] == 1
        assert host.fw.duplicates[(seq, code)] == 1
    # the same seq with another nonce is a new handshake, handled again
    assert isinstance(host.ask(Hello(1, 77), seq=20), Info)
    assert host.fw.executions[(20, code)] == 2


def test_a_new_hello_while_running_stops_the_needle_and_says_why() -> None:
    host = VirtualHost()
    host.hello()
    host.settle_depth(800)
    assert host.ask(SetRate(100)) == Ack(MsgType.SET_RATE)
    assert host.ask(Start()) == Ack(MsgType.START)
    assert host.fw.needle_running
    frames = host.send(Hello(1, 77))
    assert isinstance(frames[0].message, Info)
    assert host.events(frames) == [Event(EventCode.STOPPED, StopCause.NEW_SESSION)]
    assert not host.fw.needle_running
