"""The report's verdict: a run where checks were not run is not a pass (a new user's CI passed a
pen whose watchdog and e-stop checks had not run: "PASS (with checks not run)", exit 0)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from driver.testing.conformance.report import FAILED, NOT_RUN, PASSED, Outcome, Tally


def _tally(*results: str) -> Tally:
    t = Tally()
    for i, r in enumerate(results):
        why = "needs an operator on a real pen" if r == NOT_RUN else ""
        t.outcomes[f"c{i}"] = Outcome(f"test_{i}", r, why)
    return t


def test_all_run_and_passed_is_a_pass():
    t = _tally(PASSED, PASSED)
    assert t.passed and t.render("p")[-1] == "Verdict: PASS."


def test_checks_not_run_make_the_run_incomplete_not_a_pass():
    t = _tally(PASSED, NOT_RUN, NOT_RUN)
    assert t.clean and not t.passed
    last = t.render("p")[-1]
    assert last.startswith("Verdict: INCOMPLETE: no check failed, but 2 were not run (not a pass")


def test_a_failure_fails_whatever_else_was_not_run():
    t = _tally(PASSED, NOT_RUN, FAILED)
    assert not t.clean and not t.passed and t.render("p")[-1] == "Verdict: FAIL."


def test_the_command_exits_3_when_checks_were_not_run(tmp_path: Path):
    """Through the real command on a pty pen without --operator: its cartridge checks need
    someone to pull or fit a cartridge, so they are not run, and the run is not a pass."""
    sim = subprocess.Popen(
        [sys.executable, "-m", "driver.cli", "sim", "--pty"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert sim.stdout is not None
        line = sim.stdout.readline()
        port = next(w for w in line.split() if w.startswith("/dev/"))
        out = subprocess.run(
            [sys.executable, "-m", "driver.cli", "conformance", "--port", port, "-k", "cartridge"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        sim.terminate()
        sim.wait(timeout=10)
    report = out.stdout[out.stdout.index("Conformance of the pen on") :]
    assert " 0 failed" in report and "not run" in report, report
    assert "Verdict: INCOMPLETE" in report, report
    assert out.returncode == 3, report
