"""Fitting a fresh cartridge: by hand on a real pen, by a key on a simulated one.

A simulated pen (`sim://`) is reached through the driver's port as `pen.port.pen`, whose
run-time commands are those of `needlepen sim` (docs/SIMULATOR.md): `remove` pulls the
cartridge, `insert` fits a fresh one with a new id. That call lives here and nowhere else.
"""

from __future__ import annotations

from typing import Any, Protocol

from driver.errors import NotAllowed
from driver.session import Pen
from protocol import CartridgeState, State

#: What the treatment screen says about the cartridge of a pen it cannot change.
BY_HAND = "Change the cartridge by hand on the pen: stop the needle, fit a fresh one."


class _Commands(Protocol):
    def command(self, line: str) -> str: ...


def simulated(pen: Pen) -> _Commands | None:
    """The simulated pen behind `pen`, or None for a real one."""
    live: Any = getattr(pen.port, "pen", None)
    return live if callable(getattr(live, "command", None)) else None


def fit_fresh_cartridge(pen: Pen) -> None:
    """Pull the simulated pen's cartridge (if one is fitted) and fit a fresh one.

    Raises NotAllowed (one sentence, nothing changed) on a real pen or while the needle runs.
    """
    live = simulated(pen)
    if live is None:
        raise NotAllowed(BY_HAND)
    status = pen.status
    if status is not None and status.state is State.RUNNING:
        raise NotAllowed("Stop the needle before changing the cartridge.")
    try:
        if status is None or status.cartridge_state is not CartridgeState.NONE:
            live.command("remove")
        live.command("insert")
    except ValueError as exc:  # the simulator refused (its ControlError is a ValueError)
        raise NotAllowed(f"The simulated pen could not change its cartridge: {exc}") from exc
