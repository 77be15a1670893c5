"""Depth, rate and zone commands, edge by edge, on the virtual pen (the Bench of
test_command_path_edges.py: the real SQLite store, watched).

What a clinician relies on: a zone change only ever lowers the depth, never above the
set-point the pen really holds, and the zone changes only once the pen has the lower depth;
every command is in the audit log once, with the decision that allowed it; a refused depth
sends nothing and its record says so; what the operator is told is the decision's reasons."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from driver.errors import DriverError, NotAllowed
from driver.safety import Outcome
from driver.session import Pen, PenUpdate
from simulator.control import execute
from simulator.firmware import PenConfig
from tests.driver.test_command_path_edges import Bench, bench, told

__all__ = ["bench"]


def sent_depths(bench: Bench) -> list[int]:
    """The set-points of the SET_DEPTH commands the pen executed, in order."""
    return [a.message.depth_um for a in bench.fw.applied if type(a.message).__name__ == "SetDepth"]


@pytest.fixture
def patient_bench(tmp_path: Path) -> Iterator[Bench]:
    """A pen whose watchdog waits 1 s, so a lost command does not end the session too."""
    b = Bench(tmp_path, PenConfig.professional(watchdog_ms=1000))
    yield b
    b.close()


def decisions(updates: list[PenUpdate]) -> list[PenUpdate]:
    return [u for u in updates if u.kind == "decision"]


def _lost_deeper(bench: Bench, acked: float, lost: float, reason: str | None = None) -> Pen:
    """`acked` mm acknowledged by the pen, then `lost` mm sent and lost (no answer)."""
    pen = bench.ready(acked)
    execute(bench.sim, "cut 230ms")
    with pytest.raises(DriverError):
        pen.set_depth(lost, reason)
    bench.run(pen, 0.3)
    assert bench.fw.depth_set_um == round(acked * 1000)
    return pen


REASON = "deep acne scarring, agreed with the client"


# --- a zone change never raises the depth -----------------------------------------------------


def test_a_zone_change_after_a_lost_deeper_depth_comes_down_to_what_the_pen_holds(
    patient_bench: Bench,
) -> None:
    """0.40 mm is acknowledged; 0.90 mm is sent but lost. Forehead allows 0.50 mm, but the
    pen really holds 0.40 mm: the zone change sets 0.40 mm, never 0.50 mm."""
    bench = patient_bench
    pen = _lost_deeper(bench, 0.4, 0.9)
    pen.select_zone("forehead")
    assert pen.zone == "forehead"
    assert sent_depths(bench)[-1] == 400 and bench.fw.depth_set_um == 400
    (change,) = [d for d in bench.store.of("decision") if d.get("why") == "zone_change"]
    assert change["depth_um"] == 400 and change["command"]["depth_um"] == 400


def test_a_pen_that_boots_deep_is_brought_to_the_shallowest_depth_by_the_first_zone(
    bench: Bench,
) -> None:
    """Before any depth was approved, the pen's own set-point is nobody's request: the first
    zone lowers the pen to the shallowest depth the host sends, not to the zone's cap."""
    pen = bench.open(zone=None)
    bench.fw.depth_set_um = 1000  # the pen's own set-point, before the host set any
    bench.run(pen, 0.3)
    pen.select_zone("forehead")
    assert pen.zone == "forehead"
    assert sent_depths(bench) == [250] and bench.fw.depth_set_um == 250


def test_a_first_zone_whose_clamp_is_lost_leaves_the_zone_unset_and_stops_the_needle(
    patient_bench: Bench,
) -> None:
    bench = patient_bench
    pen = bench.open(zone=None)
    bench.fw.depth_set_um = 1000
    bench.run(pen, 0.3)
    execute(bench.sim, "cut 230ms")
    with pytest.raises(NotAllowed) as refused:
        pen.select_zone("forehead")
    assert str(refused.value) == (
        "The zone stays unset: the depth could not be lowered for forehead (0.25 mm was sent "
        "without an answer); the needle was stopped."
    )
    assert pen.zone is None


def test_a_refused_zone_says_why_and_hands_over_its_decision(bench: Bench) -> None:
    pen = bench.open()
    pen.set_depth(0.5)
    with pytest.raises(NotAllowed) as refused:
        pen.select_zone("perioral")  # no role may treat it under the default policy
    assert refused.value.decision is not None
    assert refused.value.decision.outcome is Outcome.REJECTED
    assert str(refused.value).startswith("Zone perioral is not available: ")
    assert pen.zone == "cheeks"


def test_a_zone_change_that_keeps_the_depth_tells_the_operator_the_decisions_reasons(
    bench: Bench,
) -> None:
    pen = bench.open()
    pen.set_depth(0.8)
    updates = told(pen)
    decision = pen.select_zone("neck")
    assert decision is not None and pen.zone == "neck"
    (update,) = decisions(updates)
    assert update.message == " ".join(decision.reasons) and update.message
    assert update.decision == decision


def test_the_time_treated_moves_to_the_new_zone_when_it_changes_while_running(
    bench: Bench,
) -> None:
    pen = bench.treating(depth=0.8)
    bench.run(pen, 1.0)
    pen.select_zone("neck")
    bench.run(pen, 2.0)
    pen.stop()
    assert pen.zone_seconds["cheeks"] == pytest.approx(1.0, abs=0.05)
    assert pen.zone_seconds["neck"] == pytest.approx(2.0, abs=0.05)


# --- depth and rate: told, recorded once, refused ones send nothing ----------------------------


def test_a_depth_tells_the_operator_the_decisions_reasons(bench: Bench) -> None:
    pen = bench.open()
    updates = told(pen)
    decision = pen.set_depth(1.2)  # past the recommended max: needs a reason
    assert decision.outcome is Outcome.NEEDS_OVERRIDE
    (update,) = decisions(updates)
    assert update.message == " ".join(decision.reasons) and update.message
    assert update.decision == decision


def test_a_depth_that_needs_a_reason_sends_nothing_and_its_record_says_so(bench: Bench) -> None:
    pen = bench.open()
    pen.set_depth(0.5)
    before = sent_depths(bench)
    pen.set_depth(1.2)
    assert sent_depths(bench) == before
    record = bench.store.of("decision")[-1]
    assert record["outcome"] == "needs_override" and record["command"] is None


def test_each_depth_and_rate_is_in_the_audit_log_once_with_its_decision(bench: Bench) -> None:
    pen = bench.open()
    pen.set_depth(0.8)
    pen.set_rate(100)
    pen.set_depth(0.5)  # a lowering too
    commands = [d["type"] for d in bench.store.of("command")]
    assert "SET_DEPTH" not in commands and "SET_RATE" not in commands
    carried = [d["command"]["type"] for d in bench.store.of("decision") if d["command"]]
    assert carried == ["SET_DEPTH", "SET_RATE", "SET_DEPTH"]


def test_a_retract_while_running_stops_the_needle_even_when_the_store_fails(
    bench: Bench,
) -> None:
    """Lowering 0.90 to 0.40 mm while the needle runs: the STOP and the lower depth both go
    out though the store cannot take a record (both lower the risk)."""
    pen = bench.treating(depth=0.9)
    bench.run(pen, 0.3)
    bench.store.failing = True
    pen.set_depth(0.4)
    assert bench.order()[-2:] == ["STOP", "SET_DEPTH"]
    assert not bench.fw.needle_running and bench.fw.depth_set_um == 400


def test_a_zone_change_keeps_the_reason_when_it_comes_down_to_what_the_pen_holds(
    patient_bench: Bench,
) -> None:
    """0.60 mm is acknowledged, 0.90 mm lost. Forehead with a reason allows up to 0.75 mm,
    but the pen really holds 0.60 mm, past forehead's recommended 0.50 mm: it stays at
    0.60 mm on the clinician's reason, never raised to 0.75 mm."""
    bench = patient_bench
    pen = _lost_deeper(bench, 0.6, 0.9)
    decision = pen.select_zone("forehead", REASON)
    assert decision is not None and decision.depth_um == 600
    assert decision.override_reason == REASON
    assert max(sent_depths(bench)) <= 600 and bench.fw.depth_set_um == 600


def test_a_zone_change_decision_names_the_worst_depth_it_judged(patient_bench: Bench) -> None:
    """0.80 mm acknowledged, 0.90 mm lost: forehead with a reason clamps to 0.75 mm, which is
    below both, and the decision says it judged the 0.90 mm the pen may hold."""
    bench = patient_bench
    pen = _lost_deeper(bench, 0.8, 0.9)
    decision = pen.select_zone("forehead", REASON)
    assert decision is not None and decision.depth_um == 750
    assert "0.90 mm" in decision.reasons[0]
    assert bench.fw.depth_set_um == 750


def test_a_zone_change_to_the_depth_the_pen_holds_names_the_worst_depth_too(
    patient_bench: Bench,
) -> None:
    bench = patient_bench
    pen = _lost_deeper(bench, 0.75, 0.9)
    decision = pen.select_zone("forehead", REASON)
    assert decision is not None and decision.depth_um == 750
    assert "0.90 mm" in decision.reasons[0]


def test_a_zone_that_allows_the_worst_depth_sends_nothing(patient_bench: Bench) -> None:
    """0.50 mm acknowledged, 0.90 mm lost: the neck allows 0.90 mm, so the zone changes with
    no command, and the decision for the neck is the 0.90 mm the pen may hold."""
    bench = patient_bench
    pen = _lost_deeper(bench, 0.5, 0.9)
    before = sent_depths(bench)
    decision = pen.select_zone("neck")
    assert decision is not None and decision.depth_um == 900
    assert sent_depths(bench) == before and pen.zone == "neck"


def test_two_quick_small_lowerings_while_running_keep_the_needle_running(bench: Bench) -> None:
    """0.90 to 0.85 to 0.80 mm, the second at once after the first was acknowledged (before
    the pen's next STATUS): each step is within the tolerance, so no STOP. The STATUS that
    still says 0.90 mm came before the acknowledgement and no longer counts."""
    pen = bench.treating(depth=0.9)
    bench.run(pen, 0.3)
    stops = len(bench.pen_got("STOP"))
    pen.set_depth(0.85)
    pen.set_depth(0.8)
    assert len(bench.pen_got("STOP")) == stops and bench.fw.needle_running
