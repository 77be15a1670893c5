"""Time to write the report of an 8-hour session (issue 16: target under 2 s).

The session is recorded through the public store API by `driver.testing.sessions` (a
`progress` record every 5 s while running, depth decisions, notes: about 5,800 records); the
baseline in the same run is reading that session's records back from the store, which the
report has to do anyway.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from driver.audit import AuditStore
from driver.records.report import render_report
from driver.safety.policy import default_policy
from driver.testing.sessions import recorded_session

from .common import Row

HOURS = float(os.environ.get("NEEDLEPEN_BENCH_REPORT_HOURS", "8"))
REPEATS = 5


def _median_ms(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def run() -> list[Row]:
    policy = default_policy()
    with tempfile.TemporaryDirectory(prefix="needlepen-report-") as tmp:
        store = AuditStore(Path(tmp) / "audit.db", scrypt_n=2**10)
        session = recorded_session(store, hours=HOURS)
        count = len(store.records(session.session_id))
        read = _median_ms(lambda: store.records(session.session_id))
        render = _median_ms(lambda: render_report(store, policy, session.session_id))
        size = len(render_report(store, policy, session.session_id).encode("utf-8"))
        store.close()
    return [
        Row(
            "report",
            f"render a {HOURS:g} h session ({count:,} records; median of {REPEATS})",
            render,
            "ms",
            "read its records",
            read,
            better="lower",
            target_value=2000.0,
            note=f"self-contained HTML of {size / 1024:.0f} KiB",
        )
    ]
