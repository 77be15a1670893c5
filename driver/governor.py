"""Moved to driver.safety (the governor's rules, decision and reason check); kept as an alias
until every importer follows."""

from .safety import (
    DEVICE_CLASSES,
    HOME_CLASS,
    MIN_REASON_CHARS,
    PROFESSIONAL_CLASS,
    REASON_RULE,
    Decision,
    DeviceLimits,
    Effect,
    Finding,
    Governor,
    Outcome,
    Request,
    Rule,
    check_override_reason,
)

__all__ = [
    "DEVICE_CLASSES",
    "HOME_CLASS",
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
