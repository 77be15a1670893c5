"""The contraindication screening (driver/screening.py) and its screen."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driver.audit import AuditStore
from driver.errors import DriverError, NotAllowed, WrongPin
from driver.safety.screening import (
    CHECKLIST,
    KEYS,
    ScreeningError,
    ScreeningVerdict,
    Verdict,
    acknowledge,
    check_answers,
    evaluate,
    record,
    required,
    session_verdict,
    worst,
)
from driver.session import Pen
from protocol import State
from tests.tui.conftest import (
    SIZE,
    answer_screening,
    focused_id,
    fw,
    make_app,
    on_screen,
    screen_name,
    settle,
    until,
)
from tui.screening_text import verdict_words

ROLES = ("home", "aesthetician", "clinician", "engineer")
answers_st = st.fixed_dictionaries({k: st.booleans() for k in KEYS})
garbage = st.one_of(
    st.none(), st.integers(), st.floats(allow_nan=True), st.text(max_size=5), st.just("yes")
)


def test_the_checklist_is_the_domain_list():
    assert len(CHECKLIST) == 10
    assert len(set(KEYS)) == len(KEYS)
    text = " ".join(c.question.lower() for c in CHECKLIST)
    for word in (
        "acne",
        "isotretinoin",
        "blood thinners",
        "chemotherapy",
        "cold sore",
        "keloid",
        "eczema",
        "moles",
        "pregnant",
        "sunburn",
    ):
        assert word in text


@given(answers=answers_st, role=st.sampled_from(ROLES))
def test_the_rule(answers, role):
    result = evaluate(answers, role)
    positives = [k for k in KEYS if answers[k]]
    if role == "engineer":
        assert result.outcome is Verdict.NOT_REQUIRED and result.may_treat
    elif not positives:
        assert result.outcome is Verdict.CLEAR and result.may_treat
    elif role == "home":
        assert result.outcome is Verdict.BLOCKED and not result.may_treat
    else:
        assert result.outcome is Verdict.NEEDS_ACKNOWLEDGEMENT and not result.may_treat
    if role != "engineer":
        assert list(result.positives) == positives
    words = verdict_words(result)
    assert words.endswith((".", ":")) or result.outcome is Verdict.ACKNOWLEDGED


@given(answers=answers_st, key=st.sampled_from(KEYS), bad=garbage)
def test_a_non_yes_no_answer_is_refused(answers, key, bad):
    broken = {**answers, key: bad}
    with pytest.raises(ScreeningError, match="must be yes or no"):
        check_answers(broken)


@given(answers=answers_st, key=st.sampled_from(KEYS))
def test_every_question_must_be_answered(answers, key):
    del answers[key]
    with pytest.raises(ScreeningError, match="Answer every screening question"):
        evaluate(answers, "clinician")


@given(answers=answers_st, extra=st.text(min_size=1, max_size=20).filter(lambda k: k not in KEYS))
def test_unknown_questions_are_refused(answers, extra):
    with pytest.raises(ScreeningError, match="no question"):
        evaluate({**answers, extra: False}, "home")


@given(role=st.one_of(st.text(max_size=10), st.none(), st.integers()))
def test_unknown_roles_are_refused(role):
    if role in ROLES:
        return
    with pytest.raises(ScreeningError, match="Unknown role"):
        evaluate(dict.fromkeys(KEYS, False), role)


def test_required_for_every_role_that_treats_skin():
    assert [r for r in ROLES if required(r)] == ["home", "aesthetician", "clinician"]


def _session(store: AuditStore, role: str = "aesthetician") -> int:
    return store.begin_session(
        role=role,
        operator_id={"home": None, "aesthetician": "a1", "clinician": "c1"}[role],
        client_ref="S1",
        device_serial=1,
        boot_id=1,
        device_class="professional",
    )


def test_record_appends_the_answers_and_the_verdict(store):
    sid = _session(store, "home")
    answers = dict.fromkeys(KEYS, False) | {"pregnancy": True}
    result = record(store, sid, answers, "home")
    assert result.outcome is Verdict.BLOCKED
    rec = store.records(sid)[-1]
    assert rec.kind == "screening"
    assert rec.data["verdict"] == "blocked"
    assert rec.data["positives"] == ["pregnancy"]
    assert rec.data["answers"]["pregnancy"] is True


def test_bad_input_records_nothing(store):
    sid = _session(store)
    before = len(store.records(sid))
    with pytest.raises(ScreeningError):
        record(store, sid, {"pregnancy": False}, "clinician")
    assert len(store.records(sid)) == before


def test_acknowledgement_needs_a_clinician_pin_and_a_reason(store):
    sid = _session(store)
    answers = dict.fromkeys(KEYS, False) | {"cold_sores": True}
    result = record(store, sid, answers, "aesthetician")
    assert result.outcome is Verdict.NEEDS_ACKNOWLEDGEMENT
    n = len(store.records(sid))
    with pytest.raises(ScreeningError, match="reason"):
        acknowledge(store, sid, result, "c1", "1234", "   ")
    assert len(store.records(sid)) == n  # refused before any PIN check
    with pytest.raises(WrongPin):
        acknowledge(store, sid, result, "c1", "0000", "antiviral cover started")
    with pytest.raises(ScreeningError, match="only a clinician"):
        acknowledge(store, sid, result, "a1", "5678", "antiviral cover started")
    acked = acknowledge(store, sid, result, "c1", "1234", "antiviral cover started")
    assert acked.outcome is Verdict.ACKNOWLEDGED and acked.may_treat
    assert acked.acknowledged_by == "c1"
    data = [r.data for r in store.records(sid) if r.kind == "screening"]
    assert [d["event"] for d in data] == ["answers", "acknowledgement_refused", "acknowledged"]
    assert data[-1]["reason"] == "antiviral cover started"


def test_nothing_to_acknowledge_when_clear_or_blocked(store):
    sid = _session(store)
    clear = evaluate(dict.fromkeys(KEYS, False), "clinician")
    blocked = evaluate(dict.fromkeys(KEYS, True), "home")
    for result in (clear, blocked):
        with pytest.raises(ScreeningError, match="no positive professional screening"):
            acknowledge(store, sid, result, "c1", "1234", "reason")


def test_errors_are_driver_errors_with_one_sentence():
    with pytest.raises(DriverError) as info:
        evaluate({}, "home")
    text = str(info.value)
    assert text.endswith(".") and "\n" not in text


# --- the screen -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_yes_blocks_a_home_session(store):
    app = make_app(store, port="sim://?seed=41", role="home", zone="forehead")
    async with app.run_test(size=SIZE) as pilot:
        await answer_screening(pilot, "nnnnnnnnyn")  # pregnant
        await settle(pilot)
        assert screen_name(app) == "ScreeningScreen"
        assert app.pen.screening is not None and not app.pen.screening.may_treat
        verdict = [r.data for r in store.records(app.pen.session_id) if r.kind == "screening"]
        assert verdict[-1]["verdict"] == "blocked"
        await pilot.press("ctrl+e")
        await on_screen(pilot, "SummaryScreen")
        assert app.pen.closed and not fw(app).needle_running


@pytest.mark.anyio
async def test_record_is_refused_until_every_question_is_answered(store):
    app = make_app(store, port="sim://?seed=42", role="home", zone="forehead")
    async with app.run_test(size=SIZE) as pilot:
        await on_screen(pilot, "ScreeningScreen")
        await until(pilot, lambda: focused_id(app) is not None, "focus")
        await pilot.press("n", "n", "n")
        app.screen.submit()
        await pilot.pause()
        assert screen_name(app) == "ScreeningScreen"
        assert not [r for r in store.records(app.pen.session_id) if r.kind == "screening"]
        assert focused_id(app) == f"q-{KEYS[3]}"  # the first unanswered question


@pytest.mark.anyio
async def test_a_yes_in_a_professional_session_needs_a_clinicians_acknowledgement(store):
    app = make_app(
        store,
        port="sim://?seed=43",
        role="aesthetician",
        operator="a1",
        client="K1",
        zone="cheeks",
    )
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: focused_id(app) == "pin", "the PIN field")
        await pilot.press(*"5678", "enter")
        await answer_screening(pilot, "nnnnynnnnn")  # cold sores
        await on_screen(pilot, "AcknowledgeDialog")
        # an aesthetician cannot acknowledge: the clinician's ID is asked first
        await until(pilot, lambda: focused_id(app) == "clinician", "the clinician field")
        # Escape in the dialog is the e-stop, as everywhere
        await pilot.press("escape")
        assert fw(app).state is State.ESTOP
        assert screen_name(app) == "AcknowledgeDialog"
        await pilot.press(*"c1", "tab", *"0000", "tab", *"antiviral", "enter")
        await settle(pilot)
        assert screen_name(app) == "AcknowledgeDialog"  # a wrong PIN keeps it open
        assert focused_id(app) == "pin"
        await pilot.press(*"1234", "tab", "enter")
        await on_screen(pilot, "TreatmentScreen")
        acks = [
            r.data
            for r in store.records(app.pen.session_id)
            if r.kind == "screening" and r.data.get("event") == "acknowledged"
        ]
        assert acks and acks[-1]["by"] == "c1" and acks[-1]["reason"] == "antiviral"


# --- the verdict the Pen holds ------------------------------------------------------------------

verdicts_st = st.lists(
    st.tuples(st.sampled_from(["home", "clinician"]), answers_st, st.booleans()), max_size=5
)


@given(steps=verdicts_st)
def test_the_held_verdict_is_what_the_records_say(steps):
    """Folding answer sets (and acknowledgements) with `worst` gives the verdict the start
    rule reads back from the same records (`session_verdict`)."""
    held = None
    records: list[dict[str, object]] = []
    for role, answers, ack in steps:
        result = evaluate(answers, role)
        records.append({"event": "answers", "verdict": result.outcome.value})
        held = worst(held, result)
        if ack and held.outcome is Verdict.NEEDS_ACKNOWLEDGEMENT:
            held = worst(held, ScreeningVerdict(Verdict.ACKNOWLEDGED, role, held.findings, "c1"))
            records.append({"event": "acknowledged"})
    expected = session_verdict(records)
    if held is None:
        assert expected is None
    else:
        assert held.may_treat == (expected in (Verdict.CLEAR, Verdict.ACKNOWLEDGED))
        assert held.outcome is expected or {held.outcome, expected} == {
            Verdict.CLEAR,
            Verdict.ACKNOWLEDGED,
        }


def test_findings_name_each_question_and_its_answer():
    answers = dict.fromkeys(KEYS, False) | {"pregnancy": True}
    result = evaluate(answers, "home")
    assert [f.item for f in result.findings] == list(CHECKLIST)
    assert [c.key for c in result.contraindications] == ["pregnancy"]
    assert result.answers == answers


def test_a_blocked_home_screening_refuses_start_and_a_later_clear_one_cannot_undo_it(store):
    with Pen.open("sim://?seed=47", role="home", zone="forehead", db=store) as pen:
        assert pen.screening is None
        blocked = pen.screen(dict.fromkeys(KEYS, False) | {"pregnancy": True})
        assert blocked.outcome is Verdict.BLOCKED and pen.screening is blocked
        assert pen.screen(dict.fromkeys(KEYS, False)).outcome is Verdict.BLOCKED
        pen.set_depth(0.3)
        pen.set_rate(100)
        with pytest.raises(NotAllowed, match="may not treat"):
            pen.start()
        refused = [r.data for r in store.records(pen.session_id) if r.kind == "start_refused"]
        assert refused[-1] == {"reason": "screening_blocked"}
        assert not fw_of(pen).needle_running


def test_start_is_gated_on_the_verdict_the_pen_holds(store):
    """No screening record in the store (the transaction's re-check finds nothing to refuse),
    but the Pen holds a verdict that waits for its acknowledgement: START is refused."""
    answers = dict.fromkeys(KEYS, False) | {"cold_sores": True}
    with Pen.open(
        "sim://?seed=48",
        role="clinician",
        operator="c1",
        pin="1234",
        client="P-2",
        zone="cheeks",
        db=store,
    ) as pen:
        pen.screening = evaluate(answers, "clinician")
        pen.set_depth(0.5)
        pen.set_rate(100)
        with pytest.raises(NotAllowed, match="acknowledge"):
            pen.start()
        assert not fw_of(pen).needle_running
        assert not [r for r in store.records(pen.session_id) if r.kind == "screening"]


def test_a_clinician_acknowledges_through_the_pen_then_start_works(store):
    answers = dict.fromkeys(KEYS, False) | {"keloids": True}
    with Pen.open(
        "sim://?seed=49",
        role="aesthetician",
        operator="a1",
        pin="5678",
        client="P-3",
        zone="cheeks",
        db=store,
    ) as pen:
        with pytest.raises(ScreeningError):
            pen.acknowledge_screening("c1", "1234", "evaluated")  # nothing to acknowledge yet
        assert pen.screen(answers).outcome is Verdict.NEEDS_ACKNOWLEDGEMENT
        with pytest.raises(WrongPin):
            pen.acknowledge_screening("c1", "0000", "evaluated by a dermatologist")
        assert pen.screening is not None and not pen.screening.may_treat
        acked = pen.acknowledge_screening("c1", "1234", "evaluated by a dermatologist")
        assert acked.outcome is Verdict.ACKNOWLEDGED and acked.acknowledged_by == "c1"
        assert pen.screening is acked
        pen.set_depth(0.5)
        pen.set_rate(100)
        pen.start()
        assert fw_of(pen).needle_running


def test_bad_answers_through_the_pen_record_nothing(store):
    with Pen.open("sim://?seed=50", role="home", zone="forehead", db=store) as pen:
        with pytest.raises(ScreeningError):
            pen.screen({"pregnancy": "maybe"})
        assert pen.screening is None
        assert not [r for r in store.records(pen.session_id) if r.kind == "screening"]


def fw_of(pen: Pen):
    return pen.port.pen.firmware
