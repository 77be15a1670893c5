"""The sentences that mark a conformance check as not run (so it is reported, never passed)."""

#: A physical step nobody could do (no operator, or no fault bench).
OPERATOR_REASON = "needs an operator on a real pen"
#: The suite's own client was starved, so the check could not judge the pen.
INCONCLUSIVE_REASON = "inconclusive, not the pen's fault"
#: The check applies to the other device class (a skip, but not "not run": it cannot apply).
OTHER_CLASS_REASON = "does not apply to a"

NOT_RUN_REASONS = (OPERATOR_REASON, INCONCLUSIVE_REASON)
