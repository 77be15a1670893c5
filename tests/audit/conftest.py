"""The audit store's contract suite runs on both backends (the python-can pattern).

`location` is parametrised over an SQLite file and a PostgreSQL schema of its own. The
PostgreSQL server is NEEDLEPEN_TEST_PG when set, else a throwaway cluster this session starts
(driver/audit/pgserver.py). When none can be started the PostgreSQL tests are deselected and
one line says why; under CI=true that is a failure instead.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from driver.audit import AuditStore
from driver.audit.pgserver import TEST_PG_ENV, PgCluster, with_schema

_PG: dict[str, Any] = {"url": None, "why": None}

SCRYPT_N = 2**8


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = [item for item in items if item.get_closest_marker("postgres")]
    if not wanted or _PG["url"] is not None:
        return
    given = os.environ.get(TEST_PG_ENV)
    if given:
        _PG["url"] = given
        return
    cluster = PgCluster()
    try:
        _PG["url"] = cluster.start()
    except RuntimeError as exc:
        if os.environ.get("CI") == "true":
            raise pytest.UsageError(
                f"CI: the PostgreSQL tests must run, but no server could be started: {exc}."
            ) from exc
        _PG["why"] = str(exc)
        config.hook.pytest_deselected(items=wanted)
        items[:] = [item for item in items if not item.get_closest_marker("postgres")]
        return
    config.add_cleanup(cluster.stop)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _PG["why"]:
        terminalreporter.write_line(
            f"PostgreSQL tests were not run: {_PG['why']} (install postgresql or set "
            f"{TEST_PG_ENV}=postgresql://...)."
        )


def pg_url() -> str:
    url = _PG["url"]
    assert url, "the PostgreSQL server was not started"
    return str(url)


def pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(pg_url(), autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh schema in the test server: one store's URL."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    pg_admin(f"CREATE SCHEMA {schema}")
    yield with_schema(pg_url(), schema)
    pg_admin(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def location(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """Where a store lives: an SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        return str(tmp_path / "audit.db")
    url: str = request.getfixturevalue("pg_schema")
    return url


@pytest.fixture
def open_store(location: str) -> Iterator[Callable[..., AuditStore]]:
    """Open the store at `location` (each call: another workstation on the same store)."""
    opened: list[AuditStore] = []

    def make(**kw: Any) -> AuditStore:
        kw.setdefault("scrypt_n", SCRYPT_N)
        store = AuditStore(location, **kw)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def tamper(location: str) -> Callable[[str, tuple[object, ...]], None]:
    """Run SQL on the store past its triggers, as someone with the database's keys would."""

    def run(sql: str, params: tuple[object, ...] = ()) -> None:
        if location.startswith("postgresql://"):
            import psycopg

            from driver.audit.postgres import _pg_sql

            with psycopg.connect(location, autocommit=True) as conn:
                conn.execute("SET session_replication_role = replica")  # no triggers
                conn.execute(_pg_sql(sql), params)  # type: ignore[call-overload]
            return
        conn = sqlite3.connect(location, isolation_level=None)
        try:
            names = [
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            ]
            for name in names:
                conn.execute(f"DROP TRIGGER {name}")
            conn.execute(sql, params)
        finally:
            conn.close()

    return run
