"""Sustained telemetry: STATUS at 200 Hz for SECONDS, received and processed by the driver
(`Pen.connect(telemetry_hz=200)`, a subscriber counting "status" updates), over the
in-process `sim://` pen and over `needlepen sim --pty`.

Baseline, same run: what the pen sent in the same window, from its own STATUS counter (the
last seq seen minus the first, plus one). Frames lost are the gaps in that counter as the
driver counts them (`link_stats.status_gaps`). Over the pty a third row gives the driver
process's CPU time per STATUS against the bare decode of one STATUS frame (the codec's share).
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
from pathlib import Path

from driver.testing.sim import SimProcess
from protocol import CartridgeState, Decoder, Direction, Fault, State, Status, encode

from .common import Row, best_time

BENCH = "telemetry"
RATE_HZ = 200
SECONDS = 3.0


class _Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0

    def __call__(self, update: object) -> None:
        if getattr(update, "kind", None) == "status":
            with self.lock:
                self.count += 1


def _stream(url: str) -> tuple[float, float, int, float]:
    """(received per s, sent per s, frames lost, driver CPU s) over SECONDS at RATE_HZ."""
    from driver import Pen

    with tempfile.TemporaryDirectory() as tmp:
        pen = Pen.connect(url, db=Path(tmp) / "audit.db", telemetry_hz=RATE_HZ)
        try:
            counter = _Counter()
            seqs: list[int] = []
            original = pen._on_message

            def spy(msg: object, seq: int) -> None:  # the pen's counter, as it arrives
                if isinstance(msg, Status):
                    seqs.append(seq)
                original(msg, seq)

            pen._link._on_message = spy
            unsubscribe = pen.subscribe(counter)
            time.sleep(0.2)  # the stream is up
            gaps0 = pen.link_stats.status_gaps
            with counter.lock:
                counter.count = 0
            seqs.clear()
            cpu0, wall0 = time.process_time(), time.perf_counter()
            time.sleep(SECONDS)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            with counter.lock:
                received = counter.count
            window = list(seqs)
            lost = pen.link_stats.status_gaps - gaps0
            unsubscribe()
            if not pen.alive:
                raise RuntimeError(f"the session died during the benchmark: {pen.dead}")
        finally:
            with contextlib.suppress(Exception):
                pen.close()
    sent = ((window[-1] - window[0]) % 65536 + 1) if window else 0
    return received / wall, sent / wall, lost, cpu / max(received, 1)


def _decode_cost() -> float:
    """Seconds to decode one STATUS frame fed alone (a 200 Hz stream read as it arrives)."""
    status = Status(
        State.RUNNING, Fault(0), 500, 498, 120, 119, 1000, 300, 320, 80, 7, CartridgeState.IN_USE, 9
    )
    frames = [encode(status, i) for i in range(2000)]

    def decode_all() -> None:
        decoder = Decoder(Direction.HOST)
        for frame in frames:
            decoder.feed(frame)

    return best_time(decode_all) / len(frames)


def run() -> list[Row]:
    rows: list[Row] = []
    with SimProcess("--pty", "--seed", "8", read_stderr=False) as sim:
        transports = (("sim://", "sim://?seed=8"), ("pty", sim.path))
        for name, url in transports:
            received, sent, lost, cpu = _stream(url)
            rows.append(
                Row(
                    BENCH,
                    f"STATUS received and processed at {RATE_HZ} Hz, {name}",
                    received,
                    "frames/s",
                    "sent by the pen (its counter)",
                    sent,
                    better="higher",
                    target_ratio=0.99,
                    note=f"{SECONDS:g} s",
                )
            )
            rows.append(
                Row(
                    BENCH,
                    f"STATUS frames lost, {name}",
                    lost,
                    "frames",
                    better="lower",
                    target_value=0,
                    note=f"of {sent * SECONDS:.0f} in {SECONDS:g} s",
                )
            )
            if name == "pty":
                rows.append(
                    Row(
                        BENCH,
                        "driver CPU per STATUS, pty",
                        cpu * 1e6,
                        "µs",
                        "decode of one STATUS frame",
                        _decode_cost() * 1e6,
                        better="lower",
                        note="process time of the host over the window (reader thread, "
                        "heartbeat, subscribers)",
                    )
                )
    return rows


if __name__ == "__main__":  # pragma: no cover
    from .common import render

    print(render(run()))
