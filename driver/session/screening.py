"""The session's contraindication screening, held by the Pen as a typed value.

`Pen.screen(answers)` records an answer set (driver.safety.screening) and keeps the session's
verdict in `Pen.screening`; `Pen.acknowledge_screening(...)` records a clinician's
acknowledgement of it. START is gated on that value first (a verdict that does not let the
session treat refuses START, with a `start_refused` record), and then once more inside the
store's write transaction on the session's screening records (`RunControl._check_screening`),
which also covers answer sets recorded without the Pen (scripts, the QA kit).

The worst verdict stands (`screening.worst`): a later clear answer set cannot undo a blocked
one, nor one that still waits for its acknowledgement.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from ..errors import NotAllowed
from ..safety.screening import (
    ScreeningError,
    ScreeningVerdict,
    Verdict,
    acknowledge,
    record,
    worst,
)
from .run import RunControl

__all__ = ["BLOCKED_SENTENCE", "UNACKNOWLEDGED_SENTENCE", "ScreeningSteps"]

BLOCKED_SENTENCE: Final = "The screening found a contraindication: this session may not treat."
UNACKNOWLEDGED_SENTENCE: Final = (
    "The screening found a contraindication: a clinician must acknowledge it with a reason "
    "before treatment."
)


class ScreeningSteps(RunControl):
    """Screening through the Pen: the verdict is held, and START reads it."""

    #: the session's screening verdict (None: not screened in this session)
    screening: ScreeningVerdict | None = None

    def screen(self, answers: Mapping[str, object]) -> ScreeningVerdict:
        """Record the client's answers (every question yes or no) and return the session's
        verdict now: the worst of this answer set and those before it. Bad answers raise
        ScreeningError with one sentence and record nothing."""
        with self._cmd_lock:
            self._require_usable()
            self._flush_first()  # the chain keeps the order of events
            verdict = record(self.store, self.session_id, answers, self.role)
            self.screening = worst(self.screening, verdict)
            return self.screening

    def acknowledge_screening(
        self, clinician: str, pin: str | None, reason: str
    ) -> ScreeningVerdict:
        """A clinician's recorded acknowledgement (operator ID, PIN, reason) of the session's
        positive professional screening; returns the acknowledged verdict. A wrong PIN raises
        the store's error (WrongPin, OperatorLocked, ...); nothing to acknowledge, an empty
        reason or an operator who is not a clinician raise ScreeningError."""
        with self._cmd_lock:
            self._require_usable()
            held = self.screening
            if held is None or held.outcome is not Verdict.NEEDS_ACKNOWLEDGEMENT:
                raise ScreeningError("There is no positive professional screening to acknowledge.")
            self._flush_first()
            acked = acknowledge(self.store, self.session_id, held, clinician, pin, reason)
            self.screening = worst(held, acked)
            return self.screening

    def start(self) -> None:
        """START, refused first when the session's screening verdict does not let it treat.

        The verdict is read without the command lock on purpose: START reads its stop epoch
        before it waits for that lock, so a stop pressed meanwhile still wins."""
        verdict = self.screening
        if verdict is not None and not verdict.may_treat:
            blocked = verdict.outcome is Verdict.BLOCKED
            self._log(
                "start_refused",
                {"reason": "screening_blocked" if blocked else "screening_unacknowledged"},
            )
            raise NotAllowed(BLOCKED_SENTENCE if blocked else UNACKNOWLEDGED_SENTENCE)
        super().start()
