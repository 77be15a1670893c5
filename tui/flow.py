"""Which step comes next: a pure function of typed state, testable without Textual.

The app gathers what the steps answered in a `Flow` (launch flags pre-fill it), asks
`next_step(...)` what to do, and shows that screen (or begins the audited session). Nothing
here touches the pen, the store or the screen.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from driver.session import Login, ScreeningVerdict, screening_required
from driver.vocabulary import HOME_ROLE, PROFESSIONAL_ROLES

__all__ = ["Flow", "PenState", "Step", "client_ref_problem", "next_step"]


class Step(enum.Enum):
    """What the app does next."""

    CONNECT = "connect"  # no pen (or it was closed): choose and connect one
    OPERATOR = "operator"  # role, operator ID and PIN
    CLIENT = "client"  # the client's reference
    BEGIN = "begin"  # everything is known: begin the audited session
    SCREENING = "screening"  # the contraindication checklist
    TREATMENT = "treatment"


@dataclass
class Flow:
    """What the steps have answered so far (flags pre-fill it)."""

    port: str | None = None
    role: str | None = None
    operator: str | None = None
    pin: str | None = None
    client: str | None = None
    zone: str | None = None
    #: the PIN check of the operator step (before the client is asked), which the session's
    #: begin uses: one login record per login
    login: Login | None = None
    #: the session that ended by itself and this one continues (the same visit)
    continues: int | None = None
    #: one sentence for the operator screen (a wrong PIN, a lockout, ...)
    operator_error: str | None = None
    client_error: str | None = None
    #: a clear screening of the session that ended by itself, offered again to the same client
    kept_answers: dict[str, bool] | None = None


@dataclass(frozen=True, slots=True)
class PenState:
    """What the flow needs to know of the pen (None in `next_step`: no pen, or it is closed)."""

    #: the role the pen forces (a home-class pen: "home"), or None: any
    forced_role: str | None
    #: the session has begun (`Pen.begin`)
    in_session: bool
    #: the begun session's role
    session_role: str
    #: the session's screening verdict (`Pen.screening`), None: not screened yet
    screening: ScreeningVerdict | None


def effective_role(flow: Flow, pen: PenState | None) -> str | None:
    """The role the session will have: the pen's forced one, else the chosen one."""
    if pen is not None and pen.forced_role is not None:
        return pen.forced_role
    return flow.role


def next_step(flow: Flow, pen: PenState | None) -> Step:
    """The next step that still needs an answer, from what is known."""
    if pen is None:
        return Step.CONNECT
    if not pen.in_session:
        role = effective_role(flow, pen)
        if role is None or (
            role in PROFESSIONAL_ROLES and (not flow.operator or flow.login is None)
        ):
            return Step.OPERATOR
        if screening_required(role) and not flow.client and role != HOME_ROLE:
            return Step.CLIENT  # (a home session's client is the pen's own user)
        return Step.BEGIN
    if screening_required(pen.session_role) and (
        pen.screening is None or not pen.screening.may_treat
    ):
        return Step.SCREENING
    return Step.TREATMENT


def client_ref_problem(text: str) -> str | None:
    """One sentence when `text` cannot be a client reference, else None. The store is
    append-only and holds pseudonyms only, so anything that looks like a name (two words,
    spaces) is refused: a chart number or pseudonym is one word (P-0042, k7-smith)."""
    ref = text.strip()
    if not ref:
        return "Type the client's reference (a chart number or pseudonym such as P-0042)."
    if any(ch.isspace() for ch in ref):
        return (
            "A client reference is one word, such as P-0042, never a name: the audit log "
            "keeps what is typed forever."
        )
    if not ref.isprintable():
        return "A client reference holds letters, digits and signs only, such as P-0042."
    return None
