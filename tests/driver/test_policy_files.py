"""Policy files are plain files of bounded size and shape (issue 11 item 6), and `policy
check` says when a file loosens the default (issue 12 item 6)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from driver.safety.policy import MAX_POLICY_BYTES, PolicyError, default_policy, load_policy
from driver.session import Pen


def load_in_thread(path: Path | str, seconds: float = 5.0) -> BaseException | object:
    """load_policy(path) in a thread; fails the test if it does not return in time."""
    out: list[BaseException | object] = []

    def run() -> None:
        try:
            out.append(load_policy(path))
        except BaseException as exc:
            out.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert out, f"load_policy({path}) did not return within {seconds} s"
    return out[0]


def test_a_fifo_is_refused_and_never_hangs(tmp_path: Path) -> None:
    fifo = tmp_path / "policy.toml"
    os.mkfifo(fifo)
    result = load_in_thread(fifo)
    assert isinstance(result, PolicyError) and "not a regular file" in str(result)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_device_and_a_symlink_to_it_are_refused(tmp_path: Path) -> None:
    link = tmp_path / "policy.toml"
    link.symlink_to("/dev/zero")
    for path in ("/dev/zero", link):
        result = load_in_thread(path)
        assert isinstance(result, PolicyError) and "not a regular file" in str(result)


def test_a_symlink_to_a_regular_file_is_read(tmp_path: Path) -> None:
    real = tmp_path / "real.toml"
    real.write_text("min_days_between_sessions = 35\n")
    link = tmp_path / "link.toml"
    link.symlink_to(real)
    assert load_policy(link).min_days_between_sessions == 35


def test_pen_open_with_a_device_policy_raises_policy_error_not_memory_error() -> None:
    with pytest.raises(PolicyError, match="not a regular file"):
        Pen.open("sim://", policy="/dev/zero")


def test_bytes_read_are_bounded(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * MAX_POLICY_BYTES + "\n")
    with pytest.raises(PolicyError, match="too large"):
        load_policy(big)


@pytest.mark.parametrize(
    "text, problem",
    [
        ("a = " + "[" * 30 + "]" * 30 + "\n", "deeper"),
        ("[roles.home.x.y.z]\nq = 1\n", "deeper"),
        ("".join(f"k{i} = {i}\n" for i in range(3000)), "more than 2000"),
        ("zones2 = [" + ", ".join(["1"] * 3000) + "]\n", "more than 2000"),
        ("a = " + "[" * 2000 + "]" * 2000 + "\n", "TOML"),
    ],
)
def test_shape_is_bounded_with_one_sentence(tmp_path: Path, text: str, problem: str) -> None:
    f = tmp_path / "p.toml"
    f.write_text(text)
    with pytest.raises(PolicyError) as info:
        load_policy(f)
    assert problem in str(info.value) and "\n" not in str(info.value)


def test_control_characters_in_names_are_escaped_in_errors(tmp_path: Path) -> None:
    f = tmp_path / "p\x1b[31m.toml"
    f.write_text('"evil\\u202ekey\\u001b[2J" = 1\n')
    with pytest.raises(PolicyError) as info:
        load_policy(f)
    text = str(info.value)
    assert "\x1b" not in text and "\u202e" not in text
    assert "\\x1b" in text and "\\u202e" in text


def check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "driver.cli", "policy", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_policy_check_says_plainly_when_a_file_loosens_the_default(tmp_path: Path) -> None:
    looser = tmp_path / "looser.toml"
    looser.write_text("[roles.home]\nmax_depth_mm = 0.75\n")
    out = check(looser)
    assert out.returncode == 0, out.stderr
    assert "roles.home.max_depth_mm: 0.5 -> 0.75  (LOOSENS the default)" in out.stdout
    assert "It LOOSENS the default in 1 key(s)" in out.stdout
    assert "within the built-in ceilings" in out.stdout
    tighter = tmp_path / "tighter.toml"
    tighter.write_text("min_days_between_sessions = 42\n[zones.cheeks]\nhard_max_mm = 1.5\n")
    out = check(tighter)
    assert out.returncode == 0 and "LOOSENS" not in out.stdout
    assert "It only tightens the default." in out.stdout
    assert load_policy(tighter) != default_policy()
