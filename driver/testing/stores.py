"""Audit stores for tests: one factory, on SQLite or PostgreSQL, closing what it opened.

    make = StoreMaker(tmp_dir)                    # pg_url=... for the PostgreSQL backend
    store = make(staff=STAFF)                     # a new SQLite file with three operators
    again = make(store.path)                      # another workstation on the same store
    pg = make(backend="postgresql")               # a fresh schema of the test server
    make.close_all()                              # every store it opened, schemas dropped

Options (`create`, `read_only`, `scrypt_n`) go to `AuditStore`; `scrypt_n` defaults to a cheap
test cost (tests are about records, not about PIN hashing; every hash keeps its own cost).
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from driver.audit import AuditStore

__all__ = ["STAFF", "TEST_SCRYPT_N", "Backend", "Staff", "StoreMaker"]

#: The scrypt cost of test PINs (the default is meant to be slow).
TEST_SCRYPT_N = 16
#: (id, name, role, PIN) of an operator to register.
Staff = tuple[str, str, str, str | None]
#: One operator of each professional role; the first administers the store.
STAFF: tuple[Staff, ...] = (
    ("c1", "Dr Clin", "clinician", "1234"),
    ("a1", "Ann Aesth", "aesthetician", "5678"),
    ("e1", "Eve Eng", "engineer", "9999"),
)
Backend = Literal["sqlite", "postgresql"]


class StoreMaker:
    """Makes `AuditStore`s under `directory` (or in schemas of the server at `pg_url()`)."""

    def __init__(self, directory: str | os.PathLike[str], pg_url: Callable[[], str] | None = None):
        self.directory = Path(directory)
        self._pg_url = pg_url
        self._opened: list[AuditStore] = []
        self._schemas: list[str] = []
        self._names = itertools.count()

    def __call__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        backend: Backend = "sqlite",
        staff: Iterable[Staff] = (),
        now: float | None = None,
        **opts: Any,
    ) -> AuditStore:
        """Open the store at `path` (a file, ":memory:" or a postgresql:// URL), by default a
        new one of `backend`; register `staff` (the first administers, at `now`)."""
        where = str(path) if path is not None else self.new_location(backend)
        opts.setdefault("scrypt_n", TEST_SCRYPT_N)
        store = AuditStore(where, **opts)
        self._opened.append(store)
        self.add_staff(store, list(staff), now=now)
        return store

    @staticmethod
    def add_staff(store: AuditStore, staff: Sequence[Staff], now: float | None = None) -> None:
        """Register `staff` on `store`, the first one administering the others."""
        admin: tuple[str, str | None] | None = None
        for op_id, name, role, pin in staff:
            store.add_operator(op_id, name, role, pin, now=now, by=admin)
            admin = admin or (op_id, pin)

    def new_location(self, backend: Backend) -> str:
        """Where a new store of `backend` goes: a new file, or a new schema's URL."""
        if backend == "sqlite":
            return str(self.directory / f"audit-{next(self._names)}.db")
        if self._pg_url is None:
            raise ValueError("this StoreMaker has no PostgreSQL server (pass pg_url).")
        from driver.audit.pgserver import with_schema

        schema = f"t_{uuid.uuid4().hex[:12]}"
        self._admin(f"CREATE SCHEMA {schema}")
        self._schemas.append(schema)
        return with_schema(self._pg_url(), schema)

    def _admin(self, sql: str) -> None:
        import psycopg

        assert self._pg_url is not None
        with psycopg.connect(self._pg_url(), autocommit=True) as conn:
            conn.execute(sql.encode())

    def close_all(self) -> None:
        """Close every store this maker opened (twice is harmless) and drop its schemas."""
        for store in self._opened:
            store.close()
        self._opened.clear()
        for schema in self._schemas:
            self._admin(f"DROP SCHEMA {schema} CASCADE")
        self._schemas.clear()
