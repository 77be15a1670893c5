"""Stop and e-stop on a locked audit store: from the call to the pen applying STOP / ESTOP,
and until the call returns, with another process holding the store's write lock (BEGIN
IMMEDIATE). Same-run baseline: the same calls on a store nobody locks.

Targets (issue 11): < 50 ms to the pen, < 100 ms to return, locked or not.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from driver.session import Pen
from simulator.firmware import LogRecord

from .common import Row
from .ptys import percentile

BENCH = "lockedstore"
RUNS = 10
TO_PEN_MS = 50.0
RETURN_MS = 100.0


class _Locker:
    def __init__(self, path: Path) -> None:
        code = (
            "import sqlite3, sys\n"
            f"c = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
            "c.execute('BEGIN IMMEDIATE')\n"
            "print('locked', flush=True)\n"
            "sys.stdin.readline()\n"
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        self.proc.stdout.readline()

    def release(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        self.proc.wait(10)


def _measure(command: str, locked: bool) -> tuple[list[float], list[float]]:
    to_pen: list[float] = []
    returned: list[float] = []
    with tempfile.TemporaryDirectory(prefix="needlepen-lock-") as tmp:
        db = Path(tmp) / "audit.db"
        pen = Pen.open("sim://?seed=61", role="home", zone="forehead", db=db)
        applied = threading.Event()
        at = [0.0]
        wanted = command.upper()

        def on_record(record: LogRecord) -> None:
            if record.event == wanted:
                at[0] = time.perf_counter()
                applied.set()

        pen.port.pen.call(lambda sim: sim.firmware.add_listener(on_record))
        try:
            pen.set_depth(0.5)
            pen.set_rate(100)
            for n in range(RUNS):
                if command == "estop" and n:
                    pen.reset("estop")
                pen.start()
                time.sleep(0.05)
                lock = _Locker(db) if locked else None
                applied.clear()
                t0 = time.perf_counter()
                getattr(pen, command)()
                t1 = time.perf_counter()
                applied.wait(2.0)
                to_pen.append(at[0] - t0)
                returned.append(t1 - t0)
                time.sleep(0.05)
                if lock is not None:
                    lock.release()
                pen.flush_log(15.0)
                while pen.estop_pending:
                    time.sleep(0.01)
            if command == "estop":
                pen.reset("estop")  # leave no e-stop held for this pen's serial
        finally:
            pen.close()
    return to_pen, returned


def run() -> list[Row]:
    rows: list[Row] = []
    ms = 1000.0
    for command in ("stop", "estop"):
        free_pen, free_ret = _measure(command, locked=False)
        lock_pen, lock_ret = _measure(command, locked=True)
        rows.append(
            Row(
                BENCH,
                f"{command}() to the pen, locked store, median / max",
                percentile(lock_pen, 50) * ms,
                "ms",
                f"unlocked store {percentile(free_pen, 50) * ms:.2f} ms",
                percentile(free_pen, 50) * ms,
                better="lower",
                target_value=TO_PEN_MS,
                note=f"max {max(lock_pen) * ms:.2f} ms over {RUNS}",
            )
        )
        rows.append(
            Row(
                BENCH,
                f"{command}() returns, locked store, median / max",
                percentile(lock_ret, 50) * ms,
                "ms",
                f"unlocked store {percentile(free_ret, 50) * ms:.2f} ms",
                percentile(free_ret, 50) * ms,
                better="lower",
                target_value=RETURN_MS,
                note=f"max {max(lock_ret) * ms:.2f} ms over {RUNS}",
            )
        )
    return rows
