"""Shared test configuration: hypothesis profiles, the audit-store factory, the test server.

`ci` is the default (fast enough for `make test`); `thorough` is selected with
`--hypothesis-profile=thorough` (`make qa`). The conformance options (--pen-url, ...) come from
the needlepen-conformance pytest plugin (driver/testing/conformance/plugin.py).

`make_store(path=None, *, backend="sqlite", staff=(), now=None, **opts)` is the one way tests
open an audit store (driver.testing.stores.StoreMaker): every store it opened is closed at
teardown. `store` is a new SQLite store with `STAFF` (c1 clinician 1234, a1 aesthetician 5678,
e1 engineer 9999). The PostgreSQL server (NEEDLEPEN_TEST_PG when set, else a throwaway cluster,
driver/audit/pgserver.py) starts only when a test marked `postgres` is collected; when none can
be started those tests are deselected and one line says why (under CI=true: a failure).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from driver.audit import AuditStore
from driver.audit.pgserver import TEST_PG_ENV, PgCluster
from driver.testing.stores import STAFF, StoreMaker
from tests.pg import STATE, pg_url

#: The factory's type, for fixtures built on it.
MakeStore = StoreMaker

settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=2000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _fresh_host_estops() -> Iterator[None]:
    """Each test is a host process of its own: e-stops another test left outstanding for a
    (simulated) pen serial do not carry over. Tests of that memory live inside one test."""
    from driver.session import forget_estops

    forget_estops()
    yield
    forget_estops()


@pytest.fixture
def make_store(tmp_path: Path) -> Iterator[StoreMaker]:
    """`make_store(path=None, *, backend="sqlite", staff=(), now=None, **opts)` -> AuditStore,
    closed at teardown (PostgreSQL schemas dropped; such tests are marked `postgres`)."""
    maker = StoreMaker(tmp_path, pg_url=pg_url)
    yield maker
    maker.close_all()


@pytest.fixture
def store(make_store: StoreMaker) -> AuditStore:
    """A new SQLite store with one operator of each professional role (`STAFF`)."""
    return make_store(staff=STAFF)


@pytest.fixture
def pg_schema(make_store: StoreMaker) -> str:
    """A fresh schema in the test server: one store's URL (dropped at teardown)."""
    return make_store.new_location("postgresql")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Start the PostgreSQL server if a test marked `postgres` was collected."""
    wanted = [item for item in items if item.get_closest_marker("postgres")]
    if not wanted or STATE["url"] is not None:
        return
    given = os.environ.get(TEST_PG_ENV)
    if given:
        STATE["url"] = given
        return
    cluster = PgCluster()
    try:
        STATE["url"] = cluster.start()
    except RuntimeError as exc:
        if os.environ.get("CI") == "true":
            raise pytest.UsageError(
                f"CI: the PostgreSQL tests must run, but no server could be started: {exc}."
            ) from exc
        STATE["why"] = str(exc)
        config.hook.pytest_deselected(items=wanted)
        items[:] = [item for item in items if not item.get_closest_marker("postgres")]
        return
    config.add_cleanup(cluster.stop)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if STATE["why"]:
        terminalreporter.write_line(
            f"PostgreSQL tests were not run: {STATE['why']} (install postgresql or set "
            f"{TEST_PG_ENV}=postgresql://...)."
        )
