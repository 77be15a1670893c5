"""Turning pydantic's validation errors into one sentence per broken key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from pydantic import ValidationError

from driver.safety.policy.concern import Concern
from driver.text import printable

from .model import (
    ROLE_NAMES,
    ZONE_NAMES,
    Policy,
    RoleLimits,
    ZoneLimits,
    _RuleProblems,
    _value_shown,
)

# --- Turning pydantic's errors into sentences ----------------------------------------------------

_UNITS: Final[dict[str, str]] = {
    "max_depth_mm": "millimetres",
    "recommended_max_mm": "millimetres",
    "hard_max_mm": "millimetres",
    "rate_min_hz": "hertz",
    "rate_max_hz": "hertz",
    "min_days_between_sessions": "days",
    "interval_days": "days",
    "sessions": "sessions",
    "rate_hz": "hertz",
}


def _key(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = printable(str(part))[:60]
            out += f".{name}" if out else name
    return out or "the policy"


def _known_keys(parent: Sequence[int | str]) -> tuple[str, ...]:
    if len(parent) == 0:
        return tuple(Policy.model_fields)
    if tuple(parent) == ("roles",):
        return ROLE_NAMES
    if tuple(parent) == ("zones",):
        return ZONE_NAMES
    if len(parent) == 2 and parent[0] == "roles":
        return tuple(RoleLimits.model_fields)
    if len(parent) == 2 and parent[0] == "zones":
        return tuple(ZoneLimits.model_fields)
    if len(parent) == 2 and parent[0] == "concerns":
        return tuple(Concern.model_fields)
    return ()


def _sentence(err: Mapping[str, Any]) -> list[str]:
    loc: tuple[int | str, ...] = tuple(err.get("loc", ()))
    key = _key(loc)
    kind = str(err.get("type", ""))
    value = err.get("input")
    field = next((part for part in reversed(loc) if isinstance(part, str)), "")
    unit = _UNITS.get(field, "")
    ctx = err.get("ctx") or {}
    cause = ctx.get("error")
    if isinstance(cause, _RuleProblems):
        return list(cause.problems)
    if kind == "extra_forbidden":
        known = _known_keys(loc[:-1])
        hint = f" (known keys here: {', '.join(known)})" if known else ""
        return [f"{key} is not a known policy key{hint}."]
    if kind == "missing":
        return [f"{key} is missing."]
    if kind == "value_error" and cause is not None:
        return [f"{key} {cause} (it is {_value_shown(value)})."]
    if kind == "float_type":
        return [f"{key} must be a number of {unit or 'millimetres'} (it is {_value_shown(value)})."]
    if kind == "int_type":
        return [f"{key} must be a whole number of {unit or 'units'} (it is {_value_shown(value)})."]
    if kind == "string_type":
        return [f"{key} must be a zone name in quotes (it is {_value_shown(value)})."]
    if kind in ("tuple_type", "list_type") and "concerns" in loc[:1] and field != "roles":
        return [f"{key} must be a pair [lowest, highest] (it is {_value_shown(value)})."]
    if kind in ("tuple_type", "list_type"):
        return [f"{key} must be a list of zone names (it is {_value_shown(value)})."]
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return [f"{key} must be a table of keys (it is {_value_shown(value)})."]
    return [f"{key}: {err.get('msg', 'is not valid')} (it is {_value_shown(value)})."]


def _problems(exc: ValidationError) -> list[str]:
    out: list[str] = []
    for err in exc.errors(include_url=False):
        out.extend(_sentence(err))
    return out
