"""The conformance suite's pytest plugin (entry point `pytest11`: needlepen-conformance).

It only adds command-line options and markers, and a summary section that appears only when a
conformance check was not run; it defines no fixtures and collects nothing, so an ordinary test
run of any project is unchanged. The checks and their fixtures are collected only when their
package is named (`pytest --pyargs driver.testing.conformance.checks`, `needlepen conformance`,
or the project's own tests/conformance).
"""

from __future__ import annotations

from typing import Any

import pytest

from .reasons import NOT_RUN_REASONS

MARKERS = (
    "manual: needs a physical action on the pen (cartridge, power, heat, a fault); done by the "
    "simulator's control hook, by an operator with --pen-operator, else reported as not run",
    "ends_session: the check ends the pen's session (HELLO, watchdog or reboot); such checks "
    "run last, so that a real pen needs fewer fresh cartridges",
)
#: The checks not run in this pytest run ("nodeid: reason"), in order.
not_run: list[str] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("needlepen-conformance", "needlepen pen conformance suite")
    group.addoption(
        "--pen-url",
        default=None,
        help=(
            "the pen the conformance checks talk to (device path or pyserial URL, e.g. "
            "/dev/ttyUSB0); default: the built-in simulator, in-process and on a pty"
        ),
    )
    group.addoption(
        "--pen-operator",
        action="store_true",
        default=False,
        help=(
            "ask an operator (on this terminal) for the physical steps some conformance checks "
            "need, and wait until telemetry shows they were done"
        ),
    )
    group.addoption(
        "--pen-device-class",
        default=None,
        choices=("home", "professional"),
        help=(
            "the device class the pen under test was built as: the conformance run stops at "
            "once if the pen's INFO says otherwise (for the simulator: the class it simulates)"
        ),
    )


def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    not_run.clear()


def not_run_reason(report: pytest.TestReport) -> str | None:
    """Why a conformance check was not run (no operator, or inconclusive), else None."""
    if not (report.skipped and report.when in ("setup", "call", "teardown")):
        return None
    reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else ""
    if any(r in reason for r in NOT_RUN_REASONS):
        return reason.removeprefix("Skipped: ")
    return None


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    reason = not_run_reason(report)
    if reason is not None:
        not_run.append(f"{report.nodeid}: {reason}")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    lines = list(not_run)
    plugins = terminalreporter.config.pluginmanager.get_plugins()
    if not lines or any(getattr(p, "prints_its_own_report", False) for p in plugins):
        return
    terminalreporter.section("conformance checks not run", sep="=", yellow=True, bold=True)
    terminalreporter.line(f"{len(lines)} check(s) were NOT run (which is not a pass):")
    for line in lines:
        terminalreporter.line(f"  {line}")
