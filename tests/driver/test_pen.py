"""The Pen session against the in-process simulator (`sim://`): every command path."""

from __future__ import annotations

import pytest

import protocol
from driver.errors import (
    LinkLost,
    NotAllowed,
    OperatorLocked,
    PenRebooted,
    SessionClosed,
    WrongPin,
)
from driver.safety import Outcome
from driver.session import Pen
from protocol import State
from tests.helpers import wait_for


def fw(pen: Pen):
    return pen.port.pen.firmware


def kinds(store, session_id):
    return [r.kind for r in store.records(session_id)]


def test_home_flow_sets_depth_rate_and_runs(store):
    with Pen.open("sim://?seed=1", role="home", zone="forehead", db=store) as pen:
        d = pen.set_depth(0.5)
        assert d.outcome is Outcome.ALLOWED and d.depth_um == 500
        assert fw(pen).depth_set_um == 500
        r = pen.set_rate(100)
        assert r.outcome is Outcome.ALLOWED and fw(pen).rate_set_hz == 100
        pen.start()
        wait_for(lambda: pen.status and pen.status.state == State.RUNNING, what="RUNNING")
        assert fw(pen).needle_running
        pen.stop()
        wait_for(lambda: pen.status.state == State.IDLE, what="IDLE")
        assert not fw(pen).needle_running


def test_home_depth_above_cap_is_clamped_and_sent_clamped(store):
    with Pen.open("sim://?seed=2", role="home", zone="cheeks", db=store) as pen:
        d = pen.set_depth(2.5)
        assert d.outcome is Outcome.CLAMPED
        assert d.depth_mm is not None and d.depth_mm < 1.0
        assert fw(pen).depth_set_um == d.depth_um


def test_home_class_pen_forces_home_role_even_for_a_clinician(store):
    with Pen.open(
        "sim://?device_class=home&seed=3",
        role="clinician",
        operator="c1",
        pin="1234",
        zone="cheeks",
        db=store,
    ) as pen:
        assert pen.role == "home"
        d = pen.set_depth(2.0, override_reason="deep scars")
        assert d.depth_mm is not None and d.depth_mm < 1.0
        assert fw(pen).depth_set_um < 1000


def test_rejected_and_needs_override_send_nothing(store):
    with Pen.open(
        "sim://?seed=4",
        role="clinician",
        operator="c1",
        pin="1234",
        client="P-1",
        zone="cheeks",
        db=store,
    ) as pen:
        before = fw(pen).depth_set_um
        assert pen.set_depth(float("nan")).outcome is Outcome.REJECTED
        assert pen.set_depth(0.1).outcome is Outcome.REJECTED
        d = pen.set_depth(1.5)
        assert d.outcome is Outcome.NEEDS_OVERRIDE and d.depth_um is None
        assert fw(pen).depth_set_um == before
        sent = [c for c in fw(pen).applied if c.type_code == protocol.MsgType.SET_DEPTH]
        assert sent == []


def test_override_reason_is_recorded_before_the_command(store):
    with Pen.open(
        "sim://?seed=5",
        role="clinician",
        operator="c1",
        pin="1234",
        client="P-1",
        zone="cheeks",
        db=store,
    ) as pen:
        d = pen.set_depth(1.5, override_reason="deep acne scarring, consented")
        assert d.outcome is Outcome.ALLOWED and d.depth_um == 1500
        assert fw(pen).depth_set_um == 1500
        recs = store.records(pen.session_id)
        decision = next(r for r in recs if r.kind == "decision" and r.data.get("depth_um") == 1500)
        assert decision.data["override_reason"] == "deep acne scarring, consented"
        seq = decision.data["command"]["seq"]
        ack = next(r for r in recs if r.kind == "ack" and r.data["seq"] == seq)
        assert decision.id < ack.id  # committed before the command went out


def test_zone_change_clamps_down_at_once(store):
    with Pen.open(
        "sim://?seed=6",
        role="clinician",
        operator="c1",
        pin="1234",
        client="P-1",
        zone="cheeks",
        db=store,
    ) as pen:
        pen.set_depth(1.0)
        assert fw(pen).depth_set_um == 1000
        d = pen.select_zone("forehead")
        assert d is not None and d.depth_um is not None and d.depth_um <= 500
        assert fw(pen).depth_set_um == d.depth_um
        assert pen.zone == "forehead"


def test_zone_a_role_may_not_treat_is_refused_and_nothing_changes(store):
    with Pen.open("sim://?seed=7", role="home", zone="forehead", db=store) as pen:
        pen.set_depth(0.5)
        with pytest.raises(NotAllowed, match="bench"):
            pen.select_zone("bench")
        with pytest.raises(NotAllowed):
            pen.select_zone("no-such-zone")
        assert pen.zone == "forehead"
        assert fw(pen).depth_set_um == 500


def test_start_needs_depth_and_rate(store):
    with Pen.open("sim://?seed=8", role="home", db=store) as pen:
        with pytest.raises(NotAllowed, match="zone"):
            pen.start()
        pen.select_zone("forehead")
        with pytest.raises(NotAllowed, match="depth"):
            pen.start()
        pen.set_depth(0.3)
        with pytest.raises(NotAllowed, match="rate"):
            pen.start()
        assert not fw(pen).needle_running


def test_estop_latches_and_reset_releases(store):
    with Pen.open("sim://?seed=9", role="home", zone="forehead", db=store) as pen:
        pen.set_depth(0.5)
        pen.set_rate(100)
        pen.start()
        pen.estop()
        wait_for(lambda: fw(pen).state == State.ESTOP, what="ESTOP")
        assert not fw(pen).needle_running
        wait_for(lambda: not pen.estop_pending, what="the pen's confirmation")
        with pytest.raises(NotAllowed, match="e-stop is latched"):
            pen.start()  # the host refuses it first; the pen would too (ESTOP_LATCHED)
        assert fw(pen).state == State.ESTOP
        pen.reset("estop")
        wait_for(lambda: pen.status.state == State.IDLE, what="IDLE after reset")
        pen.start()
        wait_for(lambda: fw(pen).needle_running, what="running after the release")
        pen.flush_log()
        assert {"estop", "estop_confirmed"} <= set(kinds(store, pen.session_id))


def test_estop_under_200hz_telemetry(store):
    with Pen.open(
        "sim://?seed=10", role="home", zone="forehead", db=store, telemetry_hz=200
    ) as pen:
        pen.set_depth(0.5)
        pen.set_rate(100)
        pen.start()
        wait_for(lambda: pen.status.state == State.RUNNING)
        pen.estop()
        wait_for(lambda: fw(pen).state == State.ESTOP, timeout=1.0, what="ESTOP")
        estops = [c for c in fw(pen).applied if c.type_code == protocol.MsgType.ESTOP]
        assert len(estops) == 1  # 3 copies, same seq: executed once, answered from the window


def test_nack_is_mapped_to_a_typed_error_with_detail(store):
    with Pen.open("sim://?seed=11", role="home", zone="forehead", db=store) as pen:
        # Past the governor on purpose (the raw link), to see the pen's own refusal.
        answer = pen._link.request(protocol.SetDepth(5000))
        assert isinstance(answer, protocol.Nack)
        from driver.session import nack_error

        err = nack_error("SET_DEPTH", answer)
        assert err.error == protocol.NackError.OUT_OF_RANGE
        assert err.detail == 3000
        assert str(err) == (
            "The pen refused SET_DEPTH: the value is outside the pen's own range "
            "(its limit is 3000)."
        )


@pytest.mark.parametrize("fault", ["drop=0.3", "corrupt=0.3", "dup=0.5"])
def test_commands_survive_a_bad_link_and_apply_once(store, fault):
    with Pen.open("sim://?seed=12", role="home", zone="forehead", db=store) as pen:
        pen.port.pen.command(f"fault {fault}")  # after the handshake: commands under test
        done: list[int] = []
        maybe: list[int] = []  # sent after the last success: the pen may hold one (answer lost)
        for mm in (0.3, 0.4, 0.5, 0.35, 0.45):
            try:
                pen.set_depth(mm)
                done.append(round(mm * 1000))
                maybe = []
            except Exception as exc:  # a command may fail after 3 resends; never twice applied
                assert "did not answer" in str(exc) or "link to the pen is lost" in str(exc)
                maybe.append(round(mm * 1000))
        applied = [
            (c.seq, c.type_code)
            for c in fw(pen).applied
            if c.type_code == protocol.MsgType.SET_DEPTH
        ]
        assert len(applied) == len(set(applied))  # no (seq, type) executed twice
        assert len(done) >= 3
        if done:
            wait_for(lambda: fw(pen).depth_set_um in (done[-1], *maybe))


def test_link_cut_is_link_lost_and_never_resumes(store):
    pen = Pen.open("sim://?seed=13", role="home", zone="forehead", db=store)
    updates = pen.updates()
    try:
        pen.set_depth(0.5)
        pen.port.pen.command("cut 2s")
        wait_for(lambda: not pen.alive, timeout=2.0, what="link lost")
        assert isinstance(pen.dead, LinkLost)
        with pytest.raises(LinkLost):
            pen.set_depth(0.4)
        seen = []
        while (u := updates.get(timeout=0.5)) is not None:
            seen.append(u.kind)
            if u.kind == "link_lost":
                break
        assert "link_lost" in seen
        pen.flush_log()
        assert "link_lost" in kinds(store, pen.session_id)
    finally:
        pen.close()


def test_pen_reboot_ends_the_session(store):
    pen = Pen.open("sim://?seed=14", role="home", zone="forehead", db=store)
    try:
        pen.port.pen.command("reboot")
        wait_for(lambda: pen.dead is not None, what="reboot noticed")
        assert isinstance(pen.dead, PenRebooted | LinkLost)
        with pytest.raises((PenRebooted, LinkLost)):
            pen.set_depth(0.3)
    finally:
        pen.close()


def test_watchdog_trip_ends_the_session(store):
    pen = Pen.open("sim://?seed=15", role="home", zone="forehead", db=store)
    try:
        pen.set_depth(0.5)
        pen.set_rate(100)
        pen.start()
        pen._link.stop_heartbeat()  # a host that stops feeding the watchdog
        wait_for(lambda: pen.dead is not None, timeout=2.0, what="watchdog")
        assert not fw(pen).needle_running
        assert fw(pen).state == State.NO_SESSION
        assert isinstance(pen.dead, SessionClosed)
    finally:
        pen.close()


def test_close_stops_the_needle(store):
    pen = Pen.open("sim://?seed=16", role="home", zone="forehead", db=store)
    pen.set_depth(0.5)
    pen.set_rate(100)
    pen.start()
    live = pen.port.pen
    assert live.firmware.needle_running
    pen.close()
    assert not live.firmware.needle_running
    assert store.records(pen.session_id)[-1].kind in ("session_end", "session_closed")


def test_cartridge_used_in_an_earlier_session_refuses_start(store):
    # a pinned cartridge id: the "same cartridge put back" in the next session
    with Pen.open("sim://?seed=17&cartridge=5eed17", role="home", zone="forehead", db=store) as pen:
        pen.set_depth(0.5)
        pen.set_rate(100)
        pen.start()
        pen.stop()
    with Pen.open("sim://?seed=17&cartridge=5eed17", role="home", zone="cheeks", db=store) as pen:
        pen.set_depth(0.5)
        pen.set_rate(100)
        with pytest.raises(NotAllowed, match="earlier session"):
            pen.start()
        assert not fw(pen).needle_running


def test_interval_rule_uses_the_store(store):
    with Pen.open("sim://?seed=18", role="home", zone="forehead", client="C-1", db=store) as pen:
        pen.set_depth(0.5)
        pen.set_rate(100)
        pen.start()
        pen.stop()
    with Pen.open("sim://?seed=19", role="home", zone="cheeks", client="C-1", db=store) as pen:
        # another zone is fine; the same zone too soon is refused, as a zone and as a depth
        assert pen.set_depth(0.5).outcome is Outcome.ALLOWED
        with pytest.raises(NotAllowed, match="28 days"):
            pen.select_zone("forehead")
        assert pen.zone == "cheeks"
    with pytest.raises(NotAllowed, match="28 days"):
        Pen.open("sim://?seed=19", role="home", zone="forehead", client="C-1", db=store)
    # a home session is the pen's own user: another name on the same pen is the same person
    with pytest.raises(NotAllowed, match="28 days"):
        Pen.open("sim://?seed=20", role="home", zone="forehead", client="C-2", db=store)
    with Pen.open(
        "sim://?seed=20", role="aesthetician", operator="a1", pin="5678", client="C-2", db=store
    ) as pen:
        pen.select_zone("forehead")
        assert pen.set_depth(0.5).outcome is Outcome.ALLOWED


def test_professional_role_needs_operator(store):
    with pytest.raises(NotAllowed, match="operator"):
        Pen.open("sim://?seed=21", role="clinician", db=store)


def test_wrong_pin_then_lockout(store):
    pen = Pen.connect("sim://?seed=22", db=store)
    try:
        for left in (4, 3, 2, 1):
            with pytest.raises(WrongPin) as err:
                pen.begin(role="clinician", operator="c1", pin="0000", client="P-1")
            assert err.value.attempts_left == left
        with pytest.raises(OperatorLocked):
            pen.begin(role="clinician", operator="c1", pin="0000", client="P-1")
        with pytest.raises(OperatorLocked):
            pen.begin(role="clinician", operator="c1", pin="1234", client="P-1")
        assert pen.session_id < 0
        with pytest.raises(NotAllowed, match="Log in first"):
            pen.set_depth(0.5)
    finally:
        pen.close()


def test_engineer_only_on_bench(store):
    with Pen.open(
        "sim://?seed=23", role="engineer", operator="e1", pin="9999", zone="bench", db=store
    ) as pen:
        assert pen.set_depth(3.0).depth_um == 3000
        with pytest.raises(NotAllowed):
            pen.select_zone("cheeks")


def test_audit_chain_verifies_after_a_session(store):
    with Pen.open("sim://?seed=24", role="home", zone="forehead", db=store) as pen:
        pen.set_depth(0.5)
        pen.set_rate(100)
        pen.start()
        pen.stop()
    result = store.verify()
    assert result.ok, result.problem


def test_a_blocking_screening_refuses_start(store):
    from driver.safety import screening

    answers = dict.fromkeys(screening.KEYS, False) | {"pregnancy": True}
    with Pen.open("sim://?seed=25", role="home", zone="forehead", db=store) as pen:
        result = screening.record(store, pen.session_id, answers, "home")
        assert not result.may_treat
        pen.set_depth(0.5)
        pen.set_rate(100)
        with pytest.raises(NotAllowed, match="contraindication"):
            pen.start()
        assert not fw(pen).needle_running


def test_an_acknowledged_screening_lets_a_clinician_start(store):
    from driver.safety import screening

    answers = dict.fromkeys(screening.KEYS, False) | {"cold_sores": True}
    with Pen.open(
        "sim://?seed=26",
        role="clinician",
        operator="c1",
        pin="1234",
        client="P-1",
        zone="cheeks",
        db=store,
    ) as pen:
        result = screening.record(store, pen.session_id, answers, "clinician")
        pen.set_depth(0.5)
        pen.set_rate(100)
        with pytest.raises(NotAllowed, match="acknowledge"):
            pen.start()
        screening.acknowledge(store, pen.session_id, result, "c1", "1234", "antiviral cover")
        pen.start()
        assert fw(pen).needle_running


def test_close_records_its_stop(store):
    pen = Pen.open("sim://?seed=27", role="home", zone="forehead", db=store)
    pen.set_depth(0.5)
    pen.set_rate(100)
    pen.start()
    pen.close()
    recs = store.records(pen.session_id)
    stop = [r for r in recs if r.kind == "command" and r.data["type"] == "STOP"]
    assert stop and any(r.kind == "ack" and r.data["seq"] == stop[-1].data["seq"] for r in recs)
