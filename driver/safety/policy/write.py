"""Writing a policy as TOML, comparing two, and its digest for the audit record."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .model import (
    ROLE_NAMES,
    ZONE_NAMES,
    Policy,
    _um,
)

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
