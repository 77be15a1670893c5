"""The hash chain: append-only triggers, verification, and tamper detection in the file.

Tampering is done the way an attacker with the file would do it: a plain sqlite3 connection,
triggers dropped, rows edited, deleted, reordered or re-hashed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driver.audit import GENESIS_HASH, AuditStore, canonical_json, record_hash

T0 = 1_700_000_000.0
DAY = 86_400.0


def raw(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    return conn


def drop_triggers(conn: sqlite3.Connection) -> None:
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")]
    for name in names:
        conn.execute(f"DROP TRIGGER {name}")


ADMIN = ("doc", "2468")  # the first operator administers the store


def build(path: Path) -> AuditStore:
    """A store with operators, two sessions, treatments, a cartridge and plain records."""
    s = AuditStore(path, scrypt_n=2**10)
    s.add_operator("doc", "Dr Who", "clinician", "2468", now=T0)
    s.add_operator("home1", "Pat", "home", None, now=T0, by=ADMIN)
    s.authenticate("doc", "2468", now=T0 + 1)
    sid = s.begin_session(
        role="clinician",
        operator_id="doc",
        client_ref="C-1",
        device_serial=5,
        boot_id=9,
        device_class="professional",
        now=T0 + 2,
    )
    s.append("decision", {"requested": 0.8, "approved": 0.75}, session_id=sid, now=T0 + 3)
    s.record_treatment(sid, "C-1", "cheeks", now=T0 + 4)
    s.record_cartridge(0xABCD, sid, now=T0 + 4)
    s.append("ack", {"type": "START"}, session_id=sid, now=T0 + 5)
    s.end_session(sid, "closed", now=T0 + 6)
    s.append("note", {"after": "session"}, now=T0 + 7)
    return s


@pytest.fixture
def built(tmp_path: Path) -> Iterator[AuditStore]:
    s = build(tmp_path / "audit.db")
    assert s.verify().ok
    yield s
    s.close()


def tamper(store: AuditStore, *statements: str) -> None:
    conn = raw(store.path)
    drop_triggers(conn)
    for sql in statements:
        conn.execute(sql)
    conn.close()


def id_of(store: AuditStore, kind: str) -> int:
    return next(r.id for r in store.records() if r.kind == kind)


# --- append-only ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE log SET data = '{}' WHERE id = 2",
        "UPDATE log SET hash = 'x' WHERE id = 2",
        "DELETE FROM log WHERE id = 2",
        "DELETE FROM log",
        "DELETE FROM operators WHERE id = 'doc'",
        "UPDATE operators SET role = 'engineer' WHERE id = 'doc'",
        "UPDATE operators SET disabled = 0 WHERE id = 'home1'",  # disabled first below
        "DELETE FROM sessions",
        "UPDATE sessions SET ended_us = 1",  # already ended
        "UPDATE sessions SET role = 'home'",
        "DELETE FROM treatments",
        "UPDATE treatments SET ts_us = 0",
        "DELETE FROM cartridges",
        "UPDATE cartridges SET cartridge_id = 1",
        "DELETE FROM clients",
        "UPDATE clients SET ref = 'Jane Doe'",
    ],
)
def test_triggers_refuse_changes(built: AuditStore, sql: str) -> None:
    built.disable_operator("home1", now=T0 + 8, by=ADMIN)
    before = built.records()
    conn = raw(built.path)
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(sql)
    conn.close()
    assert built.records() == before
    assert built.verify().ok


def test_lockout_state_and_ending_a_session_are_still_allowed(built: AuditStore) -> None:
    """The triggers leave the store's own legitimate updates alone."""
    for i in range(3):
        with pytest.raises(Exception, match="Wrong PIN"):
            built.authenticate("doc", "0000", now=T0 + 10 + i)
    built.authenticate("doc", "2468", now=T0 + 20)
    built.disable_operator("home1", now=T0 + 21, by=ADMIN)
    assert built.verify().ok


# --- the chain ------------------------------------------------------------------------------


def test_empty_log_verifies_with_the_genesis_head(tmp_path: Path) -> None:
    with AuditStore(tmp_path / "e.db") as s:
        result = s.verify()
        assert (result.ok, result.count, result.first_broken, result.problem) == (
            True,
            0,
            None,
            None,
        )
        assert result.head == GENESIS_HASH == s.head()


def test_intact_log_reports_count_and_head(built: AuditStore) -> None:
    result = built.verify()
    records = built.records()
    assert result.ok and result.count == len(records) and result.head == records[-1].hash
    assert result.first_broken is None and result.problem is None


def test_edited_data_is_found(built: AuditStore) -> None:
    target = id_of(built, "decision")
    tamper(
        built, f"""UPDATE log SET data = '{{"approved":0.5,"requested":0.8}}' WHERE id = {target}"""
    )
    result = built.verify()
    assert not result.ok and result.first_broken == target
    assert result.problem == f"Record {target} was altered: its content does not match its hash."
    assert result.count == target - 1


@pytest.mark.parametrize(
    ("column", "value"),
    [("ts_us", "ts_us + 1"), ("kind", "'note'"), ("session_id", "NULL")],
)
def test_edited_envelope_fields_are_found(built: AuditStore, column: str, value: str) -> None:
    target = id_of(built, "ack")
    tamper(built, f"UPDATE log SET {column} = {value} WHERE id = {target}")
    result = built.verify()
    assert not result.ok and result.first_broken == target


def test_a_deleted_record_is_found(built: AuditStore) -> None:
    target = id_of(built, "decision")
    tamper(built, f"DELETE FROM log WHERE id = {target}")
    result = built.verify()
    assert not result.ok and result.first_broken == target
    assert f"Record {target} is missing" in (result.problem or "")


def test_a_deleted_record_with_later_ids_renumbered_is_found(built: AuditStore) -> None:
    target = id_of(built, "decision")
    tamper(
        built,
        f"DELETE FROM log WHERE id = {target}",
        f"UPDATE log SET id = id - 1 WHERE id > {target}",
    )
    result = built.verify()
    assert not result.ok and result.first_broken == target
    assert "does not chain" in (result.problem or "")


def test_a_cut_off_tail_is_found(built: AuditStore) -> None:
    last = built.records()[-1].id
    tamper(built, f"DELETE FROM log WHERE id >= {last - 1}")
    result = built.verify()
    assert not result.ok and result.first_broken == last - 1
    assert "cut short" in (result.problem or "")


def test_a_cut_off_tail_stays_visible_after_new_appends(built: AuditStore) -> None:
    last = built.records()[-1].id
    tamper(built, f"DELETE FROM log WHERE id = {last}")
    built.append("note", {"later": 1})
    result = built.verify()
    assert not result.ok and result.first_broken == last
    assert f"Record {last} is missing" in (result.problem or "")


def test_reordered_records_are_found(built: AuditStore) -> None:
    a = id_of(built, "decision")
    b = a + 1
    tamper(
        built,
        f"UPDATE log SET id = -1 WHERE id = {a}",
        f"UPDATE log SET id = {a} WHERE id = {b}",
        f"UPDATE log SET id = {b} WHERE id = -1",
    )
    result = built.verify()
    assert not result.ok and result.first_broken == a


def test_a_changed_hash_is_found(built: AuditStore) -> None:
    target = id_of(built, "ack")
    tamper(built, f"UPDATE log SET hash = '{'0' * 64}' WHERE id = {target}")
    result = built.verify()
    assert not result.ok and result.first_broken == target


def test_a_changed_prev_hash_is_found(built: AuditStore) -> None:
    tamper(built, f"UPDATE log SET prev_hash = '{'f' * 64}' WHERE id = 1")
    result = built.verify()
    assert not result.ok and result.first_broken == 1
    assert "genesis" in (result.problem or "")


def test_a_rehashed_edit_breaks_the_next_link(built: AuditStore) -> None:
    """Editing a record and recomputing its own hash is caught at the next record."""
    target = id_of(built, "decision")
    rec = next(r for r in built.records() if r.id == target)
    forged = canonical_json({"approved": 0.5, "requested": 0.8})
    digest = record_hash(
        rec.prev_hash, rec.id, round(rec.ts * 1e6), rec.session_id, rec.kind, forged
    )
    tamper(built, f"UPDATE log SET data = '{forged}', hash = '{digest}' WHERE id = {target}")
    result = built.verify()
    assert not result.ok and result.first_broken == target + 1
    assert "does not chain" in (result.problem or "")


def test_a_fully_rechained_log_is_caught_by_an_anchor(built: AuditStore) -> None:
    """Rewriting every hash after an edit defeats the chain alone; a written-down head does not."""
    anchor = built.verify().head
    assert anchor is not None and built.verify(anchor).ok
    target = id_of(built, "decision")
    conn = raw(built.path)
    drop_triggers(conn)
    conn.execute(
        f"""UPDATE log SET data = '{{"approved":0.5,"requested":0.8}}' WHERE id = {target}"""
    )
    prev = GENESIS_HASH
    for rid, ts_us, sid, kind, data in list(
        conn.execute("SELECT id, ts_us, session_id, kind, data FROM log ORDER BY id")
    ):
        digest = record_hash(prev, rid, ts_us, sid, kind, data)
        conn.execute("UPDATE log SET prev_hash = ?, hash = ? WHERE id = ?", (prev, digest, rid))
        prev = digest
    conn.close()
    assert built.verify().ok  # documented limit: the file alone cannot tell
    result = built.verify(anchor)
    assert not result.ok and "anchor" in (result.problem or "")


def test_data_that_is_not_an_object_is_found_even_with_a_matching_hash(built: AuditStore) -> None:
    rec = built.records()[-1]
    digest = record_hash(
        rec.prev_hash, rec.id, round(rec.ts * 1e6), rec.session_id, rec.kind, "[1]"
    )
    tamper(built, f"UPDATE log SET data = '[1]', hash = '{digest}' WHERE id = {rec.id}")
    result = built.verify()
    assert not result.ok and result.first_broken == rec.id
    assert "not a JSON object" in (result.problem or "")
    # show and export still work on a damaged log
    assert built.records()[-1].data == {"_unreadable": "[1]"}


def test_a_wrongly_typed_field_is_found(built: AuditStore) -> None:
    tamper(built, "UPDATE log SET ts_us = 'yesterday' WHERE id = 2")
    result = built.verify()
    assert not result.ok and result.first_broken == 2


# --- the tables against the chain ------------------------------------------------------------


TABLE_TAMPERS: dict[str, tuple[list[str], str]] = {
    "operator role raised": (
        ["UPDATE operators SET role = 'engineer' WHERE id = 'doc'"],
        "operators table disagrees with the log about operator 'doc' (role)",
    ),
    "operator renamed": (
        ["UPDATE operators SET name = 'Someone Else' WHERE id = 'doc'"],
        "(name)",
    ),
    "PIN hash swapped": (
        ["UPDATE operators SET pin_hash = x'00112233' WHERE id = 'doc'"],
        "(pin)",
    ),
    "home operator given a PIN": (
        ["UPDATE operators SET pin_salt = x'00', pin_hash = x'00' WHERE id = 'home1'"],
        "(pin)",
    ),
    "disabled operator re-enabled": (
        ["UPDATE operators SET disabled = 0 WHERE id = 'gone'"],
        "(disabled)",
    ),
    "lockout cleared": (
        ["UPDATE operators SET failed = 0, locked_until_us = NULL WHERE id = 'doc'"],
        "(failed)",
    ),
    "operator deleted": (
        ["DELETE FROM operators WHERE id = 'home1'"],
        "missing from the operators table",
    ),
    "operator inserted": (
        [
            "INSERT INTO operators (id, name, role, disabled, failed, created_us) "
            "VALUES ('mallory', 'M', 'home', 0, 0, 1)"
        ],
        "whom no record added",
    ),
    "session deleted": (
        ["DELETE FROM sessions WHERE id = 1"],
        "Session 1 is in the log but missing",
    ),
    "session role changed": (
        ["UPDATE sessions SET role = 'home' WHERE id = 1"],
        "about session 1 (role)",
    ),
    "session end reason changed": (
        ["UPDATE sessions SET end_reason = 'ok' WHERE id = 1"],
        "about session 1 (end_reason)",
    ),
    "session reopened": (
        ["UPDATE sessions SET ended_us = NULL, end_reason = NULL WHERE id = 1"],
        "about session 1 (ended)",
    ),
    "treatment deleted (defeats the interval rule)": (
        ["DELETE FROM treatments"],
        "treatments table disagrees",
    ),
    "treatment moved back in time": (
        ["UPDATE treatments SET ts_us = ts_us - 86400000000 * 60"],
        "treatments table disagrees",
    ),
    "cartridge deleted (defeats the reuse check)": (
        ["DELETE FROM cartridges"],
        "cartridges table disagrees",
    ),
    "client renamed to a real name": (
        ["UPDATE clients SET ref = 'Jane Doe' WHERE ref = 'c-1'"],
        "clients table holds 'Jane Doe'",
    ),
    "client deleted": (
        ["DELETE FROM clients"],
        "Client 'c-1' is in the log but missing",
    ),
}


@pytest.mark.parametrize("case", sorted(TABLE_TAMPERS))
def test_tampered_tables_are_found(tmp_path: Path, case: str) -> None:
    statements, problem = TABLE_TAMPERS[case]
    with build(tmp_path / "t.db") as s:
        s.add_operator("gone", "Former", "home", None, now=T0 + 8, by=ADMIN)
        s.disable_operator("gone", now=T0 + 9, by=ADMIN)
        for i in range(5):
            with pytest.raises(Exception, match="PIN"):
                s.authenticate("doc", "0000", now=T0 + 10 + i)
        assert s.verify().ok
        tamper(s, *statements)
        result = s.verify()
        assert not result.ok, case
        assert problem in (result.problem or ""), result.problem
        # the chain itself is intact: every record was checked
        assert result.count == len(s.records())


def test_deleting_a_treatment_cannot_hide_it_from_the_interval_rule_unnoticed(
    built: AuditStore,
) -> None:
    assert built.last_treatment_days_ago("C-1", "cheeks", now=T0 + DAY) is not None
    tamper(built, "DELETE FROM treatments")
    assert built.last_treatment_days_ago("C-1", "cheeks", now=T0 + DAY) is None
    assert not built.verify().ok


# --- property: any single tamper of any record is found and located ---------------------------

MUTATIONS = ("data", "ts_us", "kind", "session_id", "hash", "prev_hash", "delete")


@settings(max_examples=40)
@given(
    n=st.integers(1, 12),
    pick=st.integers(0, 10**6),
    mutation=st.sampled_from(MUTATIONS),
    payload=st.dictionaries(
        st.text(max_size=5), st.integers() | st.floats() | st.text(max_size=5), max_size=3
    ),
)
def test_any_single_tamper_is_found_at_its_record(
    tmp_path_factory: pytest.TempPathFactory,
    n: int,
    pick: int,
    mutation: str,
    payload: dict[str, object],
) -> None:
    path = tmp_path_factory.mktemp("prop") / "p.db"
    with AuditStore(path) as s:
        sid = s.begin_session(
            role="home",
            operator_id=None,
            client_ref=None,
            device_serial=1,
            boot_id=1,
            device_class="home",
            now=T0,
        )
        for i in range(n):
            s.append("note", {"i": i, **payload}, session_id=sid if i % 2 else None, now=T0 + i)
        records = s.records()
        target = records[pick % len(records)]
        assert s.verify().ok
        conn = raw(s.path)
        drop_triggers(conn)
        where = f"WHERE id = {target.id}"
        if mutation == "data":
            new = canonical_json({**target.data, "tampered": True})
            conn.execute(f"UPDATE log SET data = ? {where}", (new,))
        elif mutation == "ts_us":
            conn.execute(f"UPDATE log SET ts_us = ts_us + 1 {where}")
        elif mutation == "kind":
            conn.execute(f"UPDATE log SET kind = kind || 'x' {where}")
        elif mutation == "session_id":
            new_sid = None if target.session_id is not None else sid
            conn.execute(f"UPDATE log SET session_id = ? {where}", (new_sid,))
        elif mutation == "hash":
            conn.execute(f"UPDATE log SET hash = ? {where}", ("a" * 64,))
        elif mutation == "prev_hash":
            conn.execute(f"UPDATE log SET prev_hash = ? {where}", ("b" * 64,))
        else:
            conn.execute(f"DELETE FROM log {where}")
        conn.close()
        result = s.verify()
        assert not result.ok
        assert result.first_broken == target.id
        assert result.count == target.id - 1
        assert result.problem is not None and "\n" not in result.problem


@settings(max_examples=25)
@given(
    steps=st.lists(
        st.sampled_from(["append", "session", "treat", "cartridge", "end", "reopen"]),
        max_size=30,
    )
)
def test_untampered_stores_always_verify(
    tmp_path_factory: pytest.TempPathFactory, steps: list[str]
) -> None:
    path = tmp_path_factory.mktemp("ok") / "ok.db"
    s = AuditStore(path)
    sid: int | None = None
    try:
        for i, step in enumerate(steps):
            now = T0 + i
            if step == "append":
                s.append("note", {"i": i}, session_id=sid, now=now)
            elif step == "session" or sid is None:
                sid = s.begin_session(
                    role="home",
                    operator_id=None,
                    client_ref=f"C-{i % 3}",
                    device_serial=1,
                    boot_id=i,
                    device_class="home",
                    now=now,
                )
            elif step == "treat":
                s.record_treatment(sid, f"C-{i % 3}", "forehead", now=now)
            elif step == "cartridge":
                s.record_cartridge(i % 4, sid, now=now)
            elif step == "end":
                s.end_session(sid, "closed", now=now)
                sid = None
            else:
                s.close()
                s = AuditStore(path)
        result = s.verify()
        assert result.ok, result.problem
        assert result.count == len(s.records())
    finally:
        s.close()


def test_verify_sees_a_consistent_snapshot_while_another_thread_appends(tmp_path: Path) -> None:
    """verify() reads on its own connection: the Pen keeps appending, tables and log agree."""
    import threading

    with AuditStore(tmp_path / "busy.db") as s:
        stop = threading.Event()
        errors: list[BaseException] = []

        def writer() -> None:
            try:
                i = 0
                while not stop.is_set():
                    sid = s.begin_session(
                        role="home",
                        operator_id=None,
                        client_ref=f"C-{i % 5}",
                        device_serial=1,
                        boot_id=i,
                        device_class="home",
                    )
                    s.record_treatment(sid, f"C-{i % 5}", "forehead")
                    s.record_cartridge(i, sid)
                    s.append("note", {"i": i}, session_id=sid)
                    s.end_session(sid, "closed")
                    i += 1
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            counts = []
            for _ in range(15):
                result = s.verify()
                assert result.ok, result.problem
                counts.append(result.count)
        finally:
            stop.set()
            thread.join()
        assert errors == []
        assert s.verify().ok


def test_paths_with_uri_characters_work(tmp_path: Path) -> None:
    folder = tmp_path / "odd dir #1 ?x=%20"
    folder.mkdir()
    with AuditStore(folder / "a b.db") as s:
        s.append("note", {"x": 1})
        assert s.verify().ok and s.verify().count == 1
        import io

        buf = io.StringIO()
        assert s.export("csv", buf) == 1
