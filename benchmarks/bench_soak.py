"""Soak: hours of pen time at 200 Hz telemetry through the real driver, on a virtual clock.

A clinician's treatment runs on the simulated pen (simulator.virtual) with the driver's `Pen`
reading STATUS at 200 Hz, heartbeating, and changing the depth every 10 s (governed, and
committed to an on-disk audit store before each command), for NEEDLEPEN_SOAK_HOURS of pen time
(default 0.5; the long soak is NEEDLEPEN_SOAK_HOURS=8). Nothing sleeps: the run takes as long
as the work in it.

Same-run baseline: the same pen, clock, telemetry, heartbeats and depth changes driven by a
bare `protocol.Decoder` and hand-encoded commands, with no driver, governor or audit store.
Each side runs in a subprocess of its own, so that their memory figures do not mix.

Figures: wall time, pen time per wall second, resident memory (RSS) growth and Python heap
growth (sys.getallocatedblocks) from 10 % of the run to its end (the warm-up excluded),
STATUS frames received and lost (from the pen's own frame counter), and the audit store's size.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .common import Row

BENCH = "soak"
HOURS_ENV = "NEEDLEPEN_SOAK_HOURS"
DEFAULT_HOURS = 0.5
TELEMETRY_HZ = 200
POLL_S = 0.02  # how often the host's reader turns, in pen time
HEARTBEAT_S = 0.1
DEPTH_EVERY_S = 10.0
DEPTHS_MM = (0.5, 0.55, 0.6, 0.65, 0.7, 0.65, 0.6, 0.55)  # cheeks; each change one 50 µm step
RATE_HZ = 120
#: The pen sits on its charger: its battery is topped up this often (the simulated battery
#: lasts about 2.5 h at 120 Hz, and a flat battery stops the needle, as it should).
CHARGE_EVERY_S = 600.0
SAMPLES = 20
#: Targets: no frame lost on a clean link, and memory that does not grow with the run.
RSS_GROWTH_TARGET_MIB = 16.0


@dataclass
class Soak:
    """What one side measured."""

    side: str
    pen_hours: float
    wall_s: float
    status_frames: int
    frames_lost: int  # frames the pen sent that the host did not decode (end to end)
    invalid_frames: int
    depth_changes: int
    rss_start_mib: float
    rss_end_mib: float
    blocks_start: int
    blocks_end: int
    store_bytes: int = 0
    audit_records: int = 0
    still_running: bool = True
    link_status_gaps: int = 0  # the driver's own counter of STATUS gaps
    end_state: str = ""  # the pen's state, faults and battery at the end

    @property
    def rss_growth_mib(self) -> float:
        return self.rss_end_mib - self.rss_start_mib

    @property
    def blocks_growth(self) -> int:
        return self.blocks_end - self.blocks_start


def hours() -> float:
    """The pen time to soak for, from NEEDLEPEN_SOAK_HOURS (a number of hours above 0)."""
    text = os.environ.get(HOURS_ENV, "").strip()
    if not text:
        return DEFAULT_HOURS
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 24 * 7:
        raise ValueError(f"{HOURS_ENV} must be a number of hours from 0 to 168, not {text!r}.")
    return value


def rss_mib() -> float:
    """This process's resident memory now (Linux /proc), else its peak (getrusage)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (2**20 if sys.platform == "darwin" else 2**10)


class _Memory:
    """Memory at 10 % of the run (after warm-up) and at its end."""

    def __init__(self, total_s: float) -> None:
        self.mark_at = total_s * 0.1
        self.start: tuple[float, int] | None = None

    def maybe_mark(self, pen_s: float) -> None:
        if self.start is None and pen_s >= self.mark_at:
            self.start = (rss_mib(), sys.getallocatedblocks())

    def end(self) -> tuple[float, int, float, int]:
        end = (rss_mib(), sys.getallocatedblocks())
        start = self.start or end
        return start[0], start[1], end[0], end[1]


def _end_state(fw: Any) -> str:
    faults = ", ".join(f.name or "?" for f in type(fw.faults) if f & fw.faults) or "none"
    return f"{fw.state.name}, faults {faults}, battery {fw.battery_pct} %"


def _progress(side: str, pen_s: float, total_s: float, last: list[float]) -> None:
    if pen_s - last[0] >= total_s / 10:
        last[0] = pen_s
        done = 100 * pen_s / total_s
        print(f"  soak {side}: {done:.0f} % of {total_s / 3600:.3g} h", file=sys.stderr)


def soak_driver(pen_hours: float) -> Soak:
    """The real driver: Pen over a virtual port, audit store on disk."""
    from driver.audit import AuditStore
    from driver.session import Pen, PenUpdate
    from protocol import State
    from simulator.firmware import PenConfig
    from simulator.simulation import Simulation
    from simulator.virtual import VirtualClock, VirtualPort

    total_s = pen_hours * 3600
    with tempfile.TemporaryDirectory(prefix="needlepen-soak-") as tmp:
        db = Path(tmp) / "audit.db"
        store = AuditStore(db)
        store.add_operator("c1", "Soak Clinician", "clinician", "1234")
        clock = VirtualClock()
        sim = Simulation(PenConfig.professional(), seed=8)
        pen = Pen.connect(
            "virtual://soak",
            db=store,
            port=VirtualPort(sim, clock),
            clock=clock.now,
            idle=clock.advance,
            telemetry_hz=TELEMETRY_HZ,
        )
        pen.begin(role="clinician", operator="c1", pin="1234", client="soak-1")
        pen.select_zone("cheeks")
        pen.set_depth(DEPTHS_MM[0])
        pen.set_rate(RATE_HZ)
        statuses = [0]

        def count(update: PenUpdate) -> None:
            if update.kind == "status":
                statuses[0] += 1

        pen.subscribe(count)  # as the TUI does: every STATUS reaches a subscriber
        pen.start()  # holds until the needle is at its depth: count the frames meanwhile too
        memory = _Memory(total_s)
        next_depth = DEPTH_EVERY_S
        next_charge = CHARGE_EVERY_S
        changes = 0
        last = [0.0]
        start = time.perf_counter()
        while clock.now() < total_s:
            clock.advance(POLL_S)
            pen.poll()
            now = clock.now()
            if now >= next_charge:
                sim.firmware.set_battery(100)
                next_charge += CHARGE_EVERY_S
            if now >= next_depth:
                changes += 1
                pen.set_depth(DEPTHS_MM[changes % len(DEPTHS_MM)])
                next_depth += DEPTH_EVERY_S
            memory.maybe_mark(now)
            _progress("driver", now, total_s, last)
        wall = time.perf_counter() - start
        rss0, blocks0, rss1, blocks1 = memory.end()
        pen.poll()  # take what has arrived by now: nothing is left in flight on a clean link
        running = sim.firmware.state == State.RUNNING and pen.alive
        end_state = _end_state(sim.firmware) + ("" if pen.alive else f"; driver: {pen.dead}")
        stats = pen.link_stats
        lost = sim.link.pen_to_host.stats.frames - stats.frames_in - stats.invalid_frames
        pen.close("soak over")
        records = len(store.records())
        ok = store.verify().ok
        store.close()
        size = sum(p.stat().st_size for p in Path(tmp).iterdir() if p.name.startswith(db.name))
        if not ok:
            raise RuntimeError("the audit store does not verify after the soak")
        return Soak(
            "driver",
            pen_hours,
            wall,
            statuses[0],
            lost,
            stats.invalid_frames,
            changes,
            rss0,
            rss1,
            blocks0,
            blocks1,
            size,
            records,
            running,
            stats.status_gaps,
            end_state,
        )


def soak_bare(pen_hours: float) -> Soak:
    """The baseline: the same pen and schedule, a bare decoder and hand-made commands."""
    import protocol
    from protocol import Decoder, Direction, State, Status
    from simulator.firmware import PenConfig
    from simulator.simulation import Simulation
    from simulator.virtual import VirtualClock, VirtualPort

    total_s = pen_hours * 3600
    clock = VirtualClock()
    sim = Simulation(PenConfig.professional(), seed=8)
    port = VirtualPort(sim, clock)
    decoder = Decoder(Direction.HOST)
    seq = protocol.SeqCounter()
    frames = 0
    decoded = 0

    def pump() -> None:
        nonlocal frames, decoded
        for item in decoder.feed(port.read(port.in_waiting)):
            decoded += 1
            if isinstance(item, protocol.Frame) and isinstance(item.message, Status):
                frames += 1

    def send(msg: protocol.Message) -> None:
        port.write(protocol.encode(msg, seq.next()))

    for msg in (
        protocol.Hello(1, 42),
        protocol.SetTelemetry(TELEMETRY_HZ),
        protocol.SetRate(RATE_HZ),
        protocol.SetDepth(round(DEPTHS_MM[0] * 1000)),
    ):
        send(msg)
    # the pen starts only once the needle is at its set-point (docs/PROTOCOL.md): let it slew
    while abs(sim.firmware.depth_actual_um - sim.firmware.depth_set_um) > 50:
        clock.advance(POLL_S)
        pump()
    send(protocol.Start())
    memory = _Memory(total_s)
    next_depth = DEPTH_EVERY_S
    next_beat = HEARTBEAT_S
    next_charge = CHARGE_EVERY_S
    changes = 0
    last = [0.0]
    start = time.perf_counter()
    while clock.now() < total_s:
        clock.advance(POLL_S)
        pump()
        now = clock.now()
        if now >= next_charge:
            sim.firmware.set_battery(100)
            next_charge += CHARGE_EVERY_S
        if now >= next_beat:
            send(protocol.Heartbeat())
            next_beat += HEARTBEAT_S
        if now >= next_depth:
            changes += 1
            send(protocol.SetDepth(round(DEPTHS_MM[changes % len(DEPTHS_MM)] * 1000)))
            next_depth += DEPTH_EVERY_S
        memory.maybe_mark(now)
        _progress("baseline", now, total_s, last)
    wall = time.perf_counter() - start
    rss0, blocks0, rss1, blocks1 = memory.end()
    pump()
    running = sim.firmware.state == State.RUNNING
    lost = sim.link.pen_to_host.stats.frames - decoded - decoder.dropped
    return Soak(
        "bare",
        pen_hours,
        wall,
        frames,
        lost,
        decoder.dropped,
        changes,
        rss0,
        rss1,
        blocks0,
        blocks1,
        still_running=running,
        end_state=_end_state(sim.firmware),
    )


SIDES: dict[str, Callable[[float], Soak]] = {"driver": soak_driver, "bare": soak_bare}


def _in_subprocess(side: str, pen_hours: float) -> Soak:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_soak", side, repr(pen_hours)],
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the {side} soak failed (exit status {proc.returncode})")
    data: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return Soak(**data)


def rows(ours: Soak, base: Soak) -> list[Row]:
    h = f"{ours.pen_hours:g} h"
    peer = "sim + bare decoder"
    expected = round(ours.pen_hours * 3600 * TELEMETRY_HZ)
    return [
        Row(BENCH, f"wall time for {h} of pen time", ours.wall_s, "s", peer, base.wall_s, "lower"),
        Row(
            BENCH,
            "pen time per wall second",
            ours.pen_hours * 3600 / ours.wall_s,
            "x",
            peer,
            base.pen_hours * 3600 / base.wall_s,
        ),
        Row(
            BENCH,
            "RSS growth, 10 % to end",
            ours.rss_growth_mib,
            "MiB",
            peer,
            base.rss_growth_mib,
            "lower",
            target_value=RSS_GROWTH_TARGET_MIB,
            note=f"{ours.rss_start_mib:.0f} -> {ours.rss_end_mib:.0f} MiB",
        ),
        Row(
            BENCH,
            "Python heap growth, 10 % to end",
            float(ours.blocks_growth),
            "blocks",
            peer,
            float(base.blocks_growth),
            "lower",
        ),
        Row(
            BENCH,
            "STATUS frames received",
            float(ours.status_frames),
            "frames",
            peer,
            float(base.status_frames),
            note=f"{expected:,} due at {TELEMETRY_HZ} Hz",
        ),
        Row(
            BENCH,
            "frames lost, pen to host",
            float(ours.frames_lost),
            "frames",
            peer,
            float(base.frames_lost),
            "lower",
            target_value=0,
            note=f"the driver's own STATUS gap counter says {ours.link_status_gaps}",
        ),
        Row(
            BENCH,
            "audit store size",
            ours.store_bytes / 1024,
            "KiB",
            note=f"{ours.audit_records:,} records, {ours.depth_changes:,} depth changes, "
            f"chain verifies; treatment {'still running' if ours.still_running else 'STOPPED'}",
        ),
    ]


def run() -> list[Row]:
    pen_hours = hours()
    ours = _in_subprocess("driver", pen_hours)
    base = _in_subprocess("bare", pen_hours)
    for side in (ours, base):
        if not side.still_running:
            raise RuntimeError(
                f"the treatment stopped during the {side.side} soak ({side.end_state})."
            )
    return rows(ours, base)


def main(argv: list[str]) -> int:
    """`python -m benchmarks.bench_soak SIDE HOURS`: one side, its figures as JSON."""
    side, pen_hours = argv[0], float(argv[1])
    result = SIDES[side](pen_hours)
    print(json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
