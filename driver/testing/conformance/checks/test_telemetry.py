"""ICD: once SET_TELEMETRY turns it on (1..200 Hz), STATUS streams at that rate in every state,
NO_SESSION included, until it is turned off (0) or the pen reboots. (Telemetry off after boot
is checked in test_physical.py: it needs a power cycle.)

The rate is measured on the pen's own clock (STATUS.uptime_ms), so this computer's scheduling
does not enter into it.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driver.testing.conformance.client import PenClient, is_status
from driver.testing.conformance.hands import Hands, run_needle, trip_watchdog
from driver.testing.conformance.strategies import live, u16_edges
from protocol import Estop, Nack, NackError, SetTelemetry, State, Status

#: How far the mean STATUS period may be from 1000/rate ms (the pen's clock counts whole ms).
RATE_TOLERANCE = 0.10


#: The fewest STATUS frames a rate or content check judges, and how long it waits for them at
#: the least: the frames are counted as they arrive, so a starved test process (its reader
#: thread off the CPU for a while) waits longer instead of finding "0 frames" in a fixed window.
MIN_FRAMES = 4
MIN_WAIT_S = 3.0


def stream(pen: PenClient, seconds: float, frames: int = MIN_FRAMES) -> list[Status]:
    """The STATUS frames of at least `seconds` and at least `frames` frames (waiting up to
    MIN_WAIT_S, or 20 x `seconds`, for those): what the pen streams, not what a fixed window of
    this computer's time happened to catch."""
    mark = pen.mark()
    pen.pause(seconds)
    deadline = time.monotonic() + max(MIN_WAIT_S, 20 * seconds)

    def got() -> list[Status]:
        return [r.status for r in pen.received(mark) if r.status is not None]

    while len(got()) < frames and time.monotonic() < deadline:
        pen.pause(0.02)
    return got()


def assert_rate(statuses: list[Status], hz: int) -> None:
    assert len(statuses) >= 3, f"only {len(statuses)} STATUS frames at {hz} Hz"
    span = statuses[-1].uptime_ms - statuses[0].uptime_ms
    period = span / (len(statuses) - 1)
    expected = 1000 / hz
    assert abs(period - expected) <= expected * RATE_TOLERANCE + 1, (
        f"STATUS every {period:.2f} ms of pen time at {hz} Hz (expected {expected:.2f} ms)"
    )


@pytest.mark.parametrize("hz", [10, 50, 200])
def test_status_streams_at_the_rate_set(pen: PenClient, hz: int) -> None:
    pen.session()
    pen.telemetry(hz)
    pen.status()  # the stream has begun
    assert_rate(stream(pen, max(0.3, 3.5 / hz)), hz)


@pytest.mark.parametrize(
    "where",
    [pytest.param("no_session", marks=pytest.mark.ends_session), "idle", "running", "estop"],
)
def test_status_streams_in_every_state(pen: PenClient, hands: Hands, where: str) -> None:
    pen.session()
    pen.telemetry(100)
    if where == "no_session":
        trip_watchdog(pen)
        pen.keepalive = True
    elif where == "running":
        run_needle(pen, hands)
    elif where == "estop":
        pen.ack(Estop())
    expected = State[where.upper()]
    pen.wait_status(lambda s: s.state == expected, what=f"STATUS saying {expected.name}")
    statuses = stream(pen, 0.2)
    assert statuses, f"no STATUS in {expected.name}"
    assert all(s.state == expected for s in statuses)
    assert_rate(statuses, 100)


def test_telemetry_0_turns_the_stream_off_and_it_can_come_back(pen: PenClient) -> None:
    pen.session()
    pen.telemetry(200)
    pen.status()
    pen.telemetry(0)
    after = pen.last_answer_index + 1
    pen.pause(0.25)
    late = [r for r in pen.received(after) if is_status(r)]
    # one STATUS may have been waiting for the line when the command came (docs/PROTOCOL.md)
    assert len(late) <= 1, f"{len(late)} STATUS frames came after the ACK of SET_TELEMETRY 0"
    pen.telemetry(50)
    pen.status()


@pytest.mark.parametrize("where", ["idle", "running"])
def test_status_reports_the_pen_as_it_is(pen: PenClient, hands: Hands, where: str) -> None:
    info = pen.session()
    first = pen.status()
    if where == "running":
        run_needle(pen, hands)
    statuses = stream(pen, 0.3)
    assert statuses
    uptimes = [s.uptime_ms for s in statuses]
    assert uptimes == sorted(uptimes), "uptime_ms went back without a reboot"
    stamps = [s.stamps for s in statuses]
    assert stamps == sorted(stamps), "the stamp count went back"
    for s in statuses:
        assert 0 <= s.battery_pct <= 100
        assert info.depth_min_um <= s.depth_set_um <= info.depth_max_um
    if where == "running":
        assert stamps[-1] > stamps[0], "the needle runs but the stamp count stands still"
        assert all(s.cartridge_id != 0 for s in statuses)
    else:
        assert stamps[-1] == stamps[0] == first.stamps, "stamps counted while IDLE"
        assert all(s.rate_actual_hz == 0 for s in statuses), "the motor turns while IDLE"


@live()
@given(hz=u16_edges(200).filter(lambda v: v > 200))
def test_a_telemetry_rate_above_200_is_refused_and_the_stream_goes_on(
    pen: PenClient, hz: int
) -> None:
    pen.telemetry(50)
    refused = pen.request(SetTelemetry(hz))
    assert isinstance(refused, Nack), f"SET_TELEMETRY {hz} was answered {refused}"
    assert refused.error == NackError.OUT_OF_RANGE
    assert refused.detail == 200, "detail carries the limit that was broken"
    pen.status()  # still streaming


@live()
@given(hz=st.integers(1, 200))
def test_any_telemetry_rate_from_1_to_200_is_accepted(pen: PenClient, hz: int) -> None:
    pen.telemetry(hz)
    pen.telemetry(200)
    pen.status()
