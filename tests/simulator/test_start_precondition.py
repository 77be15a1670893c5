"""START needs the needle where it was set: depth_actual within tolerance of depth_set.

ICD clarification (issue 10, item 3): the actuator slews at 10 mm/s, so after a deep session a
shallower set-point is reached only after (old - new) / slew. Until depth_actual_um is within
protocol.DEPTH_TOLERANCE_UM of depth_set_um, START is refused with NACK BAD_STATE, detail =
depth_actual_um, and changes nothing. All on the virtual clock.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driver.testing.host import VirtualHost
from protocol import (
    DEPTH_TOLERANCE_MAX_UM,
    DEPTH_TOLERANCE_UM,
    Ack,
    CartridgeState,
    EventCode,
    MsgType,
    Nack,
    NackError,
    SetDepth,
    SetTelemetry,
    Start,
    State,
    Stop,
)
from simulator.errors import ConfigError
from simulator.firmware import PenConfig
from simulator.physics import PhysicsParams

PRO = PenConfig.professional()


def deep_session_then(new_depth: int, seed: int = 0) -> VirtualHost:
    """Treat at 3.00 mm, stop, then set `new_depth` at once (the needle is still deep)."""
    host = VirtualHost(config=PRO, seed=seed)
    host.hello()
    host.settle_depth(3000)
    assert host.ask(Start()) == Ack(MsgType.START)
    host.advance(100, heartbeat_every=50)
    assert host.ask(Stop()) == Ack(MsgType.STOP)
    assert host.ask(SetDepth(new_depth)) == Ack(MsgType.SET_DEPTH)
    return host


def test_start_right_after_lowering_from_3_mm_is_refused_with_the_actual_depth() -> None:
    host = deep_session_then(300)
    actual = host.fw.depth_actual_um
    assert actual >= 2950
    frames = host.send(Start())
    assert [f.message for f in frames] == [Nack(MsgType.START, NackError.BAD_STATE, actual)]
    assert not host.fw.needle_running and host.fw.state == State.IDLE
    assert host.fw.cartridge_state == CartridgeState.IN_USE  # untouched


def test_start_is_accepted_exactly_when_the_needle_is_within_tolerance() -> None:
    host = deep_session_then(300)
    # 3000 -> 300 µm at 10 µm/ms: within 50 µm of 300 after (3000 - 350) / 10 = 265 ms
    host.advance(264, heartbeat_every=50)
    assert host.fw.depth_actual_um == 360
    assert host.ask(Start()) == Nack(MsgType.START, NackError.BAD_STATE, 360)
    host.advance(1)
    assert host.fw.depth_actual_um == 350
    frames = host.send(Start())
    assert frames[0].message == Ack(MsgType.START)
    assert host.codes(frames) == [EventCode.STARTED]
    assert host.fw.needle_running


def test_a_new_session_after_a_deep_one_cannot_start_while_the_needle_retracts() -> None:
    """Issue 10: a clinician at 3.00 mm, then a new session (HELLO resets the set-point to
    depth_min_um): its START must wait until the needle is back up."""
    host = deep_session_then(3000)
    host.hello(nonce=2)
    assert host.fw.depth_set_um == PRO.depth_min_um
    assert host.fw.cartridge_state == CartridgeState.SPENT
    host.fw.remove_cartridge()
    host.fw.insert_cartridge(fresh=True)
    answer = host.ask(Start())
    assert isinstance(answer, Nack) and answer.error == NackError.BAD_STATE
    assert answer.detail > 1000
    host.advance(300, heartbeat_every=50)
    assert host.ask(Start()) == Ack(MsgType.START)
    assert host.fw.depth_actual_um <= PRO.depth_min_um + DEPTH_TOLERANCE_UM


def test_going_deeper_start_also_waits_for_the_set_point() -> None:
    host = VirtualHost(config=PRO)
    host.hello()
    host.ask(SetDepth(1000))
    assert host.ask(Start()) == Nack(MsgType.START, NackError.BAD_STATE, PRO.depth_min_um)
    host.advance(70, heartbeat_every=50)  # 250 + 700 = 950 µm: within 50 µm
    assert host.ask(Start()) == Ack(MsgType.START)


def test_other_refusals_come_first() -> None:
    """The depth check is the last precondition: a host that waits for it has passed the rest."""
    host = deep_session_then(300)
    host.fw.set_battery(5)
    answer = host.ask(Start())
    assert isinstance(answer, Nack) and answer.error == NackError.BATTERY_LOW


@given(
    first=st.integers(5, 60).map(lambda n: n * 50),
    second=st.integers(5, 60).map(lambda n: n * 50),
    wait_ms=st.integers(0, 400),
)
def test_start_accepted_iff_status_shows_the_needle_within_tolerance(
    first: int, second: int, wait_ms: int
) -> None:
    """The pen's rule is the one a host can see: STATUS's depth_actual vs depth_set."""
    host = VirtualHost(config=PRO)
    host.hello()
    host.settle_depth(first)
    host.advance(400, heartbeat_every=50)  # settled exactly
    host.ask(SetDepth(second))
    host.advance(wait_ms, heartbeat_every=50)
    [seen] = host.statuses(host.send(SetTelemetry(1)))  # the first STATUS follows the ACK
    within = abs(seen.depth_actual_um - seen.depth_set_um) <= DEPTH_TOLERANCE_UM
    frames = host.send(Start())
    answer = frames[0].message
    if within:
        assert answer == Ack(MsgType.START)
        assert host.codes(frames) == [EventCode.STARTED]
    else:
        assert answer == Nack(MsgType.START, NackError.BAD_STATE, seen.depth_actual_um)
        assert len(frames) == 1  # no EVENT: nothing changed
        assert host.fw.cartridge_state == CartridgeState.FRESH
        assert not host.fw.needle_running


def test_the_simulator_tolerance_is_the_shared_one() -> None:
    assert PhysicsParams().depth_tolerance_um == DEPTH_TOLERANCE_UM == 50
    assert PhysicsParams().slew_um_per_ms == 10.0  # 10 mm/s, as docs/PROTOCOL.md says


@pytest.mark.parametrize("tolerance", [0, DEPTH_TOLERANCE_UM - 1, DEPTH_TOLERANCE_MAX_UM + 1])
def test_a_pen_with_a_tolerance_outside_the_icd_range_cannot_be_built(tolerance: int) -> None:
    with pytest.raises(ConfigError, match="tolerance"):
        PenConfig.professional(physics=PhysicsParams(depth_tolerance_um=tolerance))


def test_a_pen_with_the_widest_tolerance_starts_within_it() -> None:
    config = PenConfig.professional(physics=PhysicsParams(depth_tolerance_um=150))
    host = VirtualHost(config=config)
    host.hello()
    host.ask(SetDepth(400))
    assert host.ask(Start()) == Ack(MsgType.START)  # 250 µm actual is within 150 µm of 400
