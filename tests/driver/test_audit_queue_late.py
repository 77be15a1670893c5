"""Records the background writer could only write late (the store was out) say when they
happened: a new user found STOP and STOPPED records 26 s after the needle stopped, with the
write's time only."""

from __future__ import annotations

import time
from typing import Any

from driver.session.audit_queue import AuditQueue
from tests.helpers import wait_for


class _OutThenBack:
    """A store that refuses writes until `back_at`, then keeps what it is given."""

    def __init__(self, back_at: float) -> None:
        self.back_at = back_at
        self.rows: list[tuple[float, str, dict[str, Any]]] = []

    def append(self, kind, data, session_id=None, now=None, *, before=()):
        if time.monotonic() < self.back_at:
            raise OSError("disk full")
        for k, d, _ in [*before, (kind, data, session_id)]:
            self.rows.append((time.time(), k, d))


def test_a_record_written_late_carries_when_it_was_handed_over():
    store = _OutThenBack(time.monotonic() + 1.6)
    troubles: list[str] = []
    q = AuditQueue(store, troubles.append, lambda: None)  # type: ignore[arg-type]
    try:
        handed = time.time()
        q.put("command", {"type": "STOP", "seq": 7}, 1)
        wait_for(lambda: len(store.rows) == 1, 5.0, "the late write")
        written, kind, data = store.rows[0]
        assert kind == "command" and data["type"] == "STOP"
        assert written - handed > AuditQueue.LATE_S
        assert abs(data["observed_at"] - handed) < 0.1
        assert troubles  # the outage was reported
        q.put("command", {"type": "START", "seq": 8}, 1)  # written at once: no extra field
        wait_for(lambda: len(store.rows) == 2, 5.0, "the prompt write")
        assert "observed_at" not in store.rows[1][2]
    finally:
        q.close(timeout=1.0)
