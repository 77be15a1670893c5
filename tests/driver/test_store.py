"""The audit store: opening and schema, durable appends, canonical data, sessions, the
interval rule and cartridge reuse at the store level."""

from __future__ import annotations

import csv
import io
import json
import math
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driver.audit import (
    APPLICATION_ID,
    GENESIS_HASH,
    SCHEMA_VERSION,
    STORE_KINDS,
    AuditStore,
    canonical_json,
    record_hash,
)
from driver.audit.base import open_backend
from driver.errors import OperatorDisabled, StoreError, UnknownOperator
from driver.paths import DATA_DIR_ENV, DB_FILENAME, default_db_path
from driver.testing.strategies import json_objects
from tests.conftest import MakeStore

DAY = 86_400.0
T0 = 1_700_000_000.0  # a fixed "now" for deterministic tests


def pro_session(store: AuditStore, client: str | None = "C-0042", now: float = T0) -> int:
    return store.begin_session(
        role="clinician",
        operator_id="doc",
        client_ref=client,
        device_serial=1234,
        boot_id=77,
        device_class="professional",
        now=now,
    )


def home_session(store: AuditStore, client: str | None = "self", now: float = T0) -> int:
    return store.begin_session(
        role="home",
        operator_id=None,
        client_ref=client,
        device_serial=99,
        boot_id=1,
        device_class="home",
        now=now,
    )


@pytest.fixture
def store(make_store: MakeStore) -> AuditStore:
    """This file's store: one clinician, registered 10 s before T0 (the first record)."""
    return make_store(staff=[("doc", "Dr Who", "clinician", "2468")], now=T0 - 10)


# --- opening -------------------------------------------------------------------------------


def test_new_file_gets_the_current_schema_wal_and_our_application_id(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with AuditStore(path) as s:
        assert s.path == str(path)
        assert s.journal_mode == "wal"
        assert s.schema_version == SCHEMA_VERSION
        assert s.records() == []
        assert s.verify().ok
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert raw.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()


def test_synchronous_full_on_the_store_connection(tmp_path: Path) -> None:
    # 2 == FULL: every commit is fsynced before append() returns (the connection the store's
    # backend opens: open_backend is what AuditStore opens its location with)
    backend = open_backend(str(tmp_path / "sync.db"), create=True, read_only=False)
    try:
        assert backend.connection().execute("PRAGMA synchronous").fetchone()[0] == 2
    finally:
        backend.close()


def test_reopening_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    with AuditStore(path) as s:
        s.append("note", {"n": 1}, now=T0)
    with AuditStore(path) as s:
        assert [r.data for r in s.records()] == [{"n": 1}]
        assert s.verify().ok


def test_memory_store_works(tmp_path: Path) -> None:
    with AuditStore(":memory:") as s:
        rec = s.append("note", {"a": 1}, now=T0)
        assert rec.id == 1 and rec.prev_hash == GENESIS_HASH
        assert s.verify().ok


def test_a_file_that_is_not_a_database_is_refused_in_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"This is a shopping list, not a database.\n" * 100)
    with pytest.raises(StoreError, match="not a needlepen audit store") as info:
        AuditStore(path)
    assert "\n" not in str(info.value)
    assert path.read_bytes().startswith(b"This is a shopping list")


def test_another_applications_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE recipes (name TEXT)")
    raw.commit()
    raw.close()
    with pytest.raises(StoreError, match="another application"):
        AuditStore(path)
    raw = sqlite3.connect(path)
    tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    raw.close()
    assert tables == {"recipes"}


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    AuditStore(path).close()
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.commit()
    raw.close()
    with pytest.raises(
        StoreError, match=rf"schema version {SCHEMA_VERSION + 1}, newer than this needlepen"
    ):
        AuditStore(path)


def test_an_empty_sqlite_file_is_migrated_from_version_0(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()  # a zero-length file: SQLite's empty database
    with AuditStore(path) as s:
        assert s.schema_version == SCHEMA_VERSION
        s.append("note", {}, now=T0)
        assert s.verify().ok


def test_missing_store_is_refused_when_not_creating(tmp_path: Path) -> None:
    path = tmp_path / "missing.db"
    with pytest.raises(StoreError, match="There is no audit store at"):
        AuditStore(path, create=False)
    assert not path.exists()


def test_a_directory_or_an_unreachable_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a directory"):
        AuditStore(tmp_path)
    with pytest.raises(StoreError, match="could not be opened"):
        AuditStore(tmp_path / "no" / "such" / "dir" / "x.db")


def test_default_path_is_in_the_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "data"))
    assert default_db_path(create_dir=False) == tmp_path / "data" / DB_FILENAME
    assert not (tmp_path / "data").exists()
    with AuditStore() as s:
        assert s.path == str(tmp_path / "data" / DB_FILENAME)
    assert (tmp_path / "data" / DB_FILENAME).is_file()


def test_default_path_uses_platformdirs_without_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    path = default_db_path()
    if sys.platform.startswith("linux"):
        assert path == tmp_path / "xdg" / "needlepen" / DB_FILENAME
    assert path.parent.is_dir() and path.name == DB_FILENAME


def test_closed_store_refuses_work(tmp_path: Path) -> None:
    s = AuditStore(tmp_path / "c.db")
    s.close()
    s.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        s.append("note", {})
    with pytest.raises(StoreError, match="closed"):
        s.records()


# --- appends -------------------------------------------------------------------------------


def test_append_chains_from_genesis_and_returns_the_record(store: AuditStore) -> None:
    first = store.records()[0]  # operator_added from the fixture
    assert first.prev_hash == GENESIS_HASH
    rec = store.append("decision", {"depth": 0.5, "ok": True}, now=T0)
    assert rec.prev_hash == first.hash
    assert rec.hash == record_hash(
        first.hash, rec.id, round(T0 * 1e6), None, "decision", '{"depth":0.5,"ok":true}'
    )
    assert rec.ts == T0 and rec.kind == "decision" and rec.data == {"depth": 0.5, "ok": True}
    assert store.records()[-1] == rec


def test_append_is_committed_before_it_returns(tmp_path: Path) -> None:
    """Another process sees the record as soon as append() returns: nothing is buffered."""
    path = tmp_path / "durable.db"
    with AuditStore(path) as s:
        s.append("decision", {"depth_um": 500}, now=T0)
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
                "print(c.execute('SELECT kind, data FROM log').fetchall())",
                str(path),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        assert "('decision', '{\"depth_um\":500}')" in out.stdout


#: A process whose files may not grow by a byte: every write of the store fails mid-transaction
#: (SQLite's WAL page writes get EFBIG), as a full disk fails them.
NO_ROOM = """
import resource, signal, sys
from driver.audit import AuditStore
from driver.errors import StoreError

store = AuditStore(sys.argv[1], scrypt_n=16)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
for attempt in ("append", "session"):
    try:
        if attempt == "append":
            store.append("note", {"x": 1}, now=1_700_000_000.0)
        else:
            store.begin_session(
                role="clinician", operator_id="doc", client_ref="C-0042", device_serial=1234,
                boot_id=77, device_class="professional", now=1_700_000_000.0,
            )
        print(attempt, "written")
    except StoreError as exc:
        print(attempt, "refused:", exc)
"""


def test_a_transaction_the_disk_refuses_leaves_no_trace(store: AuditStore) -> None:
    """A process that may not grow any file (RLIMIT_FSIZE 0, in a child) writes a record and
    begins a session: each write fails inside its transaction with one sentence, and the
    store is as it was (the parent's view, through another connection)."""
    before = store.records()
    out = subprocess.run(
        [sys.executable, "-c", NO_ROOM, store.path],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert [line.split(" ", 2)[:2] for line in lines] == [
        ["append", "refused:"],
        ["session", "refused:"],
    ], out.stdout
    assert all(line.endswith(").") and "could not be written" in line for line in lines)
    assert store.records() == before
    assert store.sessions() == []
    assert store.verify().ok


def test_an_interruption_inside_the_write_transaction_leaves_no_trace(store: AuditStore) -> None:
    """A KeyboardInterrupt raised inside the store's write transaction (by the start rules,
    which run in it) rolls it back and frees the write lock: the next write goes through."""
    sid = pro_session(store)
    before = store.records()

    def interrupted(facts: object) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.begin_treatment(sid, "cheeks", 5, interrupted, now=T0 + 1)
    assert store.records() == before
    done = threading.Event()
    threading.Thread(
        target=lambda: (store.append("note", {"after": 1}, now=T0 + 2), done.set()), daemon=True
    ).start()
    assert done.wait(10), "the write lock was not released"
    assert [r.kind for r in store.records()][-1] == "note"
    assert store.verify().ok


@pytest.mark.parametrize(
    "kind", ["", "has space", "new\nline", "1starts_with_digit", "x" * 41, "é", None, 3]
)
def test_bad_kinds_are_refused(store: AuditStore, kind: object) -> None:
    before = store.records()
    with pytest.raises(StoreError, match="is not a record kind"):
        store.append(kind, {})  # type: ignore[arg-type]
    assert store.records() == before


@pytest.mark.parametrize("kind", sorted(STORE_KINDS))
def test_the_stores_own_kinds_cannot_be_forged_through_append(store: AuditStore, kind: str) -> None:
    with pytest.raises(StoreError, match="written by the audit store itself"):
        store.append(kind, {"operator": "doc"})


@pytest.mark.parametrize(
    "kind",
    [
        "decision",
        "command",
        "ack",
        "nack",
        "pen_event",
        "fault",
        "link_lost",
        "estop",
        "session_start",
        "session_end",
        "zone",
        "override",
        "reboot",
        "start_refused",
    ],
)
def test_the_pens_kinds_are_accepted(store: AuditStore, kind: str) -> None:
    assert store.append(kind, {}).kind == kind


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({1: "x"}, "not a string"),
        ({"a": object()}, "cannot be stored as JSON"),
        ({"a": {1, 2}}, "cannot be stored as JSON"),
        ({"a": b"bytes"}, "cannot be stored as JSON"),
        ([1, 2], "must be a mapping"),
        ("text", "must be a mapping"),
    ],
)
def test_data_that_is_not_json_is_refused_clearly(
    store: AuditStore, data: object, problem: str
) -> None:
    before = store.records()
    with pytest.raises(StoreError, match=problem):
        store.append("note", data)  # type: ignore[arg-type]
    assert store.records() == before


def test_too_deep_or_too_large_data_is_refused(store: AuditStore) -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(40):
        node["a"] = {}
        node = node["a"]  # type: ignore[assignment]
    with pytest.raises(StoreError, match="nested deeper"):
        store.append("note", deep)
    cycle: dict[str, object] = {}
    cycle["self"] = cycle
    with pytest.raises(StoreError, match="nested deeper"):
        store.append("note", cycle)
    with pytest.raises(StoreError, match="too large"):
        store.append("note", {"blob": "x" * (1 << 20)})


def test_non_finite_floats_and_enums_are_stored_readably(store: AuditStore) -> None:
    from protocol import NackError, State

    rec = store.append(
        "decision",
        {
            "requested": math.nan,
            "max": math.inf,
            "min": -math.inf,
            "state": State.RUNNING,
            "err": NackError.OUT_OF_RANGE,
            "tuple": (1, 2),
        },
    )
    assert rec.data == {
        "requested": "NaN",
        "max": "Infinity",
        "min": "-Infinity",
        "state": "RUNNING",
        "err": "OUT_OF_RANGE",
        "tuple": [1, 2],
    }
    assert store.verify().ok


@pytest.mark.parametrize("now", [math.nan, math.inf, -1.0, 1e12, "noon", True])
def test_implausible_timestamps_are_refused(store: AuditStore, now: object) -> None:
    with pytest.raises(StoreError, match="timestamp"):
        store.append("note", {}, now=now)  # type: ignore[arg-type]


def test_append_to_an_unknown_session_is_refused(store: AuditStore) -> None:
    with pytest.raises(StoreError, match="There is no session 42"):
        store.append("note", {}, session_id=42)


json_data = json_objects(finite=False)


@given(data=json_data)
def test_canonical_json_is_stable_ascii_and_round_trips(data: dict[str, object]) -> None:
    text = canonical_json(data)
    assert text.isascii() and "\n" not in text
    again = json.loads(text)
    assert canonical_json(again) == text  # what an auditor re-serialises hashes the same


@given(data=json_data)
def test_any_json_data_appends_and_verifies(data: dict[str, object]) -> None:
    with AuditStore(":memory:") as s:
        rec = s.append("note", data, now=T0)
        assert s.records() == [rec]
        assert canonical_json(rec.data) == canonical_json(data)
        assert s.verify().ok


def test_concurrent_appends_from_two_threads_keep_one_chain(tmp_path: Path) -> None:
    with AuditStore(tmp_path / "threads.db") as s:
        errors: list[BaseException] = []

        def worker(name: str) -> None:
            try:
                for i in range(100):
                    s.append("note", {"who": name, "i": i})
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(n,)) for n in ("reader", "caller")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        result = s.verify()
        assert result.ok and result.count == 200


def test_two_stores_on_one_file_keep_one_chain(tmp_path: Path) -> None:
    """The CLI may add an operator while a Pen session is appending to the same file."""
    path = tmp_path / "shared.db"
    with AuditStore(path) as a, AuditStore(path) as b:
        for i in range(20):
            (a if i % 2 else b).append("note", {"i": i})
        b.add_operator("nurse", "Nurse", "engineer", "2468")  # the first: no authority yet
        a.append("note", {"after": True})
        result = a.verify()
        assert result.ok and result.count == 22
        assert [r.id for r in b.records()] == list(range(1, 23))


# --- sessions ------------------------------------------------------------------------------


def test_begin_and_end_session(store: AuditStore) -> None:
    sid = pro_session(store)
    store.append("decision", {"depth": 0.5}, session_id=sid, now=T0 + 1)
    store.end_session(sid, "closed", now=T0 + 60)
    store.end_session(sid, "a second reason", now=T0 + 61)  # no-op: the first reason stands
    (row,) = store.sessions()
    assert (row.id, row.role, row.operator_id, row.client_ref) == (
        sid,
        "clinician",
        "doc",
        "c-0042",  # stored normalised
    )
    assert (row.device_serial, row.boot_id, row.device_class) == (1234, 77, "professional")
    assert (row.started, row.ended, row.end_reason) == (T0, T0 + 60, "closed")
    kinds = [r.kind for r in store.records(sid)]
    assert kinds == ["session_opened", "decision", "session_closed"]
    assert store.verify().ok


def test_device_class_accepts_the_protocol_enum(store: AuditStore) -> None:
    from protocol import DeviceClass

    sid = store.begin_session(
        role="home",
        operator_id=None,
        client_ref=None,
        device_serial=1,
        boot_id=2,
        device_class=DeviceClass.HOME,  # type: ignore[arg-type]
    )
    assert store.sessions()[-1].device_class == "home" and sid == 1


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"role": "surgeon"}, "is not a role"),
        ({"role": "clinician", "operator_id": None}, "needs an authenticated operator"),
        ({"role": "engineer", "operator_id": "doc"}, "registered as clinician"),
        ({"operator_id": "ghost"}, "There is no operator"),
        ({"device_serial": -1}, "serial number"),
        ({"device_serial": 2**32}, "serial number"),
        ({"device_serial": True}, "serial number"),
        ({"boot_id": 1.5}, "boot id"),
        ({"device_class": "industrial"}, "device class"),
        ({"device_class": "home"}, "home-class pen runs home sessions only"),
        ({"client_ref": ""}, "must not be empty"),
        ({"client_ref": " \u200b "}, "control characters"),
        ({"client_ref": "x" * 65}, "too long"),
        ({"client_ref": "C\n1"}, "control characters"),
    ],
)
def test_bad_session_input_is_refused_and_stores_nothing(
    store: AuditStore, kwargs: dict[str, object], problem: str
) -> None:
    args: dict[str, object] = {
        "role": "clinician",
        "operator_id": "doc",
        "client_ref": "C-1",
        "device_serial": 1,
        "boot_id": 1,
        "device_class": "professional",
    }
    args.update(kwargs)
    before = store.records()
    with pytest.raises((StoreError, UnknownOperator), match=problem):
        store.begin_session(**args)  # type: ignore[arg-type]
    assert store.records() == before and store.sessions() == []


def test_a_disabled_operator_cannot_open_a_session(store: AuditStore) -> None:
    store.add_operator("boss", "Boss", "clinician", "1357", by=("doc", "2468"), admin=True)
    store.disable_operator("doc", by=("boss", "1357"))
    with pytest.raises(OperatorDisabled):
        pro_session(store)


def test_a_home_session_may_name_a_professional_operator(store: AuditStore) -> None:
    """A home-class pen forces the home role whatever the login."""
    sid = store.begin_session(
        role="home",
        operator_id="doc",
        client_ref=None,
        device_serial=1,
        boot_id=1,
        device_class="home",
    )
    assert store.sessions()[0].operator_id == "doc" and sid == 1


def test_end_session_of_unknown_session_or_without_reason(store: AuditStore) -> None:
    with pytest.raises(StoreError, match="There is no session 5"):
        store.end_session(5, "closed")
    sid = pro_session(store)
    with pytest.raises(StoreError, match="must not be empty"):
        store.end_session(sid, "")
    assert store.sessions()[0].ended is None


# --- the interval rule ---------------------------------------------------------------------


def test_interval_rule_counts_days_since_an_earlier_session(store: AuditStore) -> None:
    s1 = pro_session(store, now=T0)
    store.record_treatment(s1, "C-0042", "cheeks", now=T0 + 600)
    store.end_session(s1, "closed", now=T0 + 3600)
    later = T0 + 600 + 10 * DAY
    s2 = pro_session(store, now=later)
    assert store.last_treatment_days_ago("C-0042", "cheeks", now=later, exclude_session=s2) == 10.0
    # the same session's own treatments do not count against it
    store.record_treatment(s2, "C-0042", "cheeks", now=later + 60)
    assert store.last_treatment_days_ago(
        "C-0042", "cheeks", now=later + 120, exclude_session=s2
    ) == pytest.approx(10.0 + 120 / DAY)
    # other zones and other clients have their own history
    assert (
        store.last_treatment_days_ago("C-0042", "forehead", now=later, exclude_session=s2) is None
    )
    assert store.last_treatment_days_ago("C-9999", "cheeks", now=later, exclude_session=s2) is None
    # no client reference: no history
    assert store.last_treatment_days_ago(None, "cheeks", now=later, exclude_session=s2) is None


def test_interval_rule_takes_the_most_recent_of_several_sessions(store: AuditStore) -> None:
    for days in (0, 30, 58):
        sid = pro_session(store, now=T0 + days * DAY)
        store.record_treatment(sid, "C-0042", "neck", now=T0 + days * DAY)
        store.end_session(sid, "closed", now=T0 + days * DAY + 1)
    now = T0 + 60 * DAY
    assert store.last_treatment_days_ago("C-0042", "neck", now=now) == 2.0


def test_interval_rule_counts_a_concurrent_session_on_another_pen(store: AuditStore) -> None:
    """Two pens on one client: the later-opened session still counts for the earlier one."""
    s1 = pro_session(store, now=T0)
    s2 = pro_session(store, now=T0 + 5)
    store.record_treatment(s2, "C-0042", "cheeks", now=T0 + 10)
    assert store.last_treatment_days_ago(
        "C-0042", "cheeks", now=T0 + 20, exclude_session=s1
    ) == pytest.approx(10 / DAY)


def test_interval_rule_treats_a_future_treatment_as_today(store: AuditStore) -> None:
    sid = pro_session(store, now=T0)
    store.record_treatment(sid, "C-0042", "cheeks", now=T0 + DAY)
    assert store.last_treatment_days_ago("C-0042", "cheeks", now=T0, exclude_session=None) == 0.0


def test_treatment_input_is_checked(store: AuditStore) -> None:
    sid = pro_session(store)
    for zone in ("", "fore head", "x\n", None, "ä"):
        with pytest.raises(StoreError, match="not a treatment zone"):
            store.record_treatment(sid, "C-0042", zone)  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="There is no session 9"):
        store.record_treatment(9, "C-0042", "cheeks")
    store.end_session(sid, "closed")
    with pytest.raises(StoreError, match="has ended"):
        store.record_treatment(sid, "C-0042", "cheeks")
    assert store.last_treatment_days_ago("C-0042", "cheeks") is None


# --- cartridges ----------------------------------------------------------------------------


def test_a_cartridge_seen_in_an_earlier_session_is_reported_used(store: AuditStore) -> None:
    s1 = home_session(store, now=T0)
    assert not store.cartridge_used_before(0xCAFE0001, s1)
    store.record_cartridge(0xCAFE0001, s1, now=T0 + 1)
    store.record_cartridge(0xCAFE0001, s1, now=T0 + 2)  # once per session
    assert not store.cartridge_used_before(0xCAFE0001, s1)  # same session: still in use
    store.end_session(s1, "closed", now=T0 + 3)
    s2 = home_session(store, now=T0 + DAY)
    assert store.cartridge_used_before(0xCAFE0001, s2)
    assert not store.cartridge_used_before(0xCAFE0002, s2)
    assert [r.kind for r in store.records(s1)].count("cartridge_recorded") == 1
    assert store.verify().ok


def test_cartridge_ids_at_and_past_the_u32_edges(store: AuditStore) -> None:
    sid = home_session(store)
    for good in (0, 1, 2**32 - 1):
        store.record_cartridge(good, sid)
        assert not store.cartridge_used_before(good, sid)
    for bad in (-1, 2**32, 1.0, "7", None, True):
        with pytest.raises(StoreError, match="cartridge id"):
            store.record_cartridge(bad, sid)  # type: ignore[arg-type]
        with pytest.raises(StoreError, match="cartridge id"):
            store.cartridge_used_before(bad, sid)  # type: ignore[arg-type]


@given(
    ops=st.lists(
        st.tuples(st.sampled_from(["new_session", "record"]), st.integers(0, 3)),
        max_size=25,
    )
)
def test_cartridge_reuse_matches_a_model(ops: list[tuple[str, int]]) -> None:
    with AuditStore(":memory:") as s:
        current = home_session(s)
        seen: dict[int, set[int]] = {}
        for op, cartridge in ops:
            if op == "new_session":
                s.end_session(current, "closed")
                current = home_session(s)
            else:
                s.record_cartridge(cartridge, current)
                seen.setdefault(cartridge, set()).add(current)
            for c in range(4):
                expected = bool(seen.get(c, set()) - {current})
                assert s.cartridge_used_before(c, current) == expected
        assert s.verify().ok


# --- export --------------------------------------------------------------------------------


def test_export_csv_holds_every_field_and_the_exact_hashed_data(store: AuditStore) -> None:
    sid = pro_session(store)
    store.append("decision", {"requested": math.nan, "note": 'a,b"c\nd'}, session_id=sid)
    buf = io.StringIO()
    assert store.export("csv", buf) == 3
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert [r["id"] for r in rows] == ["1", "2", "3"]
    prev = GENESIS_HASH
    for row in rows:  # an auditor can recompute the chain from the CSV alone
        sid_field = int(row["session_id"]) if row["session_id"] else None
        digest = record_hash(
            prev, int(row["id"]), int(row["ts_us"]), sid_field, row["kind"], row["data"]
        )
        assert digest == row["hash"] and row["prev_hash"] == prev
        prev = digest
    assert rows[1]["ts"].endswith("Z")


def test_export_json_round_trips_and_can_be_reverified(store: AuditStore) -> None:
    sid = pro_session(store)
    store.append("decision", {"depth": 0.25, "reasons": ["zone cap"]}, session_id=sid)
    buf = io.StringIO()
    assert store.export("json", buf) == 3
    doc = json.loads(buf.getvalue())
    assert doc["format"] == "needlepen-audit-log" and doc["genesis"] == GENESIS_HASH
    prev = doc["genesis"]
    for rec in doc["records"]:
        digest = record_hash(
            prev,
            rec["id"],
            rec["ts_us"],
            rec["session_id"],
            rec["kind"],
            canonical_json(rec["data"]),
        )
        assert digest == rec["hash"]
        prev = digest


def test_export_one_session_and_bad_arguments(store: AuditStore) -> None:
    s1 = pro_session(store)
    s2 = pro_session(store)
    store.append("note", {"in": 2}, session_id=s2)
    buf = io.StringIO()
    assert store.export("json", buf, session_id=s2) == 2
    doc = json.loads(buf.getvalue())
    assert {r["session_id"] for r in doc["records"]} == {s2} and doc["session"] == s2
    with pytest.raises(StoreError, match="not an export format"):
        store.export("xml", io.StringIO())  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="There is no session 99"):
        store.export("csv", io.StringIO(), session_id=99)
    assert s1 != s2


def test_rows_are_read_by_their_exact_column_names_on_both_backends(tmp_path: Path) -> None:
    """SQLite's own rows match a column name whatever its case, PostgreSQL's do not: the store
    reads both through one Row, so a name spelt in another case fails here as it would there."""
    from driver.audit.backend import row_class

    row = row_class(("id", "role"))((7, "home"))
    assert (row["id"], row["role"], row[1], tuple(row)) == (7, "home", "home", (7, "home"))
    assert dict(zip(row.keys(), row, strict=True)) == {"id": 7, "role": "home"}
    with pytest.raises(KeyError):
        row["ROLE"]
    assert row_class(("id", "role")) is type(row)
    with AuditStore(tmp_path / "rows.db", scrypt_n=16) as store:
        sid = store.begin_session(
            role="home", operator_id=None, client_ref=None, device_serial=5, boot_id=1,
            device_class="home",
        )  # fmt: skip
        (listed,) = store.sessions()  # read through the store's own rows
        assert (listed.id, listed.role) == (sid, "home")
