"""The store refuses to treat from tables that disagree with the chain (issue 11 item 3),
checked incrementally at session start and login; read-only copies can be verified, shown
and exported; what reaches a terminal is escaped (item 6)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from driver.audit import AuditStore
from driver.errors import StoreUntrusted, WrongPin
from driver.session import Pen

T0 = 1_700_000_000.0
ADMIN = ("doc", "2468")


def build(path: Path) -> AuditStore:
    s = AuditStore(path, scrypt_n=16)
    s.add_operator("doc", "Dr Who", "clinician", "2468", now=T0)
    s.add_operator("a1", "Ann", "aesthetician", "5678", now=T0, by=ADMIN)
    sid = s.begin_session(
        role="aesthetician",
        operator_id="a1",
        client_ref="P-1",
        device_serial=1,
        boot_id=1,
        device_class="professional",
        now=T0 + 1,
    )
    s.begin_treatment(sid, "cheeks", 0xCAFE, lambda facts: None, now=T0 + 2)
    s.end_session(sid, "done", now=T0 + 3)
    return s


def raw(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
        conn.execute(f"DROP TRIGGER {name}")
    return conn


def new_session(s: AuditStore) -> int:
    return s.begin_session(
        role="aesthetician",
        operator_id="a1",
        client_ref="P-1",
        device_serial=1,
        boot_id=2,
        device_class="professional",
    )


def test_a_deleted_treatment_row_stops_every_session(tmp_path: Path) -> None:
    s = build(tmp_path / "a.db")
    conn = raw(s.path)
    conn.execute("DELETE FROM treatments")  # to dodge the interval rule
    conn.close()
    before = len(s.records())
    with pytest.raises(StoreUntrusted, match="treatments table disagrees") as info:
        new_session(s)
    assert str(info.value).count(". ") <= 3 and "\n" not in str(info.value)
    assert len(s.records()) == before  # nothing written from a store that failed
    with pytest.raises(StoreUntrusted):
        Pen.open(
            "sim://?seed=2", role="aesthetician", operator="a1", pin="5678", client="P-1", db=s
        )
    s.close()


def test_a_lockout_count_reset_by_update_is_detected_and_not_laundered(tmp_path: Path) -> None:
    s = build(tmp_path / "a.db")
    for _ in range(4):
        with pytest.raises(WrongPin):
            s.authenticate("a1", "0000", now=T0 + 10)
    conn = raw(s.path)
    conn.execute("UPDATE operators SET failed = 0 WHERE id = 'a1'")
    conn.close()
    for pin in ("0000", "5678", "0000"):  # neither a guess nor the right PIN launders it
        with pytest.raises(StoreUntrusted, match="operators table disagrees"):
            s.authenticate("a1", pin, now=T0 + 11)
    assert not s.verify().ok
    s.close()


def test_an_edited_record_after_the_checkpoint_is_named(tmp_path: Path) -> None:
    s = build(tmp_path / "a.db")
    s.check_trust()  # the checkpoint is now at the last record
    s.append("note", {"text": "hello"})
    last = s.records()[-1].id
    conn = raw(s.path)
    conn.execute('UPDATE log SET data = \'{"text":"bye"}\' WHERE id = ?', (last,))
    conn.close()
    with pytest.raises(StoreUntrusted, match=f"Record {last} was altered"):
        new_session(s)
    s.close()


def test_the_check_is_incremental(tmp_path: Path) -> None:
    s = build(tmp_path / "a.db")
    first = s.check_trust()
    total = len(s.records())
    assert first.ok
    again = s.check_trust()
    assert again.ok and again.count == 0  # nothing new: no record walked
    for i in range(5):
        s.append("note", {"i": i})
    assert s.check_trust().count == 5
    conn = sqlite3.connect(s.path)
    assert conn.execute("SELECT record_id FROM checkpoint").fetchone()[0] == total + 5
    conn.close()
    s.close()


def test_a_forged_checkpoint_is_ignored_for_a_full_walk(tmp_path: Path) -> None:
    s = build(tmp_path / "a.db")
    s.check_trust()
    conn = raw(s.path)
    conn.execute("DELETE FROM treatments")
    # the forger rewrites the checkpoint's state but cannot match its digest without redoing it
    conn.execute("UPDATE checkpoint SET state = replace(state, 'cheeks', 'nose')")
    conn.close()
    with pytest.raises(StoreUntrusted, match="treatments table disagrees"):
        s.check_trust()
    s.close()


# --- read-only copies and escaping --------------------------------------------------------


def cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "driver.cli", *argv], capture_output=True, text=True, timeout=60
    )


def test_a_read_only_copy_can_be_verified_shown_and_exported(tmp_path: Path) -> None:
    build(tmp_path / "a.db").close()
    copy_dir = tmp_path / "copy"
    copy_dir.mkdir()
    copy = copy_dir / "a.db"
    shutil.copy(tmp_path / "a.db", copy)
    os.chmod(copy, stat.S_IRUSR | stat.S_IRGRP)
    os.chmod(copy_dir, stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(copy_dir, os.W_OK):
            pytest.skip("running as root: a read-only directory is still writable")
        verified = cli("log", "verify", "--db", str(copy))
        assert verified.returncode == 0, verified.stderr
        assert "intact" in verified.stdout
        shown = cli("log", "show", "--db", str(copy))
        assert shown.returncode == 0 and "treatment_recorded" in shown.stdout
        out = tmp_path / "export.json"
        exported = cli("log", "export", "--format", "json", "--db", str(copy), "--output", str(out))
        assert exported.returncode == 0, exported.stderr
        listed = cli("operators", "list", "--db", str(copy))
        assert listed.returncode == 0 and "a1" in listed.stdout
    finally:
        os.chmod(copy_dir, stat.S_IRWXU)
        os.chmod(copy, stat.S_IRUSR | stat.S_IWUSR)


def test_reading_commands_change_nothing_in_the_file_or_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "copy"
    folder.mkdir()
    build(folder / "a.db").close()
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    for argv in (
        ("log", "verify"),
        ("log", "show"),
        ("log", "export", "--format", "csv"),
        ("operators", "list"),
    ):
        done = cli(*argv, "--db", str(folder / "a.db"))
        assert done.returncode == 0, done.stderr
    after = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert after["a.db"] == before["a.db"]
    assert after.get("a.db-wal", b"") == b""  # SQLite's empty read-side WAL, nothing written


def test_a_read_only_store_opens_read_only_even_as_root(tmp_path: Path) -> None:
    build(tmp_path / "a.db").close()
    with AuditStore(tmp_path / "a.db", read_only=True) as s:
        assert s.verify().ok and s.records()
        with pytest.raises(Exception, match="read-only"):
            s.append("note", {})


def test_exports_and_operator_names_escape_c1_and_bidi(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    s = build(db)
    s.add_operator("evil", "Eve\u202eevil\u2066", "home", None, by=ADMIN)
    s.append("note", {"text": "\x9b\u202e\u2066x"})
    s.close()
    exported = cli("log", "export", "--format", "json", "--db", str(db))
    assert exported.returncode == 0
    for bad in ("\x9b", "\u202e", "\u2066", "\x1b"):
        assert bad not in exported.stdout
    assert json.loads(exported.stdout)["records"][-1]["data"]["text"] == "\x9b\u202e\u2066x"
    listed = cli("operators", "list", "--db", str(db))
    assert listed.returncode == 0
    for bad in ("\u202e", "\u2066"):
        assert bad not in listed.stdout
    assert "\\u202e" in listed.stdout
    wrong = cli("operators", "disable", "x\x1b[2J", "--db", str(db))
    assert wrong.returncode == 1 and "\x1b" not in wrong.stderr


def make_schema_1(path: Path) -> None:
    """A store as schema 1 wrote it: a home operator, then a clinician, a session and a
    treatment of 'P-0042' as typed (not normalised)."""
    from driver.audit import APPLICATION_ID, GENESIS_HASH, record_hash
    from driver.audit.schema import _MIGRATIONS

    conn = sqlite3.connect(path, isolation_level=None)
    for statement in _MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    prev = GENESIS_HASH
    rows = [
        (None, "operator_added", {"operator": "pat", "name": "Pat", "role": "home", "pin": None}),
        (
            None,
            "operator_added",
            {"operator": "doc", "name": "Doc", "role": "clinician", "pin": None},
        ),
        (
            1,
            "session_opened",
            {
                "role": "clinician",
                "operator": "doc",
                "client": "P-0042",
                "device_serial": 1,
                "boot_id": 1,
                "device_class": "professional",
            },
        ),
        (1, "treatment_recorded", {"client": "P-0042", "zone": "cheeks"}),
    ]
    ts = int(T0 * 1e6)
    for rid, (sid, kind, data) in enumerate(rows, start=1):
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        digest = record_hash(prev, rid, ts, sid, kind, text)
        conn.execute(
            "INSERT INTO log (id, ts_us, session_id, kind, data, prev_hash, hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (rid, ts, sid, kind, text, prev, digest),
        )
        prev = digest
    for op, name, role in (("pat", "Pat", "home"), ("doc", "Doc", "clinician")):
        conn.execute(
            "INSERT INTO operators (id, name, role, created_us) VALUES (?, ?, ?, ?)",
            (op, name, role, ts),
        )
    conn.execute("INSERT INTO clients VALUES ('P-0042', ?)", (ts,))
    conn.execute(
        "INSERT INTO sessions (id, role, operator_id, client_ref, device_serial, boot_id, "
        "device_class, started_us) VALUES (1, 'clinician', 'doc', 'P-0042', 1, 1, "
        "'professional', ?)",
        (ts,),
    )
    conn.execute(
        "INSERT INTO treatments (session_id, client_ref, zone, ts_us, record_id) "
        "VALUES (1, 'P-0042', 'cheeks', ?, 4)",
        (ts,),
    )
    conn.close()


def test_a_schema_1_store_reads_read_only_then_migrates_keeping_its_rules(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    make_schema_1(path)
    with AuditStore(path, read_only=True) as old:
        assert old.schema_version == 1 and old.verify().ok
        assert old.last_treatment_days_ago(" p-0042 ", "cheeks", now=T0 + 86_400) == 1.0
    with AuditStore(path) as s:  # migrates to schema 2
        assert s.verify().ok
        # the treatment typed 'P-0042' before normalisation still counts for 'p-0042'
        assert s.last_treatment_days_ago("p-0042", "cheeks", now=T0 + 86_400) == 1.0
        # its first professional operator is now the administrator, as the replay agrees
        assert [(o.id, o.admin) for o in s.list_operators()] == [("doc", True), ("pat", False)]
        assert s.check_trust().ok


def test_paths_and_arguments_in_errors_never_echo_raw_control_bytes(tmp_path: Path) -> None:
    ghost = tmp_path / "no\x1b[2Jstore\u202e.db"
    for argv in (
        ("log", "verify", "--db", str(ghost)),
        ("operators", "list", "--db", str(ghost)),
        ("log", "show", "--session", "1\x1b[31m", "--db", str(ghost)),
    ):
        done = cli(*argv)
        assert done.returncode != 0
        assert "\x1b" not in done.stderr and "\u202e" not in done.stderr, done.stderr
