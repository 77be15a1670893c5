"""The store contract's seam to a database: SQLite here, PostgreSQL in `postgres.py`.

A backend opens the database (creating or migrating its schema), runs one durable write
transaction at a time, gives consistent read-only snapshots for long reads, and knows the
few things the two databases spell differently (the highest log id ever used, a JSON field).
Everything else, the rules, the chain, verify and export, is the same code over both
(`driver.audit.store`), so one contract test suite runs against each.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, ClassVar, Protocol

from driver.audit.clients import _client_key
from driver.audit.schema import _MIGRATIONS
from driver.audit.values import APPLICATION_ID, GENESIS_HASH, SCHEMA_VERSION
from driver.errors import StoreError
from driver.text import printable

#: the columns of a record, in the order of the hash
LOG_COLS = "id, ts_us, session_id, kind, data, prev_hash, hash"

#: a database row: read by column name (row["disabled"]), unpacked, or indexed
Row = Any


class ExactRow(tuple[Any, ...]):
    """A row read by column name or position, the same on both backends: names are matched
    exactly (sqlite3.Row matches them whatever their case, psycopg's names are exact), so a
    name spelt wrong fails on SQLite as it would on PostgreSQL."""

    __slots__ = ()
    _index: ClassVar[dict[str, int]] = {}

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


_ROW_CLASSES: dict[tuple[str, ...], type[ExactRow]] = {}


def row_class(names: tuple[str, ...]) -> type[ExactRow]:
    """The Row class of a result with these column names (made once per set of names)."""
    cls = _ROW_CLASSES.get(names)
    if cls is None:
        index = {n: i for i, n in enumerate(names)}
        cls = type("Row", (ExactRow,), {"__slots__": (), "_index": index})
        _ROW_CLASSES[names] = cls
    return cls


#: The last result's description and its Row class (a statement's rows share one
#: description object; one tuple, so threads swap it whole).
_last_row_class: tuple[object, type[ExactRow]] = ((), ExactRow)


def _sqlite_row(cursor: sqlite3.Cursor, values: tuple[Any, ...]) -> ExactRow:
    global _last_row_class
    description = cursor.description
    seen, cls = _last_row_class
    if seen is not description:
        cls = row_class(tuple(d[0] for d in description))
        _last_row_class = (description, cls)
    return cls(values)


class Conn(Protocol):
    """What the store needs of a connection: `?` placeholders, rows by name."""

    def execute(self, sql: str, params: tuple[object, ...] = ..., /) -> Any: ...


class Backend:
    """The contract every backend fulfils (see the module docstring)."""

    #: the database as sentences show it (no password, control characters escaped)
    where: str
    #: what the store's `path` attribute shows (a file path or a URL without its password)
    location: str
    kind: str
    read_only: bool
    version: int
    journal_mode: str
    #: the exceptions of the database driver (turned into StoreError by the store)
    errors: tuple[type[BaseException], ...]

    def connection(self) -> Conn:
        raise NotImplementedError

    def begin_write(self) -> Conn:
        """Start one write transaction that holds the store's write lock; its connection."""
        raise NotImplementedError

    def commit(self) -> None:
        raise NotImplementedError

    def rollback(self) -> None:
        raise NotImplementedError

    @contextmanager
    def snapshot(self) -> Iterator[Conn]:
        raise NotImplementedError
        yield  # pragma: no cover

    def header_version(self) -> int:
        raise NotImplementedError

    def highest_id(self, conn: Conn) -> int:
        """The highest log id ever used (a cut-off tail leaves a gap below it)."""
        raise NotImplementedError

    def after_append(self, conn: Conn, record_id: int, digest: str) -> None:
        """Note the chain's new end (inside the write transaction)."""

    def chain_tail(self, conn: Conn) -> tuple[int, int, str]:
        """(highest id ever used, id and hash of the last record) inside a write transaction."""
        seq = self.highest_id(conn)
        last = conn.execute("SELECT id, hash FROM log ORDER BY id DESC LIMIT 1").fetchone()
        if last is None:
            return seq, 0, GENESIS_HASH
        return seq, int(last["id"]), str(last["hash"])

    def insert_record(self, conn: Conn, values: tuple[object, ...]) -> None:
        """Insert one record (LOG_COLS order) and note the chain's new end."""
        conn.execute(f"INSERT INTO log ({LOG_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)", values)
        self.after_append(conn, int(values[0]), str(values[6]))  # type: ignore[call-overload]

    def append_chained(
        self, records: Sequence[tuple[int, int | None, str, str]]
    ) -> list[tuple[int, str, str]] | None:
        """Append records (ts_us, session_id, kind, data text) in one durable transaction of
        their own, chained by the database, faster than the general path; (id, prev_hash,
        hash) of each. None: not done, nothing written (no such way here, or a record names
        a session the store does not hold): the caller takes the general path."""
        return None

    def after_import(self, conn: Conn) -> None:
        """Move id generators past rows inserted with their ids (an import)."""

    def json_text(self, key: str) -> str:
        """SQL for the text of one top-level field of a record's `data`."""
        raise NotImplementedError

    def unreachable(self, exc: BaseException) -> bool:
        """Whether this error means the database cannot be reached (not a refusal)."""
        return False

    def close(self) -> None:
        raise NotImplementedError


def is_url(location: object) -> bool:
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


class SQLiteBackend(Backend):
    """One SQLite file (or ":memory:"): WAL journal, synchronous=FULL, BEGIN IMMEDIATE."""

    kind = "sqlite"
    errors = (sqlite3.Error,)

    def __init__(self, path: str, *, create: bool, read_only: bool) -> None:
        self.path = self.location = path
        self.where = printable(path)
        if not path:
            raise StoreError("The audit store needs a file name.")
        self.memory = path == ":memory:"
        if not create and not self.memory and not os.path.exists(path):
            raise StoreError(f"There is no audit store at {self.where}.")
        if not self.memory and os.path.isdir(path):
            raise StoreError(f"{self.where} is a directory, not an audit store file.")
        self.read_only = bool(read_only)
        if self.read_only and (self.memory or not os.path.exists(path)):
            raise StoreError(f"There is no audit store at {self.where} to open read-only.")
        self._ro_uri = Path(path).absolute().as_uri() + "?mode=ro"
        try:
            if self.read_only:
                self.conn = self._connect_read_only()
            else:
                self.conn = sqlite3.connect(
                    path, timeout=10.0, isolation_level=None, check_same_thread=False
                )
        except sqlite3.Error as exc:
            raise StoreError(f"The audit store {self.where} could not be opened ({exc}).") from exc
        self._prepare(self.conn)
        try:
            self.journal_mode = self._setup_read_only() if self.read_only else self._setup()
        except StoreError:
            self.conn.close()
            raise
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            if "not a database" in str(exc) or "malformed" in str(exc):
                raise StoreError(
                    f"{self.where} is not a needlepen audit store (not an SQLite database)."
                ) from exc
            raise StoreError(f"The audit store {self.where} could not be opened ({exc}).") from exc

    @staticmethod
    def _prepare(conn: sqlite3.Connection) -> None:
        conn.row_factory = _sqlite_row
        conn.create_function("np_client_key", 1, _client_key, deterministic=True)

    def _connect_read_only(self) -> sqlite3.Connection:
        """A read-only connection; on read-only media (no -shm can be made) the file is read
        as immutable, which is what a copy for an auditor is."""
        conn = sqlite3.connect(
            self._ro_uri, uri=True, timeout=10.0, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError:
            conn.close()
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(
                f"{self.where} is not a needlepen audit store (not an SQLite database)."
            ) from exc
        self._ro_uri = Path(self.path).absolute().as_uri() + "?mode=ro&immutable=1"
        return sqlite3.connect(
            self._ro_uri, uri=True, timeout=10.0, isolation_level=None, check_same_thread=False
        )

    def _setup_read_only(self) -> str:
        version, app_id = self._header()
        self._check_identity(version, app_id)
        if version == 0:
            raise StoreError(f"{self.where} holds no needlepen audit store yet.")
        self.version = version
        return str(self.conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()

    def _setup(self) -> str:
        conn = self.conn
        conn.execute("PRAGMA foreign_keys = ON")
        self._check_identity(*self._header())
        mode = str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            version, app_id = self._header()
            self._check_identity(version, app_id)
            for step in range(version, SCHEMA_VERSION):
                for statement in _MIGRATIONS[step]:
                    conn.execute(statement)
            if version < SCHEMA_VERSION:
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self.version = SCHEMA_VERSION
        return mode

    def _header(self) -> tuple[int, int]:
        version = int(self.conn.execute("PRAGMA user_version").fetchone()[0])
        app_id = int(self.conn.execute("PRAGMA application_id").fetchone()[0])
        return version, app_id

    def header_version(self) -> int:
        return self._header()[0]

    def _check_identity(self, version: int, app_id: int) -> None:
        if version == 0 and app_id == 0:
            names = {
                str(r[0])
                for r in self.conn.execute(
                    "SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
                )
            }
            if names:
                raise StoreError(
                    f"{self.where} is an SQLite database of another application, not a "
                    "needlepen audit store."
                )
            return
        if app_id != APPLICATION_ID:
            raise StoreError(
                f"{self.where} is an SQLite database of another application, not a needlepen "
                "audit store."
            )
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"The audit store {self.where} has schema version {version}, newer than this "
                f"needlepen understands ({SCHEMA_VERSION}); use a newer needlepen."
            )

    def connection(self) -> sqlite3.Connection:
        return self.conn

    def begin_write(self) -> sqlite3.Connection:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"The audit store {self.where} is not writable ({exc}).") from exc
        return self.conn

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        with suppress(sqlite3.Error):
            self.conn.execute("ROLLBACK")

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A connection of its own in one read transaction (WAL: the writer goes on)."""
        try:
            conn = sqlite3.connect(self._ro_uri, uri=True, timeout=10.0, isolation_level=None)
            self._prepare(conn)
            conn.execute("BEGIN")
        except sqlite3.Error as exc:
            raise StoreError(f"The audit store {self.where} could not be read ({exc}).") from exc
        try:
            yield conn
        finally:
            conn.close()

    def highest_id(self, conn: Conn) -> int:
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'log'").fetchone()
        return int(row[0]) if row is not None else 0

    def json_text(self, key: str) -> str:
        return f"json_extract(data, '$.{key}')"

    def close(self) -> None:
        self.conn.close()
