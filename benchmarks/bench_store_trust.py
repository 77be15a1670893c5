"""Store start-up on a large log: the trust check at session start and login (issue 11 item 3).

Builds a store of NEEDLEPEN_BENCH_RECORDS records (default 10^6: 200 sessions of 5,000 records,
each with a treatment and a cartridge) in one transaction, then measures the first check (no
checkpoint yet: a full walk), the check on reopening (incremental: only the tables are read),
and the check after 100 new records, beside a full `verify()` in the same run (the baseline).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import time
from pathlib import Path

from driver.audit import AuditStore, canonical_json

from .common import Row

RECORDS = int(os.environ.get("NEEDLEPEN_BENCH_RECORDS", "1000000"))
PER_SESSION = 5000


def _build(path: Path, records: int) -> None:
    store = AuditStore(path, scrypt_n=16)
    store.add_operator("c1", "Clin", "clinician", "1234", now=1.7e9)
    written = 1
    t = 1.7e9
    session = 0
    while written < records:
        session += 1
        sid = store.begin_session(
            role="clinician",
            operator_id="c1",
            client_ref=f"p-{session}",
            device_serial=1,
            boot_id=session,
            device_class="professional",
            now=t,
        )
        store.begin_treatment(sid, "cheeks", session, lambda facts: None, now=t)
        written += 3
        text = canonical_json({"what": "depth", "depth_um": 500, "outcome": "allowed"})
        n = min(PER_SESSION, records - written - 1)
        with store._write() as conn:  # one transaction: a benchmark fixture, not the API
            for _ in range(max(n, 0)):
                t += 0.01
                store._append(conn, "decision", text, sid, round(t * 1e6))
        written += max(n, 0)
        store.end_session(sid, "done", now=t)
        written += 1
    store.close()


def _timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return (time.perf_counter() - start) * 1000


def _login_times(tmp: str, tries: int = 10) -> tuple[float, float]:
    """Median ms of a wrong PIN for a real operator and of any PIN for an unknown ID, at the
    default scrypt cost (the lockout is lifted between tries so each is a full check)."""
    from driver.errors import AuthError

    path = Path(tmp) / "login.db"
    store = AuditStore(path)  # default scrypt cost
    store.add_operator("doc", "Doc", "clinician", "24681357")
    wrong: list[float] = []
    unknown: list[float] = []
    for i in range(tries):
        for op_id, out in (("doc", wrong), (f"ghost{i}", unknown)):
            start = time.perf_counter()
            with contextlib.suppress(AuthError):
                store.authenticate(op_id, "11112222")
            out.append((time.perf_counter() - start) * 1000)
        if i % 3 == 2:  # the administrator's own login resets the count: never locked
            store.unlock_operator("doc", by=("doc", "24681357"))
    store.close()
    return sorted(wrong)[tries // 2], sorted(unknown)[tries // 2]


def run() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="needlepen-trust-") as tmp:
        path = Path(tmp) / "big.db"
        _build(path, RECORDS)
        raw = sqlite3.connect(path, isolation_level=None)
        raw.execute("DELETE FROM checkpoint")  # as after an upgrade: no verified point yet
        raw.close()
        store = AuditStore(path)
        count = len(store._read("SELECT id FROM log"))
        full = _timed(store.verify)
        first = _timed(store.check_trust)
        store.close()
        store = AuditStore(path)
        opened = _timed(lambda: AuditStore(path).close())
        again = _timed(store.check_trust)
        for i in range(100):
            store.append("note", {"i": i})
        tail = _timed(store.check_trust)
        store.close()
        wrong_ms, unknown_ms = _login_times(tmp)
    label = f"{count:,} records"
    return [
        Row(
            "store_trust",
            "login: unknown ID (median of 10)",
            unknown_ms,
            "ms",
            "wrong PIN",
            wrong_ms,
            better="lower",
            note="the same work and the same sentence: ratio near 1",
        ),
        Row("store_trust", f"open ({label})", opened, "ms", better="lower"),
        Row(
            "store_trust",
            f"first check, no checkpoint ({label})",
            first,
            "ms",
            "full verify",
            full,
            better="lower",
        ),
        Row(
            "store_trust",
            f"check at start-up, checkpoint at the end ({label})",
            again,
            "ms",
            "full verify",
            full,
            better="lower",
            target_value=250.0,
        ),
        Row(
            "store_trust",
            f"check after 100 new records ({label})",
            tail,
            "ms",
            "full verify",
            full,
            better="lower",
            target_value=250.0,
        ),
    ]
