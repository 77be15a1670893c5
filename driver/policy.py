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

import hashlib
import itertools
import json
import math
import os
import stat
import tomllib
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from driver.concerns import CONCERN_NAME_CHARS, MAX_COURSE_SESSIONS, Concern
from driver.text import printable
from protocol import NeedlepenError

__all__ = [
    "DEPTH_CEILING_MAX_UM",
    "DEPTH_CEILING_MIN_UM",
    "HOME_DEPTH_LIMIT_UM",
    "MIN_DAYS_CEILING",
    "PRIVILEGE_ORDER",
    "RATE_CEILING_MAX_HZ",
    "RATE_CEILING_MIN_HZ",
    "ROLE_NAMES",
    "ZONE_NAMES",
    "Policy",
    "PolicyError",
    "RoleLimits",
    "Roles",
    "ZoneLimits",
    "Zones",
    "default_policy",
    "default_policy_text",
    "diff_policies",
    "load_policy",
    "load_policy_text",
    "loosens",
    "mm_to_um_exact",
    "policy_digest",
    "policy_to_toml",
]

# --- Built-in ceilings: no policy file can pass these. ------------------------------------------

#: Every depth in a policy lies within 0.25-3.00 mm (the professional hardware range).
DEPTH_CEILING_MIN_UM: Final = 250
DEPTH_CEILING_MAX_UM: Final = 3000
#: The home role's cap is always strictly below this (1.0 mm), under any policy.
HOME_DEPTH_LIMIT_UM: Final = 1000
#: Rates are whole hertz within this range (commercial pens run up to about 150 Hz).
RATE_CEILING_MIN_HZ: Final = 1
RATE_CEILING_MAX_HZ: Final = 150
#: Sessions on the same zone at least four weeks apart; a file may only lengthen the interval.
MIN_DAYS_CEILING: Final = 28
MAX_DAYS_SETTING: Final = 365
#: A policy file larger than this is not a policy file.
MAX_POLICY_BYTES: Final = 256 * 1024

ROLE_NAMES: Final[tuple[str, ...]] = ("home", "aesthetician", "clinician", "engineer")
ZONE_NAMES: Final[tuple[str, ...]] = (
    "forehead",
    "periorbital",
    "nose",
    "upper_lip",
    "cheeks",
    "chin_jawline",
    "neck",
    "decolletage",
    "hands",
    "scalp",
    "acne_scars",
    "stretch_marks",
    "bench",
)
#: Roles that treat people, least privileged first: each never gets less than the one before.
PRIVILEGE_ORDER: Final[tuple[str, ...]] = ("home", "aesthetician", "clinician")
BENCH_ZONE: Final = "bench"
ENGINEER_ROLE: Final = "engineer"


class PolicyError(NeedlepenError):
    """A policy file was refused. `problems` lists every rule it broke, one sentence each."""

    def __init__(self, problems: Sequence[str], source: str | None = None) -> None:
        self.problems: tuple[str, ...] = tuple(problems) or ("the policy is not valid.",)
        self.source = source
        first = self.problems[0]
        where = f"policy file {source} refused: " if source else "policy refused: "
        super().__init__(where + first)


# --- Conversions ---------------------------------------------------------------------------------


def mm_to_um_exact(value: float) -> int | None:
    """The whole number of micrometres `value` millimetres is, or None if it is not one.

    Uses the shortest decimal that reads back as the same float (what a person typed), so
    0.3 is 300 µm and not 299.99999999999997.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, int):
        return int(value) * 1000
    try:
        um = Decimal(repr(float(value))) * 1000
    except (InvalidOperation, ValueError, OverflowError):  # pragma: no cover - finite checked
        return None
    if um != um.to_integral_value():
        return None
    return int(um)


def _fmt_mm(um: int) -> str:
    return f"{um / 1000:.2f}" if um % 10 == 0 else f"{um / 1000:.3f}"


def _show(value: object) -> str:
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
            f"must be within the built-in range {_fmt_mm(DEPTH_CEILING_MIN_UM)}-"
            f"{_fmt_mm(DEPTH_CEILING_MAX_UM)} mm"
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
    #: the concern library (driver.concerns): protocols by concern, inside the caps
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


def _a(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def _cross_rule_problems(p: Policy) -> list[str]:
    problems: list[str] = []
    home = p.role("home")
    if home.max_depth_um >= HOME_DEPTH_LIMIT_UM:
        problems.append(
            f"roles.home.max_depth_mm must be below {_fmt_mm(HOME_DEPTH_LIMIT_UM)} mm under any "
            f"policy (it is {_fmt_mm(home.max_depth_um)} mm)."
        )
    for name in ZONE_NAMES:
        z = p.zone(name)
        if z.recommended_max_um > z.hard_max_um:
            problems.append(
                f"zones.{name}.recommended_max_mm ({_fmt_mm(z.recommended_max_um)} mm) must not "
                f"be above zones.{name}.hard_max_mm ({_fmt_mm(z.hard_max_um)} mm)."
            )
    for name in ROLE_NAMES:
        r = p.role(name)
        if r.rate_min_hz > r.rate_max_hz:
            problems.append(
                f"roles.{name}.rate_min_hz ({r.rate_min_hz} Hz) must not be above "
                f"roles.{name}.rate_max_hz ({r.rate_max_hz} Hz)."
            )
        if name == ENGINEER_ROLE:
            if any(z != BENCH_ZONE for z in r.zones):
                problems.append(
                    "roles.engineer.zones may name only the bench zone: engineers never treat skin."
                )
        elif BENCH_ZONE in r.zones:
            problems.append(
                f"roles.{name}.zones must not name the bench zone, which is for engineers only."
            )
    for lower, higher in itertools.pairwise(PRIVILEGE_ORDER):
        lo, hi = p.role(lower), p.role(higher)
        rule = f"{_a(higher)} never gets less than {_a(lower)}"
        if hi.max_depth_um < lo.max_depth_um:
            problems.append(
                f"roles.{higher}.max_depth_mm ({_fmt_mm(hi.max_depth_um)} mm) must not be below "
                f"roles.{lower}.max_depth_mm ({_fmt_mm(lo.max_depth_um)} mm): {rule}."
            )
        if hi.rate_max_hz < lo.rate_max_hz:
            problems.append(
                f"roles.{higher}.rate_max_hz ({hi.rate_max_hz} Hz) must not be below "
                f"roles.{lower}.rate_max_hz ({lo.rate_max_hz} Hz): {rule}."
            )
        if hi.rate_min_hz > lo.rate_min_hz:
            problems.append(
                f"roles.{higher}.rate_min_hz ({hi.rate_min_hz} Hz) must not be above "
                f"roles.{lower}.rate_min_hz ({lo.rate_min_hz} Hz): {rule}."
            )
        missing = [z for z in lo.zones if z not in hi.zones]
        if missing:
            problems.append(
                f"roles.{higher}.zones must include every zone of roles.{lower}.zones "
                f"(missing: {', '.join(missing)}): {rule}."
            )
    problems.extend(_concern_problems(p))
    return problems


def _concern_problems(p: Policy) -> list[str]:
    """Each concern's guidance lies inside the caps of every role that may use it."""
    problems: list[str] = []
    for name, c in p.concerns.items():
        key = f"concerns.{printable(name)[:40]}"
        if (
            not name
            or name[0] not in CONCERN_NAME_CHARS[:26]
            or set(name) - set(CONCERN_NAME_CHARS)
        ):
            problems.append(
                f"{key} is not a concern name: use lower-case letters, digits and '_', starting "
                "with a letter."
            )
            continue
        problems.extend(_concern_shape_problems(p, key, c))
        problems.extend(_concern_cap_problems(p, key, c))
    return problems


def _range_problem(key: str, pair: Sequence[int], lo: int, hi: int, unit: str) -> str | None:
    a, b = pair
    if not lo <= a <= b <= hi:
        return f"{key} ({a}-{b}) must run upwards within {lo}-{hi} {unit}."
    return None


def _concern_shape_problems(p: Policy, key: str, c: Concern) -> list[str]:
    problems: list[str] = []
    if not c.label.strip() or len(c.label) > 40 or printable(c.label) != c.label:
        problems.append(f"{key}.label must be 1 to 40 printable characters.")
    for role in c.roles:
        if role not in PRIVILEGE_ORDER:
            problems.append(
                f"{key}.roles names {_show(role)}, which is not a role that treats people."
            )
    checks = (
        _range_problem(f"{key}.sessions", c.sessions, 1, MAX_COURSE_SESSIONS, "sessions"),
        _range_problem(
            f"{key}.interval_days",
            c.interval_days,
            MIN_DAYS_CEILING,
            MAX_DAYS_SETTING,
            "days (a longer min_days_between_sessions moves the window's start)",
        ),
        _range_problem(f"{key}.rate_hz", c.rate_hz, RATE_CEILING_MIN_HZ, RATE_CEILING_MAX_HZ, "Hz"),
    )
    problems.extend(text for text in checks if text is not None)
    if not c.depth_mm:
        problems.append(f"{key}.depth_mm must name at least one zone.")
    for zone, (lo, hi) in c.depth_mm.items():
        where = f"{key}.depth_mm.{printable(zone)[:40]}"
        if zone not in ZONE_NAMES or zone == BENCH_ZONE:
            problems.append(f"{where} is not a treatment zone of skin.")
            continue
        lo_um, hi_um = mm_to_um_exact(lo), mm_to_um_exact(hi)
        if (
            lo_um is None
            or hi_um is None
            or not (DEPTH_CEILING_MIN_UM <= lo_um <= hi_um <= DEPTH_CEILING_MAX_UM)
        ):
            problems.append(
                f"{where} ({_show(lo)}-{_show(hi)}) must run upwards in whole micrometres within "
                f"{_fmt_mm(DEPTH_CEILING_MIN_UM)}-{_fmt_mm(DEPTH_CEILING_MAX_UM)} mm."
            )
    return problems


def _concern_cap_problems(p: Policy, key: str, c: Concern) -> list[str]:
    """Guidance above a governor cap is refused: the governor's own cap function decides (a
    clinician's cap with a recorded reason, each other role's plain cap), on a professional
    pen, so the library can never suggest a depth the governor would not send."""
    from driver.governor import DeviceLimits, Governor  # the governor imports this module

    governor = Governor(p)
    device = DeviceLimits.professional()
    problems: list[str] = []
    for role in c.roles:
        if role not in ROLE_NAMES or role == ENGINEER_ROLE:
            continue
        limits = p.role(role)
        if not limits.rate_min_hz <= c.rate_hz[0] <= c.rate_hz[1] <= limits.rate_max_hz:
            problems.append(
                f"{key}.rate_hz ({c.rate_hz[0]}-{c.rate_hz[1]} Hz) lies outside the {role} "
                f"role's {limits.rate_min_hz}-{limits.rate_max_hz} Hz."
            )
        for zone, (_, hi) in c.depth_mm.items():
            hi_um = mm_to_um_exact(hi)
            if zone not in ZONE_NAMES or zone == BENCH_ZONE or hi_um is None:
                continue  # said by the shape rules
            cap = governor.cap_for(role, zone, device, override=True)
            if cap is None:
                problems.append(
                    f"{key}.roles names {role}, who may not treat {zone} "
                    f"(concerns.*.depth_mm.{zone})."
                )
            elif hi_um > round(cap * 1000):
                problems.append(
                    f"{key}.depth_mm.{zone} goes to {_fmt_mm(hi_um)} mm, above the {role} "
                    f"role's cap there ({_fmt_mm(round(cap * 1000))} mm): guidance never "
                    "passes the governor's caps."
                )
    return problems


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
        return [f"{key} {cause} (it is {_show(value)})."]
    if kind == "float_type":
        return [f"{key} must be a number of {unit or 'millimetres'} (it is {_show(value)})."]
    if kind == "int_type":
        return [f"{key} must be a whole number of {unit or 'units'} (it is {_show(value)})."]
    if kind == "string_type":
        return [f"{key} must be a zone name in quotes (it is {_show(value)})."]
    if kind in ("tuple_type", "list_type") and "concerns" in loc[:1] and field != "roles":
        return [f"{key} must be a pair [lowest, highest] (it is {_show(value)})."]
    if kind in ("tuple_type", "list_type"):
        return [f"{key} must be a list of zone names (it is {_show(value)})."]
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return [f"{key} must be a table of keys (it is {_show(value)})."]
    return [f"{key}: {err.get('msg', 'is not valid')} (it is {_show(value)})."]


def _problems(exc: ValidationError) -> list[str]:
    out: list[str] = []
    for err in exc.errors(include_url=False):
        out.extend(_sentence(err))
    return out


# --- Loading -------------------------------------------------------------------------------------


def default_policy_text() -> str:
    """The shipped default policy file, as text."""
    return resources.files("driver").joinpath("default_policy.toml").read_text(encoding="utf-8")


_DEFAULT: Policy | None = None


def _default_data() -> dict[str, Any]:
    return tomllib.loads(default_policy_text())


def default_policy() -> Policy:
    """The shipped default policy: the zones and roles of the domain notes."""
    global _DEFAULT
    if _DEFAULT is None:
        try:
            _DEFAULT = Policy.model_validate(_default_data())
        except ValidationError as exc:  # pragma: no cover - the shipped file is tested
            raise PolicyError(_problems(exc), "(built-in default)") from None
    return _DEFAULT


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with the keys `over` names replaced; tables merge key by key."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


#: A policy nests four levels deep (concerns.acne_scars.depth_mm.cheeks = [1.0, 1.5]) and has
#: a few hundred values.
MAX_POLICY_DEPTH: Final = 5
MAX_POLICY_ITEMS: Final = 2000


def _shape_problem(data: Mapping[str, Any]) -> str | None:
    """One sentence when the parsed file nests deeper or holds more keys and items than any
    policy can, before anything else reads it."""
    count = 0
    stack: list[tuple[object, int]] = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Mapping):
            items: list[object] = list(node.values())
        elif isinstance(node, list):
            items = list(node)
        else:
            continue
        if depth >= MAX_POLICY_DEPTH:
            return f"the file nests tables or lists deeper than a policy can ({MAX_POLICY_DEPTH})."
        count += len(items)
        if count > MAX_POLICY_ITEMS:
            return (
                f"the file holds more than {MAX_POLICY_ITEMS} keys and items, more than a policy."
            )
        stack.extend((item, depth + 1) for item in items)
    return None


def _fits(merged: Mapping[str, Any], name: str, table: Mapping[str, Any]) -> bool:
    try:
        Policy.model_validate({**merged, "concerns": {name: table}})
    except ValidationError:
        return False
    return True


def _inherited(merged: Mapping[str, Any], name: str, table: Mapping[str, Any]) -> Any:
    """A default concern as far as it fits the file's caps: whole, with only the roles it
    still fits, or None."""
    if _fits(merged, name, table):
        return table
    roles = table.get("roles")
    if not isinstance(roles, list):
        return None
    kept = [r for r in roles if _fits(merged, name, {**table, "roles": [r]})]
    return {**table, "roles": kept} if kept else None


def _with_inherited_concerns(data: Mapping[str, Any]) -> Policy:
    """The default with `data` applied. The concerns `data` names must fit its caps (or the
    whole file is refused); a default concern it does not name is kept for the roles whose
    caps it fits, and left out when it fits none, so a file that tightens a cap is not
    refused for a protocol it never mentioned (`policy check` names what was left out)."""
    defaults = _default_data()
    try:  # the usual case: every inherited concern fits
        return Policy.model_validate(_merge(defaults, data))
    except ValidationError:
        pass
    named = data.get("concerns")
    named_keys = set(named) if isinstance(named, Mapping) else set()
    default_concerns: Mapping[str, Any] = defaults.get("concerns", {})
    base = {k: v for k, v in defaults.items() if k != "concerns"}
    base["concerns"] = {k: v for k, v in default_concerns.items() if k in named_keys}
    merged = _merge(base, data)
    policy = Policy.model_validate(merged)  # raises for the file's own keys and concerns
    kept = dict(merged["concerns"])
    for name, table in default_concerns.items():
        if name not in named_keys and (fitting := _inherited(merged, name, table)) is not None:
            kept[name] = fitting
    if len(kept) == len(policy.concerns):
        return policy
    order = [*default_concerns, *(k for k in kept if k not in default_concerns)]
    return Policy.model_validate({**merged, "concerns": {k: kept[k] for k in order if k in kept}})


def load_policy_text(text: str, source: str | None = None) -> Policy:
    """The default policy with the keys of TOML `text` applied, or PolicyError for all of it."""
    if len(text) > MAX_POLICY_BYTES:
        raise PolicyError(
            [f"the text is larger than {MAX_POLICY_BYTES // 1024} KiB, too large for a policy."],
            source,
        )
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError([f"the file is not valid TOML: {printable(str(exc))}."], source) from None
    except (ValueError, RecursionError, MemoryError) as exc:  # e.g. a number too long to read
        raise PolicyError([f"the file is not valid TOML ({type(exc).__name__})."], source) from None
    problem = _shape_problem(data)
    if problem is not None:
        raise PolicyError([problem], source)
    try:
        return _with_inherited_concerns(data)
    except ValidationError as exc:
        raise PolicyError(_problems(exc), source) from None
    except RecursionError:  # pragma: no cover - absurdly nested input
        raise PolicyError(["the file is nested too deeply to be a policy."], source) from None


def _read_policy_bytes(path: str | os.PathLike[str]) -> bytes:
    """At most MAX_POLICY_BYTES of a regular file; PolicyError for anything else.

    Devices, FIFOs and sockets (also behind a symlink) are refused before they are opened for
    reading, and the file is opened non-blocking and checked again on its descriptor, so a
    FIFO swapped in meanwhile can neither hang the caller nor stream without end.
    """
    source = printable(os.fspath(path))
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise PolicyError(["the file does not exist."], source) from None
    except OSError as exc:
        raise PolicyError([f"the file cannot be read ({exc.strerror or exc})."], source) from None
    if stat.S_ISDIR(info.st_mode):
        raise PolicyError(["it is a directory, not a file."], source)
    if not stat.S_ISREG(info.st_mode):
        raise PolicyError(
            ["it is not a regular file (a device, FIFO or socket); a policy is a plain file."],
            source,
        )
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise PolicyError([f"the file cannot be read ({exc.strerror or exc})."], source) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise PolicyError(["it is not a regular file; a policy is a plain file."], source)
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_POLICY_BYTES:
            chunk = os.read(fd, MAX_POLICY_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise PolicyError([f"the file cannot be read ({exc.strerror or exc})."], source) from None
    finally:
        os.close(fd)
    if size > MAX_POLICY_BYTES:
        raise PolicyError(
            [f"the file is larger than {MAX_POLICY_BYTES // 1024} KiB, too large for a policy."],
            source,
        )
    return b"".join(chunks)


def load_policy(path: str | os.PathLike[str] | None) -> Policy:
    """The policy in the TOML file at `path` over the default (None: the default itself)."""
    if path is None:
        return default_policy()
    raw = _read_policy_bytes(path)
    source = printable(os.fspath(path))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyError(["the file is not UTF-8 text."], source) from None
    return load_policy_text(text, source)


# --- Writing and comparing -----------------------------------------------------------------------


def _toml_float(mm: float) -> str:
    um = _um(mm)
    text = f"{um / 1000:.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def policy_to_toml(policy: Policy) -> str:
    """The whole policy as a TOML file that `load_policy` reads back to an equal policy."""
    lines = [
        "# needlepen treatment policy, complete",
        "# (written by 'needlepen policy show --format toml'; loadable with --policy).",
        f"# digest {policy_digest(policy)}",
        "",
        f"min_days_between_sessions = {policy.min_days_between_sessions}",
    ]
    for name in ROLE_NAMES:
        r = policy.role(name)
        zones = ", ".join(json.dumps(z) for z in r.zones)
        lines += [
            "",
            f"[roles.{name}]",
            f"max_depth_mm = {_toml_float(r.max_depth_mm)}",
            f"rate_min_hz = {r.rate_min_hz}",
            f"rate_max_hz = {r.rate_max_hz}",
            f"zones = [{zones}]",
        ]
    for name in ZONE_NAMES:
        z = policy.zone(name)
        lines += [
            "",
            f"[zones.{name}]",
            f"recommended_max_mm = {_toml_float(z.recommended_max_mm)}",
            f"hard_max_mm = {_toml_float(z.hard_max_mm)}",
        ]
    for name, c in policy.concerns.items():
        depths = ", ".join(
            f"{zone} = [{_toml_float(lo)}, {_toml_float(hi)}]"
            for zone, (lo, hi) in c.depth_mm.items()
        )
        lines += [
            "",
            f"[concerns.{name}]",
            f"label = {json.dumps(c.label)}",
            f"roles = [{', '.join(json.dumps(r) for r in c.roles)}]",
            f"sessions = [{c.sessions[0]}, {c.sessions[1]}]",
            f"interval_days = [{c.interval_days[0]}, {c.interval_days[1]}]",
            f"rate_hz = [{c.rate_hz[0]}, {c.rate_hz[1]}]",
            f"depth_mm = {{ {depths} }}",
        ]
    return "\n".join(lines) + "\n"


def _flat(policy: Policy) -> dict[str, Any]:
    flat: dict[str, Any] = {"min_days_between_sessions": policy.min_days_between_sessions}
    for name in ROLE_NAMES:
        for key, value in policy.role(name).model_dump().items():
            flat[f"roles.{name}.{key}"] = value
    for name in ZONE_NAMES:
        for key, value in policy.zone(name).model_dump().items():
            flat[f"zones.{name}.{key}"] = value
    for name, concern in policy.concerns.items():
        for key, value in concern.model_dump().items():
            flat[f"concerns.{name}.{key}"] = value
    return flat


def diff_policies(base: Policy, other: Policy) -> list[tuple[str, Any, Any]]:
    """(key, value in base, value in other) for every key whose value differs; a concern in
    one of the two libraries only is one entry `concerns.NAME` with None on the other side."""
    a, b = _flat(base), _flat(other)
    out = [(k, a[k], b[k]) for k in a if k in b and a[k] != b[k]]
    # a concern in one library only is one entry (its whole table, or None where it is not)
    for name, c in base.concerns.items():
        if name not in other.concerns:
            out.append((f"concerns.{name}", c.model_dump(), None))
    for name, c in other.concerns.items():
        if name not in base.concerns:
            out.append((f"concerns.{name}", None, c.model_dump()))
    return out


def loosens(key: str, old: Any, new: Any) -> bool:
    """True when changing `key` from `old` to `new` allows more than before: a deeper cap or
    limit, a higher top rate, a lower bottom rate, more zones or a shorter interval."""
    field = key.rsplit(".", 1)[-1]
    if key.startswith("concerns."):
        return False  # guidance only suggests; the caps it must fit are the other keys
    if field in ("max_depth_mm", "recommended_max_mm", "hard_max_mm", "rate_max_hz"):
        return bool(new > old)
    if field in ("rate_min_hz", "min_days_between_sessions"):
        return bool(new < old)
    if field == "zones":
        return bool(set(new) - set(old))
    return False


def policy_digest(policy: Policy) -> str:
    """SHA-256 of the policy's canonical form, for the audit log (which policy decided)."""
    canonical = json.dumps(_flat(policy), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
