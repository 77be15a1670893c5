"""The treatment policy (a TOML file validated with pydantic, inside built-in ceilings):
the model and its ceilings, the cross-key and concern rules, the sentences for a refused file,
loading and writing.

The ceilings, `PolicyError` and `mm_to_um_exact` need no pydantic and are imported at once; the
model and what loads or writes it are imported on first use (PEP 562), so that the governor and
the TUI can be imported, and the TUI's first screen drawn, before pydantic is loaded.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from driver.vocabulary import BENCH_ZONE, ENGINEER_ROLE, PRIVILEGE_ORDER, ROLE_NAMES, ZONE_NAMES

from .bounds import (
    DEPTH_CEILING_MAX_UM,
    DEPTH_CEILING_MIN_UM,
    HOME_DEPTH_LIMIT_UM,
    MAX_DAYS_SETTING,
    MAX_POLICY_BYTES,
    MIN_DAYS_CEILING,
    RATE_CEILING_MAX_HZ,
    RATE_CEILING_MIN_HZ,
    PolicyError,
    mm_to_um_exact,
)

if TYPE_CHECKING:
    from .concern import Concern
    from .load import (
        MAX_POLICY_DEPTH,
        MAX_POLICY_ITEMS,
        default_policy,
        default_policy_text,
        load_policy,
        load_policy_text,
    )
    from .model import Policy, RoleLimits, Roles, ZoneLimits, Zones
    from .write import diff_policies, loosens, policy_digest, policy_to_toml

#: name -> the submodule that defines it, imported on first use
_LAZY: dict[str, str] = {
    "Concern": "concern",
    "MAX_POLICY_DEPTH": "load",
    "MAX_POLICY_ITEMS": "load",
    "default_policy": "load",
    "default_policy_text": "load",
    "load_policy": "load",
    "load_policy_text": "load",
    "Policy": "model",
    "RoleLimits": "model",
    "Roles": "model",
    "ZoneLimits": "model",
    "Zones": "model",
    "diff_policies": "write",
    "loosens": "write",
    "policy_digest": "write",
    "policy_to_toml": "write",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "BENCH_ZONE",
    "DEPTH_CEILING_MAX_UM",
    "DEPTH_CEILING_MIN_UM",
    "ENGINEER_ROLE",
    "HOME_DEPTH_LIMIT_UM",
    "MAX_DAYS_SETTING",
    "MAX_POLICY_BYTES",
    "MAX_POLICY_DEPTH",
    "MAX_POLICY_ITEMS",
    "MIN_DAYS_CEILING",
    "PRIVILEGE_ORDER",
    "RATE_CEILING_MAX_HZ",
    "RATE_CEILING_MIN_HZ",
    "ROLE_NAMES",
    "ZONE_NAMES",
    "Concern",
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
