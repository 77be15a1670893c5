"""The audit store on a PostgreSQL server (psycopg 3), for a clinic's several workstations.

Concurrency: one chain per store with a serialised append. Every write transaction starts by
locking the chain's end (`SELECT ... FROM chain_head FOR UPDATE`; a plain append is one
statement that takes the same lock first, `_APPEND_SQL`), so write transactions on
all workstations run one after another, exactly as SQLite's BEGIN IMMEDIATE makes them on one
machine: the facts a rule reads (the 28-day interval, a cartridge seen in another room, an
operator's lock or disabled flag) and the record that acts on them are one atomic step, and
each record's prev_hash is the hash of the record committed just before it, whoever wrote it.
A serialisable transaction would also stop two rooms treating at once, but its failures come
back as retries the caller must run, and the single chain needs its appends in one order
anyway; one row lock gives both, and a clinic's write rate (a few records a second per room)
is far below what one lock serialises (see `make bench`).

Reads of long logs (verify, export, check_trust) use a connection of their own in a
REPEATABLE READ READ ONLY transaction: one consistent snapshot, no locks held.

Connections: the URL as libpq reads it (postgresql://user@host/db?sslmode=...); the password
comes from libpq's usual places (PGPASSFILE or ~/.pgpass, a service file, PGPASSWORD), never
from the URL, which would show in process lists and shell history.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from driver.audit.backend import LOG_COLS, Backend, row_class
from driver.audit.schema import PG_APPLICATION, PG_MIGRATIONS
from driver.audit.values import SCHEMA_VERSION
from driver.errors import StoreError
from driver.text import printable

try:  # psycopg is needed only for a postgresql:// store
    import psycopg
    from psycopg import conninfo as _conninfo
except ImportError:  # pragma: no cover - the error names what to install
    psycopg = None  # type: ignore[assignment]

#: the advisory lock that serialises two `db init` runs on one database
_INIT_LOCK = 0x4E50454E

#: One record appended by one statement, in one round trip. `h` locks the chain's end (the
#: same row lock as every write transaction, so appends from all workstations stay in one
#: order); the record takes the next id, its prev_hash is the locked end's hash, and its hash
#: is `record_hash` (driver/audit/canon.py) computed by the server over exactly the same text:
#: prev_hash, id, ts_us, session id ('' for none), kind and data, joined by newlines, all
#: ASCII. The chain's end then moves to the new record. The store checks every returned hash
#: against `record_hash` (and tests check the two agree on any record), so the chain has one
#: definition. Parameters: ts_us, session_id, kind, data.
_APPEND_SQL = """WITH p AS (SELECT ?::bigint AS ts_us, ?::bigint AS sid, ?::text AS kind,
        ?::text AS data),
    h AS (SELECT last_id + 1 AS id, hash AS prev FROM chain_head WHERE id = 1 FOR UPDATE),
    r AS (INSERT INTO log (id, ts_us, session_id, kind, data, prev_hash, hash)
        SELECT h.id, p.ts_us, p.sid, p.kind, p.data, h.prev,
            encode(sha256(convert_to(concat_ws(chr(10), h.prev, h.id::text, p.ts_us::text,
                coalesce(p.sid::text, ''), p.kind, p.data), 'UTF8')), 'hex')
        FROM p, h
        RETURNING id, prev_hash, hash)
UPDATE chain_head SET last_id = r.id, hash = r.hash FROM r WHERE chain_head.id = 1
RETURNING r.id, r.prev_hash, r.hash"""


class StoreUnreachable(StoreError):
    """The database server cannot be reached (a refusal of everything risk-raising)."""


def _row_factory(cursor: Any) -> Any:
    return row_class(tuple(d.name for d in cursor.description or ()))


_SQL_CACHE: dict[str, str] = {}


def _pg_sql(sql: str) -> str:
    """The store's SQL (`?` placeholders) in psycopg's spelling (`%s`, `%%`)."""
    out = _SQL_CACHE.get(sql)
    if out is None:
        out = sql.replace("%", "%%").replace("?", "%s")
        _SQL_CACHE[sql] = out
    return out


class _PgConn:
    """A psycopg connection that speaks the store's SQL."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def execute(self, sql: str, params: tuple[object, ...] = ()) -> Any:
        if params:
            return self.raw.execute(_pg_sql(sql), params)
        return self.raw.execute(sql.replace("%", "%%") if "%" in sql else sql, ())


def redacted(url: str) -> str:
    """The URL as sentences show it: without a password."""
    if psycopg is None:
        return url
    try:
        params = _conninfo.conninfo_to_dict(url)
    except psycopg.Error:
        return url.split("@")[-1]
    host = params.get("host") or "localhost"
    port = params.get("port")
    user = params.get("user")
    db = params.get("dbname") or ""
    who = f"{user}@" if user else ""
    if str(host).startswith("/"):  # a unix socket directory
        return f"postgresql://{who}/{db}?host={host}" + (f"&port={port}" if port else "")
    return f"postgresql://{who}{host}{':' + str(port) if port else ''}/{db}"


class PostgresBackend(Backend):
    """A needlepen audit store in one PostgreSQL database (its current schema)."""

    kind = "postgresql"
    memory = False

    def __init__(self, url: str, *, create: bool, read_only: bool, connect_timeout: int = 5):
        if psycopg is None:
            raise StoreError(
                "A postgresql:// audit store needs the psycopg package (pip install psycopg) "
                "and libpq (Debian: apt-get install libpq5)."
            )
        self.errors = (psycopg.Error,)
        try:
            params = _conninfo.conninfo_to_dict(url)
        except psycopg.Error as exc:
            raise StoreError(f"The database URL is not valid ({exc}).") from exc
        self.location = redacted(url)
        self.where = printable(self.location)
        if params.get("password"):
            raise StoreError(
                "Do not put the password in the database URL (it would show in process lists "
                "and shell history); use ~/.pgpass, PGPASSFILE, a service file or PGPASSWORD."
            )
        params.setdefault("connect_timeout", str(connect_timeout))
        params.setdefault("application_name", "needlepen")
        self._conninfo = _conninfo.make_conninfo("", **params)
        self.read_only = bool(read_only)
        self._lock = threading.Lock()
        self._raw: Any = None
        self._tail: tuple[int, str] | None = None
        self._conn = self._connect()
        try:
            self.version = self._setup(create)
        except BaseException:
            self.close()
            raise
        self.journal_mode = "postgresql"

    # --- connections --------------------------------------------------------------------

    def _connect(self) -> _PgConn:
        try:
            raw = psycopg.connect(self._conninfo, autocommit=True, row_factory=_row_factory)
        except psycopg.OperationalError as exc:
            reason = " ".join(str(exc).split())
            raise StoreUnreachable(
                f"The audit store {self.where} cannot be reached ({reason})."
            ) from exc
        self._raw = raw
        return _PgConn(raw)

    def connection(self) -> _PgConn:
        if self._raw is None or self._raw.closed or self._raw.broken:
            with suppress(Exception):
                if self._raw is not None:
                    self._raw.close()
            self._conn = self._connect()
        return self._conn

    def unreachable(self, exc: BaseException) -> bool:
        return isinstance(exc, psycopg.OperationalError) or bool(
            self._raw is not None and (self._raw.closed or self._raw.broken)
        )

    # --- schema -------------------------------------------------------------------------

    def _setup(self, create: bool) -> int:
        conn = self._conn
        version = self._schema_version(conn)
        if version is not None and version >= SCHEMA_VERSION:
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"The audit store {self.where} has schema version {version}, newer than "
                    f"this needlepen understands ({SCHEMA_VERSION}); use a newer needlepen."
                )
            return version
        if not create or self.read_only:
            raise StoreError(
                f"{self.where} holds no needlepen audit store yet; run 'needlepen db init'."
            )
        return self.init_schema()

    def _schema_version(self, conn: _PgConn) -> int | None:
        """The needlepen schema version, None for an empty schema; refuses anything else."""
        try:
            found = conn.execute("SELECT to_regclass('needlepen_schema') AS t").fetchone()
            if found["t"] is None:
                others = conn.execute(
                    "SELECT count(*) AS n FROM pg_catalog.pg_class c JOIN "
                    "pg_catalog.pg_namespace s ON s.oid = c.relnamespace "
                    "WHERE s.nspname = current_schema() AND c.relkind IN ('r', 'v', 'p')"
                ).fetchone()
                if others["n"]:
                    raise StoreError(
                        f"The database {self.where} holds tables of another application, not "
                        "a needlepen audit store; use an empty database."
                    )
                return None
            row = conn.execute(
                "SELECT application, version FROM needlepen_schema WHERE id = 1"
            ).fetchone()
        except psycopg.Error as exc:
            raise StoreError(f"The audit store {self.where} could not be read ({exc}).") from exc
        if row is None or row["application"] != PG_APPLICATION:
            raise StoreError(
                f"The database {self.where} holds tables of another application, not a "
                "needlepen audit store."
            )
        return int(row["version"])

    def init_schema(self) -> int:
        """Create (or bring up to date) the schema; idempotent; two at once wait in turn."""
        conn = self.connection()
        try:
            conn.execute("BEGIN")
            conn.execute("SELECT pg_advisory_xact_lock(?)", (_INIT_LOCK,))
            version = self._schema_version(conn) or 0
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"The audit store {self.where} has schema version {version}, newer than "
                    f"this needlepen understands ({SCHEMA_VERSION}); use a newer needlepen."
                )
            if version == 0:  # the first step creates the current schema
                for statement in PG_MIGRATIONS[0]:
                    conn.execute(statement)
            conn.execute("COMMIT")
        except psycopg.Error as exc:
            self.rollback()
            raise StoreError(
                f"The schema could not be created in {self.where} ({' '.join(str(exc).split())})."
            ) from exc
        except BaseException:
            self.rollback()
            raise
        return SCHEMA_VERSION

    def header_version(self) -> int:
        version = self._schema_version(self.connection())
        return 0 if version is None else version

    # --- transactions -------------------------------------------------------------------

    def begin_write(self) -> _PgConn:
        conn = self.connection()
        try:
            # the store's write lock: every workstation's writes queue here, in one order
            # (one round trip: BEGIN and the lock go as one simple query)
            cur = conn.raw.execute(
                "BEGIN; SELECT last_id, hash FROM chain_head WHERE id = 1 FOR UPDATE"
            )
            cur.nextset()
            row = cur.fetchone()
            self._tail = (int(row[0]), str(row[1])) if row is not None else None
        except psycopg.Error as exc:
            self.rollback()
            if self.unreachable(exc):
                reason = " ".join(str(exc).split())
                raise StoreUnreachable(
                    f"The audit store {self.where} cannot be reached ({reason})."
                ) from exc
            raise StoreError(f"The audit store {self.where} is not writable ({exc}).") from exc
        return conn

    def commit(self) -> None:
        self._conn.execute("COMMIT")

    def rollback(self) -> None:
        with suppress(Exception):
            if self._raw is not None and not self._raw.closed:
                self._raw.execute("ROLLBACK")

    @contextmanager
    def snapshot(self) -> Iterator[_PgConn]:
        try:
            raw = psycopg.connect(self._conninfo, autocommit=True, row_factory=_row_factory)
        except psycopg.OperationalError as exc:
            reason = " ".join(str(exc).split())
            raise StoreUnreachable(
                f"The audit store {self.where} cannot be reached ({reason})."
            ) from exc
        try:
            conn = _PgConn(raw)
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield conn
        finally:
            with suppress(Exception):
                raw.close()

    def highest_id(self, conn: Any) -> int:
        row = conn.execute("SELECT last_id FROM chain_head WHERE id = 1").fetchone()
        return int(row[0]) if row is not None else 0

    def after_append(self, conn: Any, record_id: int, digest: str) -> None:
        conn.execute(
            "UPDATE chain_head SET last_id = ?, hash = ? WHERE id = 1", (record_id, digest)
        )

    def after_import(self, conn: Any) -> None:
        for table in ("sessions", "treatments"):
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"GREATEST((SELECT MAX(id) FROM {table}), 1))"
            )

    def chain_tail(self, conn: Any) -> tuple[int, int, str]:
        """The chain's end as the lock read it (chain_head is the highest id ever used)."""
        if self._tail is None:
            raise StoreError(f"The audit store {self.where} has no chain_head row.")
        return self._tail[0], self._tail[0], self._tail[1]

    def insert_record(self, conn: Any, values: tuple[object, ...]) -> None:
        conn.execute(
            f"WITH r AS (INSERT INTO log ({LOG_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "RETURNING id, hash) UPDATE chain_head SET last_id = r.id, hash = r.hash "
            "FROM r WHERE chain_head.id = 1",
            values,
        )
        self._tail = (int(values[0]), str(values[6]))  # type: ignore[call-overload]

    def append_chained(
        self, records: Sequence[tuple[int, int | None, str, str]]
    ) -> list[tuple[int, str, str]] | None:
        """Append records (ts_us, session_id, kind, data text) in one transaction, chained
        by the server (`_APPEND_SQL`): one statement, one round trip and one commit for one
        record; several go in one pipeline (BEGIN, a statement each, COMMIT: one round trip,
        one commit). Returns (id, prev_hash, hash) of each; None when a record names a
        session the store does not hold (nothing is written; the general path says which)."""
        conn = self.connection()
        raw = conn.raw
        try:
            if len(records) == 1:
                rows = [conn.execute(_APPEND_SQL, records[0]).fetchone()]
            else:
                with raw.pipeline():
                    raw.execute("BEGIN")
                    cursors = [conn.execute(_APPEND_SQL, values) for values in records]
                    raw.execute("COMMIT")
                rows = [cursor.fetchone() for cursor in cursors]
        except psycopg.errors.ForeignKeyViolation:
            self.rollback()
            return None
        except psycopg.Error:
            self.rollback()
            raise
        if any(row is None for row in rows):  # no chain_head row: the general path says so
            return None
        return [(int(row[0]), str(row[1]), str(row[2])) for row in rows]

    def json_text(self, key: str) -> str:
        return f"(data::jsonb ->> '{key}')"

    def close(self) -> None:
        with suppress(Exception):
            if self._raw is not None:
                self._raw.close()
