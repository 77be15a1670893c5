"""The store's core over either backend: opening, transactions, and the hash chain itself."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from driver.audit.backend import LOG_COLS, Backend, Conn, Row, SQLiteBackend, is_url
from driver.audit.canon import _quoted, _ts_us, canonical_json, record_hash
from driver.audit.values import (
    _KIND_RE,
    GENESIS_HASH,
    SCRYPT_N,
    STORE_KINDS,
    Record,
    VerifyResult,
)
from driver.errors import StoreError, StoreUntrusted

#: the environment variable naming the audit store when no --db or db= is given
DB_ENV = "NEEDLEPEN_DB"

_LOG_COLS = LOG_COLS


def _is_id(value: object) -> bool:
    """A session number as the database holds it (a bool or a float is not one)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def open_backend(
    location: str | os.PathLike[str] | None, *, create: bool, read_only: bool
) -> Backend:
    """The backend for a path, a postgresql:// URL, or (None) NEEDLEPEN_DB or the default."""
    if location is None:
        location = os.environ.get(DB_ENV) or None
    if location is None:
        from driver.paths import default_db_path

        location = default_db_path()
    text = os.fspath(location)
    if is_url(text):
        from driver.audit.postgres import PostgresBackend

        return PostgresBackend(text, create=create, read_only=read_only)
    return SQLiteBackend(text, create=create, read_only=read_only)


class StoreBase:
    """Opening and closing, one durable write transaction at a time, snapshots, the chain."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        create: bool = True,
        scrypt_n: int = SCRYPT_N,
        read_only: bool = False,
    ) -> None:
        """Open (and create or migrate) the store.

        path: the file, or a postgresql:// URL; None for NEEDLEPEN_DB or else the default
        file in the user data directory; ":memory:" for tests.
        create: False refuses a location where no store exists yet (the read-only commands).
        scrypt_n: the scrypt cost for PINs set from now on (tests lower it to run fast; every
        hash keeps the parameters it was made with).
        read_only: open without writing anything (no migration, no journal change), so a
        read-only copy of a store can be verified, shown and exported; every write refuses.
        """
        if scrypt_n < 2 or scrypt_n & (scrypt_n - 1):
            raise StoreError("The scrypt cost must be a power of two.")
        self._scrypt_n = scrypt_n
        self._lock = threading.RLock()
        self._closed = False
        #: set when the database chained a record differently from `record_hash`: that
        #: record is committed, so nothing more is written (a retry would only add copies)
        self._chain_broken: VerifyResult | None = None
        self._backend = open_backend(path, create=create, read_only=read_only)
        self.path: str = self._backend.location
        self.read_only = self._backend.read_only
        self.journal_mode = self._backend.journal_mode
        self._errors: tuple[type[BaseException], ...] = self._backend.errors

    @property
    def backend(self) -> str:
        """ "sqlite" or "postgresql"."""
        return self._backend.kind

    @property
    def _conn(self) -> Any:
        return self._backend.connection()

    @property
    def _where(self) -> str:
        return self._backend.where

    @property
    def _version(self) -> int:
        return self._backend.version

    @property
    def schema_version(self) -> int:
        with self._lock:
            self._check_open()
            return self._backend.header_version()

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._backend.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("The audit store is closed.")

    def _refuse_read_only(self) -> None:
        if self._chain_broken is not None:
            raise StoreUntrusted(str(self._chain_broken.problem), self._chain_broken)
        if self.read_only:
            raise StoreError(
                f"The audit store {self._where} was opened read-only; nothing can be written."
            )

    def _failed(self, exc: BaseException, doing: str) -> StoreError:
        """The StoreError for a database error (unreachable: the backend's own kind)."""
        if self._backend.unreachable(exc):
            from driver.audit.postgres import StoreUnreachable

            reason = " ".join(str(exc).split())
            return StoreUnreachable(f"The audit store {self._where} cannot be reached ({reason}).")
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return StoreError(f"The audit store could not be {doing} ({first}).")

    @contextmanager
    def _write(self) -> Iterator[Conn]:
        """One durable transaction holding the store's write lock (other writers wait)."""
        with self._lock:
            self._check_open()
            self._refuse_read_only()
            conn = self._backend.begin_write()
            try:
                yield conn
                self._backend.commit()
            except self._errors as exc:
                self._backend.rollback()
                raise self._failed(exc, "written") from exc
            except BaseException:
                self._backend.rollback()
                raise

    @contextmanager
    def _snapshot(self) -> Iterator[Conn]:
        """A consistent read-only view for long reads (verify, export).

        It uses a connection of its own, so a verify of a long log never holds up the Pen's
        appends. SQLite's ":memory:" has only the one connection, used under the lock.
        """
        if getattr(self._backend, "memory", False):
            with self._lock:
                self._check_open()
                yield self._conn
            return
        self._check_open()
        with self._backend.snapshot() as conn:
            yield conn

    def _read(self, sql: str, params: tuple[object, ...] = ()) -> list[Row]:
        with self._lock:
            self._check_open()
            try:
                return list(self._conn.execute(sql, params))
            except self._errors as exc:
                raise self._failed(exc, "read") from exc

    def check_trust(self) -> VerifyResult:
        """Verify the records since the last verified point, or raise (driver.audit.verify)."""
        raise NotImplementedError

    # --- the chain ---------------------------------------------------------------------------

    def _append(
        self,
        conn: Conn,
        kind: str,
        data_text: str,
        session_id: int | None,
        ts_us: int,
    ) -> Record:
        """Append one record inside the caller's transaction."""
        seq, last_id, prev_hash = self._backend.chain_tail(conn)
        # the next id follows the highest ever used, so a cut-off tail leaves a visible gap
        new_id = max(seq, last_id) + 1
        digest = record_hash(prev_hash, new_id, ts_us, session_id, kind, data_text)
        self._backend.insert_record(
            conn, (new_id, ts_us, session_id, kind, data_text, prev_hash, digest)
        )
        return Record(
            new_id, ts_us / 1e6, session_id, kind, json.loads(data_text), prev_hash, digest
        )

    def append(
        self,
        kind: str,
        data: Mapping[str, object],
        session_id: int | None = None,
        now: float | None = None,
        *,
        before: Sequence[tuple[str, Mapping[str, object], int | None]] = (),
    ) -> Record:
        """Append one event and commit it durably before returning; its record.

        before: events (kind, data, session id) to append first, in order, in the same
        transaction: one commit for all, and either all are written or none. The Pen's
        group commit: the records its audit writer still holds go in with the decision that
        must be durable before its command is sent, so the chain keeps the order of events
        and the command waits for one commit, not two."""
        items = [*before, (kind, data, session_id)]
        prepared = [(self._event_kind(k), canonical_json(d), sid) for k, d, sid in items]
        ts_us = _ts_us(now)
        with self._lock:
            self._check_open()
            self._refuse_read_only()
            if all(sid is None or _is_id(sid) for _, _, sid in prepared):
                chained = self._append_chained(prepared, ts_us)
                if chained is not None:
                    return chained[-1]
            with self._write() as conn:
                for kind, text, sid in prepared:
                    if sid is not None:
                        self._session_row(conn, sid)
                    record = self._append(conn, kind, text, sid, ts_us)
                return record

    def _event_kind(self, kind: object) -> str:
        if not isinstance(kind, str) or not _KIND_RE.fullmatch(kind):
            raise StoreError(
                f"{_quoted(kind)} is not a record kind: a short word of letters, digits and _."
            )
        if kind in STORE_KINDS:
            raise StoreError(
                f"Records of kind '{kind}' are written by the audit store itself; "
                "use its own method."
            )
        return kind

    def _append_chained(
        self, prepared: list[tuple[str, str, int | None]], ts_us: int
    ) -> list[Record] | None:
        """The backend's own one-transaction append (PostgreSQL: chained by the server in
        one round trip), or None for the general path. Every hash the database computed is
        checked against `record_hash`: the chain has one definition."""
        try:
            done = self._backend.append_chained(
                [(ts_us, sid, kind, text) for kind, text, sid in prepared]
            )
        except self._errors as exc:
            raise self._failed(exc, "written") from exc
        if done is None:
            return None
        out: list[Record] = []
        for (kind, text, sid), (rid, prev_hash, digest) in zip(prepared, done, strict=True):
            linked = not out or (prev_hash == out[-1].hash and rid == out[-1].id + 1)
            if not linked or digest != record_hash(prev_hash, rid, ts_us, sid, kind, text):
                sentence = (
                    f"The database chained record {rid} differently from needlepen's own rule, "
                    "so nothing more is written; run 'needlepen log verify' and report this."
                )
                self._chain_broken = VerifyResult(False, 0, rid, sentence)
                raise StoreUntrusted(sentence, self._chain_broken)
            out.append(Record(rid, ts_us / 1e6, sid, kind, json.loads(text), prev_hash, digest))
        return out

    def _record(self, row: Row) -> Record:
        rid, ts_us, sid, kind, text, prev_hash, digest = row
        try:
            data = json.loads(text)
        except (TypeError, ValueError):
            data = None
        if not isinstance(data, dict):
            data = {"_unreadable": str(text)}
        return Record(int(rid), int(ts_us) / 1e6, sid, str(kind), data, str(prev_hash), str(digest))

    def records(self, session_id: int | None = None) -> list[Record]:
        """Every record in order, or those of one session."""
        sql = f"SELECT {_LOG_COLS} FROM log"
        if session_id is None:
            rows = self._read(sql + " ORDER BY id")
        else:
            self._require_session(session_id)
            rows = self._read(sql + " WHERE session_id = ? ORDER BY id", (session_id,))
        return [self._record(row) for row in rows]

    def head(self) -> str:
        """The hash of the last record (the genesis value for an empty log)."""
        rows = self._read("SELECT hash FROM log ORDER BY id DESC LIMIT 1")
        return str(rows[0]["hash"]) if rows else GENESIS_HASH

    # --- sessions (every part of the store checks them) --------------------------------------

    def _session_row(self, conn: Conn, session_id: object) -> Row:
        if not isinstance(session_id, int) or isinstance(session_id, bool):
            raise StoreError(f"{_quoted(session_id)} is not a session number.")
        row = conn.execute(
            "SELECT id, ended_us FROM sessions WHERE id = ?", (session_id,)
        ).fetchone()
        if row is None:
            raise StoreError(f"There is no session {session_id} in the audit store.")
        return row

    def _require_session(self, session_id: object) -> None:
        with self._lock:
            self._check_open()
            self._session_row(self._conn, session_id)

    def _open_session(self, conn: Conn, session_id: object) -> None:
        row = self._session_row(conn, session_id)
        if row["ended_us"] is not None:
            raise StoreError(f"Session {session_id} has ended; start a new one.")
