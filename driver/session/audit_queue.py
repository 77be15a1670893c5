"""The background audit writer: records that must never hold anything up."""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from ..audit import AuditStore

__all__ = ["AuditQueue"]


class AuditQueue:
    """Audit records that must never hold anything up: what the reader sees (pen events,
    state changes, link loss) and what the risk-lowering commands did (STOP, ESTOP, closing).

    A writer thread appends them in order. A record that cannot be written (a full disk, a
    store locked by another process, a read-only file) is never dropped: it stays first in the
    queue and is retried, `on_trouble(sentence)` is called once per outage and
    `on_recovered()` when it is written again. `put` never blocks.
    """

    RETRY_S = 0.2

    def __init__(
        self,
        store: AuditStore,
        on_trouble: Callable[[str], None],
        on_recovered: Callable[[], None],
    ) -> None:
        self._store = store
        self._on_trouble = on_trouble
        self._on_recovered = on_recovered
        self._items: collections.deque[tuple[str, dict[str, Any], int | None]] = collections.deque()
        self._cond = threading.Condition()
        self._busy = False
        self._closing = False
        self.trouble: str | None = None
        self._thread = threading.Thread(target=self._run, name="needlepen-audit", daemon=True)
        self._thread.start()

    def put(self, kind: str, data: dict[str, Any], session_id: int | None) -> None:
        with self._cond:
            self._items.append((kind, data, session_id))
            self._cond.notify_all()

    @property
    def backlog(self) -> int:
        with self._cond:
            return len(self._items) + (1 if self._busy else 0)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._items and not self._closing:
                    self._cond.wait()
                if not self._items:
                    return
                item = self._items[0]
                self._busy = True
            try:
                self._store.append(item[0], item[1], session_id=item[2])
            except Exception as exc:  # kept and retried: nothing is lost
                with self._cond:
                    self._busy = False
                    first = self.trouble is None
                    self.trouble = f"The audit store cannot be written: {exc}"
                    closing = self._closing
                if first:
                    with contextlib.suppress(Exception):
                        self._on_trouble(self.trouble)
                if closing:
                    return  # the caller's close() reports what is left
                time.sleep(self.RETRY_S)
                continue
            with self._cond:
                self._items.popleft()
                self._busy = False
                recovered = self.trouble is not None
                self.trouble = None
                self._cond.notify_all()
            if recovered:
                with contextlib.suppress(Exception):
                    self._on_recovered()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every record handed over so far is in the store; False on time-out."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while (self._items or self._busy) and self._thread.is_alive():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left if left is not None else 0.05)
            return not self._items

    def close(self, timeout: float = 2.0) -> list[tuple[str, dict[str, Any], int | None]]:
        """Write what can be written within `timeout`; return the records that could not be."""
        self.flush(timeout)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout=0.5)
        with self._cond:
            return list(self._items)
