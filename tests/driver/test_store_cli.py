"""`needlepen operators ...` and `needlepen log ...`, through a parser built with the module's
own register(), plus subprocess runs (a real pty for the no-echo PIN prompt)."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import select
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from driver.audit import AuditStore
from driver.cli import store as store_cli
from driver.paths import DATA_DIR_ENV, DB_FILENAME

T0 = 1_700_000_000.0

Run = Callable[..., tuple[int, str, str]]


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Run]:
    def run(*argv: str, stdin: str | None = None) -> tuple[int, str, str]:
        parser = argparse.ArgumentParser(prog="needlepen")
        store_cli.register(parser.add_subparsers(dest="command", required=True))
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        args = parser.parse_args(list(argv))
        try:
            code = args.handler(args)
        except Exception as exc:  # what driver.cli.main does with an escaping exception
            print(f"needlepen: {exc}", file=sys.stderr)
            code = 1
        out = capsys.readouterr()
        return code, out.out, out.err

    yield run


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "audit.db")


def prompt_answers(monkeypatch: pytest.MonkeyPatch, *answers: str) -> list[str]:
    """Pretend stdin is a terminal and answer getpass prompts in turn; returns the prompts."""
    prompts: list[str] = []
    queue = list(answers)

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        if not queue:
            raise EOFError
        return queue.pop(0)

    monkeypatch.setattr(sys, "stdin", FakeTty(""))
    monkeypatch.setattr(store_cli.getpass, "getpass", fake_getpass)
    return prompts


def nothing_stored(db: str) -> bool:
    if not Path(db).exists():
        return True
    with AuditStore(db) as s:
        return s.list_operators() == [] and s.records() == []


# --- operators add ---------------------------------------------------------------------------


def test_add_with_pin_on_stdin(cli: Run, db: str) -> None:
    code, out, err = cli(
        "operators",
        "add",
        "--id",
        "ada",
        "--name",
        "Ada L",
        "--role",
        "clinician",
        "--pin-stdin",
        "--db",
        db,
        stdin="24681357\n",
    )
    assert (code, err) == (0, "")
    assert out.startswith("Added operator ada (Ada L, clinician); logs in with a PIN.\n")
    assert "ada is the first operator of this store and so its administrator" in out
    with AuditStore(db) as s:
        assert s.authenticate("ada", "24681357").admin


def test_add_with_crlf_pin_on_stdin(cli: Run, db: str) -> None:
    code, _, _ = cli(
        "operators",
        "add",
        "--id",
        "ada",
        "--name",
        "Ada",
        "--role",
        "engineer",
        "--pin-stdin",
        "--db",
        db,
        stdin="1234\r\n",
    )
    assert code == 0
    with AuditStore(db) as s:
        assert s.authenticate("ada", "1234").role == "engineer"


def test_add_asks_twice_without_echo(cli: Run, db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    prompts = prompt_answers(monkeypatch, "97531", "97531")
    code, out, _ = cli(
        "operators", "add", "--id", "bea", "--name", "Bea", "--role", "aesthetician", "--db", db
    )
    assert code == 0 and len(prompts) == 2 and "97531" not in out
    with AuditStore(db) as s:
        assert s.authenticate("bea", "97531").id == "bea"


@pytest.mark.parametrize(
    ("answers", "problem", "asked"),
    [
        (("97531", "97532"), "The two PINs differ; nothing was stored.", 2),
        (("12",), "A PIN is 4 to 12 digits", 1),
        (("abcd",), "A PIN is 4 to 12 digits", 1),
        ((), "No PIN was entered; nothing was stored.", 1),
        (("97531",), "No PIN was entered; nothing was stored.", 2),
    ],
)
def test_add_refuses_bad_or_mismatched_pins_and_stores_nothing(
    cli: Run,
    db: str,
    monkeypatch: pytest.MonkeyPatch,
    answers: tuple[str, ...],
    problem: str,
    asked: int,
) -> None:
    prompts = prompt_answers(monkeypatch, *answers)
    code, out, err = cli(
        "operators", "add", "--id", "bea", "--name", "Bea", "--role", "clinician", "--db", db
    )
    assert code == 1 and out == ""
    assert err.startswith("needlepen: ") and problem in err and err.count("\n") == 1
    assert len(prompts) == asked
    assert nothing_stored(db)


def test_add_without_a_terminal_asks_for_pin_stdin(cli: Run, db: str) -> None:
    code, _, err = cli(
        "operators",
        "add",
        "--id",
        "c",
        "--name",
        "C",
        "--role",
        "clinician",
        "--db",
        db,
        stdin="1234\n",
    )
    assert code == 1 and "pipe it in with --pin-stdin" in err
    assert nothing_stored(db)


@pytest.mark.parametrize("stdin", ["", "\n", "12\n", "12 34\n"])
def test_add_refuses_a_bad_pin_on_stdin(cli: Run, db: str, stdin: str) -> None:
    code, _, err = cli(
        "operators",
        "add",
        "--id",
        "c",
        "--name",
        "C",
        "--role",
        "clinician",
        "--pin-stdin",
        "--db",
        db,
        stdin=stdin,
    )
    assert code == 1 and ("PIN" in err)
    assert nothing_stored(db)


def add_admin(cli: Run, db: str) -> None:
    code, _, _ = cli(
        "operators",
        "add",
        "--id",
        "boss",
        "--name",
        "Boss",
        "--role",
        "clinician",
        "--pin-stdin",
        "--db",
        db,
        stdin="8642\n",
    )
    assert code == 0


def test_add_home_operator_needs_and_takes_no_pin(cli: Run, db: str) -> None:
    add_admin(cli, db)
    code, out, _ = cli(
        "operators",
        "add",
        "--id",
        "me",
        "--name",
        "Me",
        "--role",
        "home",
        "--by",
        "boss",
        "--pin-stdin",
        "--db",
        db,
        stdin="8642\n",
    )
    assert code == 0 and "needs no PIN" in out
    with AuditStore(db) as s:
        assert [o.id for o in s.list_operators()] == ["boss", "me"]


def test_the_first_operator_must_be_an_administrator_with_a_pin(cli: Run, db: str) -> None:
    code, _, err = cli(
        "operators", "add", "--id", "me", "--name", "Me", "--role", "home", "--db", db
    )
    assert code == 1 and "first operator administers the store" in err


def test_adding_after_the_first_needs_an_administrator(cli: Run, db: str) -> None:
    add_admin(cli, db)
    argv = ("operators", "add", "--id", "b", "--name", "B", "--role", "aesthetician")
    code, _, err = cli(*argv, "--pin-stdin", "--db", db, stdin="5555\n")
    assert code == 1 and "needs an administrator" in err
    code, _, err = cli(*argv, "--by", "boss", "--pin-stdin", "--db", db, stdin="0000\n5555\n")
    assert (
        code == 1
        and err == "needlepen: Wrong PIN or unknown operator ID; check both and try again.\n"
    )
    code, _, err = cli(*argv, "--by", "nobody", "--pin-stdin", "--db", db, stdin="0000\n5555\n")
    assert (
        code == 1
        and err == "needlepen: Wrong PIN or unknown operator ID; check both and try again.\n"
    )
    code, out, _ = cli(*argv, "--by", "boss", "--pin-stdin", "--db", db, stdin="8642\n5555\n")
    assert code == 0 and "Added operator b" in out
    code, _, err = cli(
        "operators",
        "add",
        "--id",
        "c",
        "--name",
        "C",
        "--role",
        "home",
        "--by",
        "b",
        "--pin-stdin",
        "--db",
        db,
        stdin="5555\n",
    )
    assert code == 1 and "not an administrator" in err
    with AuditStore(db) as s:
        added = [r for r in s.records() if r.kind == "operator_added"]
        assert [(r.data["operator"], r.data["by"], r.data["admin"]) for r in added] == [
            ("boss", None, True),
            ("b", "boss", False),
        ]
        assert s.verify().ok


def test_unlock_and_reset_pin_need_an_administrator_and_are_recorded(cli: Run, db: str) -> None:
    add_admin(cli, db)
    cli(
        "operators",
        "add",
        "--id",
        "b",
        "--name",
        "B",
        "--role",
        "aesthetician",
        "--by",
        "boss",
        "--pin-stdin",
        "--db",
        db,
        stdin="8642\n5555\n",
    )
    with AuditStore(db) as s:
        for _ in range(5):
            with pytest.raises(Exception, match="PIN"):
                s.authenticate("b", "0000")
        assert s.get_operator("b").locked_until is not None
    code, _, err = cli("operators", "unlock", "b", "--pin-stdin", "--db", db, stdin="")
    assert code == 1 and "needs an administrator" in err
    code, out, _ = cli(
        "operators", "unlock", "b", "--by", "boss", "--pin-stdin", "--db", db, stdin="8642\n"
    )
    assert code == 0 and "unlocked" in out
    code, out, _ = cli(
        "operators",
        "reset-pin",
        "b",
        "--by",
        "boss",
        "--pin-stdin",
        "--db",
        db,
        stdin="8642\n7777\n",
    )
    assert code == 0 and "new PIN" in out
    with AuditStore(db) as s:
        assert s.authenticate("b", "7777").id == "b"
        kinds = [r.kind for r in s.records()]
        assert "operator_unlocked" in kinds and "operator_pin_reset" in kinds
        assert s.verify().ok


def test_add_checks_id_and_name_before_asking_or_creating(
    cli: Run, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompts = prompt_answers(monkeypatch, "1234", "1234")
    code, _, err = cli(
        "operators", "add", "--id", "bad id", "--name", "X", "--role", "clinician", "--db", db
    )
    assert code == 1 and "not a valid operator ID" in err
    code, _, err = cli(
        "operators", "add", "--id", "ok", "--name", "", "--role", "clinician", "--db", db
    )
    assert code == 1 and "must not be empty" in err
    assert prompts == [] and not Path(db).exists()


def test_add_refuses_a_duplicate_before_asking(
    cli: Run, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_admin(cli, db)
    prompts = prompt_answers(monkeypatch, "8642", "1234", "1234")
    code, _, err = cli(
        "operators",
        "add",
        "--id",
        "boss",
        "--name",
        "Other",
        "--role",
        "clinician",
        "--by",
        "boss",
        "--db",
        db,
    )
    assert code == 1 and "already exists" in err and prompts == []


def test_unknown_role_is_an_argparse_error(cli: Run, db: str) -> None:
    with pytest.raises(SystemExit) as info:
        cli("operators", "add", "--id", "x", "--name", "X", "--role", "surgeon", "--db", db)
    assert info.value.code == 2 and not Path(db).exists()


# --- operators list / disable ------------------------------------------------------------------


def test_list_shows_roles_locks_and_disabled(cli: Run, db: str) -> None:
    with AuditStore(db, scrypt_n=2**8) as s:
        s.add_operator("ada", "Ada Lovelace", "clinician", "1234")
        s.add_operator("bob", "Bob", "aesthetician", "5678", by=("ada", "1234"))
        s.add_operator("cat", "Cat", "home", None, by=("ada", "1234"))
        s.add_operator("dan", "Dan", "engineer", "9999", by=("ada", "1234"))
        s.disable_operator("cat", by=("ada", "1234"))
        for _ in range(5):
            with pytest.raises(Exception, match="PIN"):
                s.authenticate("ada", "0000")
        for _ in range(2):
            with pytest.raises(Exception, match="PIN"):
                s.authenticate("bob", "0000")
    code, out, _ = cli("operators", "list", "--db", db)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "ROLE", "STATUS"]
    assert lines[1].startswith("ada") and "clinician" in lines[1] and "locked until" in lines[1]
    assert "active (2 wrong PINs)" in lines[2]
    assert lines[3].split()[-1] == "disabled"
    assert lines[4].split()[-1] == "active"


def test_list_of_an_empty_store(cli: Run, db: str) -> None:
    AuditStore(db).close()
    code, out, _ = cli("operators", "list", "--db", db)
    assert code == 0 and "No operators yet" in out


def test_read_commands_do_not_create_a_store(cli: Run, tmp_path: Path) -> None:
    missing = str(tmp_path / "typo.db")
    for argv in (
        ("operators", "list"),
        ("operators", "disable", "x"),
        ("log", "show"),
        ("log", "verify"),
        ("log", "export", "--format", "csv"),
    ):
        code, _, err = cli(*argv, "--db", missing)
        assert code == 1 and f"There is no audit store at {missing}." in err
    assert not Path(missing).exists()


def test_disable(cli: Run, db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    add_admin(cli, db)
    cli(
        "operators",
        "add",
        "--id",
        "me",
        "--name",
        "Me",
        "--role",
        "home",
        "--by",
        "boss",
        "--pin-stdin",
        "--db",
        db,
        stdin="8642\n",
    )
    code, _, err = cli("operators", "disable", "me", "--by", "boss", "--db", db, stdin="")
    assert code == 1 and "confirm on a terminal" in err
    # on a terminal: the ID typed back confirms, anything else changes nothing
    monkeypatch.setattr(sys, "stdin", FakeTty(""))
    monkeypatch.setattr("builtins.input", lambda prompt="": "no")
    code, _, err = cli("operators", "disable", "me", "--by", "boss", "--db", db)
    assert code == 1 and "Not confirmed" in err
    monkeypatch.setattr("builtins.input", lambda prompt="": "me")
    prompt_answers(monkeypatch, "8642")
    code, out, _ = cli("operators", "disable", "me", "--by", "boss", "--db", db)
    assert code == 0 and "Operator me is disabled" in out
    code, out, _ = cli("operators", "disable", "me", "--db", db)
    assert code == 0 and "already disabled" in out
    code, _, err = cli("operators", "disable", "ghost", "--db", db)
    assert code == 1 and err == "needlepen: There is no operator 'ghost'.\n"
    code, _, err = cli(
        "operators",
        "disable",
        "boss",
        "--yes",
        "--by",
        "boss",
        "--pin-stdin",
        "--db",
        db,
        stdin="8642\n",
    )
    assert code == 1 and "last active administrator" in err
    with AuditStore(db) as s:
        kinds = [r.kind for r in s.records() if r.kind.startswith("operator")]
        assert kinds == ["operator_added", "operator_added", "operator_disabled"]


def test_default_db_in_the_data_directory(
    cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "data"))
    code, _, err = cli("log", "verify")
    assert code == 1 and "There is no audit store" in err
    assert not (tmp_path / "data").exists()
    added = cli(
        "operators",
        "add",
        "--id",
        "me",
        "--name",
        "Me",
        "--role",
        "engineer",
        "--pin-stdin",
        stdin="2468\n",
    )
    assert added[0] == 0
    assert (tmp_path / "data" / DB_FILENAME).is_file()
    assert cli("log", "verify")[0] == 0
    # db status reads the same default store (it used to demand --db)
    code, out, _ = cli("db", "status")
    assert code == 0 and str(tmp_path / "data" / DB_FILENAME) in out
    assert "records:        1\n" in out  # the operator added
    # the writing db commands still want the store named
    code, _, err = cli("db", "init")
    assert code == 1 and "--db" in err


# --- log show / export / verify ---------------------------------------------------------------


@pytest.fixture
def filled(db: str) -> str:
    with AuditStore(db, scrypt_n=2**8) as s:
        s.add_operator("doc", "Doc", "clinician", "2468", now=T0)
        s1 = s.begin_session(
            role="clinician",
            operator_id="doc",
            client_ref="C-7",
            device_serial=1,
            boot_id=2,
            device_class="professional",
            now=T0 + 1,
        )
        s.append(
            "decision", {"requested": float("nan"), "zone": "forehead"}, session_id=s1, now=T0 + 2
        )
        s.end_session(s1, "closed", now=T0 + 3)
        s2 = s.begin_session(
            role="home",
            operator_id=None,
            client_ref=None,
            device_serial=1,
            boot_id=2,
            device_class="professional",
            now=T0 + 4,
        )
        s.append("estop", {"copies": 3}, session_id=s2, now=T0 + 5)
    return db


def test_log_show(cli: Run, filled: str) -> None:
    code, out, _ = cli("log", "show", "--db", filled)
    lines = out.splitlines()
    assert code == 0 and len(lines) == 6
    assert lines[0].split()[:4] == ["1", "2023-11-14T22:13:20.000000Z", "-", "operator_added"]
    assert "s1" in lines[2] and "decision" in lines[2] and '"requested": "NaN"' in lines[2]
    code, out, _ = cli("log", "show", "--session", "2", "--db", filled)
    assert code == 0 and [ln.split()[3] for ln in out.splitlines()] == ["session_opened", "estop"]


def test_log_show_json(cli: Run, filled: str) -> None:
    code, out, _ = cli("log", "show", "--json", "--session", "1", "--db", filled)
    records = json.loads(out)
    assert code == 0 and [r["kind"] for r in records] == [
        "session_opened",
        "decision",
        "session_closed",
    ]
    assert records[1]["data"] == {"requested": "NaN", "zone": "forehead"}
    assert set(records[0]) == {
        "id",
        "ts",
        "ts_us",
        "session_id",
        "kind",
        "data",
        "prev_hash",
        "hash",
    }


def test_log_show_empty_and_unknown_session(cli: Run, db: str) -> None:
    AuditStore(db).close()
    assert cli("log", "show", "--db", db)[1] == "The audit log is empty.\n"
    code, _, err = cli("log", "show", "--session", "3", "--db", db)
    assert code == 1 and "There is no session 3" in err
    for bad in ("0", "-1", "x"):
        with pytest.raises(SystemExit):
            cli("log", "show", "--session", bad, "--db", db)


def test_export_csv_to_stdout(cli: Run, filled: str) -> None:
    code, out, err = cli("log", "export", "--format", "csv", "--db", filled)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 6 and err == "Exported 6 records.\n"
    assert rows[2]["kind"] == "decision" and json.loads(rows[2]["data"])["requested"] == "NaN"


def test_export_json_to_a_file_refuses_to_overwrite(cli: Run, filled: str, tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    code, out, err = cli(
        "log",
        "export",
        "--format",
        "json",
        "--session",
        "1",
        "--output",
        str(target),
        "--db",
        filled,
    )
    assert code == 0 and out == "" and f"Exported 3 records to {target}." in err
    doc = json.loads(target.read_text(encoding="utf-8"))
    assert [r["kind"] for r in doc["records"]] == ["session_opened", "decision", "session_closed"]
    target.write_text("keep me")
    code, _, err = cli("log", "export", "--format", "json", "--output", str(target), "--db", filled)
    assert code == 1 and "already exists" in err and target.read_text() == "keep me"
    code, _, _ = cli(
        "log", "export", "--format", "csv", "--output", str(target), "--force", "--db", filled
    )
    assert code == 0 and target.read_text(encoding="utf-8").startswith("id,ts,ts_us,")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_export_bad_targets(cli: Run, filled: str, tmp_path: Path) -> None:
    code, _, err = cli(
        "log",
        "export",
        "--format",
        "csv",
        "--output",
        str(tmp_path / "no" / "x.csv"),
        "--db",
        filled,
    )
    assert code == 1 and "does not exist" in err
    code, _, err = cli("log", "export", "--format", "csv", "--session", "9", "--db", filled)
    assert code == 1 and "There is no session 9" in err
    with pytest.raises(SystemExit):
        cli("log", "export", "--format", "xml", "--db", filled)


def test_export_into_a_folder_nobody_may_write_is_one_sentence(cli: Run, filled: str) -> None:
    """/proc refuses new files even to root: the sentence names the target, not a temporary
    file (a new user saw "[Errno 13] Permission denied: '/tmp/ro/.x.json.clh6vq_c'")."""
    code, _, err = cli(
        "log", "export", "--format", "csv", "--output", "/proc/x.csv", "--db", filled
    )
    assert code == 1
    assert err.startswith("needlepen: Cannot write /proc/x.csv: ") and err.count("\n") == 1, err
    assert "Errno" not in err and ".x.csv." not in err


def test_verify_intact_then_broken(cli: Run, filled: str) -> None:
    code, out, _ = cli("log", "verify", "--db", filled)
    assert code == 0 and out.startswith("The audit log is intact: 6 records, head ")
    head = out.split("head ")[1].split(";")[0]
    assert cli("log", "verify", "--anchor", head.upper(), "--db", filled)[0] == 0

    conn = sqlite3.connect(filled)
    conn.execute("DROP TRIGGER log_no_update")
    conn.execute("""UPDATE log SET data = '{"requested":0.5,"zone":"forehead"}' WHERE id = 3""")
    conn.commit()
    conn.close()
    code, out, _ = cli("log", "verify", "--db", filled)
    assert code == 1
    assert out.splitlines() == [
        "The audit log is NOT intact: Record 3 was altered: its content does not match its hash.",
        "Records 1 to 2 verified before the problem.",
    ]


def test_verify_anchor_checks(cli: Run, filled: str) -> None:
    code, out, _ = cli("log", "verify", "--anchor", "a" * 64, "--db", filled)
    assert code == 1 and "anchor" in out
    code, _, err = cli("log", "verify", "--anchor", "xyz", "--db", filled)
    assert code == 1 and "64 hexadecimal digits" in err


def test_verify_names_a_tampered_table(cli: Run, filled: str) -> None:
    conn = sqlite3.connect(filled)
    conn.execute("DROP TRIGGER operators_fixed")
    conn.execute("UPDATE operators SET role = 'engineer'")
    conn.commit()
    conn.close()
    code, out, _ = cli("log", "verify", "--db", filled)
    assert code == 1 and "operators table disagrees" in out and "'doc' (role)" in out


def test_a_non_database_file_is_one_sentence(cli: Run, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.db"
    bogus.write_text("hello " * 1000)
    code, _, err = cli("log", "verify", "--db", str(bogus))
    assert code == 1 and err.count("\n") == 1 and "not a needlepen audit store" in err


# --- subprocesses ------------------------------------------------------------------------------


def run_module(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "driver.cli.store", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_module_entry_point_end_to_end(db: str) -> None:
    add = run_module(
        "operators",
        "add",
        "--id",
        "eng",
        "--name",
        "Eve",
        "--role",
        "engineer",
        "--pin-stdin",
        "--db",
        db,
        stdin="11223344\n",
    )
    assert add.returncode == 0, add.stderr
    verify = run_module("log", "verify", "--db", db)
    assert verify.returncode == 0 and "intact: 1 record, head" in verify.stdout
    bad = run_module("operators", "disable", "nobody", "--db", db)
    assert bad.returncode == 1 and bad.stderr == "needlepen: There is no operator 'nobody'.\n"


def _read_until(fd: int, needle: bytes, deadline: float) -> bytes:
    seen = b""
    while needle not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out waiting for {needle!r}; got {seen!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 1024)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    return seen


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs a Linux pty")
def test_pin_prompt_on_a_real_terminal_does_not_echo(db: str) -> None:
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "driver.cli.store",
            "operators",
            "add",
            "--id",
            "tty",
            "--name",
            "Terminal",
            "--role",
            "clinician",
            "--db",
            db,
        ],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        close_fds=True,
    )
    os.close(slave)
    try:
        deadline = time.monotonic() + 30
        seen = _read_until(master, b"(4 to 12 digits): ", deadline)
        os.write(master, b"86420975\n")
        seen += _read_until(master, b"The same PIN again: ", deadline)
        os.write(master, b"86420975\n")
        seen += _read_until(master, b"Added operator tty", deadline)
        assert proc.wait(timeout=30) == 0
        seen += _read_until(master, b"\n", time.monotonic() + 2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert b"86420975" not in seen  # the terminal never showed the PIN
    with AuditStore(db) as s:
        assert s.authenticate("tty", "86420975").role == "clinician"
