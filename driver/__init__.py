"""Host side of needlepen: the Pen session over pyserial, the safety governor, the policy and
the audit store.

    from driver import Pen
    with Pen.open("sim://", role="home", zone="forehead") as pen:
        pen.set_depth(0.5)

Names are imported lazily, so the `needlepen` command starts quickly.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Pen": "driver.pen",
    "PenUpdate": "driver.pen",
    "AuditStore": "driver.store",
    "Governor": "driver.governor",
    "Request": "driver.governor",
    "Decision": "driver.governor",
    "DeviceLimits": "driver.governor",
    "Outcome": "driver.governor",
    "Policy": "driver.policy",
    "load_policy": "driver.policy",
    "DriverError": "driver.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'driver' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
