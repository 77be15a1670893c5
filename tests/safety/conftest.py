"""Prints what the safety machine ran (examples, faults injected, invariants checked)."""

from __future__ import annotations

from typing import Any

from driver.testing.safety import COUNTS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if COUNTS.examples:
        terminalreporter.section("needlepen safety suite")
        for line in COUNTS.summary():
            terminalreporter.write_line(line)
