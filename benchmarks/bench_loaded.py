"""Spurious link losses on a loaded PC: the REAL `needlepen tui` in a kernel pty, with two
CPU-burning processes beside it (issue 11, item 5).

The flow: a home session on forehead, past screening to the treatment screen, then
SCREEN_CHANGES screen and zone changes (the zone list: Z, up or down, Enter; every other
change the help screen: F1 in, F1 out), CHANGE_GAP_S apart. Nothing in it should end the
session: a `link_lost`, a `pen_event` WATCHDOG_TRIPPED or a `reboot` in the audit log (and, on
`sim --pty`, a WATCHDOG_TRIPPED in the pen's own log) is a spurious end. After one the program
is started again and the flow goes on, so each figure is "ends per SCREEN_CHANGES changes".

Run on the in-process pen (`sim://`, whose clock lives in the TUI's process) and on
`needlepen sim --pty` (a pen in its own process, as a real one is). Baseline, same run: the
same flow with no burners. Target: 0 spurious ends with the burners.

`python -m benchmarks loaded`; BENCH_LOADED_CHANGES overrides the number of changes.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from driver.testing.sim import SimProcess
from tui.testing import TuiPty, records

from .common import Row

BENCH = "loaded"
SCREEN_CHANGES = int(os.environ.get("BENCH_LOADED_CHANGES", "40"))
BURNERS = 2
CHANGE_GAP_S = 0.4
SIZE = (120, 40)
#: How long after the last change a late end is still counted.
TAIL_S = 2.0
BURN = "while 1: pass"


class StartFailed(RuntimeError):
    """The program did not reach the treatment screen (counted as a spurious end)."""


@dataclass
class Tally:
    changes: int = 0
    starts: int = 0
    ends: list[str] = field(default_factory=list)
    pen_watchdogs: int = 0  # the sim --pty pen's own log
    #: the host's silence the pen saw at each of its watchdog trips (ms)
    silences_ms: list[float] = field(default_factory=list)

    @property
    def count(self) -> int:
        """Spurious ends: the host's records, or the pen's own log where it saw more."""
        return max(len(self.ends), self.pen_watchdogs)


@contextlib.contextmanager
def burners(n: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`n` processes that burn a core each: nice 0, each in a session of its own, as a busy
    PC's other programs are (not in the session of the simulated pen, which stands in for a
    pen with a processor of its own and must not be starved by them)."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", BURN], stdin=subprocess.DEVNULL, start_new_session=True
        )
        for _ in range(n)
    ]
    try:
        yield procs
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait(timeout=5)


def _ends(db: Path) -> list[str]:
    out = []
    for kind, data in records(db):
        if kind in ("link_lost", "reboot"):
            out.append(kind)
        elif kind == "pen_event" and data.get("code") == "WATCHDOG_TRIPPED":
            out.append("watchdog")
    return out


def _treatment(port: str, db: Path, env: dict[str, str] | None = None) -> TuiPty:
    tui = TuiPty(
        "--port", port, "--role", "home", "--zone", "forehead", "--db", db, size=SIZE, env=env
    )
    try:
        tui.wait_until(lambda: any(k == "session_start" for k, _ in records(db)), "the session", 30)
        tui.wait_for_text("Screening", 30)
        time.sleep(0.3)
        tui.type_slowly("n" * 10)
        tui.keys("\r")
        tui.wait_until(
            lambda: (
                _ends(db)
                or any(k == "decision" and d.get("what") == "rate" for k, d in records(db))
            ),
            "the treatment screen (or the session's end)",
            30,
        )
        time.sleep(0.3)
    except AssertionError as exc:
        tui.close()
        kinds = [k for k, _ in records(db)]
        raise StartFailed(f"{exc} (audit log: {', '.join(kinds[-12:])})") from exc
    except BaseException:
        tui.close()
        raise
    return tui


def _change(tui: TuiPty, i: int) -> None:
    if i % 2:
        tui.press("f1", gap=0.15)
        tui.press("f1", gap=0)
    else:
        tui.press("z", "down" if i % 4 == 0 else "up", "enter", gap=0.05)


def run_flow(
    port: str,
    tmp: Path,
    changes: int,
    sim: SimProcess | None = None,
    env: dict[str, str] | None = None,
) -> Tally:
    """`changes` screen/zone changes on `port`; a new program after every spurious end."""
    tally = Tally()
    run = 0
    while tally.changes < changes:
        run += 1
        db = tmp / f"run{run}.db"
        tally.starts += 1
        if tally.starts > changes:  # a flow that cannot even begin: give up, counted
            tally.ends.append("no start")
            break
        try:
            tui = _treatment(port, db, env)
        except StartFailed:  # the session ended (or never began) before the first change
            tally.ends += _ends(db) or ["start failed"]
            if sim is not None:
                _pen_trips(sim, tally)
                time.sleep(0.5)
                sim.drain()
            continue
        with tui:
            while tally.changes < changes and not _ends(db):
                _change(tui, tally.changes)
                tally.changes += 1
                time.sleep(CHANGE_GAP_S)
            if not _ends(db):
                time.sleep(TAIL_S)
            tally.ends += _ends(db)
            if sim is not None:  # before the program ends (and with it the session's heartbeat)
                _pen_trips(sim, tally)
        if sim is not None:
            time.sleep(0.5)
            sim.drain()  # the trip after the program's exit is no spurious end
    return tally


def _pen_trips(sim: SimProcess, tally: Tally) -> None:
    for rec in sim.take_new():
        if rec.get("event") == "WATCHDOG_TRIPPED":
            tally.pen_watchdogs += 1
            tally.silences_ms.append(float(rec.get("silence_ms", 0)))


def _measure(loaded: bool, changes: int) -> dict[str, Tally]:
    out: dict[str, Tally] = {}
    with tempfile.TemporaryDirectory() as tmp, burners(BURNERS if loaded else 0):
        base = Path(tmp)
        (base / "sim").mkdir()
        (base / "pty").mkdir()
        out["sim"] = run_flow("sim://?seed=41", base / "sim", changes)
        with SimProcess(
            "--pty", "--seed", "42", "--log-json", new_session=True, read_stderr=False
        ) as sim:
            out["pty"] = run_flow(sim.path, base / "pty", changes, sim)
    return out


def _note(t: Tally) -> str:
    kinds = ", ".join(sorted(set(t.ends))) or "none"
    return f"{t.changes} changes, {t.starts} program start(s), ends: {kinds}"


def run() -> list[Row]:
    idle = _measure(False, SCREEN_CHANGES)
    busy = _measure(True, SCREEN_CHANGES)
    rows = []
    for key, name in (("sim", "sim:// (pen in the TUI's process)"), ("pty", "sim --pty")):
        rows.append(
            Row(
                BENCH,
                f"spurious session ends, {BURNERS} CPU burners, {name}",
                float(busy[key].count),
                f"per {SCREEN_CHANGES} changes",
                "the same, no burners",
                float(idle[key].count),
                better="lower",
                target_value=0.0,
                note=_note(busy[key]),
            )
        )
    return rows


if __name__ == "__main__":  # pragma: no cover
    from .common import render

    print(render(run()))
