"""ICD: the pen enforces its own hardware range. SET_DEPTH outside depth_min_um..depth_max_um
or not a multiple of depth_step_um is answered NACK OUT_OF_RANGE (detail = the bound it broke)
and changes nothing: the pen never clamps. SET_RATE outside rate_min_hz..rate_max_hz likewise
(the ICD's rule that detail carries the limit broken). Depth changes while RUNNING are allowed
and slew at a finite speed; depth_actual_um follows depth_set_um."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from driver.testing.conformance.client import PenClient
from driver.testing.conformance.hands import Hands, run_needle
from driver.testing.conformance.strategies import live, u16_edges
from protocol import Ack, Info, Nack, NackError, SetDepth, SetRate, State, Status

#: How close depth_actual_um must settle to depth_set_um (a cleared device's ±0.15 mm).
DEPTH_TOLERANCE_UM = 150
#: How long the actuator may take to cross the pen's whole range.
SETTLE_S = 3.0


def depth_values(info: Info) -> st.SearchStrategy[int]:
    lo, hi, step = info.depth_min_um, info.depth_max_um, info.depth_step_um
    return u16_edges(lo, hi, lo - step, hi + step, lo + step // 2, 999, 1000)


def in_range(info: Info, depth: int) -> bool:
    return info.depth_min_um <= depth <= info.depth_max_um and depth % info.depth_step_um == 0


@live()
@given(data=st.data())
def test_set_depth_is_applied_inside_the_range_and_refused_outside_it(
    pen: PenClient, data: st.DataObject
) -> None:
    info = pen.info
    assert info is not None
    before = info.depth_min_um + info.depth_step_um
    pen.ack(SetDepth(before))
    depth = data.draw(depth_values(info), label="depth_um")
    answer = pen.request(SetDepth(depth))
    after = pen.status().depth_set_um
    if in_range(info, depth):
        assert isinstance(answer, Ack), f"SET_DEPTH {depth} (in range) was answered {answer}"
        assert after == depth
        return
    assert isinstance(answer, Nack), f"SET_DEPTH {depth} (out of range) was answered {answer}"
    assert answer.error == NackError.OUT_OF_RANGE
    assert after == before, f"a refused SET_DEPTH {depth} moved the set-point to {after}"
    if depth < info.depth_min_um:
        assert answer.detail == info.depth_min_um, "detail is the bound broken (depth_min_um)"
    elif depth > info.depth_max_um:
        assert answer.detail == info.depth_max_um, "detail is the bound broken (depth_max_um)"


@live()
@given(data=st.data())
def test_set_rate_is_applied_inside_the_range_and_refused_outside_it(
    pen: PenClient, data: st.DataObject
) -> None:
    info = pen.info
    assert info is not None
    lo, hi = info.rate_min_hz, info.rate_max_hz
    before = lo + 1 if lo < hi else lo
    pen.ack(SetRate(before))
    rate = data.draw(u16_edges(lo, hi, 1000), label="rate_hz")
    answer = pen.request(SetRate(rate))
    after = pen.status().rate_set_hz
    if lo <= rate <= hi:
        assert isinstance(answer, Ack), f"SET_RATE {rate} (in range) was answered {answer}"
        assert after == rate
        return
    assert isinstance(answer, Nack), f"SET_RATE {rate} (out of range) was answered {answer}"
    assert answer.error == NackError.OUT_OF_RANGE
    assert answer.detail == (lo if rate < lo else hi), "detail is the bound broken"
    assert after == before, f"a refused SET_RATE {rate} moved the set-point to {after}"


def test_the_pen_does_not_clamp_a_depth_past_its_maximum(pen: PenClient) -> None:
    info = pen.session()
    pen.ack(SetDepth(info.depth_min_um))
    pen.nack(SetDepth(info.depth_max_um + info.depth_step_um), NackError.OUT_OF_RANGE)
    assert pen.status().depth_set_um == info.depth_min_um, "the pen clamped instead of refusing"


def test_depth_changes_while_running_slew_to_the_set_point(pen: PenClient, hands: Hands) -> None:
    info = pen.session()
    pen.ack(SetDepth(info.depth_min_um))
    pen.wait_status(
        lambda s: abs(s.depth_actual_um - info.depth_min_um) <= DEPTH_TOLERANCE_UM,
        timeout=SETTLE_S,
        what="the actuator at depth_min_um",
    )
    run_needle(pen, hands)
    for target in (info.depth_max_um, info.depth_min_um):
        start = pen.status(since=pen.mark()).depth_actual_um
        pen.ack(SetDepth(target), why="depth changes while RUNNING are allowed")
        mark = pen.last_answer_index + 1

        def there(s: Status, t: int = target) -> bool:
            return abs(s.depth_actual_um - t) <= DEPTH_TOLERANCE_UM // 3

        settled = pen.wait_status(
            there,
            timeout=SETTLE_S,
            what=f"depth_actual_um settled at {target} µm",
        )
        path = [r.status for r in pen.received(mark, settled.index + 1) if r.status is not None]
        assert all(s.state == State.RUNNING for s in path), "the needle stopped while slewing"
        lo, hi = sorted((start, target))
        assert all(
            lo - DEPTH_TOLERANCE_UM <= s.depth_actual_um <= hi + DEPTH_TOLERANCE_UM for s in path
        ), f"depth_actual_um overshot the move from {start}: {[s.depth_actual_um for s in path]}"
        between = [
            s for s in path if lo + DEPTH_TOLERANCE_UM < s.depth_actual_um < hi - DEPTH_TOLERANCE_UM
        ]
        if hi - lo > 2 * DEPTH_TOLERANCE_UM:
            assert between, "the needle jumped to the new depth instead of slewing"
