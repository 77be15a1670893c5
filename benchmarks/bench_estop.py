"""E-stop latency over a kernel pty: from the `Pen.estop()` call to the software pen applying
ESTOP, read from `needlepen sim --pty --log-json` (the `t` of its "ESTOP" record, taken with
time.time() like the call, on the same machine). Median and p99 over RUNS e-stops, each
released with RESET 2 before the next.

The log's `t` has millisecond resolution, so single samples are ±0.5 ms; the median over many
runs is still a fair figure (the rounding is even on both sides). A second row reads the pen's
own clock (`pen_ms`, microseconds), put on the Unix clock by the mean offset of every record's
`t - pen_ms` in the run.

Baseline, same run: one-way raw pty latency between two processes (write 12 bytes on one end;
the reader process stamps time.time() when its read returns). Target (issue 5): under 1 ms.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from driver.testing.sim import SimProcess

from .common import Row
from .ptys import STAMPER, PtyPeer, percentile

if TYPE_CHECKING:
    from driver import Pen

BENCH = "estop"
RUNS = 200
TARGET_US = 1000.0


def _one_way_floor(n: int) -> list[float]:
    peer = PtyPeer(STAMPER, stdout=subprocess.PIPE)
    try:
        out = peer.proc.stdout
        assert out is not None
        message = bytes(range(1, 13))
        samples = []
        for _ in range(n):
            t0 = time.time()
            os.write(peer.fd, message)
            samples.append(float(out.readline()) - t0)
        return samples
    finally:
        peer.close()


def _confirmed(pen: Pen, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while pen.estop_pending:
        if time.monotonic() > deadline:
            raise RuntimeError("the pen did not confirm the e-stop within 5 s")
        time.sleep(0.002)


def run() -> list[Row]:
    from driver import Pen

    ours: list[float] = []
    events: list[tuple[float, float]] = []  # (call time, pen_ms of the ESTOP record)
    offsets: list[float] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        SimProcess("--pty", "--seed", "9", "--log-json", read_stderr=False) as sim,
    ):
        pen = Pen.connect(sim.path, db=Path(tmp) / "audit.db")
        try:
            pen.reset("estop")
            sim.next_record("RESET")
            for _ in range(RUNS):
                called = time.time()
                pen.estop()
                rec = sim.next_record("ESTOP")
                ours.append(rec["t"] - called)
                events.append((called, rec["pen_ms"]))
                offsets.append(rec["t"] - rec["pen_ms"] / 1000)
                _confirmed(pen)  # estop() never waits; a release needs the pen's confirmation
                pen.reset("estop")
                done = sim.next_record("RESET")  # the log is now past this e-stop's records
                offsets.append(done["t"] - done["pen_ms"] / 1000)
        finally:
            with contextlib.suppress(Exception):
                pen.close()
    floor = _one_way_floor(RUNS)
    offset = sum(offsets) / len(offsets)
    fine = [pen_ms / 1000 + offset - called for called, pen_ms in events]
    us = 1e6
    floor_med = percentile(floor, 50) * us
    floor_name = "raw pty one-way (2 processes)"
    return [
        Row(
            BENCH,
            "Pen.estop() to ESTOP applied, median",
            percentile(ours, 50) * us,
            "µs",
            floor_name,
            floor_med,
            better="lower",
            target_value=TARGET_US,
            note=f"sim --log-json t (1 ms resolution), {RUNS} runs over a pty",
        ),
        Row(
            BENCH,
            "Pen.estop() to ESTOP applied, p99",
            percentile(ours, 99) * us,
            "µs",
            floor_name,
            percentile(floor, 99) * us,
            better="lower",
        ),
        Row(
            BENCH,
            "Pen.estop() to ESTOP applied, median (pen clock)",
            percentile(fine, 50) * us,
            "µs",
            floor_name,
            floor_med,
            better="lower",
            target_value=TARGET_US,
            note="pen_ms (µs) put on the Unix clock by the run's mean offset",
        ),
    ]


if __name__ == "__main__":  # pragma: no cover
    from .common import render

    print(render(run()))
