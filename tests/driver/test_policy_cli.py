"""`needlepen policy show | check | decide`, through the real dispatcher and as a process."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driver.cli import main
from driver.cli.policy import decide_lines
from driver.safety import Governor
from driver.safety.policy import default_policy, load_policy

OUTCOMES = {"allowed", "clamped", "needs_override", "rejected"}


def run(
    capsys: pytest.CaptureFixture[str], *argv: str, stdin: bytes | None = None
) -> tuple[int, str, str]:
    if stdin is not None:
        old = sys.stdin
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
        try:
            code = main(list(argv))
        finally:
            sys.stdin = old
    else:
        code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path: Path, text: str, name: str = "clinic.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# --- show ----------------------------------------------------------------------------------------


def test_show_prints_the_default_policy_as_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "policy", "show")
    assert code == 0 and err == ""
    assert "Treatment policy: built-in default" in out
    assert "Minimum days between sessions on one zone: 28" in out
    lines = out.splitlines()
    forehead = next(line for line in lines if line.startswith("forehead "))
    assert forehead.split()[:6] == ["forehead", "0.50", "0.75", "0.50", "0.50", "0.50"]
    assert "(0.75 with reason)" in forehead
    bench = next(line for line in lines if line.startswith("bench "))
    assert bench.split() == ["bench", "3.00", "3.00", "-", "-", "-", "3.00"]
    home = next(line for line in lines if line.startswith("home "))
    assert home.split()[:3] == ["home", "0.50", "25-120"]


def test_show_with_a_policy_file_shows_its_values(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write(tmp_path, "[zones.cheeks]\nrecommended_max_mm = 0.8\n")
    code, out, _ = run(capsys, "policy", "show", "--policy", path)
    assert code == 0
    assert f"default with {path}" in out
    cheeks = next(line for line in out.splitlines() if line.startswith("cheeks "))
    assert cheeks.split()[:6] == ["cheeks", "0.80", "2.00", "0.50", "0.80", "0.80"]


def test_show_format_toml_is_a_loadable_file_equal_to_the_policy(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write(tmp_path, "min_days_between_sessions = 35\n[roles.home]\nmax_depth_mm = 0.4\n")
    code, out, _ = run(capsys, "policy", "show", "--policy", path, "--format", "toml")
    assert code == 0
    full = write(tmp_path, out, "full.toml")
    assert load_policy(full) == load_policy(path)
    assert load_policy(full) != default_policy()


def test_show_with_a_bad_file_is_one_sentence_and_exit_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write(tmp_path, "[roles.home]\nmax_depth_mm = 1.5\n")
    code, out, err = run(capsys, "policy", "show", "--policy", path)
    assert code == 1 and out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"needlepen: policy file {path} refused: roles.home.max_depth_mm")


def test_policy_without_an_action_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "policy")
    assert code == 2 and "show" in err and "check" in err and "decide" in err


# --- check ---------------------------------------------------------------------------------------


def test_check_accepts_a_valid_file_with_a_summary_of_changes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write(tmp_path, "[roles.home]\nmax_depth_mm = 0.4\n[zones.cheeks]\nhard_max_mm = 1.8\n")
    code, out, err = run(capsys, "policy", "check", path)
    assert code == 0 and err == ""
    assert f"{path}: valid policy; it changes 2 key(s) of the default:" in out
    assert "roles.home.max_depth_mm: 0.5 -> 0.4" in out
    assert "zones.cheeks.hard_max_mm: 2.0 -> 1.8" in out


def test_check_of_an_empty_file_changes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "policy", "check", write(tmp_path, "# nothing\n"))
    assert code == 0 and "changes nothing" in out


LOOSENINGS = [
    ("[roles.home]\nmax_depth_mm = 1.0\n", "roles.home.max_depth_mm", "below 1.00 mm"),
    ("[roles.clinician]\nmax_depth_mm = 3.5\n", "roles.clinician.max_depth_mm", "0.25-3.00 mm"),
    ("[roles.engineer]\nmax_depth_mm = 3.01\n", "roles.engineer.max_depth_mm", "0.25-3.00 mm"),
    ("[zones.stretch_marks]\nhard_max_mm = 4.0\n", "zones.stretch_marks.hard_max_mm", "0.25-3.00"),
    ("[zones.forehead]\nrecommended_max_mm = 0.8\n", "zones.forehead.recommended_max_mm", "above"),
    ("[zones.periorbital]\nhard_max_mm = 0.1\n", "zones.periorbital.hard_max_mm", "0.25-3.00"),
    ("[roles.clinician]\nrate_max_hz = 200\n", "roles.clinician.rate_max_hz", "1-150 Hz"),
    ("min_days_between_sessions = 14\n", "min_days_between_sessions", "28"),
    ("[roles.home]\nzones = ['bench']\n", "roles.home.zones", "engineers only"),
    ("[roles.engineer]\nzones = ['cheeks']\n", "roles.engineer.zones", "only the bench"),
    ("[zones.neck]\nhard_max_mm = nan\n", "zones.neck.hard_max_mm", "finite"),
    ("[roles.superuser]\nmax_depth_mm = 3.0\n", "roles.superuser", "not a known policy key"),
    ("[roles.home\n", None, "not valid TOML"),
]


@pytest.mark.parametrize(("text", "key", "rule"), LOOSENINGS)
def test_check_refuses_every_loosening_with_a_clear_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, key: str | None, rule: str
) -> None:
    path = write(tmp_path, text)
    code, out, err = run(capsys, "policy", "check", path)
    assert code == 1 and out == ""
    lines = err.splitlines()
    assert 1 <= len(lines) <= 3
    assert lines[0].startswith(f"{path}: ")
    if key is not None:
        assert key in lines[0]
    assert rule in err
    assert "Traceback" not in err


def test_check_shows_at_most_three_lines_and_counts_the_rest(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = "".join(
        f"[zones.{z}]\nhard_max_mm = 9.0\n"
        for z in ("neck", "nose", "hands", "scalp", "chin_jawline")
    )
    code, _, err = run(capsys, "policy", "check", write(tmp_path, text))
    lines = err.splitlines()
    assert code == 1 and len(lines) == 3
    assert lines[-1].endswith("(2 more problems not shown)")


def test_check_of_a_missing_file_says_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "policy", "check", str(tmp_path / "nope.toml"))
    assert code == 1 and "does not exist" in err and len(err.splitlines()) == 1


# --- decide --------------------------------------------------------------------------------------

REQ = {
    "role": "clinician",
    "zone": "forehead",
    "depth_mm": 0.4,
    "rate_hz": 100,
    "device_class": "professional",
}


def line(**changes: object) -> bytes:
    data = {**REQ, **changes}
    return (json.dumps({k: v for k, v in data.items() if v is not ...}) + "\n").encode()


def test_decide_answers_each_line_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    stdin = b"".join(
        [
            line(),
            line(depth_mm=0.9),
            line(depth_mm=0.9, override_reason="deep lines"),
            line(role="aesthetician", depth_mm=0.9),
            line(device_class="home", depth_mm=0.9, zone="cheeks"),
            line(depth_mm=0.1),
            line(role="clinician", zone="neck", last_session_days_ago=3),
        ]
    )
    code, out, err = run(capsys, "policy", "decide", stdin=stdin)
    assert code == 0 and err == ""
    answers = [json.loads(x) for x in out.splitlines()]
    assert [a["outcome"] for a in answers] == [
        "allowed",
        "needs_override",
        "clamped",
        "clamped",
        "clamped",
        "rejected",
        "needs_override",
    ]
    assert [a["depth_mm"] for a in answers] == [0.4, None, 0.75, 0.5, 0.5, None, None]
    assert answers[0]["rate_hz"] == 100 and answers[1]["rate_hz"] is None
    assert answers[4]["effective_role"] == "home"
    for a in answers:
        assert {"outcome", "depth_mm", "rate_hz", "reasons"} <= set(a)
        assert a["reasons"] and all(isinstance(r, str) for r in a["reasons"])


BAD_LINES = [
    (b"not json\n", "not valid JSON"),
    (b"\n", "empty"),
    (b"[1, 2]\n", "not a JSON object"),
    (b'{"role": "clinician"}\n', "missing the key(s) zone, depth_mm, rate_hz, device_class"),
    (line(depth_mm="0.5"), "depth_mm must be a number"),
    (line(depth_mm=True), "depth_mm must be a number"),
    (line(rate_hz=None), "rate_hz must be a number"),
    (line(role=3), "role must be a string"),
    (line(device_class="industrial"), "'home' or 'professional'"),
    (line(overide_reason="typo"), "unknown key(s) 'overide_reason'"),
    (line(override_reason=5), "override_reason must be a string"),
    (line(last_session_days_ago="3"), "last_session_days_ago must be a number"),
    (line(device=[1]), "device must be an object"),
    (line(device={"depth_max": 1}), "unknown key(s) 'depth_max'"),
    (line(device={"depth_max_mm": "1"}), "must be numbers"),
    (b"\xff\xfe\n", "not UTF-8"),
    (b"[" * 100_000 + b"\n", "not valid JSON"),
    (b'{"depth_mm": 1' + b"0" * 5000 + b"}\n", "not valid JSON"),
    (line(depth_mm=float("nan")), "finite number of millimetres"),
    (line(zone="lips"), "Unknown zone"),
]


@pytest.mark.parametrize(("raw", "reason"), BAD_LINES)
def test_decide_rejects_an_invalid_line_with_a_reason_and_goes_on(
    capsys: pytest.CaptureFixture[str], raw: bytes, reason: str
) -> None:
    code, out, _ = run(capsys, "policy", "decide", stdin=raw + line())
    assert code == 0
    first, second = (json.loads(x) for x in out.splitlines())
    assert first["outcome"] == "rejected" and first["depth_mm"] is None and first["rate_hz"] is None
    assert any(reason in r for r in first["reasons"]), first["reasons"]
    assert second["outcome"] == "allowed" and second["depth_mm"] == 0.4


def test_decide_accepts_pen_limits(capsys: pytest.CaptureFixture[str]) -> None:
    stdin = line(
        zone="cheeks", depth_mm=1.0, device={"depth_max_mm": 0.6, "rate_max_hz": 90}, rate_hz=120
    )
    code, out, _ = run(capsys, "policy", "decide", stdin=stdin)
    assert code == 0
    answer = json.loads(out)
    assert (answer["outcome"], answer["depth_mm"], answer["rate_hz"]) == ("clamped", 0.6, 90)


def test_decide_uses_the_policy_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path, "[zones.forehead]\nrecommended_max_mm = 0.3\n")
    code, out, _ = run(capsys, "policy", "decide", "--policy", path, stdin=line())
    assert code == 0 and json.loads(out)["outcome"] == "needs_override"


@given(st.lists(st.binary(max_size=60).map(lambda b: b.replace(b"\n", b" ") + b"\n"), max_size=6))
def test_decide_lines_answers_every_line_of_garbage(lines: list[bytes]) -> None:
    answers = list(decide_lines(Governor(default_policy()), lines))
    assert len(answers) == len(lines)
    for text in answers:
        data = json.loads(text)
        assert data["outcome"] in OUTCOMES and data["reasons"]


@given(
    st.fixed_dictionaries(
        {
            "role": st.one_of(
                st.sampled_from(["home", "aesthetician", "clinician", "engineer"]),
                st.text(max_size=3),
            ),
            "zone": st.sampled_from(["forehead", "cheeks", "bench", "x"]),
            "depth_mm": st.one_of(st.floats(), st.integers(), st.text(max_size=2), st.none()),
            "rate_hz": st.one_of(st.floats(), st.integers(), st.booleans()),
            "device_class": st.sampled_from(["home", "professional", "x"]),
        },
        optional={"override_reason": st.one_of(st.text(max_size=5), st.none(), st.integers())},
    )
)
def test_decide_lines_over_arbitrary_json_requests(data: dict[str, object]) -> None:
    raw = json.dumps(data).encode() + b"\n"
    (text,) = decide_lines(Governor(default_policy()), [raw])
    answer = json.loads(text)
    assert answer["outcome"] in OUTCOMES
    if answer["outcome"] in ("allowed", "clamped"):
        assert isinstance(data["depth_mm"], int | float)
        assert answer["depth_mm"] <= data["depth_mm"]
        assert answer["rate_hz"] <= data["rate_hz"]  # type: ignore[operator]
    else:
        assert answer["depth_mm"] is None and answer["rate_hz"] is None


# --- As a process: the real command, no traceback ------------------------------------------------


def test_the_command_refuses_a_bad_file_without_a_traceback(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[roles.home]\nmax_depth_mm = 0.95\nrate_max_hz = 500\n[zones.nose]\nhard_max_mm = -1\n",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "driver.cli", "policy", "check", path],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1 and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 2 and "Traceback" not in proc.stderr
    assert "roles.home.rate_max_hz" in proc.stderr and "zones.nose.hard_max_mm" in proc.stderr


def test_the_command_streams_decisions(tmp_path: Path) -> None:
    stdin = line() + b"garbage\n" + line(depth_mm=2.0, role="aesthetician")
    proc = subprocess.run(
        [sys.executable, "-m", "driver.cli", "policy", "decide"],
        input=stdin,
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    outcomes = [json.loads(x)["outcome"] for x in proc.stdout.decode().splitlines()]
    assert outcomes == ["allowed", "rejected", "clamped"]
