"""The governor's typed values: what is asked (`Request`), the pen's range (`DeviceLimits`), and
the answer (`Decision`), which folds the typed `Finding`s of the rules that judged the request.

Nothing outside the governor reads a finding's sentence to learn what happened: a finding says
which rule produced it (`rule`), what it did to the request (`effect`) and which limit bound
(`bound_by`); `text` is for people only.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from driver.vocabulary import DEVICE_CLASSES as DEVICE_CLASSES
from driver.vocabulary import HOME_CLASS as HOME_CLASS
from driver.vocabulary import PROFESSIONAL_CLASS as PROFESSIONAL_CLASS
from protocol import DeviceClass, Info

__all__ = [
    "DEVICE_CLASSES",
    "HOME_CLASS",
    "PROFESSIONAL_CLASS",
    "Decision",
    "DeviceLimits",
    "Effect",
    "Finding",
    "Outcome",
    "Request",
    "Rule",
]


class Outcome(enum.StrEnum):
    """What the governor decided. Only ALLOWED and CLAMPED carry a depth and rate to send."""

    ALLOWED = "allowed"
    CLAMPED = "clamped"
    NEEDS_OVERRIDE = "needs_override"
    REJECTED = "rejected"


class Rule(enum.StrEnum):
    """The rule that produced a finding."""

    REQUEST = "request"  # the request itself (its type, the role, the reason's form)
    DEVICE = "device"  # the pen's own limits and class
    ZONE = "zone"  # the zones a role may treat
    DEPTH = "depth"
    INTERVAL = "interval"  # the days since the last session on the zone
    RATE = "rate"


class Effect(enum.StrEnum):
    """What a finding does to the request."""

    REJECT = "reject"  # nothing is sent
    NEEDS_OVERRIDE = "needs_override"  # a clinician's recorded reason would lift it
    OVERRIDDEN = "overridden"  # lifted by the recorded reason
    CLAMP = "clamp"  # sent lower than asked
    ROUND = "round"  # rounded down to the pen's step
    WITHIN = "within"  # within the limits, sent as asked
    NOTE = "note"  # said for information only


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule's verdict on one aspect of a request."""

    rule: Rule
    effect: Effect
    text: str
    bound_by: str | None = None

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule.value,
            "effect": self.effect.value,
            "bound_by": self.bound_by,
            "text": self.text,
        }


@dataclass(frozen=True, slots=True)
class DeviceLimits:
    """The pen's own range, as its INFO reports it (defaults: a professional pen)."""

    device_class: str = PROFESSIONAL_CLASS
    depth_min_mm: float = 0.25
    depth_max_mm: float = 3.00
    depth_step_mm: float = 0.05
    rate_min_hz: int = 25
    rate_max_hz: int = 150

    @classmethod
    def from_info(cls, info: Info) -> DeviceLimits:
        """The limits a pen reported in its INFO (µm on the wire, mm here)."""
        klass = HOME_CLASS if info.device_class == DeviceClass.HOME else PROFESSIONAL_CLASS
        return cls(
            device_class=klass,
            depth_min_mm=info.depth_min_um / 1000,
            depth_max_mm=info.depth_max_um / 1000,
            depth_step_mm=info.depth_step_um / 1000,
            rate_min_hz=info.rate_min_hz,
            rate_max_hz=info.rate_max_hz,
        )

    @classmethod
    def professional(cls) -> DeviceLimits:
        """A professional pen's default range: 0.25-3.00 mm in 0.05 mm steps, 25-150 Hz."""
        return cls()

    @classmethod
    def home(cls) -> DeviceLimits:
        """A home pen's default range: 0.25-0.95 mm in 0.05 mm steps, 25-150 Hz."""
        return cls(device_class=HOME_CLASS, depth_max_mm=0.95)

    @classmethod
    def for_class(cls, device_class: str) -> DeviceLimits:
        """The default range of a device class ("home" or "professional")."""
        if device_class == HOME_CLASS:
            return cls.home()
        if device_class == PROFESSIONAL_CLASS:
            return cls.professional()
        raise ValueError(
            f"The device class must be 'home' or 'professional', not {device_class!r}."
        )


@dataclass(frozen=True, slots=True)
class Request:
    """What an operator asks for. A rate change alone is the same request with the current depth."""

    role: str
    zone: str
    depth_mm: float
    rate_hz: float
    device: DeviceLimits  # required: a forgotten pen must not default to a professional one
    override_reason: str | None = None
    last_session_days_ago: float | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The governor's answer. `depth_um` is what goes on the wire (None: send nothing)."""

    outcome: Outcome
    depth_mm: float | None
    rate_hz: int | None
    depth_um: int | None
    findings: tuple[Finding, ...]
    effective_role: str
    cap_mm: float | None
    bound_by: str | None
    override_reason: str | None

    @property
    def sendable(self) -> bool:
        """True when the driver may send this decision's depth and rate."""
        return self.outcome in (Outcome.ALLOWED, Outcome.CLAMPED)

    @property
    def reasons(self) -> tuple[str, ...]:
        """The findings in words, in order (for people and the audit record)."""
        return tuple(f.text for f in self.findings)

    def finding(self, rule: Rule, effect: Effect | None = None) -> Finding | None:
        """The first finding of `rule` (with `effect`, if given), None if there is none."""
        for f in self.findings:
            if f.rule is rule and (effect is None or f.effect is effect):
                return f
        return None

    def without(self, rule: Rule, effect: Effect) -> Decision:
        """This decision without the findings of `rule` with `effect` (kept if nothing remains)."""
        kept = tuple(f for f in self.findings if not (f.rule is rule and f.effect is effect))
        if not kept or len(kept) == len(self.findings):
            return self
        return Decision(
            self.outcome,
            self.depth_mm,
            self.rate_hz,
            self.depth_um,
            kept,
            self.effective_role,
            self.cap_mm,
            self.bound_by,
            self.override_reason,
        )

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "depth_mm": self.depth_mm,
            "rate_hz": self.rate_hz,
            "depth_um": self.depth_um,
            "reasons": list(self.reasons),
            "findings": [f.to_json_dict() for f in self.findings],
            "effective_role": self.effective_role,
            "cap_mm": self.cap_mm,
            "bound_by": self.bound_by,
            "override_reason": self.override_reason,
        }

    @classmethod
    def rejected(
        cls,
        reasons: Iterable[str | Finding],
        effective_role: str = "",
        cap_mm: float | None = None,
        bound_by: str | None = None,
    ) -> Decision:
        """A decision that sends nothing; plain sentences become findings of the request."""
        findings = tuple(
            r if isinstance(r, Finding) else Finding(Rule.REQUEST, Effect.REJECT, r, bound_by)
            for r in reasons
        )
        return cls(
            outcome=Outcome.REJECTED,
            depth_mm=None,
            rate_hz=None,
            depth_um=None,
            findings=findings,
            effective_role=effective_role,
            cap_mm=cap_mm,
            bound_by=bound_by,
            override_reason=None,
        )
