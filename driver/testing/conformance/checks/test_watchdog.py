"""ICD "Watchdog": no valid frame from the host for watchdog_ms and the pen stops the needle,
resets the depth set-point to depth_min_um, raises EVENT WATCHDOG_TRIPPED and returns to
NO_SESSION; it never resumes by itself. Damaged frames do not feed it; HEARTBEAT does.

Timing is measured on this computer, from the moment our last valid frame was written to the
arrival of what shows the stop, so the transport's delays count against the pen: the bound is
watchdog_ms + WATCHDOG_TOLERANCE_MS. A trip more than WATCHDOG_EARLY_MS before watchdog_ms is
a failure too (the host's 100 ms heartbeat relies on the full period).
"""

from __future__ import annotations

import pytest

from driver.testing.conformance.client import PenClient, is_event
from driver.testing.conformance.hands import Hands, run_needle, trip_watchdog
from protocol import (
    EventCode,
    Heartbeat,
    NackError,
    SetDepth,
    SetRate,
    Start,
    State,
    cobs,
    encode_body,
)
from protocol.codec import encode_raw

#: How late the stop may be seen, beyond watchdog_ms (transport, scheduling, telemetry period).
WATCHDOG_TOLERANCE_MS = 100
#: How early a trip may be seen, before watchdog_ms.
WATCHDOG_EARLY_MS = 20


@pytest.mark.ends_session
def test_the_watchdog_stops_a_running_needle_within_watchdog_ms(
    pen: PenClient, hands: Hands
) -> None:
    info = pen.session()
    deep = info.depth_max_um
    pen.ack(SetDepth(deep))
    run_needle(pen, hands)
    trip = trip_watchdog(pen)
    stopped = pen.wait_status(
        lambda s: s.state != State.RUNNING, since=trip.mark, what="STATUS with the needle stopped"
    )
    limit_ms = info.watchdog_ms + WATCHDOG_TOLERANCE_MS
    seen_ms = (min(stopped.t, trip.event.t) - trip.quiet_at) * 1000
    assert seen_ms <= limit_ms, (
        f"the needle ran on for {seen_ms:.0f} ms of silence; the watchdog is {info.watchdog_ms} ms"
    )
    assert seen_ms >= info.watchdog_ms - WATCHDOG_EARLY_MS, (
        f"the watchdog tripped after {seen_ms:.0f} ms, before its {info.watchdog_ms} ms"
    )
    after = pen.status()
    assert after.state == State.NO_SESSION
    assert after.depth_set_um == info.depth_min_um, "the depth set-point was not reset"
    pen.keepalive = True
    pen.wait_status(lambda s: s.rate_actual_hz == 0, what="STATUS with the motor at rest")


@pytest.mark.ends_session
def test_the_watchdog_ends_an_idle_session_too(pen: PenClient) -> None:
    info = pen.session()
    pen.ack(SetDepth(info.depth_max_um))
    trip = trip_watchdog(pen)
    assert trip.seconds * 1000 <= info.watchdog_ms + WATCHDOG_TOLERANCE_MS
    after = pen.status()
    assert after.state == State.NO_SESSION
    assert after.depth_set_um == info.depth_min_um


@pytest.mark.ends_session
def test_the_pen_never_resumes_by_itself_after_a_trip(pen: PenClient, hands: Hands) -> None:
    info = pen.session()
    run_needle(pen, hands)
    trip = trip_watchdog(pen)
    pen.keepalive = True  # a host that comes back: heartbeats alone reopen nothing
    pen.pause(info.watchdog_ms / 1000)
    after = [r.status for r in pen.received(trip.event.index) if r.status is not None]
    assert after, "no STATUS after the trip (telemetry must go on in NO_SESSION)"
    assert all(s.state == State.NO_SESSION for s in after), "the pen left NO_SESSION by itself"
    assert after[-1].rate_actual_hz == 0, "the motor still turns after the trip"
    pen.nack(SetRate(info.rate_min_hz), NackError.NO_SESSION, why="the session ended")
    pen.nack(Start(), NackError.NO_SESSION, why="START needs a new session")
    pen.hello()
    assert pen.status().state == State.IDLE, "a new session starts IDLE, not RUNNING"


@pytest.mark.ends_session
def test_damaged_frames_do_not_feed_the_watchdog(pen: PenClient) -> None:
    info = pen.session()
    mark = pen.mark()
    quiet_at = pen.go_quiet()
    body = bytearray(encode_body(Heartbeat(), 1))
    body[-1] ^= 0x01
    junk = [
        b"\x00" + cobs.encode(bytes(body)) + b"\x00",  # bad CRC
        b"\x00" + encode_raw(int(Heartbeat.TYPE), 2, b"", version=2),  # another version
        b"\x00\x17\x42\x99\x00",  # COBS nonsense
    ]
    i = 0
    while True:
        pen.send_raw(junk[i % len(junk)])
        i += 1
        tripped = [r for r in pen.received(mark) if is_event(EventCode.WATCHDOG_TRIPPED)(r)]
        if tripped:
            break
        assert i < 200, "damaged frames kept the session open for 4 s"
        pen.pause(0.02)
    seen_ms = (tripped[0].t - quiet_at) * 1000
    assert seen_ms <= info.watchdog_ms + WATCHDOG_TOLERANCE_MS, (
        f"damaged frames kept the session open for {seen_ms:.0f} ms"
    )
    pen.last_answer_index = tripped[0].index
    assert pen.status().state == State.NO_SESSION


def test_heartbeats_alone_keep_the_session_open(pen: PenClient) -> None:
    info = pen.session()
    depth = info.depth_min_um + info.depth_step_um
    pen.ack(SetDepth(depth))
    mark = pen.mark()
    pen.pause(2 * info.watchdog_ms / 1000)  # the client sends HEARTBEAT every 100 ms
    assert not [r for r in pen.received(mark) if is_event(EventCode.WATCHDOG_TRIPPED)(r)]
    statuses = [r.status for r in pen.received(mark) if r.status is not None]
    assert statuses and all(s.state == State.IDLE for s in statuses)
    assert pen.status().depth_set_um == depth
