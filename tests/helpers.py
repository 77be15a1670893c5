"""Small helpers shared by the test packages."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(predicate: Callable[[], object], timeout: float = 2.0, what: str = "") -> None:
    """Poll `predicate` until it is true; fail naming `what` after `timeout` seconds.

    A bound on how long to wait for a behaviour, not a performance assertion: generous on purpose.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.005)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
