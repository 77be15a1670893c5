"""The governed depth change over a kernel pty: `Pen.set_depth()` asks the governor, commits
its decision to the audit store (SQLite WAL, synchronous=FULL: on disk before the command is
written), sends SET_DEPTH, waits for the ACK and records it. Baseline, same run and same pen:
the bare link round trip of the same command (`Link.request(SetDepth)`), interleaved.

A third row times one durable audit append alone, the part of the difference that is disk.
The store lives in a temporary directory under the user's cache directory, which is on disk
(a /tmp on tmpfs would make fsync free and flatter the figure).
"""

from __future__ import annotations

import contextlib
import itertools
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import platformdirs

from driver.testing.sim import SimProcess
from protocol import SetDepth

from .common import Row
from .ptys import percentile

BENCH = "governed"
ROUNDS = 3
PER_ROUND = 100


def _timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def run() -> list[Row]:
    from driver import Pen

    samples: dict[str, list[list[float]]] = {"governed": [], "bare": [], "append": []}
    cache = Path(platformdirs.user_cache_dir("needlepen"))
    cache.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(dir=cache, prefix="bench-") as tmp,
        SimProcess("--pty", "--seed", "4", read_stderr=False) as sim,
    ):
        pen = Pen.open(sim.path, role="home", zone="forehead", db=Path(tmp) / "audit.db")
        try:
            link = pen._link  # the same link the Pen uses: the bare round trip, no governor
            depths_mm = itertools.cycle([0.3, 0.35, 0.4, 0.45])
            depths_um = itertools.cycle([300, 350, 400, 450])
            count = itertools.count()

            def governed() -> None:
                pen.set_depth(next(depths_mm))

            def bare() -> None:
                link.request(SetDepth(next(depths_um)))

            def append() -> None:
                pen.store.append("bench", {"n": next(count)})

            measures = [("governed", governed), ("bare", bare), ("append", append)]
            for _, fn in measures:
                _timed(fn, 10)
            for _ in range(ROUNDS):
                for name, fn in measures:
                    samples[name].append(_timed(fn, PER_ROUND))
            if not pen.alive:
                raise RuntimeError(f"the session died during the benchmark: {pen.dead}")
        finally:
            with contextlib.suppress(Exception):
                pen.close()

    def best(name: str, q: float) -> float:
        return min(percentile(r, q) for r in samples[name]) * 1e6

    bare_name = "Link.request(SET_DEPTH), same pen"
    return [
        Row(
            BENCH,
            "set_depth with governor and durable commit, median",
            best("governed", 50),
            "µs",
            bare_name,
            best("bare", 50),
            better="lower",
            note=f"Pen.set_depth over needlepen sim --pty, {ROUNDS * PER_ROUND} calls",
        ),
        Row(
            BENCH,
            "set_depth with governor and durable commit, p99",
            best("governed", 99),
            "µs",
            bare_name,
            best("bare", 99),
            better="lower",
        ),
        Row(
            BENCH,
            "one durable audit append, median",
            best("append", 50),
            "µs",
            bare_name,
            best("bare", 50),
            better="lower",
            note="SQLite WAL, synchronous=FULL",
        ),
    ]


if __name__ == "__main__":  # pragma: no cover
    from .common import render

    print(render(run()))
