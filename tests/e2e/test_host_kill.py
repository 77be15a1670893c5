"""A host killed with SIGKILL while the needle runs: the pen stops by itself, and the audit
store still verifies and holds the decision that started the run.

Real processes over a kernel pty: `needlepen sim --pty --log-json` and a host script.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from driver.audit import AuditStore
from driver.testing.sim import SimProcess

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


def start_sim_and_host(db):
    sim = SimProcess("--pty", "--log-json", "--seed", "7", stdin=subprocess.DEVNULL)
    assert sim.path.startswith("/dev/"), sim.path
    host = subprocess.Popen(
        [sys.executable, "-c", HOST, sim.path, str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return sim, host


def stop_all(host, sim):
    if host.poll() is None:
        host.send_signal(signal.SIGTERM)
        try:
            host.wait(timeout=5)
        except subprocess.TimeoutExpired:
            host.kill()
    sim.close()


def test_sigterm_of_the_host_stops_the_needle_first(tmp_path):
    sim, host = start_sim_and_host(tmp_path / "audit.db")
    try:
        sim.wait_record("STARTED", timeout=20)
        assert host.stdout is not None and host.stdout.readline().strip() == "RUNNING"
        host.send_signal(signal.SIGTERM)
        assert host.wait(timeout=10) == 128 + signal.SIGTERM
        stopped = sim.wait_record("STOPPED", timeout=5)
        assert stopped["cause"] == "COMMAND"  # the host stopped it, not the watchdog
        log = sim.records()
        before_stop = log[: log.index(stopped)]  # (after the host's exit the pen trips anyway)
        assert not [r for r in before_stop if r["event"] == "WATCHDOG_TRIPPED"]
    finally:
        stop_all(host, sim)


def test_sigkill_of_the_host_stops_the_needle_within_the_watchdog(tmp_path):
    db = tmp_path / "audit.db"
    sim, host = start_sim_and_host(db)
    try:
        sim.wait_record("STARTED", timeout=20)
        assert host.stdout is not None
        assert host.stdout.readline().strip() == "RUNNING"
        killed_at = time.time()
        os.kill(host.pid, signal.SIGKILL)
        host.wait(timeout=5)
        trip = sim.wait_record("WATCHDOG_TRIPPED", timeout=5)
        # The pen's own clock: it stopped within its watchdog (300 ms, to its 1 ms rounding)
        # of the last frame; from the kill, a bound on the behaviour only (a loaded machine
        # may be slow to schedule either process), never a performance figure.
        assert trip["silence_ms"] <= 300 + 1
        assert trip["t"] - killed_at < 0.300 + 3.0
        assert trip["state"] == "NO_SESSION"
        stopped = [r for r in sim.records() if r["event"] == "STOPPED"]
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
