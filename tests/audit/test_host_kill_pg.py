"""A treating host killed with SIGKILL, its store on PostgreSQL: the pen stops by its
watchdog, `log verify` passes, and every command the host sent has its committed decision.

`make test` kills 3 hosts; `make qa` kills 50 (NEEDLEPEN_PG_KILLS=50).
"""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest

from driver.audit import AuditStore
from driver.audit.pgserver import with_schema
from driver.cli.store import main
from tests.e2e.test_host_kill import start_sim_and_host, stop_all
from tests.pg import pg_admin, pg_url

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

KILLS = int(os.environ.get("NEEDLEPEN_PG_KILLS", "3"))


@pytest.mark.parametrize("run", range(KILLS))
def test_sigkill_of_a_treating_host_on_postgresql(run: int, capsys) -> None:
    schema = f"k_{uuid.uuid4().hex[:12]}"
    pg_admin(f"CREATE SCHEMA {schema}")
    url = with_schema(pg_url(), schema)
    try:
        sim, host = start_sim_and_host(url)
        try:
            sim.wait_record("STARTED", timeout=30)
            assert host.stdout is not None
            assert host.stdout.readline().strip() == "RUNNING"
            killed_at = time.time()
            os.kill(host.pid, signal.SIGKILL)
            host.wait(timeout=5)
            trip = sim.wait_record("WATCHDOG_TRIPPED", timeout=5)
            # the pen's own clock: within its watchdog (300 ms) of the last frame; from the
            # kill, a bound on the behaviour only (a loaded machine schedules late)
            assert trip["silence_ms"] <= 300 + 1
            assert trip["t"] - killed_at < 0.300 + 3.0
            assert [r for r in sim.records() if r["event"] == "STOPPED"]
        finally:
            stop_all(host, sim)
        assert main(["log", "verify", "--db", url]) == 0
        assert "intact" in capsys.readouterr().out
        with AuditStore(url) as store:
            records = store.records()
        # each risk-raising command the host sent has its decision committed before it:
        # SET_DEPTH and SET_RATE as decisions, START as the treatment recorded before it
        first: dict[str, int] = {}
        for r in records:
            if r.kind == "decision":
                first.setdefault("decided " + str((r.data.get("command") or {}).get("type")), r.id)
            elif r.kind == "treatment_recorded" and r.data.get("before_start"):
                first.setdefault("decided START", r.id)
            elif r.kind == "command":
                first.setdefault("sent " + str(r.data.get("type")), r.id)
        for command in ("SET_DEPTH", "SET_RATE", "START"):
            assert f"decided {command}" in first, (command, first)
            if f"sent {command}" in first:
                assert first[f"decided {command}"] < first[f"sent {command}"]
        assert "sent START" in first
        depth = [r for r in records if r.kind == "decision"
                 and (r.data.get("command") or {}).get("type") == "SET_DEPTH"]  # fmt: skip
        assert depth[-1].data["depth_um"] == 500
    finally:
        pg_admin(f"DROP SCHEMA {schema} CASCADE")
