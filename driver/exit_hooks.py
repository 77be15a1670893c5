"""Opt-in hooks that stop every open pen's needle when the interpreter exits and on SIGTERM.

Standard library only, so the `needlepen` command installs them before it imports anything
heavy.
"""

from __future__ import annotations

import atexit
import contextlib
import signal
import threading
import weakref
from types import FrameType
from typing import Protocol

__all__ = ["close_all", "install_exit_hooks", "register", "unregister"]


class _Closable(Protocol):
    def close(self, reason: str = ...) -> None: ...


#: every Pen open in this process (weakly: a forgotten Pen is still garbage)
_OPEN: weakref.WeakSet[_Closable] = weakref.WeakSet()
_hooks_installed = False
_hooks_lock = threading.Lock()


def register(pen: _Closable) -> None:
    """Track an open pen, so the exit hooks (if installed) close it."""
    _OPEN.add(pen)


def unregister(pen: _Closable) -> None:
    _OPEN.discard(pen)


def close_all(reason: str) -> None:
    """Close every open pen: STOP first (never waits for the store), then the records."""
    for pen in list(_OPEN):
        with contextlib.suppress(Exception):
            pen.close(reason)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    close_all("SIGTERM")
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise SystemExit(128 + signum)


def install_exit_hooks() -> bool:
    """Stop every open pen's needle when the interpreter exits and on SIGTERM (idempotent).

    Opt-in: a library must not take over a process's signals by surprise. The `needlepen`
    command and the TUI call it at start; a script driving a pen should call it first. A
    SIGTERM handler is installed only from the main thread and only over the default one;
    returns True when the SIGTERM handler is (now or already) ours. Without these hooks a
    killed host still stops the needle: its heartbeat ends and the pen's watchdog trips.
    """
    global _hooks_installed
    with _hooks_lock:
        if not _hooks_installed:
            _hooks_installed = True
            atexit.register(close_all, "interpreter exit")
        if threading.current_thread() is threading.main_thread():
            with contextlib.suppress(ValueError, OSError):
                if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
                    signal.signal(signal.SIGTERM, _on_sigterm)
        return signal.getsignal(signal.SIGTERM) is _on_sigterm
