"""The pure flow function (tui/flow.py): which step comes next from typed state, without
Textual, a pen or a store."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from driver.session import CHECKLIST, Finding, ScreeningVerdict, Verdict
from driver.session.pen import Login
from tui.flow import Flow, PenState, Step, effective_role, next_step

ROLES = ("home", "aesthetician", "clinician", "engineer")
LOGIN = Login("c1", "clinician", 0.0)


def verdict(outcome: Verdict) -> ScreeningVerdict:
    return ScreeningVerdict(outcome, "clinician", tuple(Finding(c, False) for c in CHECKLIST))


def pen(
    *,
    in_session: bool = False,
    role: str = "clinician",
    home_pen: bool = False,
    screening: ScreeningVerdict | None = None,
) -> PenState:
    return PenState("home" if home_pen else None, in_session, role, screening)


def test_no_pen_connect_first():
    assert next_step(Flow(role="clinician", operator="c1"), None) is Step.CONNECT


def test_before_the_session_role_then_operator_login_then_client():
    assert next_step(Flow(), pen()) is Step.OPERATOR
    assert next_step(Flow(role="clinician"), pen()) is Step.OPERATOR
    assert next_step(Flow(role="clinician", operator="c1"), pen()) is Step.OPERATOR  # no PIN yet
    flow = Flow(role="clinician", operator="c1", login=LOGIN)
    assert next_step(flow, pen()) is Step.CLIENT
    flow.client = "P-1"
    assert next_step(flow, pen()) is Step.BEGIN


def test_home_needs_no_operator_nor_client():
    assert next_step(Flow(role="home"), pen()) is Step.BEGIN


def test_a_home_pen_forces_the_home_role_whatever_was_chosen():
    flow = Flow(role="clinician")
    assert effective_role(flow, pen(home_pen=True)) == "home"
    assert next_step(flow, pen(home_pen=True)) is Step.BEGIN


def test_the_engineer_has_no_client():
    flow = Flow(role="engineer", operator="e1", login=LOGIN)
    assert next_step(flow, pen()) is Step.BEGIN


def test_in_session_screening_until_the_verdict_lets_it_treat():
    flow = Flow(role="clinician", operator="c1", client="P-1")
    assert next_step(flow, pen(in_session=True)) is Step.SCREENING
    for outcome in (Verdict.BLOCKED, Verdict.NEEDS_ACKNOWLEDGEMENT):
        assert next_step(flow, pen(in_session=True, screening=verdict(outcome))) is Step.SCREENING
    for outcome in (Verdict.CLEAR, Verdict.ACKNOWLEDGED):
        state = pen(in_session=True, screening=verdict(outcome))
        assert next_step(flow, state) is Step.TREATMENT


def test_a_bench_session_is_not_screened():
    flow = Flow(role="engineer", operator="e1")
    assert next_step(flow, pen(in_session=True, role="engineer")) is Step.TREATMENT


@given(
    role=st.none() | st.sampled_from(ROLES),
    operator=st.none() | st.just("c1"),
    logged_in=st.booleans(),
    client=st.none() | st.just("P-1"),
    in_session=st.booleans(),
    session_role=st.sampled_from(ROLES),
    home_pen=st.booleans(),
    outcome=st.none() | st.sampled_from(list(Verdict)),
    connected=st.booleans(),
)
def test_treatment_only_after_a_session_whose_screening_lets_it_treat(
    role, operator, logged_in, client, in_session, session_role, home_pen, outcome, connected
):
    flow = Flow(role=role, operator=operator, client=client, login=LOGIN if logged_in else None)
    screening = None if outcome is None else verdict(outcome)
    state = pen(in_session=in_session, role=session_role, home_pen=home_pen, screening=screening)
    step = next_step(flow, state if connected else None)
    if not connected:
        assert step is Step.CONNECT
    elif not in_session:
        assert step in (Step.OPERATOR, Step.CLIENT, Step.BEGIN)
        if step is Step.BEGIN and effective_role(flow, state) in ("aesthetician", "clinician"):
            assert client and operator and logged_in
    elif step is Step.TREATMENT:
        assert session_role == "engineer" or (screening is not None and screening.may_treat)
    else:
        assert step is Step.SCREENING
