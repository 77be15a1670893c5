"""E-stops this process sent, per pen serial."""

from __future__ import annotations

import threading

__all__ = [
    "confirm_estop",
    "estop_held",
    "forget_estops",
    "hold_estop",
    "release_estop",
]


#: serial -> confirmed: False while the pen has not confirmed the e-stop, True once it has
#: and until the operator releases it. START is refused on a serial listed here.
_ESTOPS: dict[int, bool] = {}
_ESTOPS_LOCK = threading.Lock()


def estop_held(serial: int) -> bool | None:
    """None: no e-stop outstanding for this pen; False: sent, not confirmed by the pen;
    True: confirmed, not yet released."""
    with _ESTOPS_LOCK:
        return _ESTOPS.get(serial)


def forget_estops() -> None:
    """Forget every outstanding e-stop: what a new host process starts with (for harnesses
    that model several host processes in one)."""
    with _ESTOPS_LOCK:
        _ESTOPS.clear()


def hold_estop(serial: int) -> None:
    with _ESTOPS_LOCK:
        if _ESTOPS.get(serial) is not True:
            _ESTOPS[serial] = False


def confirm_estop(serial: int) -> None:
    with _ESTOPS_LOCK:
        _ESTOPS[serial] = True


def release_estop(serial: int) -> None:
    with _ESTOPS_LOCK:
        _ESTOPS.pop(serial, None)
