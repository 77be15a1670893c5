"""The contraindication screening at its edges (driver/safety/screening.py and the Pen's
screening steps, driver/session/screening.py), as the mutation run of the `screening` group
found them untested (docs/QA.md, `make mutate`). Each test states what an operator, the audit
trail or the START gate relies on: who is screened, which answers block, what is recorded,
who may acknowledge, and that the worst verdict of a session stands.

Fast on purpose: pure functions, an SQLite store with cheap PINs, and the Pen on the
simulator's virtual clock (no threads, no sleeping)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from driver.audit import AuditStore
from driver.errors import NotAllowed, SessionClosed, WrongPin
from driver.safety.reason import REASON_RULE
from driver.safety.screening import (
    CHECKLIST,
    CHECKLIST_VERSION,
    KEYS,
    Finding,
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
from driver.session.screening import BLOCKED_SENTENCE, UNACKNOWLEDGED_SENTENCE
from protocol import State
from simulator.firmware import PenConfig
from simulator.simulation import Simulation
from simulator.virtual import VirtualClock, VirtualPort

NO = dict.fromkeys(KEYS, False)
T0 = 1_800_000_000.0


def yes(*keys: str) -> dict[str, bool]:
    return NO | dict.fromkeys(keys, True)


def session(store: AuditStore, role: str) -> int:
    return store.begin_session(
        role=role,
        operator_id={"home": None, "aesthetician": "a1", "clinician": "c1", "engineer": "e1"}[role],
        client_ref=None if role in ("home", "engineer") else "S-1",
        device_serial=1,
        boot_id=1,
        device_class="professional",
    )


def screening_data(store: AuditStore, sid: int) -> list[dict[str, object]]:
    return [r.data for r in store.records(sid) if r.kind == "screening"]


def logins(store: AuditStore) -> list[str]:
    return [r.kind for r in store.records() if r.kind.startswith("login")]


# --- the checklist (module constants and properties, which mutmut does not mutate) ---------------


def test_the_checklist_is_the_ten_questions_of_the_domain_notes_in_order() -> None:
    assert KEYS == (
        "active_acne_or_infection",
        "isotretinoin_6_months",
        "bleeding_or_blood_thinners",
        "chemo_or_radiotherapy",
        "cold_sores",
        "keloids",
        "eczema_psoriasis_rosacea_flare",
        "changing_moles_or_growths",
        "pregnancy",
        "recent_surgery_peel_sunburn",
    )
    assert [c.key for c in CHECKLIST] == list(KEYS)
    assert all(c.question.endswith("?") and c.why.endswith(".") for c in CHECKLIST)


def test_a_verdict_names_what_was_found_and_whether_the_session_may_treat() -> None:
    v = evaluate(yes("cold_sores", "pregnancy"), "clinician")
    assert v.contraindications == tuple(
        c for c in CHECKLIST if c.key in ("cold_sores", "pregnancy")
    )
    assert v.positives == ("cold_sores", "pregnancy")
    assert v.answers == yes("cold_sores", "pregnancy")
    assert [f.key for f in v.findings] == list(KEYS)
    may = {o: ScreeningVerdict(o, "clinician", v.findings).may_treat for o in Verdict}
    assert may == {
        Verdict.CLEAR: True,
        Verdict.ACKNOWLEDGED: True,
        Verdict.NOT_REQUIRED: True,
        Verdict.BLOCKED: False,
        Verdict.NEEDS_ACKNOWLEDGEMENT: False,
    }


# --- who is screened -----------------------------------------------------------------------------


def test_every_role_that_treats_skin_is_screened_and_the_engineer_is_not() -> None:
    assert required("home") and required("aesthetician") and required("clinician")
    assert not required("engineer")


def test_an_engineer_session_needs_no_answers_at_all() -> None:
    # the bench zone is a test block: nothing to screen, so no answer is asked or read
    for answers in ({}, NO, yes(*KEYS), {"pregnancy": "maybe"}):
        v = evaluate(answers, "engineer")
        assert v == ScreeningVerdict(Verdict.NOT_REQUIRED, "engineer", ())
        assert v.may_treat


@pytest.mark.parametrize("role", ["home", "aesthetician", "clinician"])
def test_a_treating_role_must_answer_even_when_it_would_be_clear(role: str) -> None:
    with pytest.raises(ScreeningError, match="Answer every screening question first"):
        evaluate({}, role)


@pytest.mark.parametrize("role", ["surgeon", "Home", "", " home"])
def test_an_unknown_role_is_refused_naming_it(role: str) -> None:
    with pytest.raises(ScreeningError) as info:
        evaluate(NO, role)
    assert str(info.value) == (
        f"Unknown role {role!r}: the roles are home, aesthetician, clinician, engineer."
    )


@pytest.mark.parametrize("role", [None, 3, ("home",)])
def test_a_role_that_is_not_text_is_refused(role: Any) -> None:
    with pytest.raises(ScreeningError, match="Unknown role"):
        evaluate(NO, role)


def test_a_long_unknown_role_is_shown_in_forty_characters() -> None:
    role = "r" * 39 + "XYZ"
    with pytest.raises(ScreeningError) as info:
        evaluate(NO, role)
    assert f"Unknown role {role[:40]!r}:" in str(info.value)


# --- the answers -------------------------------------------------------------------------------


def test_the_checked_answers_are_every_question_in_checklist_order() -> None:
    answers = dict(reversed(list(yes("keloids", "pregnancy").items())))
    checked = check_answers(answers)
    assert list(checked) == list(KEYS)
    assert checked == yes("keloids", "pregnancy")
    assert all(type(v) is bool for v in checked.values())


@pytest.mark.parametrize("answers", [None, [("pregnancy", False)], "no", 0])
def test_answers_that_are_not_a_mapping_are_refused_in_one_sentence(answers: Any) -> None:
    with pytest.raises(ScreeningError) as info:
        check_answers(answers)
    assert str(info.value) == "The screening answers must map each question to yes or no."


def test_an_unknown_question_is_named_first_with_the_list_of_questions() -> None:
    with pytest.raises(ScreeningError) as info:
        check_answers({**NO, "tattoo": False})
    assert str(info.value) == (
        f"The screening has no question 'tattoo'; the questions are {', '.join(KEYS)}."
    )
    # the first unknown question in the order given, even if one is missing too
    with pytest.raises(ScreeningError, match="no question 'a'; "):
        check_answers({"a": False, "b": True})
    # a key that is not text is shown as text
    with pytest.raises(ScreeningError, match="no question '42'; "):
        check_answers({**NO, 42: False})


def test_the_first_unanswered_question_in_checklist_order_is_named() -> None:
    answers = {k: v for k, v in NO.items() if k not in ("cold_sores", "pregnancy")}
    with pytest.raises(ScreeningError) as info:
        check_answers(answers)
    assert str(info.value) == "Answer every screening question first: cold sores is not answered."
    last = {k: v for k, v in NO.items() if k != KEYS[-1]}
    with pytest.raises(ScreeningError, match="recent surgery peel sunburn is not answered"):
        check_answers(last)


@pytest.mark.parametrize("bad", [1, 0, "yes", None, 1.0])
def test_only_true_or_false_is_an_answer(bad: object) -> None:
    with pytest.raises(ScreeningError) as info:
        check_answers({**NO, "keloids": bad})
    assert str(info.value) == f"The answer to keloids must be yes or no, not {str(bad)!r}."


def test_the_first_bad_answer_in_checklist_order_is_named_in_forty_characters() -> None:
    long = "n" * 39 + "OPQ"
    with pytest.raises(ScreeningError) as info:
        check_answers({**NO, "pregnancy": 1, "cold_sores": long})
    assert str(info.value) == f"The answer to cold sores must be yes or no, not {long[:40]!r}."


# --- the verdict -----------------------------------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
def test_any_single_yes_blocks_home_and_needs_acknowledgement_in_a_professional_session(
    key: str,
) -> None:
    home = evaluate(yes(key), "home")
    assert home.outcome is Verdict.BLOCKED and not home.may_treat
    for role in ("aesthetician", "clinician"):
        pro = evaluate(yes(key), role)
        assert pro.outcome is Verdict.NEEDS_ACKNOWLEDGEMENT and not pro.may_treat
        assert pro.role == role and pro.positives == (key,)


@pytest.mark.parametrize("role", ["home", "aesthetician", "clinician"])
def test_all_no_is_clear_with_a_finding_for_every_question(role: str) -> None:
    v = evaluate(NO, role)
    assert v.outcome is Verdict.CLEAR and v.may_treat and v.role == role
    assert v.findings == tuple(Finding(c, False) for c in CHECKLIST)
    assert v.acknowledged_by is None and v.reason is None


def test_the_findings_keep_each_answer_in_checklist_order() -> None:
    v = evaluate(yes("isotretinoin_6_months", "recent_surgery_peel_sunburn"), "clinician")
    assert [f.item for f in v.findings] == list(CHECKLIST)
    assert [f.answer for f in v.findings] == [k in v.positives for k in KEYS]
    assert v.positives == ("isotretinoin_6_months", "recent_surgery_peel_sunburn")


# --- worst of: the session's verdict -------------------------------------------------------------

CLEAR = evaluate(NO, "clinician")
PENDING = evaluate(yes("keloids"), "clinician")
PENDING_2 = evaluate(yes("keloids", "pregnancy"), "clinician")
BLOCKED = evaluate(yes("pregnancy"), "home")
ACKED = ScreeningVerdict(Verdict.ACKNOWLEDGED, "clinician", PENDING.findings, "c1", "evaluated")
NOT_REQUIRED = evaluate({}, "engineer")
ALL = (CLEAR, PENDING, BLOCKED, ACKED, NOT_REQUIRED)


def test_nothing_held_takes_the_new_verdict() -> None:
    for new in ALL:
        assert worst(None, new) is new


@pytest.mark.parametrize("held", [CLEAR, ACKED, NOT_REQUIRED], ids=lambda v: v.outcome.value)
def test_a_verdict_that_lets_the_session_treat_is_replaced_by_the_next(
    held: ScreeningVerdict,
) -> None:
    for new in ALL:
        assert worst(held, new) is new


def test_a_block_stands_whatever_comes_after() -> None:
    for new in (*ALL, PENDING_2):
        assert worst(BLOCKED, new) is BLOCKED


def test_a_pending_acknowledgement_is_replaced_only_by_a_block_an_acknowledgement_or_new_yes():
    assert worst(PENDING, BLOCKED) is BLOCKED
    assert worst(PENDING, ACKED) is ACKED
    assert worst(PENDING, PENDING_2) is PENDING_2  # newer positives need their own
    assert worst(PENDING, CLEAR) is PENDING  # a clear answer set cannot undo it
    assert worst(PENDING, NOT_REQUIRED) is PENDING


# --- what the records say ------------------------------------------------------------------


def ans(verdict: object) -> dict[str, object]:
    return {"event": "answers", "verdict": verdict}


ACK: dict[str, object] = {"event": "acknowledged"}


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        ([], None),
        ([ACK], None),  # an acknowledgement without answers screens nothing
        ([{"event": "acknowledgement_refused"}], None),
        ([ans("clear")], Verdict.CLEAR),
        ([ans("not_required")], Verdict.CLEAR),
        ([ans("clear"), ACK], Verdict.CLEAR),  # nothing pending: an ack is no verdict
        ([ans("blocked")], Verdict.BLOCKED),
        ([ans("unknown")], Verdict.BLOCKED),  # an answer set this code cannot read
        ([{"event": "answers"}], Verdict.BLOCKED),
        ([ans("acknowledged")], Verdict.BLOCKED),  # not a verdict of an answer set
        ([ans("needs_acknowledgement")], Verdict.NEEDS_ACKNOWLEDGEMENT),
        ([ans("needs_acknowledgement"), ACK], Verdict.ACKNOWLEDGED),
        ([ACK, ans("needs_acknowledgement")], Verdict.NEEDS_ACKNOWLEDGEMENT),
        (
            [ans("needs_acknowledgement"), {"event": "acknowledgement_refused"}],
            Verdict.NEEDS_ACKNOWLEDGEMENT,
        ),
        ([ans("needs_acknowledgement"), {"verdict": "clear"}], Verdict.NEEDS_ACKNOWLEDGEMENT),
        ([ans("needs_acknowledgement"), ACK, ans("clear")], Verdict.ACKNOWLEDGED),
        ([ans("needs_acknowledgement"), ans("clear")], Verdict.NEEDS_ACKNOWLEDGEMENT),
        (
            [ans("needs_acknowledgement"), ACK, ans("needs_acknowledgement")],
            Verdict.NEEDS_ACKNOWLEDGEMENT,
        ),
        ([ans("blocked"), ans("clear")], Verdict.BLOCKED),
        ([ans("needs_acknowledgement"), ACK, ans("blocked")], Verdict.BLOCKED),
        ([ans("blocked"), ans("needs_acknowledgement"), ACK], Verdict.BLOCKED),
    ],
)
def test_the_session_verdict_read_back_from_its_records(
    records: list[dict[str, object]], expected: Verdict | None
) -> None:
    assert session_verdict(records) is expected
    assert session_verdict(iter(records)) is expected  # any iterable, read once


# --- the record ------------------------------------------------------------------------------


def test_an_answer_set_is_recorded_whole_in_the_session_at_the_time_given(
    store: AuditStore,
) -> None:
    sid = session(store, "aesthetician")
    v = record(store, sid, yes("cold_sores", "keloids"), "aesthetician", now=T0)
    assert v == evaluate(yes("cold_sores", "keloids"), "aesthetician")
    last = store.records(sid)[-1]
    assert (last.kind, last.session_id, last.ts) == ("screening", sid, T0)
    assert last.data == {
        "event": "answers",
        "checklist_version": CHECKLIST_VERSION,
        "role": "aesthetician",
        "verdict": "needs_acknowledgement",
        "answers": yes("cold_sores", "keloids"),
        "positives": ["cold_sores", "keloids"],
    }
    assert CHECKLIST_VERSION == 1


def test_an_engineer_session_records_that_no_screening_was_needed(store: AuditStore) -> None:
    sid = session(store, "engineer")
    assert record(store, sid, {}, "engineer").outcome is Verdict.NOT_REQUIRED
    assert screening_data(store, sid) == [
        {
            "event": "answers",
            "checklist_version": 1,
            "role": "engineer",
            "verdict": "not_required",
            "answers": {},
            "positives": [],
        }
    ]


@pytest.mark.parametrize(
    ("answers", "role"),
    [({**NO, "pregnancy": None}, "home"), (NO, "surgeon"), ({}, "clinician"), ([], "home")],
)
def test_bad_input_records_nothing(store: AuditStore, answers: Any, role: str) -> None:
    sid = session(store, "home")
    before = store.records()
    with pytest.raises(ScreeningError):
        record(store, sid, answers, role)
    assert store.records() == before


# --- the acknowledgement -------------------------------------------------------------------


@pytest.fixture
def pending(store: AuditStore) -> tuple[AuditStore, int, ScreeningVerdict]:
    sid = session(store, "aesthetician")
    return store, sid, record(store, sid, yes("cold_sores"), "aesthetician", now=T0)


def test_a_clinicians_acknowledgement_is_recorded_and_lets_the_session_treat(
    pending: tuple[AuditStore, int, ScreeningVerdict],
) -> None:
    store, sid, v = pending
    acked = acknowledge(store, sid, v, "c1", "1234", "  antiviral   cover started ", now=T0 + 60)
    assert acked == ScreeningVerdict(
        Verdict.ACKNOWLEDGED,
        "aesthetician",
        v.findings,
        acknowledged_by="c1",
        reason="antiviral cover started",
    )
    assert acked.may_treat
    last = store.records(sid)[-1]
    assert (last.kind, last.session_id, last.ts) == ("screening", sid, T0 + 60)
    assert last.data == {
        "event": "acknowledged",
        "checklist_version": 1,
        "by": "c1",
        "reason": "antiviral cover started",
        "positives": ["cold_sores"],
    }
    assert session_verdict(screening_data(store, sid)) is Verdict.ACKNOWLEDGED


def test_the_clinicians_id_is_taken_without_surrounding_spaces(
    pending: tuple[AuditStore, int, ScreeningVerdict],
) -> None:
    store, sid, v = pending
    acked = acknowledge(store, sid, v, " c1 ", "1234", "antiviral cover")
    assert acked.acknowledged_by == "c1"
    assert screening_data(store, sid)[-1]["by"] == "c1"


@pytest.mark.parametrize("op", ["a1", "e1"])
def test_only_a_clinician_may_acknowledge_and_a_refusal_is_recorded(
    pending: tuple[AuditStore, int, ScreeningVerdict], op: str
) -> None:
    store, sid, v = pending
    role = {"a1": "aesthetician", "e1": "engineer"}[op]
    pin = {"a1": "5678", "e1": "9999"}[op]
    with pytest.raises(ScreeningError) as info:
        acknowledge(store, sid, v, op, pin, "antiviral cover", now=T0 + 5)
    assert str(info.value) == (
        f"Operator {op} is registered as {role}; only a clinician may acknowledge a "
        "contraindication."
    )
    last = store.records(sid)[-1]
    assert (last.kind, last.session_id, last.ts) == ("screening", sid, T0 + 5)
    assert last.data == {
        "event": "acknowledgement_refused",
        "by": op,
        "by_role": role,
        "positives": ["cold_sores"],
    }
    assert session_verdict(screening_data(store, sid)) is Verdict.NEEDS_ACKNOWLEDGEMENT


@pytest.mark.parametrize(
    "result",
    [CLEAR, BLOCKED, ACKED, NOT_REQUIRED, None, "needs_acknowledgement"],
    ids=["clear", "blocked", "acknowledged", "not_required", "none", "text"],
)
def test_only_a_verdict_waiting_for_acknowledgement_can_be_acknowledged(
    store: AuditStore, result: Any
) -> None:
    sid = session(store, "clinician")
    before = store.records()
    with pytest.raises(ScreeningError) as info:
        acknowledge(store, sid, result, "c1", "1234", "antiviral cover")
    assert str(info.value) == "There is no positive professional screening to acknowledge."
    assert store.records() == before  # no PIN tried, nothing recorded


@pytest.mark.parametrize("reason", [None, 42, "", "   ", "\t\n"])
def test_a_missing_reason_is_asked_for_before_any_pin_is_tried(
    pending: tuple[AuditStore, int, ScreeningVerdict], reason: Any
) -> None:
    store, sid, v = pending
    before = store.records()
    with pytest.raises(ScreeningError) as info:
        acknowledge(store, sid, v, "c1", "0000", reason)
    assert str(info.value) == (
        "Give the reason treatment is acceptable despite the contraindication."
    )
    assert store.records() == before


@pytest.mark.parametrize("reason", ["ok", "..!", "a \u200b b", "x" * 501])
def test_a_reason_that_is_not_a_reason_is_refused_with_the_reason_rule(
    pending: tuple[AuditStore, int, ScreeningVerdict], reason: str
) -> None:
    store, sid, v = pending
    before = store.records()
    with pytest.raises(ScreeningError) as info:
        acknowledge(store, sid, v, "c1", "0000", reason)
    assert str(info.value) == REASON_RULE
    assert store.records() == before


@pytest.mark.parametrize("who", ["", "  ", None, 7])
def test_the_acknowledging_clinician_must_be_named_before_any_pin_is_tried(
    pending: tuple[AuditStore, int, ScreeningVerdict], who: Any
) -> None:
    store, sid, v = pending
    before = store.records()
    with pytest.raises(ScreeningError) as info:
        acknowledge(store, sid, v, who, "1234", "antiviral cover")
    assert str(info.value) == "Name the clinician who acknowledges the contraindication."
    assert store.records() == before


def test_the_pin_check_is_recorded_at_the_time_of_the_acknowledgement(
    pending: tuple[AuditStore, int, ScreeningVerdict],
) -> None:
    # the store's lockout runs on the same clock as the records (a replayed or scripted
    # acknowledgement at a given time tries its PIN at that time)
    store, sid, v = pending
    with pytest.raises(WrongPin):
        acknowledge(store, sid, v, "c1", "0000", "antiviral cover", now=T0 + 30)
    acknowledge(store, sid, v, "c1", "1234", "antiviral cover", now=T0 + 90)
    tried = [(r.kind, r.ts) for r in store.records() if r.kind.startswith("login")]
    assert tried[-2:] == [("login_failed", T0 + 30), ("login", T0 + 90)]


def test_a_wrong_pin_is_the_stores_refusal_and_counts_as_a_failed_login(
    pending: tuple[AuditStore, int, ScreeningVerdict],
) -> None:
    store, sid, v = pending
    with pytest.raises(WrongPin):
        acknowledge(store, sid, v, "c1", "0000", "antiviral cover")
    with pytest.raises(WrongPin):  # an unknown ID gets the same sentence as a wrong PIN
        acknowledge(store, sid, v, "nobody", "0000", "antiviral cover")
    assert logins(store)[-2:] == ["login_failed", "login_failed"]
    assert screening_data(store, sid)[-1]["event"] == "answers"  # no acknowledgement


# --- the Pen: the verdict it holds, and START ------------------------------------------------


class Rig:
    """The real Pen against the simulator on a virtual clock."""

    def __init__(self, store: AuditStore, **begin: Any) -> None:
        self.clock = VirtualClock()
        self.sim = Simulation(PenConfig.professional(), seed=5)
        port = VirtualPort(self.sim, self.clock)
        self.store = store
        self.pen = Pen.connect(
            "virtual", db=store, port=port, clock=self.clock.now, idle=self.clock.advance
        )
        self.pen.begin(**begin)

    def ready(self, zone: str = "cheeks") -> None:
        self.pen.select_zone(zone)
        self.pen.set_depth(0.3)
        self.pen.set_rate(100)

    def records(self, kind: str) -> list[dict[str, object]]:
        return [r.data for r in self.store.records(self.pen.session_id) if r.kind == kind]

    @property
    def running(self) -> bool:
        return bool(self.sim.firmware.needle_running)


LOGINS = {
    "home": {"role": "home"},
    "aesthetician": {"role": "aesthetician", "operator": "a1", "pin": "5678", "client": "P-1"},
    "clinician": {"role": "clinician", "operator": "c1", "pin": "1234", "client": "P-1"},
}


@pytest.fixture
def rig(store: AuditStore, request: pytest.FixtureRequest) -> Iterator[Rig]:
    r = Rig(store, **LOGINS[getattr(request, "param", "aesthetician")])
    try:
        yield r
    finally:
        r.pen.close()


@pytest.mark.parametrize("rig", ["home"], indirect=True)
def test_the_pen_records_answers_in_its_sessions_role_and_holds_the_verdict(rig: Rig) -> None:
    assert rig.pen.screening is None
    v = rig.pen.screen(NO)
    assert v.outcome is Verdict.CLEAR and v.role == "home"
    assert rig.pen.screening is v
    [data] = rig.records("screening")
    assert data["role"] == "home" and data["verdict"] == "clear"
    rig.ready("forehead")
    rig.pen.start()
    assert rig.running


@pytest.mark.parametrize("rig", ["home"], indirect=True)
def test_a_blocked_home_screening_stands_and_start_is_refused_before_any_command(
    rig: Rig,
) -> None:
    blocked = rig.pen.screen(yes("pregnancy"))
    assert blocked.outcome is Verdict.BLOCKED
    assert rig.pen.screen(NO) is blocked  # a later clear answer set cannot undo it
    assert rig.pen.screening is blocked
    rig.ready("forehead")
    with pytest.raises(NotAllowed) as info:
        rig.pen.start()
    assert str(info.value) == BLOCKED_SENTENCE
    assert rig.records("start_refused") == [{"reason": "screening_blocked"}]
    assert "treatment_recorded" not in [r.kind for r in rig.store.records(rig.pen.session_id)]
    assert not rig.running and rig.sim.firmware.state is not State.RUNNING


def test_the_pen_refuses_start_on_the_verdict_it_holds_even_with_no_record(rig: Rig) -> None:
    # the store's own re-check finds no screening record, so only the Pen's gate refuses
    rig.pen.screening = evaluate(yes("keloids"), "aesthetician")
    rig.ready()
    with pytest.raises(NotAllowed) as info:
        rig.pen.start()
    assert str(info.value) == UNACKNOWLEDGED_SENTENCE
    assert rig.records("start_refused") == [{"reason": "screening_unacknowledged"}]
    assert not rig.running
    rig.pen.screening = evaluate(yes("keloids"), "home")
    with pytest.raises(NotAllowed) as info:
        rig.pen.start()
    assert str(info.value) == BLOCKED_SENTENCE
    assert rig.records("start_refused")[-1] == {"reason": "screening_blocked"}
    assert not rig.running


def test_the_pen_starts_on_a_verdict_that_lets_it_treat_with_no_record(rig: Rig) -> None:
    rig.pen.screening = ScreeningVerdict(
        Verdict.ACKNOWLEDGED, "aesthetician", evaluate(yes("keloids"), "aesthetician").findings
    )
    rig.ready()
    rig.pen.start()
    assert rig.running
    assert rig.records("start_refused") == []


def test_a_clinician_acknowledges_through_the_pen_and_the_session_may_treat(rig: Rig) -> None:
    pending = rig.pen.screen(yes("cold_sores"))
    assert pending.outcome is Verdict.NEEDS_ACKNOWLEDGEMENT and rig.pen.screening is pending
    rig.ready()
    with pytest.raises(NotAllowed, match="must acknowledge"):
        rig.pen.start()
    acked = rig.pen.acknowledge_screening("c1", "1234", "antiviral cover started")
    assert acked.outcome is Verdict.ACKNOWLEDGED and acked.acknowledged_by == "c1"
    assert acked.role == "aesthetician" and acked.positives == ("cold_sores",)
    assert rig.pen.screening is acked
    events = [d["event"] for d in rig.records("screening")]
    assert events == ["answers", "acknowledged"]
    rig.pen.start()
    assert rig.running


def test_a_refused_acknowledgement_leaves_the_pen_waiting(rig: Rig) -> None:
    pending = rig.pen.screen(yes("cold_sores"))
    with pytest.raises(ScreeningError, match="only a clinician"):
        rig.pen.acknowledge_screening("a1", "5678", "antiviral cover started")
    with pytest.raises(WrongPin):
        rig.pen.acknowledge_screening("c1", "0000", "antiviral cover started")
    assert rig.pen.screening is pending
    rig.ready()
    with pytest.raises(NotAllowed, match="must acknowledge"):
        rig.pen.start()
    assert not rig.running


@pytest.mark.parametrize("held", [None, "clear", "acknowledged"])
def test_the_pen_has_nothing_to_acknowledge_unless_a_verdict_waits(
    rig: Rig, held: str | None
) -> None:
    if held == "clear":
        rig.pen.screen(NO)
    elif held == "acknowledged":
        rig.pen.screen(yes("keloids"))
        rig.pen.acknowledge_screening("c1", "1234", "evaluated by a dermatologist")
    before = rig.store.records()
    kept = rig.pen.screening
    with pytest.raises(ScreeningError) as info:
        rig.pen.acknowledge_screening("c1", "1234", "evaluated by a dermatologist")
    assert str(info.value) == "There is no positive professional screening to acknowledge."
    assert rig.store.records() == before  # no PIN tried
    assert rig.pen.screening is kept


def test_new_positives_after_an_acknowledgement_need_their_own(rig: Rig) -> None:
    rig.pen.screen(yes("keloids"))
    rig.pen.acknowledge_screening("c1", "1234", "evaluated by a dermatologist")
    again = rig.pen.screen(yes("keloids", "pregnancy"))
    assert again.outcome is Verdict.NEEDS_ACKNOWLEDGEMENT and rig.pen.screening is again
    rig.ready()
    with pytest.raises(NotAllowed, match="must acknowledge"):
        rig.pen.start()
    assert not rig.running


def test_bad_answers_through_the_pen_record_nothing_and_keep_the_verdict(rig: Rig) -> None:
    held = rig.pen.screen(NO)
    before = rig.store.records()
    with pytest.raises(ScreeningError, match="must be yes or no"):
        rig.pen.screen({**NO, "pregnancy": "maybe"})
    assert rig.pen.screening is held
    assert rig.store.records() == before


def test_a_closed_pen_screens_nothing(store: AuditStore) -> None:
    r = Rig(store, **LOGINS["clinician"])
    sid = r.pen.session_id
    r.pen.close()
    before = store.records(sid)
    with pytest.raises(SessionClosed):
        r.pen.screen(NO)
    assert store.records(sid) == before


def test_a_pen_whose_session_has_not_begun_screens_nothing(store: AuditStore) -> None:
    clock = VirtualClock()
    port = VirtualPort(Simulation(PenConfig.professional(), seed=6), clock)
    pen = Pen.connect("virtual", db=store, port=port, clock=clock.now, idle=clock.advance)
    try:
        before = store.records()
        with pytest.raises(NotAllowed, match="Log in first"):
            pen.screen(NO)
        with pytest.raises(NotAllowed, match="Log in first"):
            pen.acknowledge_screening("c1", "1234", "evaluated by a dermatologist")
        assert pen.screening is None
        assert [r.kind for r in store.records()] == [r.kind for r in before]
    finally:
        pen.close()
