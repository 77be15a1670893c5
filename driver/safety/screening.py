"""The contraindication screening asked before every treatment session, as data and one rule.

The checklist is the "who must not be treated" list of the project's domain notes. The rule:

- no "yes": the session may go ahead;
- any "yes" in a home session: blocked (nobody qualified is there to judge the risk);
- any "yes" in a professional session (aesthetician or clinician): the session goes ahead only
  after a clinician, identified by operator ID and PIN, records an acknowledgement with a reason
  (for example "antiviral cover started" or "mole evaluated by a dermatologist");
- the engineer role works on the bench zone only (a test block, no skin): nothing to screen.

Every answer set and every acknowledgement is appended to the audit log as a "screening" record
(committed before the function returns). Bad input (a missing, unknown or non-yes/no answer, an
empty reason) raises `ScreeningError` with one sentence and records nothing.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from driver.vocabulary import ROLE_NAMES

from ..errors import DriverError
from .reason import REASON_RULE, check_override_reason

if TYPE_CHECKING:
    from ..audit import AuditStore

__all__ = [
    "CHECKLIST",
    "CHECKLIST_VERSION",
    "KEYS",
    "Contraindication",
    "Finding",
    "ScreeningError",
    "ScreeningVerdict",
    "Verdict",
    "acknowledge",
    "check_answers",
    "evaluate",
    "record",
    "required",
    "session_verdict",
    "worst",
]

#: Bumped whenever a question is added, removed or reworded (recorded with every answer set).
CHECKLIST_VERSION: Final = 1
ROLES: Final = ROLE_NAMES
ACKNOWLEDGING_ROLE: Final = "clinician"
MAX_REASON_CHARS: Final = 500
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@dataclass(frozen=True, slots=True)
class Contraindication:
    """One question of the checklist. `question` is asked as it stands; "yes" is the risk."""

    key: str
    question: str
    why: str


CHECKLIST: Final[tuple[Contraindication, ...]] = (
    Contraindication(
        "active_acne_or_infection",
        "Active acne or a skin infection in the area to treat?",
        "Needling spreads the infection.",
    ),
    Contraindication(
        "isotretinoin_6_months",
        "Isotretinoin (e.g. Roaccutane) taken in the last 6 months?",
        "Healing is impaired and scarring more likely.",
    ),
    Contraindication(
        "bleeding_or_blood_thinners",
        "A bleeding disorder, or taking blood thinners?",
        "Bleeding and bruising.",
    ),
    Contraindication(
        "chemo_or_radiotherapy",
        "Chemotherapy or radiotherapy?",
        "Healing and immunity are impaired.",
    ),
    Contraindication(
        "cold_sores",
        "Recurrent cold sores (needs antiviral cover), or an active cold sore?",
        "Needling can trigger or spread herpes simplex.",
    ),
    Contraindication(
        "keloids",
        "A history of keloid scars?",
        "Needling can cause new keloids.",
    ),
    Contraindication(
        "eczema_psoriasis_rosacea_flare",
        "Eczema, psoriasis or rosacea flaring in the area?",
        "Needling worsens the flare.",
    ),
    Contraindication(
        "changing_moles_or_growths",
        "Moles, skin tags or growths in the area that change or bleed?",
        "They need a doctor's evaluation first.",
    ),
    Contraindication(
        "pregnancy",
        "Pregnant?",
        "Not evaluated in pregnancy.",
    ),
    Contraindication(
        "recent_surgery_peel_sunburn",
        "Recent surgery, a chemical peel or sunburn in the area?",
        "The skin has not healed yet.",
    ),
)
KEYS: Final[tuple[str, ...]] = tuple(c.key for c in CHECKLIST)
_BY_KEY: Final = {c.key: c for c in CHECKLIST}


class ScreeningError(DriverError):
    """The screening input was incomplete or malformed, or cannot be acknowledged (nothing was
    recorded)."""


class Verdict(enum.StrEnum):
    CLEAR = "clear"
    BLOCKED = "blocked"
    NEEDS_ACKNOWLEDGEMENT = "needs_acknowledgement"
    ACKNOWLEDGED = "acknowledged"
    NOT_REQUIRED = "not_required"


@dataclass(frozen=True, slots=True)
class Finding:
    """One question of a screening and its answer (True: yes, the risk is there)."""

    item: Contraindication
    answer: bool

    @property
    def key(self) -> str:
        return self.item.key


@dataclass(frozen=True, slots=True)
class ScreeningVerdict:
    """The outcome of one screening, as a typed value: what each question found and what it
    means for the session. The Pen holds the session's verdict (`Pen.screening`) and START is
    gated on it; a UI reads these fields and words them itself."""

    outcome: Verdict
    role: str
    #: one per question, in checklist order (empty when no screening is needed)
    findings: tuple[Finding, ...]
    acknowledged_by: str | None = None
    reason: str | None = None

    @property
    def may_treat(self) -> bool:
        """True when the session may go on to treatment."""
        return self.outcome in (Verdict.CLEAR, Verdict.ACKNOWLEDGED, Verdict.NOT_REQUIRED)

    @property
    def contraindications(self) -> tuple[Contraindication, ...]:
        """The questions answered yes, in checklist order."""
        return tuple(f.item for f in self.findings if f.answer)

    @property
    def positives(self) -> tuple[str, ...]:
        """The keys of the questions answered yes (as the audit record lists them)."""
        return tuple(f.key for f in self.findings if f.answer)

    @property
    def answers(self) -> dict[str, bool]:
        return {f.key: f.answer for f in self.findings}


def worst(held: ScreeningVerdict | None, new: ScreeningVerdict) -> ScreeningVerdict:
    """The session's verdict after `new`, when `held` was recorded before it: the worst
    stands, as in `session_verdict` (a later screening cannot undo a blocking one, nor one
    still waiting for its acknowledgement)."""
    if held is None or held.outcome not in (Verdict.BLOCKED, Verdict.NEEDS_ACKNOWLEDGEMENT):
        return new
    if held.outcome is Verdict.BLOCKED:
        return held
    # held waits for an acknowledgement: only a block, an acknowledgement or newer
    # positives (which need their own) replace it
    if new.outcome in (Verdict.BLOCKED, Verdict.ACKNOWLEDGED, Verdict.NEEDS_ACKNOWLEDGEMENT):
        return new
    return held


def _short(key: str) -> str:
    return key.replace("_", " ")


def required(role: str) -> bool:
    """Whether a session in this role must be screened (every role that treats skin)."""
    return role != "engineer"


def check_answers(answers: Mapping[str, object]) -> dict[str, bool]:
    """Every question answered with True (yes) or False (no), and nothing else; else one
    sentence naming what is wrong."""
    if not isinstance(answers, Mapping):
        raise ScreeningError("The screening answers must map each question to yes or no.")
    unknown = [str(k) for k in answers if k not in _BY_KEY]
    if unknown:
        raise ScreeningError(
            f"The screening has no question {unknown[0]!r}; the questions are {', '.join(KEYS)}."
        )
    missing = [k for k in KEYS if k not in answers]
    if missing:
        raise ScreeningError(
            f"Answer every screening question first: {_short(missing[0])} is not answered."
        )
    out: dict[str, bool] = {}
    for key in KEYS:
        value = answers[key]
        if not isinstance(value, bool):
            raise ScreeningError(
                f"The answer to {_short(key)} must be yes or no, not {str(value)[:40]!r}."
            )
        out[key] = value
    return out


def _check_role(role: object) -> str:
    if not isinstance(role, str) or role not in ROLES:
        raise ScreeningError(f"Unknown role {str(role)[:40]!r}: the roles are {', '.join(ROLES)}.")
    return role


def evaluate(answers: Mapping[str, object], role: str) -> ScreeningVerdict:
    """The verdict for these answers in this role (pure; records nothing)."""
    role = _check_role(role)
    if not required(role):
        return ScreeningVerdict(Verdict.NOT_REQUIRED, role, ())
    checked = check_answers(answers)
    findings = tuple(Finding(c, checked[c.key]) for c in CHECKLIST)
    if not any(f.answer for f in findings):
        outcome = Verdict.CLEAR
    elif role == "home":
        outcome = Verdict.BLOCKED
    else:
        outcome = Verdict.NEEDS_ACKNOWLEDGEMENT
    return ScreeningVerdict(outcome, role, findings)


def record(
    store: AuditStore,
    session_id: int,
    answers: Mapping[str, object],
    role: str,
    now: float | None = None,
) -> ScreeningVerdict:
    """Evaluate the answers and append them, with the verdict, to the session's audit log."""
    result = evaluate(answers, role)
    store.append(
        "screening",
        {
            "event": "answers",
            "checklist_version": CHECKLIST_VERSION,
            "role": result.role,
            "verdict": result.outcome.value,
            "answers": result.answers,
            "positives": list(result.positives),
        },
        session_id=session_id,
        now=now,
    )
    return result


def session_verdict(records: Iterable[Mapping[str, object]]) -> Verdict | None:
    """What a session's screening records (their data, in order) allow; None: not screened.

    The worst answer set stands: a later screening cannot undo an earlier one. A blocked
    screening blocks the rest of the session; a positive professional screening needs a
    clinician's acknowledgement recorded after it, whatever was answered later.
    """
    answered = blocked = pending = acknowledged = False
    for data in records:
        event = data.get("event")
        if event == "answers":
            answered = True
            verdict = data.get("verdict")
            if verdict == Verdict.NEEDS_ACKNOWLEDGEMENT.value:
                pending = True
            elif verdict not in (Verdict.CLEAR.value, Verdict.NOT_REQUIRED.value):
                blocked = True  # blocked, or an answer set this code cannot read
        elif event == "acknowledged" and pending:
            pending, acknowledged = False, True
    if blocked:
        return Verdict.BLOCKED
    if pending:
        return Verdict.NEEDS_ACKNOWLEDGEMENT
    if acknowledged:
        return Verdict.ACKNOWLEDGED
    return Verdict.CLEAR if answered else None


def _check_reason(reason: object) -> str:
    """The reason as recorded, under the governor's one rule for reasons."""
    if not isinstance(reason, str) or not reason.strip():
        raise ScreeningError(
            "Give the reason treatment is acceptable despite the contraindication."
        )
    text = check_override_reason(reason)
    if text is None:
        raise ScreeningError(REASON_RULE)
    return text


def acknowledge(
    store: AuditStore,
    session_id: int,
    result: ScreeningVerdict,
    clinician_id: str,
    pin: str | None,
    reason: str,
    now: float | None = None,
) -> ScreeningVerdict:
    """A clinician's recorded acknowledgement of a positive screening.

    The reason is checked before the PIN, so a malformed request costs no PIN attempt. The PIN
    check is the audit store's own (wrong PINs count towards its lockout, and raise WrongPin,
    OperatorLocked, UnknownOperator or OperatorDisabled). Only an operator registered as a
    clinician may acknowledge; a refusal is recorded too.
    """
    if (
        not isinstance(result, ScreeningVerdict)
        or result.outcome is not Verdict.NEEDS_ACKNOWLEDGEMENT
    ):
        raise ScreeningError("There is no positive professional screening to acknowledge.")
    text = _check_reason(reason)
    if not isinstance(clinician_id, str) or not clinician_id.strip():
        raise ScreeningError("Name the clinician who acknowledges the contraindication.")
    operator = store.authenticate(clinician_id.strip(), pin, now)
    if operator.role != ACKNOWLEDGING_ROLE:
        store.append(
            "screening",
            {
                "event": "acknowledgement_refused",
                "by": operator.id,
                "by_role": operator.role,
                "positives": list(result.positives),
            },
            session_id=session_id,
            now=now,
        )
        raise ScreeningError(
            f"Operator {operator.id} is registered as {operator.role}; only a clinician may "
            "acknowledge a contraindication."
        )
    store.append(
        "screening",
        {
            "event": "acknowledged",
            "checklist_version": CHECKLIST_VERSION,
            "by": operator.id,
            "reason": text,
            "positives": list(result.positives),
        },
        session_id=session_id,
        now=now,
    )
    return ScreeningVerdict(
        Verdict.ACKNOWLEDGED,
        result.role,
        result.findings,
        acknowledged_by=operator.id,
        reason=text,
    )
