"""The `needlepen` command: one dispatcher, subcommands contributed by each package.

Packages declare a `register(subparsers)` function under the `needlepen.commands` entry-point
group (see pyproject.toml), so this module never imports the simulator or the TUI by name.
Every error reaches the user as one sentence on stderr and a non-zero exit code, never a
traceback (set NEEDLEPEN_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any, NoReturn

from protocol.errors import NeedlepenError

from ..exit_hooks import install_exit_hooks

#: Modules of the driver package that add subcommands of their own.
_DRIVER_COMMAND_MODULES: tuple[str, ...] = (
    "driver.cli.policy",
    "driver.cli.store",
    "driver.cli.pen",
    "driver.cli.course",
)

Handler = Callable[[argparse.Namespace], int]


def _version() -> str:
    try:
        return metadata.version("needlepen")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


def register(subparsers: Any) -> None:
    """Add the driver's own subcommands (policy, operators, log, info, ports, course, client,
    report)."""
    import importlib

    for name in _DRIVER_COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)


class _VersionAction(argparse.Action):
    """--version, with the installed version looked up only when asked for (start-up time)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        print(f"needlepen {_version()}")
        parser.exit()


class Parser(argparse.ArgumentParser):
    """argparse with one sentence for a bad command line: what is wrong and where the options
    are listed, instead of the whole usage block (every subcommand's parser is one of these)."""

    def error(self, message: str) -> NoReturn:
        sentence = message[:1].upper() + message[1:]
        if not sentence.endswith("."):
            sentence += "."
        self.exit(2, f"{self.prog}: {sentence} '{self.prog} --help' lists the options.\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every subcommand; with `command`, of that one alone when the entry
    point of that name provides it (the TUI's start-up need not import every package)."""
    parser = Parser(
        prog="needlepen",
        description=(
            "Host software for a powered microneedling pen: a governed treatment session, "
            "an audit log, a terminal UI for clinicians and a software pen for testing."
        ),
        epilog="Run 'needlepen COMMAND --help' for the options of one command.",
    )
    parser.add_argument("--version", action=_VersionAction)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    entry_points = sorted(metadata.entry_points(group="needlepen.commands"), key=lambda e: e.name)
    named = [ep for ep in entry_points if ep.name == command]
    if named:
        named[0].load()(subparsers)
        if command in subparsers.choices:
            return parser
        return build_parser()  # that entry point names no command of its own: all of them
    seen: set[str] = set()
    for ep in entry_points:
        if ep.value in seen:
            continue
        seen.add(ep.value)
        ep.load()(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    first = args_list[0] if args_list and not args_list[0].startswith("-") else None
    parser = build_parser(first)
    args = parser.parse_args(args_list)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    install_exit_hooks()  # a pen opened by any subcommand stops its needle on SIGTERM and exit
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("needlepen: interrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `needlepen log export | head`: the reader had enough
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (NeedlepenError, OSError) as exc:  # a refusal or the machine: one sentence
        if os.environ.get("NEEDLEPEN_DEBUG"):
            raise
        print(f"needlepen: {exc}", file=sys.stderr)
        return 1
    except Exception:  # anything else is a bug: say so, and how to see it
        if os.environ.get("NEEDLEPEN_DEBUG"):
            raise
        print(
            "needlepen: internal error (NEEDLEPEN_DEBUG=1 shows the traceback).",
            file=sys.stderr,
        )
        return 70  # EX_SOFTWARE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
