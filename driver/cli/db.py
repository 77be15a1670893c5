"""`needlepen db init|status|import`: set up and look after a clinic's audit database.

`--db` takes a file path or a postgresql:// URL (also NEEDLEPEN_DB); the password is never
on the command line: libpq reads it from ~/.pgpass, PGPASSFILE, a service file or PGPASSWORD.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from driver.audit.base import DB_ENV
from driver.audit.store import AuditStore
from driver.audit.transfer import grant_app_role, import_store, status
from driver.errors import StoreError
from driver.text import printable


def _location(args: argparse.Namespace) -> str:
    """The store a writing db command works on: named, never a default (it creates or fills
    a clinic's database)."""
    location = args.db or os.environ.get(DB_ENV)
    if not location:
        raise StoreError(
            f"Name the audit store with --db (a file or a postgresql:// URL) or {DB_ENV}."
        )
    return str(location)


def cmd_db_init(args: argparse.Namespace) -> int:
    with AuditStore(_location(args)) as store:
        if args.app_role:
            grant_app_role(store, args.app_role)
        print(
            f"The audit store {printable(store.path)} is ready (schema version "
            f"{store.schema_version}, {store.backend})."
        )
        if args.app_role:
            print(f"Role {args.app_role} may read and insert; it cannot change or delete records.")
    return 0


def cmd_db_status(args: argparse.Namespace) -> int:
    # reading only: the same default as the other commands (log show, verify)
    location = args.db or os.environ.get(DB_ENV) or None
    with AuditStore(location, create=False, read_only=True) as store:
        s = status(store)
    verified = "never" if s.verified_upto is None else f"up to record {s.verified_upto}"
    for name, value in (
        ("backend", s.backend),
        ("store", printable(s.location)),
        ("schema version", s.schema_version),
        ("records", s.records),
        ("last verified", verified),
        ("head", s.head),
    ):
        print(f"{name + ':':16}{value}")
    return 0


def cmd_db_import(args: argparse.Namespace) -> int:
    with (
        AuditStore(args.source, create=False, read_only=True) as source,
        AuditStore(_location(args)) as target,
    ):
        count = import_store(source, target)
        print(
            f"Imported {count} records from {printable(source.path)} into "
            f"{printable(target.path)}; the chain verifies on both sides (head {target.head()})."
        )
    return 0


def register(subparsers: Any) -> None:
    """Add `db` to the `needlepen` command."""
    db = subparsers.add_parser(
        "db",
        help="create, inspect and import into an audit store (SQLite file or PostgreSQL)",
        description="The audit store of several workstations: a PostgreSQL database named by "
        "a postgresql:// URL (the password comes from ~/.pgpass, PGPASSFILE, a service file "
        "or PGPASSWORD, never from the URL).",
    )
    sub = db.add_subparsers(dest="action", metavar="ACTION", required=True)
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--db", metavar="PATH|URL", help=f"the audit store (default: ${DB_ENV})")
    init = sub.add_parser(
        "init",
        parents=[where],
        help="create the schema (idempotent; refuses a database that holds something else)",
    )
    init.add_argument(
        "--app-role",
        metavar="ROLE",
        help="grant this existing PostgreSQL role the application's rights: read and insert, "
        "never change or delete a record",
    )
    init.set_defaults(handler=cmd_db_init)
    stat = sub.add_parser(
        "status",
        help="schema version, record count, last verified point and head hash",
    )
    stat.add_argument(
        "--db",
        metavar="PATH|URL",
        help=f"the audit store (default: ${DB_ENV}, else needlepen.db in the user data directory)",
    )
    stat.set_defaults(handler=cmd_db_status)
    imp = sub.add_parser(
        "import",
        parents=[where],
        help="copy a workstation's SQLite store into an empty store, verified on both sides",
    )
    imp.add_argument("--from", dest="source", required=True, metavar="PATH",
                     help="the store to copy")  # fmt: skip
    imp.set_defaults(handler=cmd_db_import)
