"""`needlepen tui`: check the launch flags, choose the terminal driver, run the app.

The needle is stopped and the session closed on any exit (tui/app.py says how).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from textual.driver import Driver

import driver.session as session
from driver.errors import NotAllowed
from driver.session import DEFAULT_TELEMETRY_HZ, Workstation
from driver.vocabulary import PROFESSIONAL_ROLES, ROLE_NAMES, ZONE_NAMES

from .flow import client_ref_problem

if TYPE_CHECKING:
    from driver.session import Policy

__all__ = ["check_flags", "client_ref_problem", "run", "terminal_driver"]

ROLES = ROLE_NAMES


def check_flags(args: argparse.Namespace, policy: Policy) -> None:
    """Refuse, with one sentence, launch flags that cannot work (or work together)."""
    role = getattr(args, "role", None)
    if role is not None and role not in ROLES:
        raise NotAllowed(f"Unknown role {role!r}: the roles are {', '.join(ROLES)}.")
    zone = getattr(args, "zone", None)
    if zone is not None and zone not in ZONE_NAMES:
        raise NotAllowed(f"Unknown zone {zone!r}: the zones are {', '.join(ZONE_NAMES)}.")
    client = getattr(args, "client", None)
    if client is not None and (problem := client_ref_problem(client)):
        raise NotAllowed(problem)
    telemetry = getattr(args, "telemetry", None)
    if telemetry is not None and not 5 <= telemetry <= 200:
        raise NotAllowed(f"--telemetry {telemetry}: the pen streams 5 to 200 Hz.")
    operator = getattr(args, "operator", None)
    if role is not None and role not in PROFESSIONAL_ROLES and operator:
        raise NotAllowed(f"--operator is for the professional roles; {role} has no login.")
    if role == "engineer" and client:
        raise NotAllowed("The engineer role treats the bench zone only: it has no client.")
    if role is not None and zone is not None:
        from driver.session import Governor

        zones = Governor(policy).zones_for(role)
        if zone not in zones:
            raise NotAllowed(
                f"The {role} role cannot treat {zone}: its zones are {', '.join(zones)}."
            )
    port = getattr(args, "port", None) or ""
    if role in PROFESSIONAL_ROLES and "device_class=home" in port.replace(" ", ""):
        raise NotAllowed(f"A home pen forces the home role: --role {role} cannot work with {port}.")


def terminal_driver() -> type[Driver] | None:
    """The real program's driver: on Linux and macOS the one whose Escape is prompt
    (tui/input_driver.py); elsewhere, or when TEXTUAL_DRIVER names one, Textual's choice."""
    import os
    import sys

    if sys.platform == "win32" or os.environ.get("TEXTUAL_DRIVER"):
        return None
    from .input_driver import PromptEscapeDriver

    return PromptEscapeDriver


def run(args: argparse.Namespace) -> int:
    """`needlepen tui`: run the app; the needle is stopped and the session closed on any exit."""
    policy_file = getattr(args, "policy", None)
    flags = ("role", "operator", "zone", "client", "telemetry")
    # A policy file, or flags to check against the policy, are read now: a bad one is one
    # sentence before the screen opens. Without them the built-in policy is loaded once the
    # first screen is drawn (start-up, issue 12).
    policy = (
        session.load_policy(policy_file)
        if policy_file or any(getattr(args, k, None) for k in flags)
        else None
    )
    if policy is not None:
        check_flags(args, policy)
    port = getattr(args, "port", None)
    prefilled = any(getattr(args, k, None) for k in ("role", "operator", "zone", "client"))
    if port is None and prefilled:
        port = "sim://"
    from .app import NeedlepenApp

    workstation = Workstation.open(getattr(args, "db", None), policy)
    app = NeedlepenApp(
        workstation=workstation,
        port=port,
        role=getattr(args, "role", None),
        operator=getattr(args, "operator", None),
        client=(args.client.strip() if getattr(args, "client", None) else None),
        zone=getattr(args, "zone", None),
        handle_signals=True,
        driver_class=terminal_driver(),
        telemetry_hz=getattr(args, "telemetry", None) or DEFAULT_TELEMETRY_HZ,
        exit_guard=True,
    )
    try:
        code = app.run()
    finally:
        app.shutdown("the program ended")
        workstation.close()
    if app.stopped_for:
        print(f"needlepen: the needle was stopped and the session closed ({app.stopped_for}).")
    return int(code or app.return_code or 0)
