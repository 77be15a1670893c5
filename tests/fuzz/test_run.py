"""The `make fuzz` runner (tests/fuzz/run.py): it reports what it ran, finds a planted bug,
saves the input that triggers it, and says in one sentence when atheris is missing."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz import run

HAVE_ATHERIS = importlib.util.find_spec("atheris") is not None
ROOT = Path(__file__).resolve().parents[2]


def test_without_atheris_it_says_so_in_one_sentence(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        run.importlib.util, "find_spec", lambda name: None if name == "atheris" else real(name)
    )
    assert run.main(["--seconds", "3"]) == 2
    out = capsys.readouterr().out.strip()
    assert out == run.NO_ATHERIS
    assert "\n" not in out and out.endswith(".")


def test_unknown_target_and_too_little_time_are_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run.main(["--targets", "decoder_hots"]) == 2
    assert "no target named decoder_hots" in capsys.readouterr().err
    assert run.main(["--seconds", "2"]) == 2
    assert "at least 3 seconds" in capsys.readouterr().err


def test_replay_runs_a_target_once_on_a_file(tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.write_bytes(b"\x00\x01\x02")
    assert run.main(["--replay", str(good), "--targets", "decoder_host"]) == 0
    bad = tmp_path / "bad"
    bad.write_bytes(b"!boom")
    with pytest.raises(AssertionError, match="planted finding"):
        run.main(["--replay", str(bad), "--targets", "selftest"])


def test_report_table() -> None:
    ok = run.Outcome("decoder_host", 20.0, 0, executions=40_000, coverage=83, corpus=51)
    bad = run.Outcome("selftest", 1.0, 1, executions=3, findings=[Path("crash-abc")])
    text = run.report([ok, bad])
    assert "decoder_host" in text and "40,000" in text and "2,000" in text
    assert "crash-abc" in text
    assert text.splitlines()[-1].startswith("1 target(s) with findings: selftest")
    assert run.report([ok]).splitlines()[-1] == "40,000 executions, no findings."


@pytest.mark.skipif(not HAVE_ATHERIS, reason="atheris is not installed (make fuzz installs it)")
def test_atheris_run_finds_the_planted_bug_and_keeps_the_input(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.fuzz.run",
            "--seconds",
            "2",
            "--targets",
            "selftest",
            "--artifacts",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    findings = list((tmp_path / "selftest").glob("crash-*"))
    assert len(findings) == 1 and findings[0].read_bytes().startswith(b"!")
    assert "1 target(s) with findings: selftest" in proc.stdout
