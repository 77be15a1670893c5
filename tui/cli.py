"""`needlepen tui`: the clinicians' terminal UI."""

from __future__ import annotations

import argparse
from typing import Any

from driver.vocabulary import ROLE_NAMES


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "tui",
        help="run a treatment in the terminal UI (default port: the built-in simulator)",
        description=(
            "The clinicians' terminal UI: connect, log in, screen the client, treat, summarise. "
            "Escape is the e-stop on every screen. Flags pre-fill the steps they answer."
        ),
    )
    p.add_argument(
        "--port",
        default=None,
        help=(
            "device path or pyserial URL; without it the connect screen lists the ports and the "
            "built-in simulator sim:// (the default when other step flags are given)"
        ),
    )
    p.add_argument(
        "--role",
        choices=list(ROLE_NAMES),
        help="the operator's role (professional roles need --operator and a PIN)",
    )
    p.add_argument("--operator", help="operator ID (see 'needlepen operators list')")
    p.add_argument("--zone", help="treatment zone to start on (see 'needlepen policy show')")
    p.add_argument("--client", help="pseudonymous client reference (no names)")
    p.add_argument("--db", help="audit store (default: the user data directory)")
    p.add_argument("--policy", help="clinic policy file (TOML) on top of the built-in policy")
    p.add_argument(
        "--telemetry",
        type=int,
        default=None,
        metavar="HZ",
        help="telemetry rate asked of the pen, 5 to 200 Hz (default 20)",
    )
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from .launch import run

    return run(args)
