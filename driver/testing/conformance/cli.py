"""`needlepen conformance`: run the shipped conformance suite against a pen and print a report.

    needlepen conformance --port /dev/ttyUSB0 [--operator] [--device-class home|professional]

It runs pytest on the installed checks (driver.testing.conformance.checks), isolated from the
current directory's pytest configuration, and prints the counts of passed, failed and not run
checks, with one line per failure saying what it means for a host. Exit 0 when nothing failed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from . import CHECKS_PACKAGE

PROFILES = {"ci": 100, "thorough": 2000}
#: The exit code when no check failed but some were not run (not a pass: a CI job must see it).
INCOMPLETE_EXIT = 3


def register(subparsers: Any) -> None:
    """Add `needlepen conformance` to the dispatcher."""
    p = subparsers.add_parser(
        "conformance",
        help="check that a pen keeps the promises of the wire protocol (for firmware teams)",
        description=(
            "Run the conformance suite against the pen on PORT (the pen runs the needle: keep "
            "it on a test block) and print a report: passed, failed and not run checks, and "
            "what each failure means. Exit 0 when every check ran and passed, 1 when one "
            "failed, 3 when none failed but some were not run (not a pass)."
        ),
        epilog=(
            "Examples: needlepen conformance --port /dev/ttyUSB0 --operator; "
            "needlepen conformance --port sim:// --device-class home"
        ),
    )
    p.add_argument(
        "--port", required=True, metavar="URL", help="device path or pyserial URL (sim://: ours)"
    )
    p.add_argument(
        "--operator",
        action="store_true",
        help="ask on this terminal for the physical steps (cartridge, power cycle)",
    )
    p.add_argument(
        "--device-class",
        choices=("home", "professional"),
        default=None,
        help="the class the pen was built as: stop at once if its INFO says otherwise",
    )
    p.add_argument("-k", metavar="EXPR", default=None, help="only checks matching EXPR")
    p.add_argument("-x", action="store_true", help="stop at the first failure")
    p.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="ci",
        help="generated cases: ci (25 per property, default) or thorough (500)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="pytest's full output")
    p.set_defaults(handler=run)


def pytest_args(args: argparse.Namespace) -> list[str]:
    """The pytest command line for one run (no configuration file of the current directory
    applies, no cache is written)."""
    from . import checks

    here = str(Path(checks.__file__).resolve().parent)
    out = [
        "--pyargs",
        CHECKS_PACKAGE,
        "--pen-url",
        args.port,
        "-c",
        os.devnull,
        "--rootdir",
        here,
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",  # the checks run in their order: those that end the session last
        "--no-header",
        "--tb=short",
        "-rN",
        "-v" if args.verbose else "-q",
    ]
    if args.operator:
        out.append("--pen-operator")
    if args.device_class:
        out += ["--pen-device-class", args.device_class]
    if args.k:
        out += ["-k", args.k]
    if args.x:
        out.append("-x")
    return out


def run(args: argparse.Namespace) -> int:
    import pytest

    from .report import Tally

    tally = Tally()
    code = pytest.main(pytest_args(args), plugins=[tally, _Profile(PROFILES[args.profile])])
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) and not tally.exit_reason:
        tally.exit_reason = f"pytest ended with {pytest.ExitCode(code).name} (see above)."
    print()
    for line in tally.render(args.port):
        print(line)
    if not tally.clean or code != pytest.ExitCode.OK:
        return 1
    return 0 if tally.passed else INCOMPLETE_EXIT


class _Profile:
    """Loads the hypothesis profile inside the run (hypothesis is imported by pytest's plugin
    first, so its modules are not imported twice) and keeps no example database: the
    command writes nothing into the current directory."""

    def __init__(self, max_examples: int) -> None:
        self.max_examples = max_examples
        self.home: str | None = None

    def pytest_configure(self, config: Any) -> None:
        from hypothesis import settings
        from hypothesis.configuration import set_hypothesis_home_dir

        self.home = tempfile.mkdtemp(prefix="needlepen-conformance-")
        set_hypothesis_home_dir(self.home)
        settings.register_profile(
            "needlepen-conformance", max_examples=self.max_examples, database=None
        )
        settings.load_profile("needlepen-conformance")

    def pytest_unconfigure(self, config: Any) -> None:
        if self.home is not None:
            shutil.rmtree(self.home, ignore_errors=True)
