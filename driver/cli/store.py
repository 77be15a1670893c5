"""`needlepen operators ...` and `needlepen log ...`: the audit store from the command line.

Every command takes `--db PATH` (default: needlepen.db in the user data directory). Commands
that only read refuse a path where no store exists rather than create an empty one, so a typo
in `--db` cannot make an empty log look intact. Bad input is one sentence and a non-zero exit,
and nothing is stored.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import hmac
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from driver.audit import (
    DB_ENV,
    PROFESSIONAL_ROLES,
    ROLES,
    AuditStore,
    Operator,
    check_new_operator,
    check_pin,
    is_url,
    iso_utc,
)
from driver.cli import db as audit_cli
from driver.errors import DriverError, UnknownOperator
from driver.paths import default_db_path
from driver.text import printable


class CliInputError(DriverError):
    """Input on the command line or the terminal was refused (nothing was changed)."""


_HASH_RE = re.compile(r"[0-9a-f]{64}")


def _db_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--db",
        metavar="PATH|URL",
        help="the audit store: a file or a postgresql:// URL (default: $NEEDLEPEN_DB, else "
        "needlepen.db in the user data directory)",
    )
    return parent


def _session_number(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{printable(text)[:40]}' is not a session number"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError("session numbers start at 1")
    return value


def register(subparsers: Any) -> None:
    """Add `operators`, `log` and `db` to the `needlepen` command."""
    audit_cli.register(subparsers)
    db = _db_parent()
    _register_operators(subparsers, db)
    _register_log(subparsers, db)


def _register_operators(subparsers: Any, db: argparse.ArgumentParser) -> None:
    ops = subparsers.add_parser(
        "operators",
        help="add, list and disable operators (PIN login for professional roles)",
        description="Operators of the pen. Professional roles (aesthetician, clinician, "
        "engineer) log in with a PIN; 5 wrong PINs in a row lock the operator for 15 minutes.",
    )
    ops_sub = ops.add_subparsers(dest="action", metavar="ACTION", required=True)

    admin = argparse.ArgumentParser(add_help=False)
    admin.add_argument(
        "--by",
        metavar="ADMIN",
        help="the administrator who authorises this change (asked for their PIN); not needed "
        "for the first operator of a new store, who becomes its administrator",
    )
    admin.add_argument(
        "--pin-stdin",
        action="store_true",
        help="read PINs from standard input, one per line (for scripts): first the "
        "administrator's, then the new one where a new PIN is set",
    )

    add = ops_sub.add_parser(
        "add",
        parents=[db, admin],
        help="add an operator",
        description="Add an operator. The first operator of a new store is its administrator "
        "(and so needs a professional role and a PIN); afterwards an administrator's ID (--by) "
        "and PIN authorise each new operator. For a professional role the new PIN (4 to 12 "
        "digits) is asked twice without echo, or read from standard input with --pin-stdin.",
    )
    add.add_argument("--id", required=True, dest="op_id", metavar="ID", help="login ID")
    add.add_argument("--name", required=True, help="the operator's full name")
    add.add_argument("--role", required=True, choices=ROLES, help="the operator's role")
    add.add_argument(
        "--admin", action="store_true", help="make the new operator an administrator too"
    )
    add.set_defaults(handler=cmd_operators_add)

    lst = ops_sub.add_parser("list", parents=[db], help="list operators and their state")
    lst.set_defaults(handler=cmd_operators_list)

    dis = ops_sub.add_parser(
        "disable",
        parents=[db, admin],
        help="disable an operator for good (needs an administrator)",
        description="Disable an operator: they can no longer log in. Their records stay; the "
        "ID cannot be enabled or reused. Asks to confirm on a terminal (--yes skips that).",
    )
    dis.add_argument("op_id", metavar="ID", help="the operator's login ID")
    dis.add_argument("--yes", action="store_true", help="do not ask to confirm")
    dis.set_defaults(handler=cmd_operators_disable)

    unlock = ops_sub.add_parser(
        "unlock",
        parents=[db, admin],
        help="lift a PIN lockout now (needs an administrator)",
        description="Lift an operator's lockout after wrong PINs before it expires.",
    )
    unlock.add_argument("op_id", metavar="ID", help="the operator's login ID")
    unlock.set_defaults(handler=cmd_operators_unlock)

    reset = ops_sub.add_parser(
        "reset-pin",
        parents=[db, admin],
        help="give an operator a new PIN (needs an administrator)",
        description="Set a new PIN for an operator (asked twice without echo, or the second "
        "line of standard input with --pin-stdin); it also lifts any lockout.",
    )
    reset.add_argument("op_id", metavar="ID", help="the operator's login ID")
    reset.set_defaults(handler=cmd_operators_reset_pin)


def _register_log(subparsers: Any, db: argparse.ArgumentParser) -> None:
    log = subparsers.add_parser(
        "log",
        help="show, export and verify the audit log",
        description="The append-only, hash-chained audit log of every session.",
    )
    log_sub = log.add_subparsers(dest="action", metavar="ACTION", required=True)

    show = log_sub.add_parser("show", parents=[db], help="print the log")
    show.add_argument("--session", type=_session_number, metavar="N", help="only session N")
    show.add_argument("--json", action="store_true", help="print a JSON array of records")
    show.set_defaults(handler=cmd_log_show)

    export = log_sub.add_parser(
        "export",
        parents=[db],
        help="export the log as CSV or JSON",
        description="Export the log (or one session) with every record's hashes, for auditors.",
    )
    export.add_argument("--format", required=True, choices=("csv", "json"), dest="fmt")
    export.add_argument("--session", type=_session_number, metavar="N", help="only session N")
    export.add_argument("--output", metavar="FILE", help="write to FILE (default: stdout)")
    export.add_argument("--force", action="store_true", help="replace FILE if it exists")
    export.set_defaults(handler=cmd_log_export)

    verify = log_sub.add_parser(
        "verify",
        parents=[db],
        help="check the hash chain and the tables (exit 1 when broken)",
        description="Walk the hash chain from its start and check the operators, sessions, "
        "clients, treatments and cartridges tables against it. Exit 0 when intact, 1 when "
        "not, naming the first broken record.",
    )
    verify.add_argument(
        "--anchor",
        metavar="HASH",
        help="a head hash printed by an earlier verify: the log must still contain it",
    )
    verify.set_defaults(handler=cmd_log_verify)


# --- helpers -------------------------------------------------------------------------------


def _open(args: argparse.Namespace, *, create: bool, read_only: bool = False) -> AuditStore:
    path = args.db or os.environ.get(DB_ENV) or default_db_path(create_dir=create)
    if is_url(path):  # a PostgreSQL store: the database says what exists
        return AuditStore(path, create=create and not read_only, read_only=read_only)
    if read_only:  # reading never writes, so a read-only copy can be shown and verified
        if not os.path.exists(path):
            raise CliInputError(f"There is no audit store at {printable(str(path))}.")
        return AuditStore(path, create=False, read_only=True)
    return AuditStore(path, create=create)


def _records(n: int) -> str:
    return f"{n} record{'' if n == 1 else 's'}"


def _status(op: Operator) -> str:
    if op.disabled:
        return "disabled"
    if op.locked_until is not None:
        return "locked until " + time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(op.locked_until))
    if op.failed_attempts:
        n = op.failed_attempts
        return f"active ({n} wrong PIN{'s' if n != 1 else ''})"
    return "active"


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    ]
    return "\n".join(lines)


class _Pins:
    """PINs for one command: from the terminal without echo, or lines of stdin."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.from_stdin = bool(args.pin_stdin)

    def _line(self, what: str) -> str:
        line = sys.stdin.readline()
        if not line:
            raise CliInputError(f"No {what} arrived on standard input; nothing was stored.")
        return line.rstrip("\r\n")

    def _ask(self, prompt: str) -> str:
        if not sys.stdin.isatty():
            raise CliInputError(
                "There is no terminal to ask for the PIN on; pipe it in with --pin-stdin."
            )
        try:
            return getpass.getpass(prompt)
        except EOFError:
            raise CliInputError("No PIN was entered; nothing was stored.") from None

    def admin(self, admin_id: str) -> str:
        if self.from_stdin:
            return self._line("administrator's PIN")
        return self._ask(f"PIN of administrator {_safe(admin_id)}: ")

    def new(self, op_id: str) -> str:
        if self.from_stdin:
            return check_pin(self._line("PIN"))
        first = self._ask(f"New PIN for {_safe(op_id)} (4 to 12 digits): ")
        check_pin(first)
        second = self._ask("The same PIN again: ")
        if not hmac.compare_digest(first.encode(), second.encode()):
            raise CliInputError("The two PINs differ; nothing was stored.")
        return first


def _safe(text: object) -> str:
    """User-given text for the terminal: control, format and bidi characters escaped."""
    return printable(str(text))


def _authority(args: argparse.Namespace, store: AuditStore, pins: _Pins) -> tuple[str, str] | None:
    """The administrator's (ID, PIN) for a change; None for the first operator of a store."""
    if not store.list_operators():
        return None
    if not args.by:
        raise CliInputError(
            "This change needs an administrator: add --by ADMIN_ID (their PIN is asked)."
        )
    return args.by, pins.admin(args.by)


# --- handlers ------------------------------------------------------------------------------


def cmd_operators_add(args: argparse.Namespace) -> int:
    check_new_operator(args.op_id, args.name, args.role)
    pins = _Pins(args)
    with _open(args, create=True) as store:
        try:
            store.get_operator(args.op_id)
        except UnknownOperator:
            pass
        else:
            raise CliInputError(f"An operator with ID '{args.op_id}' already exists.")
        first = not store.list_operators()
        if first and args.role not in PROFESSIONAL_ROLES:
            raise CliInputError(
                "The first operator administers the store and logs in with a PIN: give them a "
                "professional role (aesthetician, clinician or engineer)."
            )
        by = _authority(args, store, pins)
        if args.role in PROFESSIONAL_ROLES:
            pin: str | None = pins.new(args.op_id)
        elif args.pin_stdin and by is None:
            raise CliInputError("The home role has no PIN; leave out --pin-stdin.")
        else:
            pin = None
        op = store.add_operator(args.op_id, args.name, args.role, pin, by=by, admin=args.admin)
    login = "logs in with a PIN" if op.role in PROFESSIONAL_ROLES else "needs no PIN"
    print(f"Added operator {op.id} ({_safe(op.name)}, {op.role}); {login}.")
    if first:
        print(
            f"{op.id} is the first operator of this store and so its administrator: adding, "
            "disabling and unlocking operators and resetting PINs now need their ID and PIN."
        )
    return 0


def cmd_operators_list(args: argparse.Namespace) -> int:
    with _open(args, create=False, read_only=True) as store:
        ops = store.list_operators()
    if not ops:
        print("No operators yet; add one with 'needlepen operators add'.")
        return 0
    rows: list[tuple[str, ...]] = [
        (op.id, _safe(op.name), op.role + (" (admin)" if op.admin else ""), _status(op))
        for op in ops
    ]
    print(_table(("ID", "NAME", "ROLE", "STATUS"), rows))
    return 0


def cmd_operators_disable(args: argparse.Namespace) -> int:
    pins = _Pins(args)
    with _open(args, create=False) as store:
        before = store.get_operator(args.op_id)
        if before.disabled:
            print(f"Operator {before.id} was already disabled.")
            return 0
        if not args.yes:
            if not sys.stdin.isatty() or args.pin_stdin:
                raise CliInputError(
                    "Disabling an operator is for good: confirm on a terminal, or add --yes."
                )
            try:
                answer = input(
                    f"Disable operator {before.id} ({_safe(before.name)}) for good? "
                    "Type the ID to confirm: "
                )
            except EOFError:
                answer = ""
            if answer.strip() != before.id:
                raise CliInputError("Not confirmed; nothing was changed.")
        by = _authority(args, store, pins)
        store.disable_operator(args.op_id, by=by)
    print(f"Operator {before.id} is disabled; they can no longer log in.")
    return 0


def cmd_operators_unlock(args: argparse.Namespace) -> int:
    pins = _Pins(args)
    with _open(args, create=False) as store:
        op = store.get_operator(args.op_id)
        by = _authority(args, store, pins)
        store.unlock_operator(op.id, by=by)
    print(f"Operator {op.id} is unlocked; their wrong-PIN count starts afresh.")
    return 0


def cmd_operators_reset_pin(args: argparse.Namespace) -> int:
    pins = _Pins(args)
    with _open(args, create=False) as store:
        op = store.get_operator(args.op_id)
        if op.role not in PROFESSIONAL_ROLES:
            raise CliInputError(f"Operator {op.id} has the home role, which has no PIN.")
        by = _authority(args, store, pins)
        pin = pins.new(op.id)
        store.reset_pin(op.id, pin, by=by)
    print(f"Operator {op.id} has a new PIN.")
    return 0


def cmd_log_show(args: argparse.Namespace) -> int:
    with _open(args, create=False, read_only=True) as store:
        records = store.records(args.session)
    if args.json:
        json.dump([AuditStore.record_dict(r) for r in records], sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    if not records:
        print(
            "The audit log is empty."
            if args.session is None
            else f"Session {args.session} has no records."
        )
        return 0
    for r in records:
        ts = iso_utc(round(r.ts * 1_000_000))
        session = "-" if r.session_id is None else f"s{r.session_id}"
        data = json.dumps(r.data, sort_keys=True, separators=(", ", ": "))
        print(f"{r.id:>6}  {ts}  {session:>5}  {r.kind:<18}  {data}")
    return 0


def cmd_log_export(args: argparse.Namespace) -> int:
    with _open(args, create=False, read_only=True) as store:
        if args.output is None:
            count = store.export(args.fmt, sys.stdout, args.session)
            print(f"Exported {_records(count)}.", file=sys.stderr)
            return 0
        target = Path(args.output)
        if target.exists() and not args.force:
            raise CliInputError(
                f"{_safe(target)} already exists; choose another name or add --force."
            )
        if target.is_dir():
            raise CliInputError(f"{_safe(target)} is a directory.")
        directory = target.parent if str(target.parent) else Path(".")
        if not directory.is_dir():
            raise CliInputError(f"The directory {_safe(directory)} does not exist.")
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=directory)
        except OSError as exc:
            why = (exc.strerror or str(exc)).lower()
            raise CliInputError(
                f"Cannot write {_safe(target)}: no new file can be made in {_safe(directory)} "
                f"({why})."
            ) from exc
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
                count = store.export(args.fmt, out, args.session)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except OSError as exc:  # a full disk, a quota: nothing half-written is left
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise CliInputError(
                f"Cannot write {_safe(target)}: {exc.strerror or exc}; nothing was written."
            ) from exc
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    print(f"Exported {_records(count)} to {_safe(target)}.", file=sys.stderr)
    return 0


def cmd_log_verify(args: argparse.Namespace) -> int:
    anchor = args.anchor
    if anchor is not None:
        anchor = anchor.strip().lower()
        if not _HASH_RE.fullmatch(anchor):
            raise CliInputError("An anchor is a head hash: 64 hexadecimal digits.")
    with _open(args, create=False, read_only=True) as store:
        result = store.verify(anchor)
    if result.ok:
        print(
            f"The audit log is intact: {_records(result.count)}, head {result.head}; the "
            "operators, sessions, clients, treatments and cartridges tables agree with it."
        )
        return 0
    print(f"The audit log is NOT intact: {result.problem}")
    if result.count == 1:
        print("Record 1 verified before the problem.")
    elif result.count:
        print(f"Records 1 to {result.count} verified before the problem.")
    return 1


def main(argv: list[str] | None = None) -> int:
    """Run these commands without the `needlepen` dispatcher (`python -m driver.cli.store`)."""
    parser = argparse.ArgumentParser(prog="needlepen")
    register(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
        return code
    except KeyboardInterrupt:
        print("needlepen: interrupted.", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("NEEDLEPEN_DEBUG"):
            raise
        print(f"needlepen: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
