"""The treatment policy: zones x roles, soft and hard depth limits, rate ranges, session interval.

A policy is a TOML file validated with pydantic. The default ships with the package
(`default_policy.toml`); a clinic's file names only the keys it changes. A file may tighten the
default or loosen it within the built-in ceilings (`policy check` says plainly which keys
loosen it); nothing can pass the ceilings. A file
that breaks any rule, is not valid TOML, or names an unknown key is refused as a whole: nothing
of it applies, and `PolicyError` says which key broke which rule in one sentence.

Depths are millimetres at the edges and whole micrometres inside, so that no float rounding
(0.1 + 0.2 style) can move a limit.
"""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from driver.safety.policy.concern import Concern
from driver.vocabulary import BENCH_ZONE as BENCH_ZONE
from driver.vocabulary import ENGINEER_ROLE as ENGINEER_ROLE
from driver.vocabulary import PRIVILEGE_ORDER as PRIVILEGE_ORDER
from driver.vocabulary import ROLE_NAMES as ROLE_NAMES
from driver.vocabulary import ZONE_NAMES as ZONE_NAMES
from driver.vocabulary import mm_number
from protocol import NeedlepenError

from .bounds import DEPTH_CEILING_MAX_UM as DEPTH_CEILING_MAX_UM
from .bounds import DEPTH_CEILING_MIN_UM as DEPTH_CEILING_MIN_UM
from .bounds import HOME_DEPTH_LIMIT_UM as HOME_DEPTH_LIMIT_UM
from .bounds import MAX_DAYS_SETTING as MAX_DAYS_SETTING
from .bounds import MAX_POLICY_BYTES as MAX_POLICY_BYTES
from .bounds import MIN_DAYS_CEILING as MIN_DAYS_CEILING
from .bounds import RATE_CEILING_MAX_HZ as RATE_CEILING_MAX_HZ
from .bounds import RATE_CEILING_MIN_HZ as RATE_CEILING_MIN_HZ
from .bounds import PolicyError as PolicyError
from .bounds import mm_to_um_exact as mm_to_um_exact


def _value_shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --- Field types ---------------------------------------------------------------------------------


def _check_depth(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number of millimetres")
    um = mm_to_um_exact(value)
    if um is None:
        raise ValueError("must be a whole number of micrometres (at most three decimals)")
    if not DEPTH_CEILING_MIN_UM <= um <= DEPTH_CEILING_MAX_UM:
        raise ValueError(
            f"must be within the built-in range {mm_number(DEPTH_CEILING_MIN_UM)}-"
            f"{mm_number(DEPTH_CEILING_MAX_UM)} mm"
        )
    return float(value)


def _check_rate(value: int) -> int:
    if not RATE_CEILING_MIN_HZ <= value <= RATE_CEILING_MAX_HZ:
        raise ValueError(
            f"must be within the built-in range {RATE_CEILING_MIN_HZ}-{RATE_CEILING_MAX_HZ} Hz"
        )
    return value


def _check_days(value: int) -> int:
    if not MIN_DAYS_CEILING <= value <= MAX_DAYS_SETTING:
        raise ValueError(
            f"must be a whole number of days from {MIN_DAYS_CEILING} to {MAX_DAYS_SETTING} "
            f"(sessions on one zone at least four weeks apart)"
        )
    return value


def _check_zone_list(value: tuple[str, ...]) -> tuple[str, ...]:
    for name in value:
        if name not in ZONE_NAMES:
            raise ValueError(f"names {name!r}, which is not a known zone")
    if len(set(value)) != len(value):
        raise ValueError("names a zone more than once")
    # Keep the canonical order so that equal sets compare and print the same.
    return tuple(z for z in ZONE_NAMES if z in value)


DepthMm = Annotated[float, AfterValidator(_check_depth)]
RateHz = Annotated[int, AfterValidator(_check_rate)]
Days = Annotated[int, AfterValidator(_check_days)]
ZoneList = Annotated[tuple[str, ...], Field(strict=False), AfterValidator(_check_zone_list)]

_MODEL_CONFIG = ConfigDict(strict=True, extra="forbid", frozen=True)


class RoleLimits(BaseModel):
    """What one role may do: its depth cap, its rate range and the zones it may treat."""

    model_config = _MODEL_CONFIG

    max_depth_mm: DepthMm
    rate_min_hz: RateHz
    rate_max_hz: RateHz
    zones: ZoneList

    @property
    def max_depth_um(self) -> int:
        return _um(self.max_depth_mm)


class ZoneLimits(BaseModel):
    """A zone's soft limit (recommended) and hard limit."""

    model_config = _MODEL_CONFIG

    recommended_max_mm: DepthMm
    hard_max_mm: DepthMm

    @property
    def recommended_max_um(self) -> int:
        return _um(self.recommended_max_mm)

    @property
    def hard_max_um(self) -> int:
        return _um(self.hard_max_mm)


class Roles(BaseModel):
    model_config = _MODEL_CONFIG

    home: RoleLimits
    aesthetician: RoleLimits
    clinician: RoleLimits
    engineer: RoleLimits


class Zones(BaseModel):
    model_config = _MODEL_CONFIG

    forehead: ZoneLimits
    periorbital: ZoneLimits
    nose: ZoneLimits
    upper_lip: ZoneLimits
    cheeks: ZoneLimits
    chin_jawline: ZoneLimits
    neck: ZoneLimits
    decolletage: ZoneLimits
    hands: ZoneLimits
    scalp: ZoneLimits
    acne_scars: ZoneLimits
    stretch_marks: ZoneLimits
    bench: ZoneLimits


def _um(mm: float) -> int:
    um = mm_to_um_exact(mm)
    if um is None:  # only reachable for a model built without validation
        raise ValueError(f"{mm!r} mm is not a whole number of micrometres")
    return um


class _RuleProblems(NeedlepenError, ValueError):
    """Cross-key rules a policy broke; each message already names its keys."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class Policy(BaseModel):
    """A complete, validated treatment policy (immutable)."""

    model_config = _MODEL_CONFIG

    min_days_between_sessions: Days
    roles: Roles
    zones: Zones
    #: the concern library (driver.safety.concerns): protocols by concern, inside the caps
    concerns: dict[str, Concern] = Field(default_factory=dict)

    def role(self, name: str) -> RoleLimits:
        if name not in ROLE_NAMES:
            raise KeyError(name)
        limits: RoleLimits = getattr(self.roles, name)
        return limits

    def zone(self, name: str) -> ZoneLimits:
        if name not in ZONE_NAMES:
            raise KeyError(name)
        limits: ZoneLimits = getattr(self.zones, name)
        return limits

    @model_validator(mode="after")
    def _cross_rules(self) -> Policy:
        problems = _cross_rule_problems(self)
        if problems:
            raise _RuleProblems(problems)
        return self


from .rules import _cross_rule_problems  # noqa: E402  (the rules read the finished model)
