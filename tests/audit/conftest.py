"""The audit store's contract suite runs on both backends (the python-can pattern).

`location` is parametrised over an SQLite file and a PostgreSQL schema of its own (the
`pg_schema` fixture and the server of tests/conftest.py); `open_store` opens it through the
`make_store` factory of tests/conftest.py.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import pytest

from driver.audit import AuditStore
from tests.conftest import MakeStore


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def location(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """Where a store lives: an SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        return str(tmp_path / "audit.db")
    url: str = request.getfixturevalue("pg_schema")
    return url


@pytest.fixture
def open_store(location: str, make_store: MakeStore) -> Callable[..., AuditStore]:
    """Open the store at `location` (each call: another workstation on the same store)."""

    def make(**kw: Any) -> AuditStore:
        return make_store(location, **kw)

    return make


#: What the database itself raises when its triggers refuse a statement.
def refusals() -> tuple[type[BaseException], ...]:
    import psycopg

    return (sqlite3.DatabaseError, psycopg.Error)


@pytest.fixture
def raw_sql(location: str) -> Callable[[str], None]:
    """Run SQL on the store through a connection of its own, triggers on (what any client
    with the database's address may try); raises what the database raises."""

    def run(sql: str) -> None:
        if location.startswith("postgresql://"):
            import psycopg

            with psycopg.connect(location, autocommit=True) as conn:
                conn.execute(sql.encode())
            return
        conn = sqlite3.connect(location, isolation_level=None)
        try:
            conn.execute(sql)
        finally:
            conn.close()

    return run


@pytest.fixture
def tamper(location: str) -> Callable[[str, tuple[object, ...]], None]:
    """Run SQL on the store past its triggers, as someone with the database's keys would."""

    def run(sql: str, params: tuple[object, ...] = ()) -> None:
        if location.startswith("postgresql://"):
            import psycopg

            with psycopg.connect(location, autocommit=True) as conn:
                conn.execute("SET session_replication_role = replica")  # no triggers
                # the store's `?` placeholders in psycopg's spelling
                pg = sql.replace("%", "%%").replace("?", "%s")
                conn.execute(pg.encode(), params)  # type: ignore[call-overload]
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
