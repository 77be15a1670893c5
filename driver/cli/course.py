"""`needlepen course ...`, `needlepen client show` and `needlepen report`: courses and records.

    needlepen course plan --client REF --concern NAME [--zones Z ...] [--sessions N] --by ID
    needlepen course list [--client REF] [--json]
    needlepen course attach COURSE --session N --by ID [--pin-stdin]
    needlepen course close COURSE --reason TEXT --by ID
    needlepen client show REF [--json]
    needlepen report --session N [--output FILE] [--clinic NAME]

Planning, attaching to and closing a course is done by a logged-in operator: `--by ID` and
their PIN (asked without echo, or one line of standard input with --pin-stdin). Every command
takes `--db` and `--policy` like the others. Bad input is one sentence, a non-zero exit, and
nothing recorded.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from typing import Any

from driver.audit import AuditStore, Operator
from driver.cli.store import CliInputError, _db_parent, _open, _session_number
from driver.errors import DriverError
from driver.records.client import client_record
from driver.records.courses import Course, attach_session, close_course, courses, plan_course
from driver.records.report import render_report
from driver.safety.policy import load_policy
from driver.text import printable

__all__ = ["register"]


def _course_number(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{printable(text)[:40]}' is not a course number"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError("course numbers start at 1")
    return value


def _common() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False, parents=[_db_parent()])
    parent.add_argument("--policy", metavar="FILE", help="a clinic's policy file (TOML)")
    return parent


def _login() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--by", required=True, metavar="ID", help="the operator (PIN asked)")
    parent.add_argument("--pin-stdin", action="store_true", help="read the PIN from stdin")
    return parent


def register(subparsers: Any) -> None:
    """Add `course`, `client` and `report` to the `needlepen` command."""
    common, login = _common(), _login()
    course = subparsers.add_parser(
        "course", help="plan, list, attach and close treatment courses by concern"
    )
    actions = course.add_subparsers(dest="action", metavar="ACTION", required=True)
    plan = actions.add_parser("plan", parents=[common, login], help="plan a course")
    plan.add_argument("--client", required=True, metavar="REF", help="pseudonymous reference")
    plan.add_argument("--concern", required=True, metavar="NAME", help="a concern of the library")
    plan.add_argument("--zones", nargs="+", metavar="ZONE", help="default: the concern's zones")
    plan.add_argument("--sessions", type=int, metavar="N", help="default: the library's most")
    plan.set_defaults(handler=_plan)
    listing = actions.add_parser("list", parents=[common], help="list courses")
    listing.add_argument("--client", metavar="REF", help="only this client's")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=_list)
    attach = actions.add_parser(
        "attach", parents=[common, login], help="attach a session to a course"
    )
    attach.add_argument("course", type=_course_number, metavar="COURSE")
    attach.add_argument("--session", required=True, type=_session_number, metavar="N")
    attach.set_defaults(handler=_attach)
    close = actions.add_parser("close", parents=[common, login], help="close a course early")
    close.add_argument("course", type=_course_number, metavar="COURSE")
    close.add_argument("--reason", required=True, help="why the course ends early")
    close.set_defaults(handler=_close)

    client = subparsers.add_parser("client", help="a client's record: courses and next windows")
    client_actions = client.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = client_actions.add_parser("show", parents=[common], help="show a client's record")
    show.add_argument("client", metavar="REF")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=_client_show)

    report = subparsers.add_parser(
        "report", parents=[common], help="write a session's report (self-contained HTML)"
    )
    report.add_argument("--session", required=True, type=_session_number, metavar="N")
    report.add_argument("--output", metavar="FILE", help="write to FILE (default: stdout)")
    report.add_argument("--clinic", default="", metavar="NAME", help="the clinic's name")
    report.add_argument("--force", action="store_true", help="replace FILE if it exists")
    report.set_defaults(handler=_report)


def _operator(args: argparse.Namespace, store: AuditStore) -> Operator:
    """The operator of --by, logged in with their PIN (a recorded login)."""
    if args.pin_stdin:
        pin = sys.stdin.readline().rstrip("\r\n")
        if not pin:
            raise CliInputError("No PIN arrived on standard input; nothing was recorded.")
    elif not sys.stdin.isatty():
        raise CliInputError("There is no terminal to ask for the PIN on; use --pin-stdin.")
    else:
        try:
            pin = getpass.getpass(f"PIN of {printable(args.by)}: ")
        except EOFError:
            raise CliInputError("No PIN was entered; nothing was recorded.") from None
    return store.authenticate(args.by, pin)


def _line(c: Course) -> str:
    zones = ", ".join(c.zones)
    return (
        f"{c.id:>5}  {printable(c.client):<12}  {c.concern:<15}  "
        f"{c.sessions_done}/{c.sessions_planned}  {c.status.value:<8}  {zones}"
    )


def _plan(args: argparse.Namespace) -> int:
    policy = load_policy(args.policy)
    with _open(args, create=False) as store:
        by = _operator(args, store)
        c = plan_course(
            store,
            policy,
            client=args.client,
            concern=args.concern,
            by=by,
            zones=args.zones,
            sessions=args.sessions,
        )
    print(f"Planned course {c.id}: {c.line()} on {', '.join(c.zones)} for {printable(c.client)}.")
    return 0


def _list(args: argparse.Namespace) -> int:
    with _open(args, create=False, read_only=True) as store:
        found = courses(store, args.client)
    if args.json:
        rows = [
            {
                "id": c.id,
                "client": c.client,
                "concern": c.concern,
                "zones": list(c.zones),
                "sessions_done": c.sessions_done,
                "sessions_planned": c.sessions_planned,
                "status": c.status.value,
            }
            for c in found
        ]
        print(json.dumps(rows, indent=2))
        return 0
    if not found:
        print("No course is planned.")
        return 0
    print("   ID  Client        Concern          Done  Status    Zones")
    for c in found:
        print(_line(c))
    return 0


def _attach(args: argparse.Namespace) -> int:
    with _open(args, create=False) as store:
        by = _operator(args, store)
        before = next((c for c in courses(store) if c.id == args.course), None)
        already = before is not None and any(s.session_id == args.session for s in before.sessions)
        c = attach_session(store, args.course, args.session, by=by)
    if already:
        print(f"Session {args.session} was attached to course {c.id} already: {c.line()}.")
    else:
        print(f"Session {args.session} is attached to course {c.id}: {c.line()}.")
    return 0


def _close(args: argparse.Namespace) -> int:
    with _open(args, create=False) as store:
        by = _operator(args, store)
        c = close_course(store, args.course, args.reason, by)
    print(f"Course {c.id} is closed after {c.sessions_done} of {c.sessions_planned} sessions.")
    return 0


def _client_show(args: argparse.Namespace) -> int:
    policy = load_policy(args.policy)
    with _open(args, create=False, read_only=True) as store:
        record = client_record(store, policy, args.client)
    if args.json:
        print(json.dumps(record.to_json(), indent=2))
        return 0
    print(f"Client {printable(record.client)}")
    if not record.courses:
        print("  No course is planned.")
    for cr in record.courses:
        c = cr.course
        print(f"  {cr.label}: {c.sessions_done} of {c.sessions_planned} sessions, {c.status.value}")
        for z in cr.zones:
            last = f"last {z.last_date} at {z.last_depth_mm:.2f} mm" if z.last_date else "not yet"
            nxt = f", next {z.next_from} to {z.next_to}" if z.next_from else ""
            print(f"    {z.zone:<14} {last}{nxt} ({z.timing.value.replace('_', ' ')})")
    return 0


def _report(args: argparse.Namespace) -> int:
    policy = load_policy(args.policy)
    with _open(args, create=False, read_only=True) as store:
        text = render_report(store, policy, args.session, clinic=args.clinic)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    if os.path.exists(args.output) and not args.force:
        raise CliInputError(f"{printable(args.output)} exists already; add --force to replace it.")
    try:
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:
        raise DriverError(f"The report could not be written ({exc.strerror or exc}).") from exc
    print(f"Wrote the report of session {args.session} to {printable(args.output)}.")
    return 0
