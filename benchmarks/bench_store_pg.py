"""The audit store on PostgreSQL beside SQLite.

Rows: governed `Pen.set_depth` (governor, durable commit of its decision, SET_DEPTH over a
kernel pty, ACK and its record) with the store on SQLite and on a local PostgreSQL over its
unix socket (target <= 5 ms median); baseline, same run and same pen kind: the bare link
round trip. A set_depth costs two commits in series: its decision's, before the command, and
its ACK's, which the Pen gives a few milliseconds (`LOWERING_RECORD_WAIT_S`); so one durable
append on PostgreSQL is timed too, against one round trip on the same connection (the append
is one statement: its cost beyond the round trip is the commit). And the append rate of 4
workstations (processes) writing to one PostgreSQL store at once, against one workstation
alone: the chain_head lock serialises them, so 4 writers share one commit stream.

The load average at the start is in the notes: on a machine shared with other work every
figure here grows with it (a commit waits for the disk and for the server's process to run).

The PostgreSQL cluster is a throwaway one with fsync on, under /var/tmp (on disk; a tmpfs
would make the commit free and flatter the figure); the SQLite file is under the user's cache
directory, as in bench_governed.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing as mp
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import platformdirs

from driver.testing.sim import SimProcess
from protocol import SetDepth

from .common import Row
from .ptys import percentile

BENCH = "store_pg"
ROUNDS = 3
PER_ROUND = 100
WRITERS = 4
APPEND_SECONDS = 3.0


def _timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def _governed(db: str) -> tuple[float, float]:
    """(median governed set_depth, median bare round trip), µs, on one pen."""
    from driver import Pen

    governed: list[list[float]] = []
    bare: list[list[float]] = []
    with SimProcess("--pty", "--seed", "4", read_stderr=False) as sim:
        pen = Pen.open(sim.path, role="home", zone="forehead", db=db)
        try:
            link = pen._link
            mm = itertools.cycle([0.3, 0.35, 0.4, 0.45])
            um = itertools.cycle([300, 350, 400, 450])
            _timed(lambda: pen.set_depth(next(mm)), 10)
            for _ in range(ROUNDS):
                governed.append(_timed(lambda: pen.set_depth(next(mm)), PER_ROUND))
                bare.append(_timed(lambda: link.request(SetDepth(next(um))), PER_ROUND))
        finally:
            with contextlib.suppress(Exception):
                pen.close()
    return (
        min(percentile(r, 50) for r in governed) * 1e6,
        min(percentile(r, 50) for r in bare) * 1e6,
    )


def _append_vs_round_trip(url: str) -> tuple[float, float]:
    """(median durable append, median SELECT 1 on the same connection), µs, interleaved."""
    from driver.audit import AuditStore

    appends: list[list[float]] = []
    trips: list[list[float]] = []
    with AuditStore(url) as store:
        raw = store._backend._raw  # type: ignore[attr-defined]  # the store's own connection
        count = itertools.count()
        _timed(lambda: store.append("bench", {"n": next(count)}), 10)
        for _ in range(ROUNDS):
            appends.append(_timed(lambda: store.append("bench", {"n": next(count)}), PER_ROUND))
            trips.append(_timed(lambda: raw.execute("SELECT 1").fetchone(), PER_ROUND))
    return (
        min(percentile(r, 50) for r in appends) * 1e6,
        min(percentile(r, 50) for r in trips) * 1e6,
    )


def _writer(url: str, start: float, seconds: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    from driver.audit import AuditStore

    with AuditStore(url) as store:
        while time.time() < start:
            time.sleep(0.001)
        n = 0
        while time.time() < start + seconds:
            store.append("bench", {"n": n})
            n += 1
    out.put(n)


def _append_rate(url: str, writers: int) -> float:
    ctx = mp.get_context("fork")
    out: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    start = time.time() + 1.0
    procs = [ctx.Process(target=_writer, args=(url, start, APPEND_SECONDS, out))
             for _ in range(writers)]  # fmt: skip
    for p in procs:
        p.start()
    total = sum(out.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(30)
    return total / APPEND_SECONDS


def run() -> list[Row]:
    from driver.audit import AuditStore
    from driver.audit.pgserver import PgCluster

    load = "load " + " ".join(f"{v:.1f}" for v in os.getloadavg())
    cache = Path(platformdirs.user_cache_dir("needlepen"))
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix="bench-") as tmp:
        sqlite_gov, sqlite_bare = _governed(str(Path(tmp) / "audit.db"))
    rows = [
        Row(BENCH, "set_depth with durable commit on SQLite, median", sqlite_gov, "µs",
            "Link.request(SET_DEPTH), same pen", sqlite_bare, better="lower",
            note=f"{ROUNDS * PER_ROUND} calls, WAL synchronous=FULL, {load}"),
    ]  # fmt: skip
    cluster = PgCluster(durable=True, parent="/var/tmp" if Path("/var/tmp").is_dir() else None)
    try:
        url = cluster.start()
    except RuntimeError as exc:
        nan = float("nan")
        return [*rows, Row(BENCH, "set_depth with durable commit on PostgreSQL, median", nan,
                           "µs", note=f"not run: {exc}")]  # fmt: skip
    try:
        AuditStore(url).close()  # the schema, before the pen and the writers
        pg_gov, pg_bare = _governed(url)
        append, trip = _append_vs_round_trip(url)
        one = _append_rate(url, 1)
        many = _append_rate(url, WRITERS)
    finally:
        cluster.stop()
    return [
        *rows,
        Row(BENCH, "set_depth with durable commit on PostgreSQL, median", pg_gov, "µs",
            "Link.request(SET_DEPTH), same pen", pg_bare, better="lower", target_value=5000,
            note=f"local unix socket, fsync on, {load}"),
        Row(BENCH, "one durable append on PostgreSQL, median", append, "µs",
            "SELECT 1, same connection", trip, better="lower",
            note="one statement: the round trip and the commit"),
        Row(BENCH, f"appends/s, {WRITERS} workstations at once on PostgreSQL", many,
            "records/s", "one workstation alone", one, better="higher",
            note="separate processes, one chain (chain_head lock)"),
    ]  # fmt: skip


if __name__ == "__main__":  # pragma: no cover
    from .common import render

    print(render(run()))
