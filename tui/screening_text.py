"""The screening verdict in words for the screens (read from the verdict's typed fields:
its outcome, the questions answered yes, who acknowledged them and why)."""

from __future__ import annotations

from collections.abc import Iterable

from driver.session import CHECKLIST, ScreeningVerdict, Verdict

__all__ = ["item_words", "verdict_text", "verdict_words"]

_LABELS = {c.key: c.key.replace("_", " ") for c in CHECKLIST}


def item_words(key: str) -> str:
    """A checklist question in a few words ("cold sores"); an unknown key as it stands."""
    return _LABELS.get(key, key.replace("_", " "))


def verdict_text(
    outcome: Verdict,
    positives: Iterable[str],
    acknowledged_by: str | None = None,
    reason: str | None = None,
) -> str:
    """What a screening's outcome means, in one sentence for the operator."""
    items = ", ".join(item_words(k) for k in positives)
    if outcome is Verdict.CLEAR:
        return "No contraindication: the session may go ahead."
    if outcome is Verdict.NOT_REQUIRED:
        return "The bench role treats no skin, so no screening is needed."
    if outcome is Verdict.BLOCKED:
        return f"Do not treat at home: {items}. See a doctor or a clinic before any microneedling."
    if outcome is Verdict.NEEDS_ACKNOWLEDGEMENT:
        return (
            f"Contraindicated: {items}. A clinician must acknowledge this with a reason "
            "before treatment."
        )
    return f"Contraindicated ({items}), acknowledged by clinician {acknowledged_by}: {reason}"


def verdict_words(verdict: ScreeningVerdict) -> str:
    """`verdict_text` of a verdict the Pen holds."""
    return verdict_text(verdict.outcome, verdict.positives, verdict.acknowledged_by, verdict.reason)
