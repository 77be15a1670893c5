"""The telemetry model and the command runner: what keeps 200 Hz telemetry and stuck keys
from flooding the UI or the pen."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

import protocol
from driver.safety import Decision, Effect, Finding, Outcome, Rule
from driver.session import PenUpdate
from protocol import CartridgeState, EventCode, Fault, State
from tui.commands import CommandRunner
from tui.commands import Outcome as JobOutcome
from tui.model import HISTORY_LIMIT, LOG_LIMIT, PenModel


def status(uptime_ms: int, stamps: int = 0, state: State = State.RUNNING, **kw) -> protocol.Status:
    fields = dict(
        state=state,
        faults=Fault(0),
        depth_set_um=500,
        depth_actual_um=500,
        rate_set_hz=100,
        rate_actual_hz=100,
        stamps=stamps,
        motor_ma=250,
        temp_dc=300,
        battery_pct=90,
        cartridge_id=1,
        cartridge_state=CartridgeState.IN_USE,
        uptime_ms=uptime_ms,
    )
    fields.update(kw)
    return protocol.Status(**fields)


def test_a_flood_of_telemetry_only_keeps_the_latest_and_bounded_history():
    model = PenModel()
    model.attach(lambda: "cheeks")

    def flood() -> None:
        for i in range(20_000):
            model.on_update(PenUpdate("status", status=status(i * 5, stamps=i)))

    t = threading.Thread(target=flood)
    t.start()
    frames = 0
    while t.is_alive():
        model.sample()  # what the UI's timer does, at its own pace
        model.snapshot()
        frames += 1
        time.sleep(0.001)
    t.join()
    for _ in range(HISTORY_LIMIT + 5):
        model.sample()
    snap = model.snapshot()
    assert snap.status is not None and snap.status.stamps == 19_999
    assert snap.status_count == 20_000
    assert len(snap.depth_history) == HISTORY_LIMIT
    assert snap.stamps_by_zone == {"cheeks": 19_999}
    assert snap.run_ms_by_zone["cheeks"] == 19_999 * 5


def test_stamps_and_time_follow_the_zone_and_ignore_a_reboot():
    model = PenModel()
    zone = {"z": "forehead"}
    model.attach(lambda: zone["z"])
    model.on_update(PenUpdate("status", status=status(1000, stamps=0)))
    model.on_update(PenUpdate("status", status=status(1100, stamps=10)))
    zone["z"] = "cheeks"
    model.on_update(PenUpdate("status", status=status(1200, stamps=25)))
    model.on_update(PenUpdate("status", status=status(50, state=State.NO_SESSION)))  # rebooted
    model.on_update(PenUpdate("status", status=status(150, stamps=5, state=State.IDLE)))
    model.on_update(PenUpdate("status", status=status(250, stamps=5, state=State.IDLE)))
    snap = model.snapshot()
    assert snap.stamps_by_zone == {"forehead": 10, "cheeks": 20}
    assert snap.run_ms_by_zone == {"forehead": 100.0, "cheeks": 100.0}


def test_the_log_is_bounded_and_ordered():
    model = PenModel(clock=lambda: 0.0)
    for i in range(LOG_LIMIT + 50):
        model.log("info", f"line {i}")
    entries = model.log_since(0)
    assert len(entries) == LOG_LIMIT
    assert entries[-1].text == f"line {LOG_LIMIT + 49}"
    assert model.log_since(entries[-2].seq) == [entries[-1]]


def _decision(outcome: Outcome, **kw) -> Decision:
    base = dict(
        depth_mm=0.5,
        rate_hz=100,
        depth_um=500,
        findings=(
            Finding(Rule.DEPTH, Effect.CLAMP, "0.80 mm is above the cap; clamped to 0.50 mm."),
        ),
        effective_role="clinician",
        cap_mm=0.5,
        bound_by="zone_recommended",
        override_reason=None,
    )
    base.update(kw)
    return Decision(outcome=outcome, **base)


def test_banners_and_log_for_each_kind_of_trouble():
    model = PenModel()
    assert model.snapshot().banners() == []
    model.on_update(PenUpdate("decision", decision=_decision(Outcome.CLAMPED)))
    model.on_update(
        PenUpdate("decision", decision=_decision(Outcome.ALLOWED, override_reason="scar"))
    )
    model.on_update(PenUpdate("event", event=protocol.Event(EventCode.FAULT_RAISED, 0)))
    model.on_update(PenUpdate("status", status=status(1, state=State.FAULT, faults=Fault(1))))
    model.on_update(PenUpdate("estop", "E-stop sent."))
    model.on_update(PenUpdate("link_lost", "The link to the pen is lost."))
    model.on_update(PenUpdate("rebooted", "The pen rebooted."))
    text = [t for _, t in model.snapshot().banners()]
    assert text[0].startswith("LINK LOST")
    assert text[1].startswith("PEN REBOOTED")
    assert text[2].startswith("E-STOP")
    assert text[3].startswith("FAULT: overheating")
    log = " ".join(e.text for e in model.log_since(0))
    assert "Clamped" in log and "Override (scar)" in log and "overheating" in log
    model.clear_estop_note()
    assert not any(t.startswith("E-STOP") for _, t in model.snapshot().banners())


@given(
    st.lists(
        st.sampled_from(
            [
                "status",
                "event",
                "decision",
                "estop",
                "link_lost",
                "rebooted",
                "session_ended",
                "closed",
            ]
        ),
        max_size=30,
    )
)
def test_the_subscriber_never_raises(kinds):
    model = PenModel()
    for kind in kinds:
        model.on_update(PenUpdate(kind))  # type: ignore[arg-type]  # payloads missing on purpose
    model.snapshot().banners()


# --- the command runner ------------------------------------------------------------------------


def test_jobs_run_in_order_and_results_come_back():
    got: list[JobOutcome] = []
    runner = CommandRunner(got.append)
    order: list[int] = []
    for i in range(20):
        runner.submit(f"job {i}", lambda i=i: order.append(i) or i)
    assert runner.wait_idle(5)
    runner.close()
    assert order == list(range(20))
    assert [o.result for o in got if not o.cancelled] == list(range(20))


def test_repeated_keys_coalesce_and_urgent_stop_cancels_what_waits():
    got: list[JobOutcome] = []
    runner = CommandRunner(got.append)
    gate = threading.Event()
    started = threading.Event()
    ran: list[str] = []
    runner.submit("slow", lambda: started.set() or gate.wait(5))
    assert started.wait(5)
    for i in range(10):
        runner.submit(f"depth {i}", lambda i=i: ran.append(f"depth {i}"), coalesce="depth")
    runner.submit("start", lambda: ran.append("start"))
    runner.submit("stop", lambda: ran.append("stop"), urgent=True)
    gate.set()
    assert runner.wait_idle(5)
    runner.close()
    assert ran == ["stop"]  # the queued depth and start never ran after the stop
    cancelled = [o.job.name for o in got if o.cancelled]
    assert "start" in cancelled and "depth 9" in cancelled
    assert len(cancelled) == 10 + 1  # nine coalesced away, the last depth, and the start


def test_errors_are_delivered_not_raised_in_the_thread():
    got: list[JobOutcome] = []
    runner = CommandRunner(got.append)

    def bad() -> None:
        raise RuntimeError("nope")

    runner.submit("bad", bad)
    runner.submit("good", lambda: 1)
    assert runner.wait_idle(5)
    runner.close()
    assert isinstance(got[0].error, RuntimeError) and got[1].result == 1


@pytest.mark.parametrize("detail", [2, 4, 0x20, 5, 0])  # a bit number, a mask, nonsense
def test_faults_are_named_from_status_never_from_the_events_detail(detail):
    """Issue 13: one pen sent FAULT_RAISED detail as a mask, the host read a bit number."""
    model = PenModel()
    model.on_update(PenUpdate("status", status=status(1)))
    model.on_update(PenUpdate("event", event=protocol.Event(EventCode.FAULT_RAISED, detail)))
    model.on_update(
        PenUpdate("status", status=status(2, state=State.FAULT, faults=Fault.DEPTH_ERROR))
    )
    log = [e.text for e in model.log_since(0)]
    assert [t for t in log if "Fault" in t] == [
        "Fault raised by the pen: depth error (the needle did not reach its set depth)."
    ]
    model.on_update(PenUpdate("status", status=status(3, state=State.IDLE)))
    assert model.log_since(0)[-1].text.startswith("Fault cleared: depth error")


def test_a_low_battery_banner_never_says_press_f():
    model = PenModel()
    model.on_update(PenUpdate("status", status=status(1, faults=Fault.BATTERY_LOW)))
    banners = [t for _, t in model.snapshot().banners()]
    assert banners == ["BATTERY LOW: charge the pen; it will not start until it is charged."]
    assert not any("press F" in t for t in banners)


def test_an_unconfirmed_estop_is_shown_until_the_pen_confirms_it():
    model = PenModel()
    pending = [True]
    model.attach(lambda: None, lambda: pending[0])
    model.on_update(PenUpdate("estop", "E-stop sent."))
    banners = [t for _, t in model.snapshot().banners()]
    assert banners[0].startswith("E-STOP NOT CONFIRMED by the pen")
    pending[0] = False
    model.on_update(PenUpdate("status", status=status(1, state=State.ESTOP)))
    banners = [t for _, t in model.snapshot().banners()]
    assert banners[0].startswith("E-STOP: the needle is stopped")
