"""The report `needlepen conformance` prints: counts, then one line per failure with what it
means, then the checks that were not run and why.

`Tally` is a pytest plugin object (registered by the command for its one run) that keeps one
outcome per check; `Tally.render()` gives the report's lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from .meanings import meaning
from .reasons import NOT_RUN_REASONS, OTHER_CLASS_REASON

PASSED = "passed"
FAILED = "failed"
NOT_RUN = "not run"
NOT_APPLICABLE = "not applicable"


@dataclass
class Outcome:
    check: str
    result: str = PASSED
    sentence: str = ""


def _first_line(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = str(getattr(crash, "message", "") or "") if crash is not None else ""
    if not text:
        text = report.longreprtext
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "failed")
    # "driver.testing.conformance.client.ConformanceError: The pen ..." -> "The pen ..."
    head, sep, rest = line.partition(": ")
    if sep and (head.endswith("Error") or head.endswith("Failed")) and " " not in head:
        line = rest
    return line.removeprefix("Failed: ")


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    reason = str(longrepr[2]) if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


@dataclass(eq=False)  # a pytest plugin must be hashable
class Tally:
    """One outcome per check, the worst of its phases (setup, call, teardown)."""

    outcomes: dict[str, Outcome] = field(default_factory=dict)
    exit_reason: str = ""
    #: the plugin's "not run" summary stays quiet: this report lists them
    prints_its_own_report = True

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        name = report.nodeid.rsplit("::", 1)[-1]
        out = self.outcomes.setdefault(report.nodeid, Outcome(name))
        if report.failed and out.result != FAILED:
            out.result, out.sentence = FAILED, _first_line(report)
        elif report.skipped and out.result == PASSED:
            reason = _skip_reason(report)
            other = OTHER_CLASS_REASON in reason and not any(r in reason for r in NOT_RUN_REASONS)
            out.result = NOT_APPLICABLE if other else NOT_RUN
            out.sentence = reason

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            out = self.outcomes.setdefault(report.nodeid, Outcome(report.nodeid or "collection"))
            out.result, out.sentence = FAILED, _first_line(report)  # type: ignore[arg-type]

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        """pytest.exit (a pen of the wrong class) or Ctrl-C: the run stopped early."""
        self.exit_reason = str(excinfo.value).strip() or "interrupted."

    def count(self, result: str) -> int:
        return sum(1 for o in self.outcomes.values() if o.result == result)

    def render(self, label: str) -> list[str]:
        counts = {r: self.count(r) for r in (PASSED, FAILED, NOT_RUN, NOT_APPLICABLE)}
        lines = [
            f"Conformance of the pen on {label}: {counts[PASSED]} passed, {counts[FAILED]} failed, "
            f"{counts[NOT_RUN]} not run, {counts[NOT_APPLICABLE]} not applicable to this pen."
        ]
        if self.exit_reason:
            lines.append(f"The run stopped: {self.exit_reason}")
        failed = [o for o in self.outcomes.values() if o.result == FAILED]
        if failed:
            lines.append("Failed (the pen does not keep these promises):")
            lines += [f"  {o.check}: {o.sentence} Means: {meaning(o.check)}." for o in failed]
        not_run = [o for o in self.outcomes.values() if o.result == NOT_RUN]
        if not_run:
            lines.append("Not run (which is not a pass):")
            lines += [f"  {o.check}: {o.sentence}" for o in not_run]
        if failed or self.exit_reason:
            lines.append("Verdict: FAIL.")
        elif not counts[PASSED]:
            lines.append("Verdict: NOTHING CHECKED.")
        elif not_run:
            lines.append(
                f"Verdict: INCOMPLETE: no check failed, but {len(not_run)} were not run "
                "(not a pass; run them, e.g. with --operator, before calling the pen conformant)."
            )
        else:
            lines.append("Verdict: PASS.")
        return lines

    @property
    def passed(self) -> bool:
        """Every check that applies ran and passed."""
        return self.clean and self.count(NOT_RUN) == 0

    @property
    def clean(self) -> bool:
        """No check failed and the run was not cut short (some may not have run)."""
        return not self.exit_reason and self.count(FAILED) == 0 and self.count(PASSED) > 0
