"""The clinic's server goes away mid-treatment: risk-raising commands are refused with one
sentence, stopping is sent at once, and nothing falls back to a local file that would let the
interval rule be dodged. When the server is back, the kept records are written and verify."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from driver.audit import AuditStore
from driver.audit.pgserver import PgCluster
from driver.audit.postgres import StoreUnreachable
from driver.errors import StoreError
from driver.session import Pen
from tests.helpers import wait_for

pytestmark = pytest.mark.postgres


@pytest.fixture
def own_server() -> Iterator[PgCluster]:
    """A server of this test's own, so it can be stopped without harming the others."""
    cluster = PgCluster()
    try:
        cluster.start()
    except RuntimeError as exc:  # the session's server started, so this one should too
        pytest.fail(f"a second PostgreSQL server could not be started: {exc}")
    yield cluster
    cluster.stop()


def test_an_unreachable_server_refuses_deeper_and_still_stops(own_server: PgCluster) -> None:
    store = AuditStore(own_server.url, scrypt_n=2**8)
    pen = Pen.open("sim://?seed=61", role="home", zone="forehead", db=store)
    firmware = pen.port.pen.firmware
    try:
        pen.set_depth(0.4)
        pen.set_rate(100)
        pen.start()
        wait_for(lambda: firmware.needle_running, what="running")
        own_server.pause()
        with pytest.raises(StoreError, match="cannot be reached"):  # one sentence, no send
            pen.set_depth(0.6)
        time.sleep(0.05)
        assert firmware.depth_set_um == 400, "a risk-raising command went out unrecorded"
        t0 = time.monotonic()
        pen.stop()
        assert time.monotonic() - t0 < 1.0
        wait_for(lambda: not firmware.needle_running, timeout=0.5, what="the needle stopped")
        with pytest.raises(StoreUnreachable):
            store.append("note", {"during": "outage"})
        own_server.resume()
        assert pen.flush_log(timeout=15.0), "the records kept in memory were not written"
        kinds = [r.kind for r in store.records()]
        assert "command" in kinds
        assert store.verify().ok
    finally:
        pen.close()
        store.close()


def test_a_read_on_a_lost_connection_says_the_server_cannot_be_reached(
    own_server: PgCluster,
) -> None:
    """The interval read of a deeper depth can be the first to find the server gone: it says
    so as StoreUnreachable, in one sentence, and the store reconnects once it is back."""
    store = AuditStore(own_server.url, scrypt_n=2**8)
    try:
        store.append("note", {"before": "the outage"})
        own_server.pause()
        with pytest.raises(StoreUnreachable, match="cannot be reached") as caught:
            store.last_treatment_days_ago("P-1", "cheeks")
        assert "\n" not in str(caught.value)
        own_server.resume()
        assert store.last_treatment_days_ago("P-1", "cheeks") is None
        assert store.verify().ok
    finally:
        store.close()
