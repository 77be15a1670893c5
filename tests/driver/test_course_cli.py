"""`needlepen course ...`, `needlepen client show` and `needlepen report` (issue 16)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from driver.audit import AuditStore
from driver.cli import main
from driver.testing.sessions import recorded_session

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    def run(*argv: str, stdin: str | None = None) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin or ""))
        code = main(list(argv))
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "audit.db")
    with AuditStore(path, scrypt_n=2**10) as store:
        store.add_operator("c1", "Dr Clin", "clinician", "1234")
        store.add_operator("a1", "Ann Aesth", "aesthetician", "5678", by=("c1", "1234"))
    return path


def test_plan_list_show_and_close_a_course(cli: Run, db: str) -> None:
    code, out, err = cli(
        "course", "plan", "--db", db, "--client", " P-0042", "--concern", "acne_scars",
        "--zones", "cheeks", "--by", "c1", "--pin-stdin", stdin="1234\n",
    )  # fmt: skip
    assert code == 0, err
    course = int(out.split()[2].rstrip(":"))  # the id of its course_planned record
    assert out == f"Planned course {course}: acne scars, session 1 of 4 on cheeks for p-0042.\n"
    code, out, _ = cli("course", "list", "--db", db, "--json")
    assert json.loads(out) == [
        {
            "id": course,
            "client": "p-0042",
            "concern": "acne_scars",
            "zones": ["cheeks"],
            "sessions_done": 0,
            "sessions_planned": 4,
            "status": "planned",
        }
    ]
    code, out, _ = cli("client", "show", "P-0042", "--db", db, "--json")
    record = json.loads(out)
    assert record["client"] == "p-0042"
    assert record["courses"][0]["zones"] == [
        {
            "zone": "cheeks",
            "last_date": None,
            "last_depth_mm": None,
            "next_from": None,
            "next_to": None,
            "timing": "not_started",
        }
    ]
    code, out, err = cli(
        "course", "close", str(course), "--db", db, "--reason", "moved away", "--by", "c1",
        "--pin-stdin", stdin="1234\n",
    )  # fmt: skip
    assert code == 0, err
    assert "closed after 0 of 4 sessions" in out
    code, out, _ = cli("client", "show", "p-0042", "--db", db)
    assert "acne scars: 0 of 4 sessions, closed" in out


@pytest.mark.parametrize(
    "argv, stdin, words",
    [
        (("--concern", "acne_scars", "--by", "a1"), "5678\n", "aesthetician role may not plan"),
        (("--concern", "acne_scars", "--by", "c1"), "0000\n", "Wrong PIN"),
        (("--concern", "tattoos", "--by", "c1"), "1234\n", "not a concern of the library"),
        (("--concern", "fine_lines", "--sessions", "13", "--by", "c1"), "1234\n", "1 to 12"),
        (("--concern", "fine_lines", "--by", "c1"), "", "No PIN arrived"),
    ],
)
def test_a_refused_plan_is_one_sentence_and_records_no_course(
    cli: Run, db: str, argv: tuple[str, ...], stdin: str, words: str
) -> None:
    code, _, err = cli(
        "course", "plan", "--db", db, "--client", "P-1", *argv, "--pin-stdin", stdin=stdin
    )
    assert code == 1 and words in err and err.count("\n") == 1
    assert json.loads(cli("course", "list", "--db", db, "--json")[1]) == []


def test_report_writes_a_file_and_refuses_to_replace_it(cli: Run, tmp_path: Path) -> None:
    path = str(tmp_path / "r.db")
    with AuditStore(path, scrypt_n=2**10) as store:
        s = recorded_session(store, hours=0.05)
    out_file = tmp_path / "report.html"
    code, out, err = cli(
        "report", "--db", path, "--session", str(s.session_id), "--output", str(out_file),
        "--clinic", "Demo",
    )  # fmt: skip
    assert code == 0, err
    assert out_file.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    code, _, err = cli("report", "--db", path, "--session", "1", "--output", str(out_file))
    assert code == 1 and "exists already" in err
    code, _, err = cli("report", "--db", path, "--session", "77")
    assert code == 1 and "There is no session 77" in err
    code, out, _ = cli("course", "list", "--db", path)
    assert "acne_scars" in out and "1/4" in out


def test_policy_show_lists_the_concern_library() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "driver.cli", "policy", "show"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "acne_scars      clinician" in out
    assert "cheeks 1.00-1.50, acne_scars 1.00-2.00" in out


def test_attach_needs_the_operators_pin_records_who_and_says_when_it_was_attached_already(
    cli: Run, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with AuditStore(db, scrypt_n=2**10) as store:
        sid = store.begin_session(
            role="clinician", operator_id="c1", client_ref="P-0042", device_serial=3,
            boot_id=1, device_class="professional",
        )  # fmt: skip
        store.end_session(sid, "done")
    code, out, err = cli(
        "course", "plan", "--db", db, "--client", "P-0042", "--concern", "acne_scars",
        "--zones", "cheeks", "--by", "c1", "--pin-stdin", stdin="1234\n",
    )  # fmt: skip
    assert code == 0, err
    course = out.split()[2].rstrip(":")
    attach = ("course", "attach", course, "--db", db, "--session", str(sid))
    # without an operator: refused before anything is read or written
    with pytest.raises(SystemExit) as exited:
        cli(*attach)
    assert exited.value.code == 2
    capsys.readouterr()
    # a wrong PIN: one sentence, nothing attached
    code, _, err = cli(*attach, "--by", "c1", "--pin-stdin", stdin="9999\n")
    assert code == 1 and err.count("\n") == 1
    with AuditStore(db, read_only=True, create=False) as store:
        assert not [r for r in store.records() if r.kind == "course_session"]
    code, out, err = cli(*attach, "--by", "c1", "--pin-stdin", stdin="1234\n")
    assert code == 0, err
    assert out.startswith(f"Session {sid} is attached to course {course}:")
    code, out, err = cli(*attach, "--by", "c1", "--pin-stdin", stdin="1234\n")
    assert code == 0, err
    assert out.startswith(f"Session {sid} was attached to course {course} already:")
    with AuditStore(db, read_only=True, create=False) as store:
        attached = [r for r in store.records() if r.kind == "course_session"]
    assert len(attached) == 1
    assert attached[0].data == {"course": int(course), "by": "c1"}
    assert attached[0].session_id == sid
