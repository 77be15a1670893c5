"""The audit store: operators, clients, sessions, cartridges and a hash-chained event log.

One SQLite file (stdlib `sqlite3`), WAL journal with synchronous=FULL, so every append is on
disk before `append()` returns: the Pen commits each decision before its command goes on the
wire, and a crash loses nothing that was sent.

The event log is append-only (SQLite triggers refuse UPDATE and DELETE) and hash-chained: each
record carries the SHA-256 of the one before it, so `verify()` finds a record that was edited,
deleted, reordered or re-hashed in the file even after someone dropped the triggers. The other
tables are kept honest the cheap way: every change to them is also a record in the chain, and
`verify()` replays those records and checks the tables against them. docs/AUDIT.md describes the
schema, the chain and the export formats for auditors.

Clients are a pseudonymous reference only (a chart number, never a name): the store keeps the
reference and nothing else about the person.
"""

from __future__ import annotations

import csv
import datetime as _dt
import decimal
import enum
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO

from driver.errors import (
    CannotContinue,
    NotAdministrator,
    OperatorDisabled,
    OperatorLocked,
    StoreError,
    StoreUntrusted,
    UnknownOperator,
    WrongPin,
)
from driver.text import printable

# --- constants an auditor needs (docs/AUDIT.md) ------------------------------------------------

SCHEMA_VERSION = 2
#: PRAGMA application_id of a needlepen audit store: "NPEN" in ASCII.
APPLICATION_ID = 0x4E50454E
#: prev_hash of the first record.
GENESIS_HASH = hashlib.sha256(b"needlepen audit log v1").hexdigest()

ROLES: tuple[str, ...] = ("home", "aesthetician", "clinician", "engineer")
PROFESSIONAL_ROLES = frozenset({"aesthetician", "clinician", "engineer"})
#: Professional roles that treat people: their sessions must name the client.
TREATING_ROLES = frozenset({"aesthetician", "clinician"})
DEVICE_CLASSES = frozenset({"home", "professional"})

MAX_FAILED_PINS = 5
#: What a wrong PIN and an unknown operator ID both say (which IDs exist is not told).
BAD_LOGIN = "Wrong PIN or unknown operator ID; check both and try again."
LOCKOUT_SECONDS = 15 * 60

#: scrypt cost (n = 2**14, r = 8, p = 1: about 16 MiB and 50 ms per check on a laptop core).
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
_SCRYPT_DKLEN = 32
_SALT_BYTES = 16

#: Kinds the store writes itself; append() refuses them so the tables can be replayed from the
#: chain without ambiguity.
STORE_KINDS = frozenset(
    {
        "operator_added",
        "operator_disabled",
        "login",
        "login_failed",
        "session_opened",
        "session_closed",
        "treatment_recorded",
        "treatment_withdrawn",
        "cartridge_recorded",
        "operator_unlocked",
        "operator_pin_reset",
    }
)


class Interruption(enum.StrEnum):
    """What ended a session without the operator choosing it (the `interrupted` field of its
    session_closed record). Only such a session may be continued (`begin_session(continues=)`)."""

    LINK_LOST = "link_lost"
    PEN_REBOOTED = "pen_rebooted"
    #: the pen ended the session itself: its watchdog, or it answered that it has none
    PEN_ENDED = "pen_ended"


#: A session continues an interrupted one only if that one ended at most this long before.
CONTINUE_WITHIN_SECONDS = 2 * 60 * 60

MAX_DATA_BYTES = 1 << 20
_MAX_DEPTH = 32
_MAX_TS = 1e11  # seconds since the epoch: year 5138; anything beyond is a bug, not a time
_U32 = 0xFFFFFFFF
_DAY = 86_400.0

_KIND_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,39}")
_OP_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")
_PIN_RE = re.compile(r"[0-9]{4,12}")
_ZONE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,39}")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # version 0 -> 1: the first schema
    (
        """CREATE TABLE operators (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            role TEXT NOT NULL,
            pin_salt BLOB,
            pin_hash BLOB,
            scrypt_n INTEGER,
            scrypt_r INTEGER,
            scrypt_p INTEGER,
            disabled INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0,
            locked_until_us INTEGER,
            created_us INTEGER NOT NULL
        )""",
        """CREATE TABLE clients (
            ref TEXT PRIMARY KEY,
            first_seen_us INTEGER NOT NULL
        )""",
        """CREATE TABLE sessions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            role TEXT NOT NULL,
            operator_id TEXT REFERENCES operators(id),
            client_ref TEXT REFERENCES clients(ref),
            device_serial INTEGER NOT NULL,
            boot_id INTEGER NOT NULL,
            device_class TEXT NOT NULL,
            started_us INTEGER NOT NULL,
            ended_us INTEGER,
            end_reason TEXT
        )""",
        """CREATE TABLE treatments (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id INTEGER NOT NULL REFERENCES sessions(id),
            client_ref TEXT REFERENCES clients(ref),
            zone TEXT NOT NULL,
            ts_us INTEGER NOT NULL,
            record_id INTEGER NOT NULL
        )""",
        "CREATE INDEX treatments_by_client_zone ON treatments(client_ref, zone, ts_us)",
        """CREATE TABLE cartridges (
            cartridge_id INTEGER NOT NULL,
            session_id INTEGER NOT NULL REFERENCES sessions(id),
            first_seen_us INTEGER NOT NULL,
            record_id INTEGER NOT NULL,
            PRIMARY KEY (cartridge_id, session_id)
        )""",
        """CREATE TABLE log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts_us INTEGER NOT NULL,
            session_id INTEGER REFERENCES sessions(id),
            kind TEXT NOT NULL,
            data TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL UNIQUE
        )""",
        "CREATE INDEX log_by_session ON log(session_id, id)",
        # append-only log
        """CREATE TRIGGER log_no_update BEFORE UPDATE ON log BEGIN
            SELECT RAISE(ABORT, 'the audit log is append-only: records cannot be changed');
        END""",
        """CREATE TRIGGER log_no_delete BEFORE DELETE ON log BEGIN
            SELECT RAISE(ABORT, 'the audit log is append-only: records cannot be deleted');
        END""",
        # operators: never deleted; identity and PIN fixed; a disabled operator stays disabled
        """CREATE TRIGGER operators_no_delete BEFORE DELETE ON operators BEGIN
            SELECT RAISE(ABORT, 'operators cannot be deleted, only disabled');
        END""",
        """CREATE TRIGGER operators_fixed BEFORE UPDATE ON operators
        WHEN NEW.id IS NOT OLD.id OR NEW.name IS NOT OLD.name OR NEW.role IS NOT OLD.role
          OR NEW.pin_salt IS NOT OLD.pin_salt OR NEW.pin_hash IS NOT OLD.pin_hash
          OR NEW.scrypt_n IS NOT OLD.scrypt_n OR NEW.scrypt_r IS NOT OLD.scrypt_r
          OR NEW.scrypt_p IS NOT OLD.scrypt_p OR NEW.created_us IS NOT OLD.created_us
          OR (OLD.disabled = 1 AND NEW.disabled IS NOT 1)
        BEGIN
            SELECT RAISE(ABORT, 'an operator''s identity, role and PIN cannot be changed');
        END""",
        # sessions: never deleted; only an open session may be ended, once
        """CREATE TRIGGER sessions_no_delete BEFORE DELETE ON sessions BEGIN
            SELECT RAISE(ABORT, 'sessions cannot be deleted');
        END""",
        """CREATE TRIGGER sessions_fixed BEFORE UPDATE ON sessions
        WHEN OLD.ended_us IS NOT NULL OR NEW.id IS NOT OLD.id OR NEW.role IS NOT OLD.role
          OR NEW.operator_id IS NOT OLD.operator_id OR NEW.client_ref IS NOT OLD.client_ref
          OR NEW.device_serial IS NOT OLD.device_serial OR NEW.boot_id IS NOT OLD.boot_id
          OR NEW.device_class IS NOT OLD.device_class OR NEW.started_us IS NOT OLD.started_us
        BEGIN
            SELECT RAISE(ABORT, 'a session can only be ended, once');
        END""",
        # clients, treatments, cartridges: insert only
        """CREATE TRIGGER clients_no_update BEFORE UPDATE ON clients BEGIN
            SELECT RAISE(ABORT, 'clients cannot be changed');
        END""",
        """CREATE TRIGGER clients_no_delete BEFORE DELETE ON clients BEGIN
            SELECT RAISE(ABORT, 'clients cannot be deleted');
        END""",
        """CREATE TRIGGER treatments_no_update BEFORE UPDATE ON treatments BEGIN
            SELECT RAISE(ABORT, 'treatments cannot be changed');
        END""",
        """CREATE TRIGGER treatments_no_delete BEFORE DELETE ON treatments BEGIN
            SELECT RAISE(ABORT, 'treatments cannot be deleted');
        END""",
        """CREATE TRIGGER cartridges_no_update BEFORE UPDATE ON cartridges BEGIN
            SELECT RAISE(ABORT, 'cartridges cannot be changed');
        END""",
        """CREATE TRIGGER cartridges_no_delete BEFORE DELETE ON cartridges BEGIN
            SELECT RAISE(ABORT, 'cartridges cannot be deleted');
        END""",
    ),
    # version 1 -> 2: administrators, PIN resets, withdrawn treatments, normalised clients
    (
        "ALTER TABLE operators ADD COLUMN admin INTEGER NOT NULL DEFAULT 0",
        "DROP TRIGGER operators_fixed",
        # a schema-1 store's first professional operator (in log order) becomes its
        # administrator; the replay of the chain applies the same rule
        "UPDATE operators SET admin = 1 WHERE id = (SELECT json_extract(data, '$.operator') "
        "FROM log WHERE kind = 'operator_added' AND json_extract(data, '$.role') != 'home' "
        "ORDER BY id LIMIT 1)",
        # a PIN may now be reset (a chained operator_pin_reset record says so); identity,
        # role and administrator status stay fixed, and a disabled operator stays disabled
        """CREATE TRIGGER operators_fixed BEFORE UPDATE ON operators
        WHEN NEW.id IS NOT OLD.id OR NEW.name IS NOT OLD.name OR NEW.role IS NOT OLD.role
          OR NEW.created_us IS NOT OLD.created_us OR NEW.admin IS NOT OLD.admin
          OR (OLD.disabled = 1 AND NEW.disabled IS NOT 1)
        BEGIN
            SELECT RAISE(ABORT, 'an operator''s identity and role cannot be changed');
        END""",
        """CREATE TABLE treatment_withdrawals (
            treatment_record_id INTEGER PRIMARY KEY,
            ts_us INTEGER NOT NULL,
            record_id INTEGER NOT NULL
        )""",
        """CREATE TRIGGER withdrawals_no_update BEFORE UPDATE ON treatment_withdrawals BEGIN
            SELECT RAISE(ABORT, 'withdrawals cannot be changed');
        END""",
        """CREATE TRIGGER withdrawals_no_delete BEFORE DELETE ON treatment_withdrawals BEGIN
            SELECT RAISE(ABORT, 'withdrawals cannot be deleted');
        END""",
        # treatments recorded before client references were normalised (schema 1) are
        # compared through the normalising function; this is the last such treatment id
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
        "INSERT INTO meta (key, value) SELECT 'legacy_treatments_upto', COALESCE(MAX(id), 0) "
        "FROM treatments",
        # the operator's last login-state record, found without reading the whole log
        "CREATE INDEX log_by_operator ON log (json_extract(data, '$.operator'), id) "
        "WHERE kind IN ('operator_added', 'login', 'login_failed', 'operator_unlocked', "
        "'operator_pin_reset')",
        # the last verified point of the chain (see AuditStore.check_trust)
        """CREATE TABLE checkpoint (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            record_id INTEGER NOT NULL,
            hash TEXT NOT NULL,
            state TEXT NOT NULL,
            state_hash TEXT NOT NULL
        )""",
    ),
)
assert len(_MIGRATIONS) == SCHEMA_VERSION

_OUR_TABLES = frozenset(
    {
        "operators",
        "clients",
        "sessions",
        "treatments",
        "treatment_withdrawals",
        "cartridges",
        "log",
        "meta",
        "checkpoint",
        "sqlite_sequence",
    }
)


# --- values ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operator:
    id: str
    name: str
    role: str
    disabled: bool
    locked_until: float | None
    failed_attempts: int = 0
    #: may add, disable, unlock operators and reset PINs (with their own ID and PIN)
    admin: bool = False


@dataclass(frozen=True)
class Record:
    id: int
    ts: float
    session_id: int | None
    kind: str
    data: dict[str, object]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class SessionRow:
    id: int
    role: str
    operator_id: str | None
    client_ref: str | None
    device_serial: int
    boot_id: int
    device_class: str
    started: float
    ended: float | None
    end_reason: str | None


@dataclass(frozen=True)
class StartFacts:
    """What the start rules read, gathered inside the transaction that records the start."""

    client_ref: str | None
    zone: str
    #: days since this client's zone was treated in another session (None: never)
    days_since_last: float | None
    #: the fitted cartridge was recorded in another session
    cartridge_used_before: bool
    #: the data of this session's screening records, in order
    screening: tuple[dict[str, object], ...]


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    count: int
    first_broken: int | None
    problem: str | None
    head: str | None = None


# --- canonical form and hashing (pure; docs/AUDIT.md restates them) --------------------------


def _plain(value: object, where: str, depth: int) -> object:
    """A JSON-ready copy of `value`: enums by name, non-finite floats as strings."""
    if depth > _MAX_DEPTH:
        raise StoreError(f"The record's data is nested deeper than {_MAX_DEPTH} levels.")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, int):
        if abs(value) >= 1 << 63:  # beyond what JSON readers keep exactly: a short text
            return f"{decimal.Decimal(int(value)):.6e}"
        return int(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return float(value)
    if isinstance(value, Mapping):
        out: dict[str, object] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise StoreError(
                    f"The record's data has a key {key!r} at {where} that is not a string."
                )
            out[key] = _plain(item, f"{where}.{key}", depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]
    raise StoreError(
        f"The record's data holds a {type(value).__name__} at {where}, which cannot be "
        "stored as JSON."
    )


def canonical_json(data: Mapping[str, object]) -> str:
    """The canonical text of a record's data: sorted keys, no spaces, ASCII only, no NaN."""
    if not isinstance(data, Mapping):
        raise StoreError("A record's data must be a mapping of names to values.")
    plain = _plain(data, "data", 0)
    text = json.dumps(
        plain, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )
    if len(text) > MAX_DATA_BYTES:
        raise StoreError(
            f"The record's data is too large ({len(text)} bytes; at most {MAX_DATA_BYTES})."
        )
    return text


def record_hash(
    prev_hash: str, record_id: int, ts_us: int, session_id: int | None, kind: str, data: str
) -> str:
    """SHA-256 (hex) of a record: prev_hash, id, ts_us, session_id, kind and data, one per line."""
    sid = "" if session_id is None else str(session_id)
    content = f"{prev_hash}\n{record_id}\n{ts_us}\n{sid}\n{kind}\n{data}"
    return hashlib.sha256(content.encode("ascii", "backslashreplace")).hexdigest()


def pin_fingerprint(
    salt: bytes | None, pin_hash: bytes | None, n: Any, r: Any, p: Any
) -> str | None:
    """What the log records of a PIN hash: enough to notice a swapped hash, useless to crack."""
    if salt is None and pin_hash is None:
        return None
    material = f"scrypt:{n}:{r}:{p}:".encode() + bytes(salt or b"") + b":" + bytes(pin_hash or b"")
    return hashlib.sha256(material).hexdigest()


def iso_utc(ts_us: int) -> str:
    """A timestamp as ISO 8601 in UTC with microseconds, e.g. 2025-03-01T09:30:00.000000Z."""
    moment = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC) + _dt.timedelta(microseconds=ts_us)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _show(text: object) -> str:
    """A user-given string quoted for a sentence, short and without control characters."""
    s = str(text)
    if len(s) > 40:
        s = s[:40] + "..."
    return repr(s) if not s.isprintable() or "'" in s else f"'{s}'"


def _clock(ts_us: int) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts_us / 1e6))


def _ts_us(now: float | None) -> int:
    if now is None:
        now = time.time()
    if isinstance(now, bool) or not isinstance(now, (int, float)) or not math.isfinite(now):
        raise StoreError(f"A timestamp must be a finite number of seconds, not {now!r}.")
    if not 0 <= now <= _MAX_TS:
        raise StoreError(f"The timestamp {now!r} is not a plausible time.")
    return round(now * 1_000_000)


def _is_u32(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _U32


def _check_text(value: object, what: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise StoreError(f"The {what} must not be empty.")
    if value != value.strip():
        raise StoreError(f"The {what} must not start or end with spaces.")
    if len(value) > limit:
        raise StoreError(f"The {what} is too long (at most {limit} characters).")
    if _CONTROL_RE.search(value):
        raise StoreError(f"The {what} must not contain control characters.")
    return value


def normalise_client(client_ref: str) -> str:
    """The form a client reference is compared, stored and shown in: Unicode NFKC,
    case-folded, surrounding whitespace removed ('P-0042', 'p-0042' and ' P-0042 ' are one
    client, stored and shown as 'p-0042')."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", client_ref).casefold())
    return folded.strip()


def home_client(device_serial: int) -> str:
    """The client of every home session on the pen with this serial: its own user, whatever
    name is typed, so a new name cannot dodge the interval rule."""
    return f"home-pen-{device_serial:08x}"


def check_client(client_ref: object) -> str | None:
    """The normalised client reference, or StoreError naming what is wrong with it."""
    if client_ref is None:
        return None
    if not isinstance(client_ref, str):
        raise StoreError("The client reference must be text.")
    if _CONTROL_RE.search(client_ref) or any(unicodedata.category(ch) == "Cf" for ch in client_ref):
        raise StoreError("The client reference must not contain control characters.")
    return _check_text(normalise_client(client_ref), "client reference", 64)


def _client_key(ref: object) -> str | None:
    """normalise_client for SQL (rows of schema 1 hold references as typed)."""
    if not isinstance(ref, str):
        return None
    try:
        return normalise_client(ref)
    except Exception:  # a malformed legacy row matches nothing
        return None


def _check_zone(zone: object) -> str:
    if not isinstance(zone, str) or not _ZONE_RE.fullmatch(zone):
        raise StoreError(f"{_show(zone)} is not a treatment zone name.")
    return zone


def _device_class(value: object) -> str:
    name = value.name if isinstance(value, enum.Enum) else value
    if not isinstance(name, str) or name.lower() not in DEVICE_CLASSES:
        raise StoreError(f"{_show(value)} is not a device class; it is home or professional.")
    return name.lower()


def check_new_operator(op_id: object, name: object, role: object) -> None:
    """Refuse a malformed operator ID, name or role (before anyone types a PIN for it)."""
    if not isinstance(op_id, str) or not _OP_ID_RE.fullmatch(op_id):
        raise StoreError(
            f"{_show(op_id)} is not a valid operator ID: use 1 to 32 letters, digits, '.', "
            "'_' or '-', starting with a letter or digit."
        )
    _check_text(name, "operator's name", 100)
    if role not in ROLES:
        raise StoreError(f"{_show(role)} is not a role; choose one of {', '.join(ROLES)}.")


def check_pin(pin: object) -> str:
    """Refuse a PIN that is not 4 to 12 digits."""
    if not isinstance(pin, str) or not _PIN_RE.fullmatch(pin):
        raise StoreError("A PIN is 4 to 12 digits (0 to 9) and nothing else.")
    return pin


def _scrypt(pin: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        pin.encode("utf-8", "surrogatepass"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=256 * 1024 * 1024,
        dklen=_SCRYPT_DKLEN,
    )


# --- the store ------------------------------------------------------------------------------


class AuditStore:
    """The audit store of one SQLite file (or ":memory:"). Thread-safe; close() when done."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        create: bool = True,
        scrypt_n: int = SCRYPT_N,
        read_only: bool = False,
    ) -> None:
        """Open (and create or migrate) the store.

        path: the file; None for the default in the user data directory; ":memory:" for tests.
        create: False refuses a path where no store exists yet (the read-only CLI commands).
        scrypt_n: the scrypt cost for PINs set from now on (tests lower it to run fast; every
        hash keeps the parameters it was made with).
        read_only: open without writing anything (no migration, no journal change), so a
        read-only copy of a store can be verified, shown and exported; every write refuses.
        """
        if path is None:
            from driver.paths import default_db_path

            path = default_db_path()
        self.path: str = os.fspath(path)
        #: the path as sentences show it (control and invisible characters escaped)
        self._where = printable(self.path)
        if not self.path:
            raise StoreError("The audit store needs a file name.")
        self._memory = self.path == ":memory:"
        if not create and not self._memory and not os.path.exists(self.path):
            raise StoreError(f"There is no audit store at {self._where}.")
        if not self._memory and os.path.isdir(self.path):
            raise StoreError(f"{self._where} is a directory, not an audit store file.")
        if scrypt_n < 2 or scrypt_n & (scrypt_n - 1):
            raise StoreError("The scrypt cost must be a power of two.")
        self._scrypt_n = scrypt_n
        self._lock = threading.RLock()
        self._closed = False
        self.read_only = bool(read_only)
        if self.read_only and (self._memory or not os.path.exists(self.path)):
            raise StoreError(f"There is no audit store at {self._where} to open read-only.")
        self._ro_uri = Path(self.path).absolute().as_uri() + "?mode=ro"
        try:
            if self.read_only:
                self._conn = self._connect_read_only()
            else:
                self._conn = sqlite3.connect(
                    self.path, timeout=10.0, isolation_level=None, check_same_thread=False
                )
        except sqlite3.Error as exc:
            raise StoreError(f"The audit store {self._where} could not be opened ({exc}).") from exc
        self._conn.create_function("np_client_key", 1, _client_key, deterministic=True)
        try:
            self.journal_mode = self._setup_read_only() if self.read_only else self._setup()
        except StoreError:
            self._conn.close()
            raise
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            if "not a database" in str(exc) or "malformed" in str(exc):
                raise StoreError(
                    f"{self._where} is not a needlepen audit store (not an SQLite database)."
                ) from exc
            raise StoreError(f"The audit store {self._where} could not be opened ({exc}).") from exc

    # --- opening, schema, closing ------------------------------------------------------------

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
                f"{self._where} is not a needlepen audit store (not an SQLite database)."
            ) from exc
        self._ro_uri = Path(self.path).absolute().as_uri() + "?mode=ro&immutable=1"
        return sqlite3.connect(
            self._ro_uri, uri=True, timeout=10.0, isolation_level=None, check_same_thread=False
        )

    def _setup_read_only(self) -> str:
        version, app_id = self._header()
        self._check_identity(version, app_id)
        if version == 0:
            raise StoreError(f"{self._where} holds no needlepen audit store yet.")
        self._version = version
        return str(self._conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()

    def _setup(self) -> str:
        conn = self._conn
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
        self._version = SCHEMA_VERSION
        return mode

    def _header(self) -> tuple[int, int]:
        version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
        app_id = int(self._conn.execute("PRAGMA application_id").fetchone()[0])
        return version, app_id

    def _check_identity(self, version: int, app_id: int) -> None:
        if version == 0 and app_id == 0:
            names = {
                str(r[0])
                for r in self._conn.execute(
                    "SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
                )
            }
            if names:
                raise StoreError(
                    f"{self._where} is an SQLite database of another application, not a "
                    "needlepen audit store."
                )
            return
        if app_id != APPLICATION_ID:
            raise StoreError(
                f"{self._where} is an SQLite database of another application, not a needlepen "
                "audit store."
            )
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"The audit store {self._where} has schema version {version}, newer than this "
                f"needlepen understands ({SCHEMA_VERSION}); use a newer needlepen."
            )

    @property
    def schema_version(self) -> int:
        with self._lock:
            self._check_open()
            return self._header()[0]

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def __enter__(self) -> AuditStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("The audit store is closed.")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One durable transaction, holding SQLite's write lock (other processes wait)."""
        with self._lock:
            self._check_open()
            if self.read_only:
                raise StoreError(
                    f"The audit store {self._where} was opened read-only; nothing can be written."
                )
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"The audit store {self._where} is not writable ({exc}).") from exc
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise StoreError(f"The audit store could not be written ({exc}).") from exc
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        with suppress(sqlite3.Error):
            self._conn.execute("ROLLBACK")

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """A consistent read-only view for long reads (verify, export).

        It uses a connection of its own, so a verify of a long log never holds up the Pen's
        appends: in WAL mode readers and the writer work at once. ":memory:" has only the one
        connection, which is then used under the lock.
        """
        if self._memory:
            with self._lock:
                self._check_open()
                yield self._conn
            return
        self._check_open()
        try:
            conn = sqlite3.connect(self._ro_uri, uri=True, timeout=10.0, isolation_level=None)
            conn.create_function("np_client_key", 1, _client_key, deterministic=True)
            conn.execute("BEGIN")
        except sqlite3.Error as exc:
            raise StoreError(f"The audit store {self._where} could not be read ({exc}).") from exc
        try:
            yield conn
        finally:
            conn.close()

    def _read(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            self._check_open()
            try:
                return list(self._conn.execute(sql, params))
            except sqlite3.Error as exc:
                raise StoreError(f"The audit store could not be read ({exc}).") from exc

    # --- the chain ---------------------------------------------------------------------------

    def _append(
        self,
        conn: sqlite3.Connection,
        kind: str,
        data_text: str,
        session_id: int | None,
        ts_us: int,
    ) -> Record:
        """Append one record inside the caller's transaction."""
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'log'").fetchone()
        seq = int(row[0]) if row is not None else 0
        last = conn.execute("SELECT id, hash FROM log ORDER BY id DESC LIMIT 1").fetchone()
        prev_hash = str(last[1]) if last is not None else GENESIS_HASH
        # the next id follows the highest ever used, so a cut-off tail leaves a visible gap
        new_id = max(seq, int(last[0]) if last is not None else 0) + 1
        digest = record_hash(prev_hash, new_id, ts_us, session_id, kind, data_text)
        conn.execute(
            "INSERT INTO log (id, ts_us, session_id, kind, data, prev_hash, hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (new_id, ts_us, session_id, kind, data_text, prev_hash, digest),
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
    ) -> Record:
        """Append one event and commit it durably before returning."""
        if not isinstance(kind, str) or not _KIND_RE.fullmatch(kind):
            raise StoreError(
                f"{_show(kind)} is not a record kind: a short word of letters, digits and _."
            )
        if kind in STORE_KINDS:
            raise StoreError(
                f"Records of kind '{kind}' are written by the audit store itself; "
                "use its own method."
            )
        text = canonical_json(data)
        ts_us = _ts_us(now)
        with self._write() as conn:
            if session_id is not None:
                self._session_row(conn, session_id)
            return self._append(conn, kind, text, session_id, ts_us)

    def _record(self, row: tuple[Any, ...]) -> Record:
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
        sql = "SELECT id, ts_us, session_id, kind, data, prev_hash, hash FROM log"
        if session_id is None:
            rows = self._read(sql + " ORDER BY id")
        else:
            self._require_session(session_id)
            rows = self._read(sql + " WHERE session_id = ? ORDER BY id", (session_id,))
        return [self._record(row) for row in rows]

    def head(self) -> str:
        """The hash of the last record (the genesis value for an empty log)."""
        rows = self._read("SELECT hash FROM log ORDER BY id DESC LIMIT 1")
        return str(rows[0][0]) if rows else GENESIS_HASH

    # --- operators ---------------------------------------------------------------------------

    def add_operator(
        self,
        op_id: str,
        name: str,
        role: str,
        pin: str | None,
        now: float | None = None,
        *,
        by: tuple[str, str | None] | None = None,
        admin: bool = False,
    ) -> Operator:
        """Register an operator; professional roles need a PIN of 4 to 12 digits.

        The first operator of a store is its administrator (and so needs a PIN). Afterwards
        `by` must be an active administrator's (ID, PIN): the login is checked and recorded
        first, and the new operator's record names who added them. `admin=True` makes the new
        operator an administrator too.
        """
        check_new_operator(op_id, name, role)
        if role in PROFESSIONAL_ROLES:
            if pin is None:
                raise StoreError(f"The {role} role needs a PIN of 4 to 12 digits.")
            pin = check_pin(pin)
        elif pin is not None:
            raise StoreError("The home role has no PIN; leave it out.")
        first = not self._read("SELECT 1 FROM operators LIMIT 1")
        if first and role not in PROFESSIONAL_ROLES:
            raise StoreError(
                "The first operator administers the store and logs in with a PIN: give them "
                "a professional role (aesthetician, clinician or engineer)."
            )
        if not first and self._read("SELECT 1 FROM operators WHERE id = ?", (op_id,)):
            raise StoreError(f"An operator with ID {_show(op_id)} already exists.")
        admin_id = None if first else self._authorise(by, now)
        salt: bytes | None = None
        digest: bytes | None = None
        n: int | None = None
        r: int | None = None
        p: int | None = None
        if pin is not None:
            salt = secrets.token_bytes(_SALT_BYTES)
            n, r, p = self._scrypt_n, SCRYPT_R, SCRYPT_P
            digest = _scrypt(pin, salt, n, r, p)
        is_admin = bool(first or admin)
        ts_us = _ts_us(now)
        data = {
            "operator": op_id,
            "name": name,
            "role": role,
            "pin": pin_fingerprint(salt, digest, n, r, p),
            "admin": is_admin,
            "by": admin_id,
        }
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM operators WHERE id = ?", (op_id,)).fetchone():
                raise StoreError(f"An operator with ID {_show(op_id)} already exists.")
            if first and conn.execute("SELECT 1 FROM operators LIMIT 1").fetchone():
                raise StoreError("Another operator was added meanwhile; try again.")
            conn.execute(
                "INSERT INTO operators (id, name, role, pin_salt, pin_hash, scrypt_n, scrypt_r, "
                "scrypt_p, disabled, failed, locked_until_us, created_us, admin) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 0, NULL, ?, ?)",
                (op_id, name, role, salt, digest, n, r, p, ts_us, int(is_admin)),
            )
            self._append(conn, "operator_added", canonical_json(data), None, ts_us)
        return Operator(op_id, name, role, False, None, 0, is_admin)

    def _authorise(self, by: object, now: float | None) -> str:
        """Check an administrator's ID and PIN (a recorded login); their ID."""
        if (
            not isinstance(by, tuple)
            or len(by) != 2
            or not isinstance(by[0], str)
            or not (by[1] is None or isinstance(by[1], str))
        ):
            raise NotAdministrator(
                "This change needs an administrator: give an administrator's ID and PIN."
            )
        op = self.authenticate(by[0], by[1], now)
        if not op.admin:
            raise NotAdministrator(
                f"Operator {_show(op.id)} is not an administrator; an administrator's ID and "
                "PIN are needed for this change."
            )
        return op.id

    @property
    def _op_cols(self) -> str:
        admin = "admin" if self._version >= 2 else "0"
        return (
            "id, name, role, pin_salt, pin_hash, scrypt_n, scrypt_r, scrypt_p, disabled, failed, "
            f"locked_until_us, {admin}"
        )

    @staticmethod
    def _operator(row: tuple[Any, ...], now_us: int) -> Operator:
        locked = row[10]
        admin = bool(row[11])
        if locked is not None and locked > now_us:
            return Operator(row[0], row[1], row[2], bool(row[8]), locked / 1e6, int(row[9]), admin)
        failed = 0 if locked is not None else int(row[9])  # an expired lock starts afresh
        return Operator(row[0], row[1], row[2], bool(row[8]), None, failed, admin)

    def list_operators(self, now: float | None = None) -> list[Operator]:
        """All operators, with the lock state as of `now` (an expired lock shows as none)."""
        now_us = _ts_us(now)
        rows = self._read(f"SELECT {self._op_cols} FROM operators ORDER BY id")
        return [self._operator(row, now_us) for row in rows]

    def get_operator(self, op_id: str, now: float | None = None) -> Operator:
        now_us = _ts_us(now)
        rows = self._read(f"SELECT {self._op_cols} FROM operators WHERE id = ?", (str(op_id),))
        if not rows:
            raise UnknownOperator(f"There is no operator {_show(op_id)}.")
        return self._operator(rows[0], now_us)

    def _target(self, conn: sqlite3.Connection, op_id: object) -> tuple[Any, ...]:
        row = conn.execute(
            f"SELECT {self._op_cols} FROM operators WHERE id = ?", (str(op_id),)
        ).fetchone()
        if row is None:
            raise UnknownOperator(f"There is no operator {_show(op_id)}.")
        return tuple(row)

    def disable_operator(
        self,
        op_id: str,
        now: float | None = None,
        *,
        by: tuple[str, str | None] | None = None,
    ) -> None:
        """Disable an operator for good (they can no longer log in; the record stays).

        Needs an administrator (`by`); the last active administrator cannot be disabled."""
        with self._lock:
            self._check_open()
            self._target(self._conn, op_id)
        admin_id = self._authorise(by, now)
        ts_us = _ts_us(now)
        with self._write() as conn:
            row = self._target(conn, op_id)
            if row[8]:
                return
            if row[11]:
                others = conn.execute(
                    "SELECT COUNT(*) FROM operators WHERE admin = 1 AND disabled = 0 AND id != ?",
                    (op_id,),
                ).fetchone()[0]
                if not others:
                    raise StoreError(
                        f"Operator {_show(op_id)} is the last active administrator; add another "
                        "administrator before disabling them."
                    )
            conn.execute("UPDATE operators SET disabled = 1 WHERE id = ?", (op_id,))
            data = {"operator": op_id, "by": admin_id}
            self._append(conn, "operator_disabled", canonical_json(data), None, ts_us)

    def unlock_operator(
        self, op_id: str, now: float | None = None, *, by: tuple[str, str | None] | None = None
    ) -> None:
        """Lift a PIN lockout before it expires (needs an administrator; recorded)."""
        with self._lock:
            self._check_open()
            self._target(self._conn, op_id)
        admin_id = self._authorise(by, now)
        ts_us = _ts_us(now)
        with self._write() as conn:
            self._target(conn, op_id)
            conn.execute(
                "UPDATE operators SET failed = 0, locked_until_us = NULL WHERE id = ?", (op_id,)
            )
            data = {"operator": op_id, "by": admin_id, "failed": 0, "locked_until_us": None}
            self._append(conn, "operator_unlocked", canonical_json(data), None, ts_us)

    def reset_pin(
        self,
        op_id: str,
        new_pin: str,
        now: float | None = None,
        *,
        by: tuple[str, str | None] | None = None,
    ) -> None:
        """Give an operator a new PIN (needs an administrator; recorded; lifts any lockout)."""
        new_pin = check_pin(new_pin)
        with self._lock:
            self._check_open()
            row = self._target(self._conn, op_id)
        if row[2] not in PROFESSIONAL_ROLES:
            raise StoreError(f"Operator {_show(op_id)} has the home role, which has no PIN.")
        admin_id = self._authorise(by, now)
        salt = secrets.token_bytes(_SALT_BYTES)
        n, r, p = self._scrypt_n, SCRYPT_R, SCRYPT_P
        digest = _scrypt(new_pin, salt, n, r, p)
        ts_us = _ts_us(now)
        with self._write() as conn:
            row = self._target(conn, op_id)
            if row[8]:
                raise OperatorDisabled(f"Operator {_show(op_id)} is disabled.")
            conn.execute(
                "UPDATE operators SET pin_salt = ?, pin_hash = ?, scrypt_n = ?, scrypt_r = ?, "
                "scrypt_p = ?, failed = 0, locked_until_us = NULL WHERE id = ?",
                (salt, digest, n, r, p, op_id),
            )
            data = {
                "operator": op_id,
                "by": admin_id,
                "pin": pin_fingerprint(salt, digest, n, r, p),
                "failed": 0,
                "locked_until_us": None,
            }
            self._append(conn, "operator_pin_reset", canonical_json(data), None, ts_us)

    def authenticate(self, op_id: str, pin: str | None, now: float | None = None) -> Operator:
        """Check an operator's PIN; 5 wrong PINs in a row lock them for 15 minutes.

        Every attempt, failed or not, is a record in the chain (committed before this returns
        or raises). The PIN is checked outside the store's locks: scrypt takes tens of ms and
        the Pen's reader thread must keep appending meanwhile. An unknown ID and a wrong PIN
        cost the same scrypt work and raise the same WrongPin sentence. The failure count and
        lock come from the operator's last chained login record, not from the table: a table
        that disagrees (say, a count reset by UPDATE) refuses the login with StoreError.
        """
        now_us = _ts_us(now)
        self.check_trust()  # the operators table is used only while it agrees with the chain
        key = op_id if isinstance(op_id, str) else None
        shown = printable(key[:64] if key is not None else repr(op_id)[:64])
        rows = (
            self._read(f"SELECT {self._op_cols} FROM operators WHERE id = ?", (key,))
            if key is not None
            else []
        )
        pin_ok = False
        if not rows or rows[0][4] is None:
            # the same work as a real check, so timing does not tell which IDs exist
            _scrypt(str(pin), b"\0" * _SALT_BYTES, self._scrypt_n, SCRYPT_R, SCRYPT_P)
        else:
            row = rows[0]
            if row[2] in PROFESSIONAL_ROLES and isinstance(pin, str):
                candidate = _scrypt(pin, bytes(row[3]), int(row[5]), int(row[6]), int(row[7]))
                pin_ok = hmac.compare_digest(candidate, bytes(row[4])) and bool(
                    _PIN_RE.fullmatch(pin)
                )
            else:
                _scrypt(str(pin), b"\0" * _SALT_BYTES, int(row[5]), SCRYPT_R, SCRYPT_P)

        error: Exception | None = None
        result: Operator | None = None
        with self._write() as conn:
            row = (
                conn.execute(
                    f"SELECT {self._op_cols} FROM operators WHERE id = ?", (key,)
                ).fetchone()
                if key is not None
                else None
            )
            if row is None:
                data: dict[str, object] = {"operator": shown, "reason": "unknown"}
                self._append(conn, "login_failed", canonical_json(data), None, now_us)
                error = WrongPin(BAD_LOGIN, MAX_FAILED_PINS)
            else:
                error, result = self._judge(conn, row, pin, pin_ok, now_us)
        if error is not None:
            raise error
        assert result is not None
        return result

    def _chained_lock_state(
        self, conn: sqlite3.Connection, op_id: str
    ) -> tuple[int, int | None] | None:
        """(failed, locked_until_us) as the operator's last chained record left them; None
        when the log holds no such record (a store of schema 1 read as it is)."""
        row = conn.execute(
            "SELECT kind, data FROM log WHERE kind IN ('operator_added', 'login', "
            "'login_failed', 'operator_unlocked', 'operator_pin_reset') "
            "AND json_extract(data, '$.operator') = ? ORDER BY id DESC LIMIT 1",
            (op_id,),
        ).fetchone()
        if row is None:
            return None
        if row[0] == "operator_added":
            return 0, None
        try:
            data = json.loads(row[1])
            failed, locked = data["failed"], data["locked_until_us"]
        except (ValueError, KeyError, TypeError):
            return None
        if not isinstance(failed, int) or not (locked is None or isinstance(locked, int)):
            return None
        return failed, locked

    def _judge(
        self,
        conn: sqlite3.Connection,
        row: tuple[Any, ...],
        pin: object,
        pin_ok: bool,
        now_us: int,
    ) -> tuple[Exception | None, Operator | None]:
        """Decide one login attempt against the operator's chained state (in a transaction)."""
        op_id, role = str(row[0]), str(row[2])
        admin = bool(row[11])
        failed, locked = int(row[9]), row[10]
        chained = self._chained_lock_state(conn, op_id)
        if chained is not None and chained != (failed, locked):
            raise StoreError(
                f"The operators table disagrees with the log about operator {_show(op_id)}'s "
                "failed PIN count or lock (edited outside needlepen?); run 'needlepen log "
                "verify' and restore the store from a copy you trust."
            )

        def log(kind: str, reason: str | None) -> None:
            data: dict[str, object] = {
                "operator": op_id,
                "role": role,
                "failed": failed,
                "locked_until_us": locked,
            }
            if reason is not None:
                data["reason"] = reason
            conn.execute(
                "UPDATE operators SET failed = ?, locked_until_us = ? WHERE id = ?",
                (failed, locked, op_id),
            )
            self._append(conn, kind, canonical_json(data), None, now_us)

        if row[8]:
            log("login_failed", "disabled")
            return OperatorDisabled(f"Operator {_show(op_id)} is disabled."), None
        if locked is not None and locked > now_us:
            log("login_failed", "locked")
            return (
                OperatorLocked(
                    f"Operator {_show(op_id)} is locked after {MAX_FAILED_PINS} wrong PINs "
                    f"until {_clock(locked)}; try again then.",
                    locked / 1e6,
                ),
                None,
            )
        if locked is not None:  # the lock has expired: a fresh start
            failed, locked = 0, None
        if role not in PROFESSIONAL_ROLES:
            failed, locked = 0, None
            log("login", None)
            return None, Operator(op_id, str(row[1]), role, False, None, 0, admin)
        if pin is None:
            log("login_failed", "no_pin")
            return (
                WrongPin(f"Operator {_show(op_id)} needs a PIN.", MAX_FAILED_PINS - failed),
                None,
            )
        if pin_ok:
            failed, locked = 0, None
            log("login", None)
            return None, Operator(op_id, str(row[1]), role, False, None, 0, admin)
        failed += 1
        if failed >= MAX_FAILED_PINS:
            locked = now_us + LOCKOUT_SECONDS * 1_000_000
            log("login_failed", "wrong_pin")
            return (
                OperatorLocked(
                    f"Wrong PIN for operator {_show(op_id)}: after {MAX_FAILED_PINS} wrong PINs "
                    f"in a row it is locked for {LOCKOUT_SECONDS // 60} minutes, until "
                    f"{_clock(locked)}.",
                    locked / 1e6,
                ),
                None,
            )
        log("login_failed", "wrong_pin")
        return WrongPin(BAD_LOGIN, MAX_FAILED_PINS - failed), None

    # --- sessions, clients, treatments, cartridges -------------------------------------------

    def _session_row(self, conn: sqlite3.Connection, session_id: object) -> tuple[Any, ...]:
        if not isinstance(session_id, int) or isinstance(session_id, bool):
            raise StoreError(f"{_show(session_id)} is not a session number.")
        row = conn.execute(
            "SELECT id, ended_us FROM sessions WHERE id = ?", (session_id,)
        ).fetchone()
        if row is None:
            raise StoreError(f"There is no session {session_id} in the audit store.")
        return tuple(row)

    def _require_session(self, session_id: object) -> None:
        with self._lock:
            self._check_open()
            self._session_row(self._conn, session_id)

    def _open_session(self, conn: sqlite3.Connection, session_id: object) -> None:
        row = self._session_row(conn, session_id)
        if row[1] is not None:
            raise StoreError(f"Session {session_id} has ended; start a new one.")

    def _add_client(self, conn: sqlite3.Connection, client_ref: str | None, ts_us: int) -> None:
        if client_ref is not None:
            conn.execute(
                "INSERT OR IGNORE INTO clients (ref, first_seen_us) VALUES (?, ?)",
                (client_ref, ts_us),
            )

    def begin_session(
        self,
        *,
        role: str,
        operator_id: str | None,
        client_ref: str | None,
        device_serial: int,
        boot_id: int,
        device_class: str,
        continues: int | None = None,
        now: float | None = None,
    ) -> int:
        """Open a session and return its number.

        `continues` names the session this one carries on after an interruption (a lost link,
        a pen reboot, the pen's watchdog): that session must have ended by one
        (`end_session(interrupted=...)`) at most CONTINUE_WITHIN_SECONDS ago, for the same
        client, with the same operator or another of the same role, and not have been
        continued already; otherwise CannotContinue says why and nothing is written. The
        interval rule then does not count that session (nor those it continued) as this
        one's last session: it is the same visit."""
        if role not in ROLES:
            raise StoreError(f"{_show(role)} is not a role; choose one of {', '.join(ROLES)}.")
        client = check_client(client_ref)
        if not _is_u32(device_serial):
            raise StoreError(f"{_show(device_serial)} is not a pen serial number (0 to 2^32-1).")
        if not _is_u32(boot_id):
            raise StoreError(f"{_show(boot_id)} is not a boot id (0 to 2^32-1).")
        dclass = _device_class(device_class)
        if dclass == "home" and role != "home":
            raise StoreError(f"A home-class pen runs home sessions only, not {role} sessions.")
        if role in PROFESSIONAL_ROLES and operator_id is None:
            raise StoreError(f"A {role} session needs an authenticated operator.")
        if role in TREATING_ROLES and client is None:
            raise StoreError(
                f"A {role} session must name its client (a pseudonymous reference such as a "
                "chart number)."
            )
        if role == "home":
            client = home_client(device_serial)
        if continues is not None and (
            not isinstance(continues, int) or isinstance(continues, bool)
        ):
            raise CannotContinue(f"{_show(continues)} is not a session number.")
        ts_us = _ts_us(now)
        self.check_trust()  # no session treats from a store whose tables disagree with the log
        with self._write() as conn:
            if continues is not None:
                self._check_continues(conn, continues, role, operator_id, client, ts_us)
            if operator_id is not None:
                row = conn.execute(
                    "SELECT role, disabled FROM operators WHERE id = ?", (str(operator_id),)
                ).fetchone()
                if row is None:
                    raise UnknownOperator(f"There is no operator {_show(operator_id)}.")
                if row[1]:
                    raise OperatorDisabled(f"Operator {_show(operator_id)} is disabled.")
                if role != "home" and row[0] != role:
                    raise StoreError(
                        f"Operator {_show(operator_id)} is registered as {row[0]} and cannot "
                        f"open a {role} session."
                    )
            self._add_client(conn, client, ts_us)
            cursor = conn.execute(
                "INSERT INTO sessions (role, operator_id, client_ref, device_serial, boot_id, "
                "device_class, started_us) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (role, operator_id, client, device_serial, boot_id, dclass, ts_us),
            )
            session_id = int(cursor.lastrowid or 0)
            data = {
                "role": role,
                "operator": operator_id,
                "client": client,
                "device_serial": device_serial,
                "boot_id": boot_id,
                "device_class": dclass,
            }
            if continues is not None:
                data["continues"] = continues
            self._append(conn, "session_opened", canonical_json(data), session_id, ts_us)
        return session_id

    def _check_continues(
        self,
        conn: sqlite3.Connection,
        previous: int,
        role: str,
        operator_id: str | None,
        client: str | None,
        ts_us: int,
    ) -> None:
        """Raise CannotContinue unless a new session may continue session `previous`."""
        row = conn.execute(
            "SELECT role, operator_id, client_ref, ended_us FROM sessions WHERE id = ?",
            (previous,),
        ).fetchone()
        if row is None:
            raise CannotContinue(f"There is no session {previous} to continue.")
        prev_role, prev_op, prev_client, ended_us = row
        if ended_us is None:
            raise CannotContinue(
                f"Session {previous} has not ended; only an interrupted session is continued."
            )
        closed = conn.execute(
            "SELECT json_extract(data, '$.interrupted') FROM log "
            "WHERE session_id = ? AND kind = 'session_closed'",
            (previous,),
        ).fetchone()
        if closed is None or closed[0] not in {i.value for i in Interruption}:
            raise CannotContinue(
                f"Session {previous} was ended by the operator, not by an interruption; "
                "start a new session instead."
            )
        if prev_client != client:
            raise CannotContinue(f"Session {previous} was another client's; start a new session.")
        if prev_op != operator_id and prev_role != role:
            raise CannotContinue(
                f"Session {previous} was run by a {prev_role}: only its operator or another "
                f"{prev_role} may continue it."
            )
        if ts_us - int(ended_us) > CONTINUE_WITHIN_SECONDS * 1_000_000:
            raise CannotContinue(
                f"Session {previous} ended more than {CONTINUE_WITHIN_SECONDS // 3600} hours "
                "ago; start a new session instead."
            )
        if conn.execute(
            "SELECT 1 FROM log WHERE session_id > ? AND kind = 'session_opened' "
            "AND json_extract(data, '$.continues') = ? LIMIT 1",
            (previous, previous),
        ).fetchone():
            raise CannotContinue(f"Session {previous} has been continued already.")

    def end_session(
        self,
        session_id: int,
        reason: str,
        now: float | None = None,
        *,
        interrupted: Interruption | None = None,
    ) -> None:
        """Close a session (a second call is a no-op: the first reason stands).

        `interrupted` says the session ended without the operator choosing it (recorded as
        the session_closed record's `interrupted` field): only such a session may be
        continued by another (`begin_session(continues=...)`)."""
        reason = _check_text(reason, "reason for ending the session", 200)
        if interrupted is not None and interrupted not in set(Interruption):
            raise StoreError(
                f"{_show(interrupted)} is not an interruption; choose one of "
                f"{', '.join(i.value for i in Interruption)}."
            )
        ts_us = _ts_us(now)
        with self._write() as conn:
            if self._session_row(conn, session_id)[1] is not None:
                return
            conn.execute(
                "UPDATE sessions SET ended_us = ?, end_reason = ? WHERE id = ?",
                (ts_us, reason, session_id),
            )
            closed: dict[str, object] = {"reason": reason}
            if interrupted is not None:
                closed["interrupted"] = Interruption(interrupted).value
            self._append(conn, "session_closed", canonical_json(closed), session_id, ts_us)

    def sessions(self) -> list[SessionRow]:
        rows = self._read(
            "SELECT id, role, operator_id, client_ref, device_serial, boot_id, device_class, "
            "started_us, ended_us, end_reason FROM sessions ORDER BY id"
        )
        return [
            SessionRow(
                int(r[0]),
                r[1],
                r[2],
                r[3],
                int(r[4]),
                int(r[5]),
                r[6],
                r[7] / 1e6,
                None if r[8] is None else r[8] / 1e6,
                r[9],
            )
            for r in rows
        ]

    def record_treatment(
        self, session_id: int, client_ref: str | None, zone: str, now: float | None = None
    ) -> None:
        """Note that treatment started in `zone` (a START was acknowledged)."""
        client = check_client(client_ref)
        zone = _check_zone(zone)
        ts_us = _ts_us(now)
        with self._write() as conn:
            self._open_session(conn, session_id)
            self._add_client(conn, client, ts_us)
            record = self._append(
                conn,
                "treatment_recorded",
                canonical_json({"client": client, "zone": zone}),
                session_id,
                ts_us,
            )
            conn.execute(
                "INSERT INTO treatments (session_id, client_ref, zone, ts_us, record_id) "
                "VALUES (?, ?, ?, ?, ?)",
                (session_id, client, zone, ts_us, record.id),
            )

    def last_treatment_days_ago(
        self,
        client_ref: str | None,
        zone: str,
        now: float | None = None,
        exclude_session: int | None = None,
    ) -> float | None:
        """Days since this client's zone was last treated in another session (None if never).

        The client reference is compared normalised (`normalise_client`). Any other session
        counts, not only older ones: two pens on one client is no excuse, except the
        interrupted sessions `exclude_session` continues (`begin_session(continues=)`), which
        are the same visit. A last treatment
        "in the future" (the clock went back) counts as today. A treatment withdrawn because
        the pen refused START does not count.
        """
        if client_ref is None or not isinstance(client_ref, str):
            return None
        now_us = _ts_us(now)
        with self._lock:
            self._check_open()
            try:
                return self._days_ago(
                    self._conn, normalise_client(client_ref), str(zone), now_us, exclude_session
                )
            except sqlite3.Error as exc:
                raise StoreError(f"The audit store could not be read ({exc}).") from exc

    def _days_ago(
        self,
        conn: sqlite3.Connection,
        client: str,
        zone: str,
        now_us: int,
        exclude_session: int | None,
    ) -> float | None:
        # the excluded session and, link by link, the interrupted sessions it continues
        # (begin_session checked each link): all one visit, never each other's "last session"
        chain = (
            ""
            if exclude_session is None
            else "WITH RECURSIVE chain(sid) AS (SELECT ? UNION SELECT json_extract(l.data, "
            "'$.continues') FROM log l JOIN chain ON l.session_id = chain.sid "
            "WHERE l.kind = 'session_opened' AND json_extract(l.data, '$.continues') "
            "IS NOT NULL) "
        )
        other = "" if exclude_session is None else " AND session_id NOT IN chain"
        first: tuple[object, ...] = () if exclude_session is None else (exclude_session,)
        withdrawn = ""
        if self._version >= 2:
            withdrawn = (
                " AND record_id NOT IN (SELECT treatment_record_id FROM treatment_withdrawals)"
            )
        row = conn.execute(
            chain
            + "SELECT MAX(ts_us) FROM treatments WHERE client_ref = ? AND zone = ?"
            + other
            + withdrawn,
            (*first, client, zone),
        ).fetchone()
        last = row[0]
        legacy_upto = self._legacy_upto(conn)
        if legacy_upto:
            row = conn.execute(
                chain + "SELECT MAX(ts_us) FROM treatments WHERE id <= ? AND zone = ? "
                "AND np_client_key(client_ref) = ?" + other + withdrawn,
                (*first, legacy_upto, zone, client),
            ).fetchone()
            if row[0] is not None and (last is None or row[0] > last):
                last = row[0]
        if last is None:
            return None
        return max(0.0, (now_us - int(last)) / 1e6 / _DAY)

    def _legacy_upto(self, conn: sqlite3.Connection) -> int:
        if self._version < 2:
            return 1 << 62  # a schema-1 store read as it is: every row is as typed
        row = conn.execute("SELECT value FROM meta WHERE key = 'legacy_treatments_upto'").fetchone()
        return int(row[0]) if row is not None else 0

    def begin_treatment(
        self,
        session_id: int,
        zone: str,
        cartridge_id: int | None,
        check: Callable[[StartFacts], Mapping[str, object] | None],
        now: float | None = None,
    ) -> int:
        """Re-check the start rules and record that treatment may begin, in one transaction.

        Called BEFORE START is sent. Inside one write transaction (BEGIN IMMEDIATE: every other
        writer on this store waits, and this one sees all they committed) it gathers the facts
        the rules need (days since this client's zone was treated in any other session but
        those this one continues, whether the cartridge was used in another session, this
        session's screening records),
        calls `check(facts)`, which raises to refuse (nothing is written) or returns extra data
        for the record, and then records the treatment and the cartridge. Returns the
        treatment record's id (for `withdraw_treatment` when the pen refuses START).
        """
        zone = _check_zone(zone)
        if cartridge_id is not None and not _is_u32(cartridge_id):
            raise StoreError(f"{_show(cartridge_id)} is not a cartridge id (0 to 2^32-1).")
        ts_us = _ts_us(now)
        with self._write() as conn:
            self._open_session(conn, session_id)
            row = conn.execute(
                "SELECT client_ref FROM sessions WHERE id = ?", (session_id,)
            ).fetchone()
            client = None if row[0] is None else str(row[0])
            days = (
                None
                if client is None
                else self._days_ago(conn, client, zone, ts_us, exclude_session=session_id)
            )
            used = bool(cartridge_id) and bool(
                conn.execute(
                    "SELECT 1 FROM cartridges WHERE cartridge_id = ? AND session_id != ? LIMIT 1",
                    (cartridge_id, session_id),
                ).fetchone()
            )
            screening = tuple(
                self._record(r).data
                for r in conn.execute(
                    "SELECT id, ts_us, session_id, kind, data, prev_hash, hash FROM log "
                    "WHERE session_id = ? AND kind = 'screening' ORDER BY id",
                    (session_id,),
                )
            )
            extra = check(StartFacts(client, zone, days, used, screening)) or {}
            data: dict[str, object] = {**extra, "client": client, "zone": zone}
            data["before_start"] = True
            record = self._append(
                conn, "treatment_recorded", canonical_json(data), session_id, ts_us
            )
            conn.execute(
                "INSERT INTO treatments (session_id, client_ref, zone, ts_us, record_id) "
                "VALUES (?, ?, ?, ?, ?)",
                (session_id, client, zone, ts_us, record.id),
            )
            if (
                cartridge_id
                and not conn.execute(
                    "SELECT 1 FROM cartridges WHERE cartridge_id = ? AND session_id = ?",
                    (cartridge_id, session_id),
                ).fetchone()
            ):
                crec = self._append(
                    conn,
                    "cartridge_recorded",
                    canonical_json({"cartridge": cartridge_id}),
                    session_id,
                    ts_us,
                )
                conn.execute(
                    "INSERT INTO cartridges (cartridge_id, session_id, first_seen_us, "
                    "record_id) VALUES (?, ?, ?, ?)",
                    (cartridge_id, session_id, ts_us, crec.id),
                )
        return record.id

    def withdraw_treatment(
        self, treatment_record: int, reason: str, now: float | None = None
    ) -> None:
        """The pen refused START (a NACK): the treatment recorded before it did not begin, so
        it no longer counts for the interval rule. The record of the attempt stays."""
        reason = _check_text(reason, "reason for withdrawing the treatment", 200)
        ts_us = _ts_us(now)
        with self._write() as conn:
            row = conn.execute(
                "SELECT session_id FROM treatments WHERE record_id = ?", (treatment_record,)
            ).fetchone()
            if row is None:
                raise StoreError(f"No treatment was recorded in record {treatment_record}.")
            if conn.execute(
                "SELECT 1 FROM treatment_withdrawals WHERE treatment_record_id = ?",
                (treatment_record,),
            ).fetchone():
                return
            record = self._append(
                conn,
                "treatment_withdrawn",
                canonical_json({"treatment": treatment_record, "reason": reason}),
                int(row[0]),
                ts_us,
            )
            conn.execute(
                "INSERT INTO treatment_withdrawals (treatment_record_id, ts_us, record_id) "
                "VALUES (?, ?, ?)",
                (treatment_record, ts_us, record.id),
            )

    def cartridge_used_before(self, cartridge_id: int, session_id: int) -> bool:
        """True when this cartridge was recorded in any other session."""
        if not _is_u32(cartridge_id):
            raise StoreError(f"{_show(cartridge_id)} is not a cartridge id (0 to 2^32-1).")
        rows = self._read(
            "SELECT 1 FROM cartridges WHERE cartridge_id = ? AND session_id != ? LIMIT 1",
            (cartridge_id, session_id),
        )
        return bool(rows)

    def record_cartridge(
        self, cartridge_id: int, session_id: int, now: float | None = None
    ) -> None:
        """Note that this cartridge was used in this session (once per session)."""
        if not _is_u32(cartridge_id):
            raise StoreError(f"{_show(cartridge_id)} is not a cartridge id (0 to 2^32-1).")
        ts_us = _ts_us(now)
        with self._write() as conn:
            self._open_session(conn, session_id)
            seen = conn.execute(
                "SELECT 1 FROM cartridges WHERE cartridge_id = ? AND session_id = ?",
                (cartridge_id, session_id),
            ).fetchone()
            if seen:
                return
            record = self._append(
                conn,
                "cartridge_recorded",
                canonical_json({"cartridge": cartridge_id}),
                session_id,
                ts_us,
            )
            conn.execute(
                "INSERT INTO cartridges (cartridge_id, session_id, first_seen_us, record_id) "
                "VALUES (?, ?, ?, ?)",
                (cartridge_id, session_id, ts_us, record.id),
            )

    # --- verification ------------------------------------------------------------------------

    def verify(self, anchor: str | None = None) -> VerifyResult:
        """Walk the chain from the genesis value and check the tables against it.

        `anchor`: a head hash written down earlier; the log must still contain it (this catches
        a log that was cut short or rebuilt from some point on by someone with write access).
        Ignores the checkpoint: this is the full check an auditor runs.
        """
        with self._snapshot() as conn:
            try:
                return self._verify(conn, anchor, _Replay(), GENESIS_HASH, 1)
            except sqlite3.Error as exc:
                return VerifyResult(
                    False, 0, None, f"The audit store could not be read to the end ({exc})."
                )

    def check_trust(self) -> VerifyResult:
        """Verify the records since the last verified point, and the tables, or raise.

        Called at session start and at every login: the tables the rules read (operators,
        treatments, cartridges, ...) are used only while they agree with the chain. The chain
        is walked from the checkpoint (the last record verified, with the tables' state as the
        chain had built them then) to its end, so the check costs the new records plus one read
        of the tables, not the whole log; then the checkpoint moves to the end. A checkpoint
        that does not match its own digest or the log is ignored (a full walk instead).
        Raises StoreUntrusted naming the first bad record.
        """
        with self._snapshot() as conn:
            try:
                replay, prev, start = self._load_checkpoint(conn)
                result = self._verify(conn, None, replay, prev, start)
            except sqlite3.Error as exc:
                result = VerifyResult(
                    False, 0, None, f"The audit store could not be read to the end ({exc})."
                )
            if not result.ok:
                raise StoreUntrusted(
                    "The audit store failed its integrity check, so it cannot be used to treat: "
                    f"{result.problem} Run 'needlepen log verify' and restore a copy you trust.",
                    result,
                )
            last = start - 1 + result.count
            if result.count and not self.read_only and self._version >= 2:
                state = replay.to_json()
                digest = hashlib.sha256(f"{last}\n{result.head}\n{state}".encode()).hexdigest()
                with suppress(StoreError), self._write() as wconn:
                    wconn.execute(
                        "INSERT INTO checkpoint (id, record_id, hash, state, state_hash) "
                        "VALUES (1, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                        "record_id = excluded.record_id, hash = excluded.hash, "
                        "state = excluded.state, state_hash = excluded.state_hash "
                        "WHERE excluded.record_id > checkpoint.record_id",
                        (last, result.head, state, digest),
                    )
        return result

    def _load_checkpoint(self, conn: sqlite3.Connection) -> tuple[_Replay, str, int]:
        """(replayed state, hash of the last verified record, next id) from the checkpoint,
        or the genesis when there is none or it does not hold together."""
        genesis = (_Replay(), GENESIS_HASH, 1)
        if self._version < 2:
            return genesis
        row = conn.execute(
            "SELECT record_id, hash, state, state_hash FROM checkpoint WHERE id = 1"
        ).fetchone()
        if row is None:
            return genesis
        last, head, state, digest = row
        if not (isinstance(last, int) and isinstance(head, str) and isinstance(state, str)):
            return genesis
        if hashlib.sha256(f"{last}\n{head}\n{state}".encode()).hexdigest() != digest:
            return genesis
        at = conn.execute("SELECT hash FROM log WHERE id = ?", (last,)).fetchone()
        if at is None or at[0] != head:
            return genesis
        try:
            replay = _Replay.from_json(state)
        except (ValueError, KeyError, TypeError):
            return genesis
        return replay, head, last + 1

    def _verify(
        self,
        conn: sqlite3.Connection,
        anchor: str | None,
        replay: _Replay,
        prev: str,
        expected: int,
    ) -> VerifyResult:
        count = 0
        anchor_seen = anchor is None
        first = expected
        cursor = conn.execute(
            "SELECT id, ts_us, session_id, kind, data, prev_hash, hash FROM log WHERE id >= ? "
            "ORDER BY id",
            (expected,),
        )
        if first > 1:  # a record deleted just before the resumed walk still shows as a gap
            before = conn.execute("SELECT MAX(id) FROM log WHERE id < ?", (first,)).fetchone()
            if before[0] != first - 1:
                return VerifyResult(
                    False, 0, first - 1, f"Record {first - 1} is missing or was changed.", None
                )

        def broken(rid: int | None, problem: str) -> VerifyResult:
            return VerifyResult(False, count, rid, problem, prev if count else None)

        for row in cursor:
            rid, ts_us, sid, kind, text, prev_hash, digest = row
            if not isinstance(rid, int) or rid < expected:
                return broken(expected, f"Record {expected} has a malformed id.")
            if rid > expected:
                gap = (
                    f"Record {expected} is missing"
                    if rid == expected + 1
                    else f"Records {expected} to {rid - 1} are missing"
                )
                return broken(
                    expected, f"{gap}: the log jumps from record {expected - 1} to {rid}."
                )
            if not (
                isinstance(ts_us, int)
                and (sid is None or isinstance(sid, int))
                and isinstance(kind, str)
                and _KIND_RE.fullmatch(kind)
                and isinstance(text, str)
                and isinstance(prev_hash, str)
                and isinstance(digest, str)
            ):
                return broken(rid, f"Record {rid} has a field of the wrong type.")
            if prev_hash != prev:
                before = "the genesis value" if rid == 1 else f"record {rid - 1}'s hash"
                return broken(rid, f"Record {rid} does not chain: its prev_hash is not {before}.")
            if record_hash(prev_hash, rid, ts_us, sid, kind, text) != digest:
                return broken(
                    rid, f"Record {rid} was altered: its content does not match its hash."
                )
            try:
                data = json.loads(text)
            except ValueError:
                data = None
            if not isinstance(data, dict):
                return broken(rid, f"Record {rid} holds data that is not a JSON object.")
            problem = replay.apply(rid, ts_us, sid, kind, data)
            if problem is not None:
                return broken(rid, problem)
            if digest == anchor:
                anchor_seen = True
            prev = digest
            expected += 1
            count += 1

        seq_row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'log'").fetchone()
        seq = int(seq_row[0]) if seq_row is not None else 0
        head = prev
        last = first - 1 + count
        if seq > last:
            missing = (
                f"Record {last + 1} is missing"
                if seq == last + 1
                else f"Records {last + 1} to {seq} are missing"
            )
            return VerifyResult(
                False,
                count,
                last + 1,
                f"{missing}: the log was cut short after record {last}.",
                head,
            )
        if not anchor_seen:
            return VerifyResult(
                False,
                count,
                None,
                "No record has the anchor hash you gave: the log is not a continuation of the "
                "one you anchored.",
                head,
            )
        problem = replay.check_tables(conn)
        if problem is not None:
            return VerifyResult(False, count, None, problem, head)
        return VerifyResult(True, count, None, None, head)

    # --- export ------------------------------------------------------------------------------

    def export(
        self, fmt: Literal["csv", "json"], out: TextIO, session_id: int | None = None
    ) -> int:
        """Write the log (or one session's records) as CSV or JSON; returns the record count."""
        if fmt not in ("csv", "json"):
            raise StoreError(f"{_show(fmt)} is not an export format; choose csv or json.")
        with self._snapshot() as conn:
            return self._export(conn, fmt, out, session_id)

    def _export(
        self, conn: sqlite3.Connection, fmt: str, out: TextIO, session_id: int | None
    ) -> int:
        sql = "SELECT id, ts_us, session_id, kind, data, prev_hash, hash FROM log"
        try:
            if session_id is None:
                rows = conn.execute(sql + " ORDER BY id").fetchall()
            else:
                self._session_row(conn, session_id)
                rows = conn.execute(
                    sql + " WHERE session_id = ? ORDER BY id", (session_id,)
                ).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"The audit store could not be read ({exc}).") from exc
        if fmt == "csv":
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(
                ["id", "ts", "ts_us", "session_id", "kind", "data", "prev_hash", "hash"]
            )
            for rid, ts_us, sid, kind, text, prev_hash, digest in rows:
                writer.writerow(
                    [
                        rid,
                        iso_utc(int(ts_us)),
                        ts_us,
                        "" if sid is None else sid,
                        kind,
                        text,
                        prev_hash,
                        digest,
                    ]
                )
        else:
            document = {
                "format": "needlepen-audit-log",
                "format_version": 1,
                "schema_version": SCHEMA_VERSION,
                "genesis": GENESIS_HASH,
                "session": session_id,
                "records": [self.record_dict(self._record(row)) for row in rows],
            }
            # ASCII with \u escapes, as `log show` prints: no C1 control or bidi override
            # reaches a terminal or viewer raw
            json.dump(document, out, indent=1, ensure_ascii=True)
            out.write("\n")
        return len(rows)

    @staticmethod
    def record_dict(record: Record) -> dict[str, object]:
        """A record as a JSON-ready mapping (the shape used by exports and `log show --json`)."""
        ts_us = round(record.ts * 1_000_000)
        return {
            "id": record.id,
            "ts": iso_utc(ts_us),
            "ts_us": ts_us,
            "session_id": record.session_id,
            "kind": record.kind,
            "data": record.data,
            "prev_hash": record.prev_hash,
            "hash": record.hash,
        }


# --- replaying the chain to check the tables ------------------------------------------------


class _Replay:
    """What the operators, sessions, clients, treatments and cartridges tables should hold,
    rebuilt from the store's own records in the chain."""

    def __init__(self) -> None:
        self.operators: dict[str, dict[str, object]] = {}
        self.sessions: dict[int, dict[str, object]] = {}
        self.clients: dict[str, int] = {}
        self.treatments: dict[int, tuple[object, ...]] = {}
        self.cartridges: dict[tuple[int, int], tuple[int, int]] = {}
        self.withdrawals: dict[int, tuple[int, int]] = {}

    def to_json(self) -> str:
        """The replayed state as canonical JSON (the checkpoint keeps it)."""
        return json.dumps(
            {
                "operators": self.operators,
                "sessions": {str(k): v for k, v in self.sessions.items()},
                "clients": self.clients,
                "treatments": {str(k): list(v) for k, v in self.treatments.items()},
                "cartridges": [[c, s, *v] for (c, s), v in self.cartridges.items()],
                "withdrawals": {str(k): list(v) for k, v in self.withdrawals.items()},
            },
            sort_keys=True,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> _Replay:
        data = json.loads(text)
        replay = cls()
        replay.operators = {str(k): dict(v) for k, v in data["operators"].items()}
        replay.sessions = {int(k): dict(v) for k, v in data["sessions"].items()}
        replay.clients = {str(k): int(v) for k, v in data["clients"].items()}
        replay.treatments = {int(k): tuple(v) for k, v in data["treatments"].items()}
        replay.cartridges = {(int(c), int(s)): (a, b) for c, s, a, b in data["cartridges"]}
        replay.withdrawals = {int(k): (v[0], v[1]) for k, v in data["withdrawals"].items()}
        return replay

    def _legacy_admin(self, data: dict[str, Any]) -> bool:
        """A schema-1 record: its first professional operator is the administrator."""
        first_pro = all(state["role"] == "home" for state in self.operators.values())
        return data.get("role") != "home" and first_pro

    def _is_admin(self, op: object) -> bool:
        state = self.operators.get(str(op))
        return state is not None and bool(state["admin"]) and not state["disabled"]

    def _client(self, ref: object, ts_us: int) -> None:
        if isinstance(ref, str) and ref not in self.clients:
            self.clients[ref] = ts_us

    def apply(
        self, rid: int, ts_us: int, sid: int | None, kind: str, data: dict[str, Any]
    ) -> str | None:
        if kind not in STORE_KINDS:
            return None
        bad = f"Record {rid} is not a valid {kind} record"
        try:
            if kind == "operator_added":
                op = str(data["operator"])
                if op in self.operators:
                    return f"{bad}: operator '{op}' was already added."
                by = data.get("by")
                if "by" in data and self.operators and not self._is_admin(by):
                    return f"{bad}: {_show(by)} was not an active administrator."
                self.operators[op] = {
                    "name": data["name"],
                    "role": data["role"],
                    "pin": data["pin"],
                    "disabled": False,
                    "failed": 0,
                    "locked_until_us": None,
                    "created_us": ts_us,
                    "admin": bool(data["admin"]) if "admin" in data else self._legacy_admin(data),
                    "record": rid,
                }
            elif kind == "operator_disabled":
                if "by" in data and not self._is_admin(data["by"]):
                    return f"{bad}: {_show(data['by'])} was not an active administrator."
                self.operators[str(data["operator"])]["disabled"] = True
            elif kind in ("operator_unlocked", "operator_pin_reset"):
                if not self._is_admin(data["by"]):
                    return f"{bad}: {_show(data['by'])} was not an active administrator."
                state = self.operators[str(data["operator"])]
                state["failed"] = data["failed"]
                state["locked_until_us"] = data["locked_until_us"]
                if kind == "operator_pin_reset":
                    state["pin"] = data["pin"]
            elif kind in ("login", "login_failed"):
                op = str(data["operator"])
                if data.get("reason") != "unknown":
                    state = self.operators[op]
                    state["failed"] = data["failed"]
                    state["locked_until_us"] = data["locked_until_us"]
            elif kind == "session_opened":
                if sid is None or sid in self.sessions:
                    return f"{bad}: it does not open a new session."
                self.sessions[sid] = {
                    "role": data["role"],
                    "operator_id": data["operator"],
                    "client_ref": data["client"],
                    "device_serial": data["device_serial"],
                    "boot_id": data["boot_id"],
                    "device_class": data["device_class"],
                    "started_us": ts_us,
                    "ended_us": None,
                    "end_reason": None,
                }
                self._client(data["client"], ts_us)
            elif kind == "session_closed":
                session = self.sessions[sid] if sid is not None else None
                if session is None or session["ended_us"] is not None:
                    return f"{bad}: its session is not open."
                session["ended_us"] = ts_us
                session["end_reason"] = data["reason"]
            elif kind == "treatment_recorded":
                if sid not in self.sessions:
                    return f"{bad}: its session was never opened."
                self.treatments[rid] = (sid, data["client"], data["zone"], ts_us)
                self._client(data["client"], ts_us)
            elif kind == "treatment_withdrawn":
                treated = int(data["treatment"])
                if treated not in self.treatments or treated in self.withdrawals:
                    return f"{bad}: it withdraws no recorded treatment."
                self.withdrawals[treated] = (ts_us, rid)
            elif kind == "cartridge_recorded":
                if sid not in self.sessions:
                    return f"{bad}: its session was never opened."
                self.cartridges[(int(data["cartridge"]), sid)] = (ts_us, rid)
        except (KeyError, TypeError, ValueError):
            return f"{bad}: a field is missing or refers to something never recorded."
        return None

    def check_tables(self, conn: sqlite3.Connection) -> str | None:
        """The first disagreement between the tables and the chain, as one sentence."""
        seen: set[str] = set()
        has_admin = any(
            r[1] == "admin" for r in conn.execute("PRAGMA table_info(operators)").fetchall()
        )
        for row in conn.execute(
            "SELECT id, name, role, pin_salt, pin_hash, scrypt_n, scrypt_r, scrypt_p, disabled, "
            f"failed, locked_until_us, created_us, {'admin' if has_admin else '0'} "
            "FROM operators ORDER BY id"
        ):
            op = str(row[0])
            seen.add(op)
            want = self.operators.get(op)
            if want is None:
                return f"The operators table holds operator {_show(op)}, whom no record added."
            have = {
                "name": row[1],
                "role": row[2],
                "pin": pin_fingerprint(row[3], row[4], row[5], row[6], row[7]),
                "disabled": bool(row[8]),
                "failed": row[9],
                "locked_until_us": row[10],
                "created_us": row[11],
                # a schema-1 store read as it is has no administrator column to compare
                "admin": bool(row[12]) if has_admin else want["admin"],
            }
            for field, value in have.items():
                if want[field] != value:
                    return (
                        f"The operators table disagrees with the log about operator {_show(op)} "
                        f"({field.replace('_us', '')})."
                    )
        for op, want in self.operators.items():
            if op not in seen:
                return (
                    f"Operator {_show(op)}, added in record {want['record']}, is missing from "
                    "the operators table."
                )

        seen_sessions: set[int] = set()
        for row in conn.execute(
            "SELECT id, role, operator_id, client_ref, device_serial, boot_id, device_class, "
            "started_us, ended_us, end_reason FROM sessions ORDER BY id"
        ):
            sid = int(row[0])
            seen_sessions.add(sid)
            wanted = self.sessions.get(sid)
            if wanted is None:
                return f"The sessions table holds session {sid}, which no record opened."
            names = (
                "role",
                "operator_id",
                "client_ref",
                "device_serial",
                "boot_id",
                "device_class",
                "started_us",
                "ended_us",
                "end_reason",
            )
            for field, value in zip(names, row[1:], strict=True):
                if wanted[field] != value:
                    return (
                        f"The sessions table disagrees with the log about session {sid} "
                        f"({field.replace('_us', '')})."
                    )
        for sid in self.sessions:
            if sid not in seen_sessions:
                return f"Session {sid} is in the log but missing from the sessions table."

        clients = {str(r[0]): r[1] for r in conn.execute("SELECT ref, first_seen_us FROM clients")}
        if clients != self.clients:
            extra = sorted(set(clients) - set(self.clients))
            missing = sorted(set(self.clients) - set(clients))
            if extra:
                return f"The clients table holds {_show(extra[0])}, whom no record mentions."
            if missing:
                return (
                    f"Client {_show(missing[0])} is in the log but missing from the clients table."
                )
            return "The clients table disagrees with the log about when a client was first seen."

        treatments = {
            int(r[0]): (r[1], r[2], r[3], r[4])
            for r in conn.execute(
                "SELECT record_id, session_id, client_ref, zone, ts_us FROM treatments"
            )
        }
        count = conn.execute("SELECT COUNT(*) FROM treatments").fetchone()[0]
        if treatments != self.treatments or count != len(self.treatments):
            return "The treatments table disagrees with the treatment records in the log."

        cartridges = {
            (int(r[0]), int(r[1])): (r[2], r[3])
            for r in conn.execute(
                "SELECT cartridge_id, session_id, first_seen_us, record_id FROM cartridges"
            )
        }
        if cartridges != self.cartridges:
            return "The cartridges table disagrees with the cartridge records in the log."
        has_withdrawals = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'treatment_withdrawals'"
        ).fetchone()
        withdrawals = (
            {
                int(r[0]): (r[1], r[2])
                for r in conn.execute(
                    "SELECT treatment_record_id, ts_us, record_id FROM treatment_withdrawals"
                )
            }
            if has_withdrawals
            else {}
        )
        if withdrawals != self.withdrawals:
            return "The treatment_withdrawals table disagrees with the withdrawal records."
        return None
