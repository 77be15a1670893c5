"""Host side of needlepen: the Pen session over pyserial, the safety governor, the policy and
the audit store.

    from driver import Pen, install_exit_hooks
    install_exit_hooks()  # optional: stop the needle on SIGTERM and at interpreter exit
    with Pen.open("sim://", role="home", zone="forehead") as pen:
        pen.set_depth(0.5)

Names are imported lazily, so the `needlepen` command starts quickly.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Pen": "driver.session",
    "PenUpdate": "driver.session",
    "Lifecycle": "driver.session",
    "install_exit_hooks": "driver.exit_hooks",
    "AuditStore": "driver.audit",
    "Governor": "driver.safety",
    "Request": "driver.safety",
    "Decision": "driver.safety",
    "DeviceLimits": "driver.safety",
    "Outcome": "driver.safety",
    "Policy": "driver.safety.policy",
    "load_policy": "driver.safety.policy",
    "DriverError": "driver.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'driver' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
