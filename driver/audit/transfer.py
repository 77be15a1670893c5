"""Copying a workstation's store into the clinic's database, and the clinic's status view.

`import_store` copies every table and record of a source store (verified first) into an empty
target store in one transaction, keeping every id and hash, and verifies the chain again on
the target before it commits: a store that does not verify on both sides is refused with the
first bad record named, and nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass

from driver.audit.backend import Conn
from driver.audit.replay import Replay
from driver.audit.schema import grants
from driver.audit.store import AuditStore
from driver.audit.values import GENESIS_HASH, SCHEMA_VERSION
from driver.errors import StoreError

#: the tables in an order that keeps every reference valid while inserting
_TABLES: tuple[tuple[str, str], ...] = (
    ("operators", "id"),
    ("clients", "ref"),
    ("sessions", "id"),
    ("treatments", "id"),
    ("cartridges", "cartridge_id, session_id"),
    ("log", "id"),
    ("treatment_withdrawals", "treatment_record_id"),
)


@dataclass(frozen=True)
class Status:
    backend: str
    location: str
    schema_version: int
    records: int
    #: the last record the incremental check verified (None: never checked)
    verified_upto: int | None
    head: str


def status(store: AuditStore) -> Status:
    count = store._read("SELECT COUNT(*) AS n FROM log")[0]["n"]
    rows = store._read("SELECT record_id FROM checkpoint WHERE id = 1")
    return Status(
        store.backend,
        store.path,
        store.schema_version,
        int(count),
        int(rows[0]["record_id"]) if rows else None,
        store.head(),
    )


def import_store(source: AuditStore, target: AuditStore) -> int:
    """Copy `source` into the empty `target`; returns the number of records copied."""
    checked = source.verify()
    if not checked.ok:
        raise StoreError(
            f"The store {source._where} does not verify, so nothing was imported: "
            f"{checked.problem}"
        )
    if source._version < SCHEMA_VERSION:
        raise StoreError(
            f"The store {source._where} has schema version {source._version}; open it once "
            "with this needlepen (for example 'needlepen log show') to upgrade it, then import."
        )
    with source._snapshot() as src:
        tables = {
            name: [tuple(row) for row in src.execute(f"SELECT * FROM {name} ORDER BY {key}")]
            for name, key in _TABLES
        }
        columns = {
            name: [d[0] for d in src.execute(f"SELECT * FROM {name} LIMIT 0").description]
            for name, _ in _TABLES
        }
        legacy = src.execute(
            "SELECT value FROM meta WHERE key = 'legacy_treatments_upto'"
        ).fetchone()
    with target._write() as conn:
        if conn.execute("SELECT 1 FROM log LIMIT 1").fetchone() or conn.execute(
            "SELECT 1 FROM operators LIMIT 1"
        ).fetchone():
            raise StoreError(
                f"The store {target._where} already holds records; a store is imported only "
                "into an empty one (each chain starts at the genesis value)."
            )
        for name, _ in _TABLES:
            cols = columns[name]
            sql = (
                f"INSERT INTO {name} ({', '.join(cols)}) "
                f"VALUES ({', '.join('?' for _ in cols)})"
            )
            for row in tables[name]:
                conn.execute(sql, row)
        if legacy is not None:
            conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'legacy_treatments_upto'",
                (int(legacy["value"]),),
            )
        log = tables["log"]
        if log:
            target._backend.after_append(conn, int(log[-1][0]), str(log[-1][-1]))
        target._backend.after_import(conn)
        _verify_in(target, conn)
    return len(log)


def _verify_in(target: AuditStore, conn: Conn) -> None:
    result = target._verify(conn, None, Replay(), GENESIS_HASH, 1)
    if not result.ok:
        raise StoreError(
            f"The imported chain does not verify in {target._where}, so nothing was "
            f"imported: {result.problem}"
        )


def grant_app_role(store: AuditStore, role: str) -> None:
    """Grant an existing PostgreSQL role the application's rights (insert and read)."""
    if store.backend != "postgresql":
        raise StoreError("Roles and grants exist only in a PostgreSQL audit store.")
    if not role.replace("_", "").isalnum() or not role[:1].isalpha():
        raise StoreError(f"{role!r} is not a role name (letters, digits and _).")
    with store._write() as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = ?", (role,)).fetchone()
        if not exists:
            raise StoreError(
                f"There is no database role {role!r}; create it first (CREATE ROLE {role} "
                "LOGIN), with its password in ~/.pgpass on the workstations."
            )
        schema = conn.execute("SELECT current_schema() AS s").fetchone()["s"]
        for statement in grants(f'"{role}"', f'"{schema}"'):
            conn.execute(statement)
