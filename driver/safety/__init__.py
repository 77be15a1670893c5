"""The host's first line of defence: the governor (small rules folded into a typed Decision),
the override-reason rule, and (moving here) the policy, screening and aftercare."""

from .decision import (
    DEVICE_CLASSES,
    HOME_CLASS,
    PROFESSIONAL_CLASS,
    Decision,
    DeviceLimits,
    Effect,
    Finding,
    Outcome,
    Request,
    Rule,
)
from .governor import Governor
from .reason import MAX_REASON_CHARS, MIN_REASON_CHARS, REASON_RULE, check_override_reason

__all__ = [
    "DEVICE_CLASSES",
    "HOME_CLASS",
    "MAX_REASON_CHARS",
    "MIN_REASON_CHARS",
    "PROFESSIONAL_CLASS",
    "REASON_RULE",
    "Decision",
    "DeviceLimits",
    "Effect",
    "Finding",
    "Governor",
    "Outcome",
    "Request",
    "Rule",
    "check_override_reason",
]
