"""The audit store: operators, clients, sessions, cartridges and a hash-chained event log.

One store contract over two backends (driver/audit/backend.py): an SQLite file (the default,
WAL journal with synchronous=FULL) for one room or home use, or a PostgreSQL database shared
by a clinic's workstations (driver/audit/postgres.py). Either way every append is durable
before `append()` returns: the Pen commits each decision before its command goes on the wire,
and a crash loses nothing that was sent.

The event log is append-only (triggers refuse UPDATE and DELETE) and hash-chained: each record
carries the SHA-256 of the one before it, so `verify()` finds a record that was edited,
deleted, reordered or re-hashed even after someone dropped the triggers. The other tables are
kept honest the cheap way: every change to them is also a record in the chain, and `verify()`
replays those records and checks the tables against them. docs/AUDIT.md describes the schema,
the chain and the export formats for auditors.

Clients are a pseudonymous reference only (a chart number, never a name): the store keeps the
reference and nothing else about the person.
"""

from __future__ import annotations

from driver.audit.export import ExportMixin
from driver.audit.operators import OperatorsMixin
from driver.audit.sessions import SessionsMixin
from driver.audit.verify import VerifyMixin


class AuditStore(OperatorsMixin, SessionsMixin, VerifyMixin, ExportMixin):
    """The audit store of one SQLite file (or ":memory:") or one PostgreSQL database.

    Thread-safe; close() when done."""

    def __enter__(self) -> AuditStore:
        return self
