"""`needlepen policy`: show the effective policy, check a clinic's file, try the governor.

    needlepen policy show [--policy FILE] [--format table|toml]
    needlepen policy check FILE
    needlepen policy decide [--policy FILE] < requests.jsonl > decisions.jsonl

`decide` is for QA and integrators: one JSON request per line in, one JSON decision per line
out, in the same order; a line that is not a valid request is rejected with a reason and the
stream goes on.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any, Final

from ..safety import DEVICE_CLASSES, Decision, DeviceLimits, Governor, Request
from ..safety.policy import (
    ROLE_NAMES,
    ZONE_NAMES,
    Policy,
    PolicyError,
    default_policy,
    diff_policies,
    load_policy,
    loosens,
    policy_digest,
    policy_to_toml,
)
from ..text import printable
from ..vocabulary import mm_number

__all__ = ["decide_lines", "register"]

#: Keys of one `decide` request line.
REQUIRED_KEYS: Final = ("role", "zone", "depth_mm", "rate_hz", "device_class")
OPTIONAL_KEYS: Final = ("override_reason", "last_session_days_ago", "device")
DEVICE_KEYS: Final = ("depth_min_mm", "depth_max_mm", "depth_step_mm", "rate_min_hz", "rate_max_hz")
#: At most this many problems are printed by `check` (one line each).
MAX_CHECK_LINES: Final = 3


def register(subparsers: Any) -> None:
    """Add `policy` with its actions `show`, `check` and `decide`."""
    parser = subparsers.add_parser(
        "policy",
        help="show, check and try out the treatment policy",
        description=(
            "The treatment policy: depth limits per zone and role, rate ranges and the interval "
            "between sessions. A clinic's TOML file changes only the keys it names; built-in "
            "ceilings hold whatever it says."
        ),
    )
    actions = parser.add_subparsers(dest="policy_action", metavar="ACTION")

    def usage(_: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return 2

    parser.set_defaults(handler=usage)

    show = actions.add_parser(
        "show",
        help="print the effective policy",
        description="Print the effective policy (the default, or the default with FILE applied).",
    )
    show.add_argument("--policy", metavar="FILE", help="a clinic's policy file (TOML)")
    show.add_argument(
        "--format",
        choices=("table", "toml"),
        default="table",
        help="'table' for people (default) or 'toml' for a complete, loadable policy file",
    )
    show.set_defaults(handler=_cmd_show)

    check = actions.add_parser(
        "check",
        help="validate a policy file",
        description=(
            "Validate a policy file: exit 0 with a summary of what it changes, or exit 1 with "
            "one line per broken rule (at most three)."
        ),
    )
    check.add_argument("file", metavar="FILE", help="the policy file (TOML) to check")
    check.set_defaults(handler=_check)

    decide = actions.add_parser(
        "decide",
        help="run the governor on JSON lines from stdin",
        description=(
            "Read one JSON request per line on stdin, with keys role, zone, depth_mm, rate_hz, "
            "device_class ('home' or 'professional') and optionally override_reason, "
            "last_session_days_ago and device (an object with depth_min_mm, depth_max_mm, "
            "depth_step_mm, rate_min_hz, rate_max_hz overriding the class defaults). Write one "
            "JSON decision per line on stdout with keys outcome, depth_mm, rate_hz, reasons "
            "and more. An invalid line gets outcome 'rejected' and the stream goes on."
        ),
    )
    decide.add_argument("--policy", metavar="FILE", help="a clinic's policy file (TOML)")
    decide.set_defaults(handler=_decide)


# --- show ----------------------------------------------------------------------------------------


def _mm(value: float | None) -> str:
    return "-" if value is None else mm_number(round(value * 1000))


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def render_table(policy: Policy, source: str) -> str:
    """The policy for people: roles, zones and the cap each role gets on a professional pen."""
    governor = Governor(policy)
    device = DeviceLimits.professional()
    skin = [z for z in ZONE_NAMES if z != "bench"]
    out = [
        f"Treatment policy: {source}",
        f"Digest (SHA-256): {policy_digest(policy)}",
        f"Minimum days between sessions on one zone: {policy.min_days_between_sessions}",
        "",
    ]
    rows = [["Role", "Depth cap (mm)", "Rate (Hz)", "Zones"]]
    for name in ROLE_NAMES:
        r = policy.role(name)
        zones = list(r.zones)
        if zones == skin:
            zone_text = "all skin zones"
        elif not zones:
            zone_text = "none"
        else:
            zone_text = ", ".join(zones)
        rows.append([name, _mm(r.max_depth_mm), f"{r.rate_min_hz}-{r.rate_max_hz}", zone_text])
    out += _table(rows)
    out.append("")
    header = ["Zone", "Recommended", "Hard", *ROLE_NAMES]
    rows = [header]
    for zone in ZONE_NAMES:
        z = policy.zone(zone)
        row = [zone, _mm(z.recommended_max_mm), _mm(z.hard_max_mm)]
        for role in ROLE_NAMES:
            cap = governor.cap_for(role, zone, device)
            cell = _mm(cap)
            if role == "clinician":
                lifted = governor.cap_for(role, zone, device, override=True)
                if lifted is not None and cap is not None and lifted > cap:
                    cell += f" ({_mm(lifted)} with reason)"
            row.append(cell)
        rows.append(row)
    out += _table(rows)
    out += [
        "",
        "Depths in mm. The role columns give the deepest depth each role gets on a professional",
        "pen (0.25-3.00 mm, 0.05 mm steps); '-' means the role may not treat that zone. A home",
        "pen forces the home role.",
    ]
    out += _concern_lines(policy)
    return "\n".join(out) + "\n"


def _concern_lines(policy: Policy) -> list[str]:
    """The concern library: per concern its course, interval, rate and depth per zone."""
    if not policy.concerns:
        return []
    rows = [["Concern", "Roles", "Sessions", "Interval (d)", "Rate (Hz)", "Downtime", "Depth (mm)"]]
    for name, c in policy.concerns.items():
        band = c.downtime()
        rows.append(
            [
                name,
                ", ".join(c.roles) or "none",
                f"{c.sessions[0]}-{c.sessions[1]}",
                f"{c.interval_days[0]}-{c.interval_days[1]}",
                f"{c.rate_hz[0]}-{c.rate_hz[1]}",
                f"{band.min_days}-{band.max_days} d" if band else "-",
                ", ".join(f"{z} {_mm(lo)}-{_mm(hi)}" for z, (lo, hi) in c.depth_mm.items()),
            ]
        )
    return [
        "",
        *_table(rows),
        "",
        "The concern library suggests; the governor decides. Each depth range lies within the",
        "cap of every role listed (a clinician's cap with a recorded reason). Downtime is that",
        "of the deepest guidance.",
    ]


def _cmd_show(args: argparse.Namespace) -> int:
    policy = load_policy(args.policy)
    if args.format == "toml":
        sys.stdout.write(policy_to_toml(policy))
    else:
        source = "built-in default" if args.policy is None else f"default with {args.policy}"
        sys.stdout.write(render_table(policy, source))
    return 0


# --- check ---------------------------------------------------------------------------------------


def _check(args: argparse.Namespace) -> int:
    try:
        policy = load_policy(args.file)
    except PolicyError as exc:
        problems = list(exc.problems)
        shown = problems[:MAX_CHECK_LINES]
        if len(problems) > MAX_CHECK_LINES:
            more = len(problems) - MAX_CHECK_LINES
            shown[-1] += f" ({more} more problem{'s' if more > 1 else ''} not shown)"
        for line in shown:
            print(f"{printable(str(args.file))}: {line}", file=sys.stderr)
        return 1
    changes = diff_policies(default_policy(), policy)
    name = printable(str(args.file))
    if not changes:
        print(f"{name}: valid policy; it changes nothing of the default.")
    else:
        print(f"{name}: valid policy; it changes {len(changes)} key(s) of the default:")
        looser = [key for key, old, new in changes if loosens(key, old, new)]
        for key, old, new in changes:
            mark = "  (LOOSENS the default)" if key in looser else ""
            if key.count(".") == 1 and key.startswith("concerns."):
                what = (
                    "left out: its guidance passes a cap of this file" if new is None else "added"
                )
                print(f"  {key}: {what}")
                continue
            print(f"  {key}: {_value(old)} -> {_value(new)}{mark}")
        if looser:
            print(
                f"It LOOSENS the default in {len(looser)} key(s) ({', '.join(looser)}): this "
                "allows more than the shipped policy, still within the built-in ceilings."
            )
        else:
            print("It only tightens the default.")
    print(f"Digest (SHA-256): {policy_digest(policy)}")
    return 0


def _value(value: Any) -> str:
    if isinstance(value, tuple | list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


# --- decide --------------------------------------------------------------------------------------


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _request_from(line: str) -> Request | str:
    """The governor request a JSON line asks for, or why the line is not a valid request."""
    if not line.strip():
        return "The line is empty; a request is one JSON object per line."
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"The line is not valid JSON: {exc.msg} at column {exc.colno}."
    except (ValueError, RecursionError) as exc:  # e.g. an integer too long to convert
        return f"The line is not valid JSON ({type(exc).__name__})."
    if not isinstance(data, dict):
        return "The line is not a JSON object with the keys of a request."
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        return f"The request is missing the key(s) {', '.join(missing)}."
    unknown = [k for k in data if k not in REQUIRED_KEYS and k not in OPTIONAL_KEYS]
    if unknown:
        return f"The request has unknown key(s) {', '.join(map(repr, unknown))}."
    for key in ("role", "zone"):
        if not isinstance(data[key], str):
            return f"The key {key} must be a string."
    for key in ("depth_mm", "rate_hz"):
        if not _is_number(data[key]):
            return f"The key {key} must be a number."
    reason = data.get("override_reason")
    if reason is not None and not isinstance(reason, str):
        return "The key override_reason must be a string or null."
    days = data.get("last_session_days_ago")
    if days is not None and not _is_number(days):
        return "The key last_session_days_ago must be a number or null."
    device_class = data["device_class"]
    if not isinstance(device_class, str) or device_class not in DEVICE_CLASSES:
        return "The key device_class must be 'home' or 'professional'."
    device = DeviceLimits.for_class(device_class)
    overrides = data.get("device")
    if overrides is not None:
        if not isinstance(overrides, dict):
            return "The key device must be an object of pen limits."
        bad = [k for k in overrides if k not in DEVICE_KEYS]
        if bad:
            return f"The key device has unknown key(s) {', '.join(map(repr, bad))}."
        wrong = [k for k, v in overrides.items() if not _is_number(v)]
        if wrong:
            return f"The pen limit(s) {', '.join(wrong)} must be numbers."
        fields = {
            "device_class": device_class,
            "depth_min_mm": overrides.get("depth_min_mm", device.depth_min_mm),
            "depth_max_mm": overrides.get("depth_max_mm", device.depth_max_mm),
            "depth_step_mm": overrides.get("depth_step_mm", device.depth_step_mm),
            "rate_min_hz": overrides.get("rate_min_hz", device.rate_min_hz),
            "rate_max_hz": overrides.get("rate_max_hz", device.rate_max_hz),
        }
        device = DeviceLimits(**fields)
    return Request(
        role=data["role"],
        zone=data["zone"],
        depth_mm=data["depth_mm"],
        rate_hz=data["rate_hz"],
        device=device,
        override_reason=reason,
        last_session_days_ago=days,
    )


def decide_lines(governor: Governor, lines: Iterable[bytes]) -> Iterator[str]:
    """One JSON decision (without newline) for each input line, in order. Never raises."""
    for raw in lines:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            decision = Decision.rejected(("The line is not UTF-8 text.",), bound_by="input")
        else:
            try:
                request = _request_from(text)
            except Exception as exc:  # a line must never stop the stream
                request = f"The line could not be read as a request ({type(exc).__name__})."
            if isinstance(request, str):
                decision = Decision.rejected((request,), bound_by="input")
            else:
                decision = governor.decide(request)
        yield json.dumps(decision.to_json_dict(), allow_nan=False)


def _decide(args: argparse.Namespace) -> int:
    governor = Governor(load_policy(args.policy))
    out: IO[str] = sys.stdout
    for line in decide_lines(governor, sys.stdin.buffer):
        out.write(line + "\n")
        out.flush()
    return 0
