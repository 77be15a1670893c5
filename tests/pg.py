"""The PostgreSQL server of a test session (started by tests/conftest.py when a test marked
`postgres` is collected): NEEDLEPEN_TEST_PG when set, else a throwaway cluster."""

from __future__ import annotations

from typing import Any

#: url: the server once started; why: the sentence saying why it could not be
STATE: dict[str, Any] = {"url": None, "why": None}


def pg_url() -> str:
    url = STATE["url"]
    assert url, "the PostgreSQL server was not started (mark the test `postgres`)"
    return str(url)


def pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(pg_url(), autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]
