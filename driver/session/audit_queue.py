"""The background audit writer: records that must never hold anything up."""

from __future__ import annotations

import collections
import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from ..audit import AuditStore
from ..errors import StoreError

__all__ = ["AuditQueue"]


class AuditQueue:
    """Audit records that must never hold anything up: what the reader sees (pen events,
    state changes, link loss) and what the risk-lowering commands did (STOP, ESTOP, closing).

    A writer thread appends them in order, each batch it finds waiting in one transaction.
    A risk-raising record that must be durable before its command is sent goes in with
    them: `write_after` writes what waits and that record in one transaction (one commit),
    after them in the chain. A record that cannot be written (a full disk, a
    store locked by another process, a read-only file) is never dropped: it stays first in the
    queue and is retried, `on_trouble(sentence)` is called once per outage and
    `on_recovered()` when it is written again. `put` never blocks.
    """

    RETRY_S = 0.2
    #: a record written this much later than it was handed over (the store was out) carries
    #: `observed_at`, the time (UNIX seconds) it was handed over: its row's time is the write's
    LATE_S = 1.0
    #: at most this many records per transaction of the writer thread (after an outage the
    #: backlog goes in short transactions, so other workstations' writes are not held up)
    BATCH = 100

    def __init__(
        self,
        store: AuditStore,
        on_trouble: Callable[[str], None],
        on_recovered: Callable[[], None],
    ) -> None:
        self._store = store
        self._on_trouble = on_trouble
        self._on_recovered = on_recovered
        #: (kind, data, session id, when it was handed over)
        self._items: collections.deque[tuple[str, dict[str, Any], int | None, float]] = (
            collections.deque()
        )
        self._cond = threading.Condition()
        self._busy = False
        #: risk-raising records waiting in `write_after`: the writer leaves the queue to them
        self._raisers = 0
        self._closing = False
        self.trouble: str | None = None
        self._thread = threading.Thread(target=self._run, name="needlepen-audit", daemon=True)
        self._thread.start()

    def put(self, kind: str, data: dict[str, Any], session_id: int | None) -> None:
        with self._cond:
            self._items.append((kind, data, session_id, time.time()))
            self._cond.notify_all()

    @property
    def backlog(self) -> int:
        """Records handed over and not yet written (those being written included), with the
        risk-raising ones waiting to go in after them."""
        with self._cond:
            return len(self._items) + self._raisers

    def _run(self) -> None:
        while True:
            with self._cond:
                # `_busy`: a batch is being written (by this thread or by `write_after`). A
                # waiting `write_after` takes what waits with its own record, in one commit;
                # while the store is in trouble, this thread's retries go first
                while not self._closing and (
                    not self._items or self._busy or (self._raisers and self.trouble is None)
                ):
                    self._cond.wait()
                if not self._items or self._busy:
                    return
                batch = self._as_written(itertools.islice(self._items, self.BATCH))
                self._busy = True
            try:
                *earlier, last = batch
                self._store.append(last[0], last[1], session_id=last[2], before=earlier)
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
            self._written(len(batch))

    def _written(self, count: int) -> None:
        """The first `count` records are in the store: drop them, say so if it recovered."""
        with self._cond:
            for _ in range(count):
                self._items.popleft()
            self._busy = False
            recovered = self.trouble is not None
            self.trouble = None
            self._cond.notify_all()
        if recovered:
            with contextlib.suppress(Exception):
                self._on_recovered()

    def write_after(
        self, kind: str, data: dict[str, Any], session_id: int | None, timeout: float
    ) -> None:
        """Write every record handed over so far and then this one, in one transaction: one
        commit, and the chain keeps the order of events. For a risk-raising record, which
        must be durable before its command is sent.

        Waits up to `timeout` for a batch the writer thread is writing (and, while the store
        is in trouble, for the writer to get the records through). Raises StoreError when the
        records cannot be written: then nothing of this one is, the earlier ones stay queued."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._raisers += 1
            try:
                while self._busy or (self.trouble is not None and self._items):
                    left = deadline - time.monotonic()
                    if left <= 0 or not self._thread.is_alive():
                        raise StoreError(self.trouble or "it is still writing earlier records")
                    self._cond.wait(left)
            finally:
                self._raisers -= 1
                self._cond.notify_all()
            batch = self._as_written(self._items)
            self._busy = True
        try:
            self._store.append(kind, data, session_id=session_id, before=batch)
        except BaseException:
            with self._cond:
                self._busy = False
                self._cond.notify_all()
            raise
        self._written(len(batch))

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
            return self._as_written(self._items)

    def _as_written(
        self, items: Iterable[tuple[str, dict[str, Any], int | None, float]]
    ) -> list[tuple[str, dict[str, Any], int | None]]:
        """The records as the store gets them: one handed over more than LATE_S ago says when
        it happened (`observed_at`), since its row's time is that of the late write."""
        now = time.time()
        return [
            (kind, {**data, "observed_at": round(at, 6)} if now - at > self.LATE_S else data, sid)
            for kind, data, sid, at in items
        ]
