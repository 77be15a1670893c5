"""A host killed with SIGKILL while the needle runs: the pen stops by itself, and the audit
store still verifies and holds the decision that started the run.

Real processes over a kernel pty: `needlepen sim --pty --log-json` and a host script.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time

from driver.audit import AuditStore

HOST = textwrap.dedent(
    """
    import sys, time
    from driver import Pen, install_exit_hooks
    install_exit_hooks()
    pen = Pen.open(sys.argv[1], role="home", zone="forehead", db=sys.argv[2])
    pen.set_depth(0.5)
    pen.set_rate(100)
    pen.start()
    print("RUNNING", flush=True)
    time.sleep(60)
    """
)


class JsonLines:
    """The simulator's JSON log, read on a thread (select() and buffered text do not mix)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.seen: list[dict] = []
        self._lines: queue.Queue[str] = queue.Queue()
        assert proc.stdout is not None
        stdout = proc.stdout
        threading.Thread(target=lambda: [self._lines.put(x) for x in stdout], daemon=True).start()

    def until(self, pred, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                break
            rec = json.loads(line)
            self.seen.append(rec)
            if pred(rec):
                return rec
        raise AssertionError(f"not seen within {timeout} s; last: {self.seen[-5:]}")


def start_sim_and_host(db):
    sim = subprocess.Popen(
        [sys.executable, "-m", "driver.cli", "sim", "--pty", "--log-json", "--seed", "7"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert sim.stdout is not None
    port = sim.stdout.readline().strip()
    assert port.startswith("/dev/"), port
    log = JsonLines(sim)
    host = subprocess.Popen(
        [sys.executable, "-c", HOST, port, str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return sim, host, log


def stop_all(*procs):
    for p in procs:
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()


def test_sigterm_of_the_host_stops_the_needle_first(tmp_path):
    sim, host, log = start_sim_and_host(tmp_path / "audit.db")
    try:
        log.until(lambda r: r["event"] == "STARTED", timeout=20)
        assert host.stdout is not None and host.stdout.readline().strip() == "RUNNING"
        host.send_signal(signal.SIGTERM)
        assert host.wait(timeout=10) == 128 + signal.SIGTERM
        stopped = log.until(lambda r: r["event"] == "STOPPED", timeout=5)
        assert stopped["cause"] == "COMMAND"  # the host stopped it, not the watchdog
        assert not [r for r in log.seen if r["event"] == "WATCHDOG_TRIPPED"]
    finally:
        stop_all(host, sim)


def test_sigkill_of_the_host_stops_the_needle_within_the_watchdog(tmp_path):
    db = tmp_path / "audit.db"
    sim, host, log = start_sim_and_host(db)
    try:
        log.until(lambda r: r["event"] == "STARTED", timeout=20)
        assert host.stdout is not None
        assert host.stdout.readline().strip() == "RUNNING"
        killed_at = time.time()
        os.kill(host.pid, signal.SIGKILL)
        host.wait(timeout=5)
        trip = log.until(lambda r: r["event"] == "WATCHDOG_TRIPPED", timeout=5)
        # The pen's own clock in its log: it stopped within its watchdog (300 ms) of the last
        # frame; measured from the kill with a generous allowance for process scheduling.
        assert trip["t"] - killed_at < 0.300 + 0.250
        assert trip["state"] == "NO_SESSION"
        stopped = [r for r in log.seen if r["event"] == "STOPPED"]
        assert stopped, "no STOPPED event after the watchdog"
    finally:
        stop_all(host, sim)
    store = AuditStore(db)
    try:
        result = store.verify()
        assert result.ok, result.problem
        records = store.records()
        started = [
            r
            for r in records
            if r.kind == "decision" and (r.data.get("command") or {}).get("type") == "SET_DEPTH"
        ]
        assert started and started[-1].data["depth_um"] == 500
        assert any(r.kind == "command" and r.data.get("type") == "START" for r in records)
    finally:
        store.close()
