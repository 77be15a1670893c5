"""The store contract: the same tests, unchanged, on SQLite and on PostgreSQL."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driver.audit import (
    GENESIS_HASH,
    MAX_FAILED_PINS,
    AuditStore,
    StartFacts,
    record_hash,
)
from driver.errors import (
    OperatorDisabled,
    OperatorLocked,
    StoreError,
    StoreUntrusted,
    WrongPin,
)
from driver.testing.strategies import json_values
from tests.audit.conftest import refusals

Open = Callable[..., AuditStore]
RawSql = Callable[[str], None]
Tamper = Callable[[str, tuple[object, ...]], None]
T0 = 1_800_000_000.0


def _staffed(store: AuditStore) -> AuditStore:
    store.add_operator("c1", "Dr Clin", "clinician", "1234", now=T0)
    store.add_operator("a1", "Ann Aesth", "aesthetician", "5678", by=("c1", "1234"), now=T0)
    return store


def _session(store: AuditStore, client: str = "P-1", op: str = "c1", serial: int = 7) -> int:
    role = "clinician" if op == "c1" else "aesthetician"
    return store.begin_session(
        role=role,
        operator_id=op,
        client_ref=client,
        device_serial=serial,
        boot_id=1,
        device_class="professional",
        now=T0,
        workstation=f"room-{serial}",
    )


def _interval_rule(facts: StartFacts) -> dict[str, object]:
    if facts.days_since_last is not None and facts.days_since_last < 28:
        raise StoreError("treated inside the interval")
    if facts.cartridge_used_before:
        raise StoreError("cartridge used before")
    return {"ok": True}


def test_append_is_durable_chained_and_read_back_by_another_workstation(open_store: Open):
    a = _staffed(open_store())
    sid = _session(a)
    rec = a.append("decision", {"depth_um": 500, "why": ["x", 1.5]}, sid, now=T0 + 1)
    b = open_store()
    last = b.records()[-1]
    assert last == rec
    assert last.hash == record_hash(
        last.prev_hash,
        last.id,
        round(last.ts * 1e6),
        sid,
        "decision",
        '{"depth_um":500,"why":["x",1.5]}',
    )
    assert b.head() == rec.hash != GENESIS_HASH
    assert [r.id for r in b.records()] == list(range(1, rec.id + 1))
    assert b.verify().ok


def test_bad_appends_are_refused_and_change_nothing(open_store: Open):
    store = _staffed(open_store())
    before = store.records()
    for kind in ("login", "", "1bad", "x" * 41):
        with pytest.raises(StoreError):
            store.append(kind, {})
    with pytest.raises(StoreError, match="no session 99"):
        store.append("decision", {}, 99)
    with pytest.raises(StoreError):
        store.append("decision", {"bad": object()})
    assert store.records() == before


def test_records_carry_the_workstation_and_the_pen_serial(open_store: Open):
    store = _staffed(open_store())
    sid = _session(store, serial=0xBEEF)
    opened = store.records(sid)[0]
    assert opened.kind == "session_opened"
    assert opened.data["workstation"] == f"room-{0xBEEF}"
    assert opened.data["device_serial"] == 0xBEEF


def test_a_lockout_counts_wrong_pins_from_every_workstation(open_store: Open):
    a = _staffed(open_store())
    b = open_store()
    for i in range(MAX_FAILED_PINS - 1):
        with pytest.raises(WrongPin):
            (a if i % 2 else b).authenticate("a1", "0000", now=T0 + i)
    with pytest.raises(OperatorLocked):
        a.authenticate("a1", "0000", now=T0 + 10)
    with pytest.raises(OperatorLocked):  # the right PIN, next door: still locked
        b.authenticate("a1", "5678", now=T0 + 11)
    assert a.verify().ok


def test_an_operator_disabled_at_one_desk_is_refused_everywhere_at_the_next_action(
    open_store: Open,
):
    desk = _staffed(open_store())
    room = open_store()
    sid = _session(room, op="a1")
    desk.disable_operator("a1", by=("c1", "1234"), now=T0 + 5)
    with pytest.raises(OperatorDisabled):
        room.begin_treatment(sid, "cheeks", None, _interval_rule, now=T0 + 6)
    with pytest.raises(OperatorDisabled):
        room.authenticate("a1", "5678", now=T0 + 7)
    with pytest.raises(OperatorDisabled):
        _session(room, op="a1")
    assert not [r for r in room.records() if r.kind == "treatment_recorded"]


def test_the_interval_and_cartridge_rules_see_every_workstation(open_store: Open):
    room1 = _staffed(open_store())
    room2 = open_store()
    s1 = _session(room1, client="P-0042", serial=1)
    s2 = _session(room2, client=" p-0042 ", serial=2)
    room1.begin_treatment(s1, "cheeks", 77, _interval_rule, now=T0 + 10)
    with pytest.raises(StoreError, match="interval"):
        room2.begin_treatment(s2, "cheeks", None, _interval_rule, now=T0 + 20)
    s3 = _session(room2, client="P-7", serial=2)
    with pytest.raises(StoreError, match="cartridge"):
        room2.begin_treatment(s3, "forehead", 77, _interval_rule, now=T0 + 30)
    assert room2.cartridge_used_before(77, s3)
    # a refused start writes nothing
    assert [r.session_id for r in room2.records() if r.kind == "treatment_recorded"] == [s1]


def test_a_withdrawn_treatment_no_longer_counts(open_store: Open):
    store = _staffed(open_store())
    s1, s2 = _session(store), _session(store)
    rid = store.begin_treatment(s1, "cheeks", None, _interval_rule, now=T0 + 1)
    assert store.last_treatment_days_ago("P-1", "cheeks", now=T0 + 2, exclude_session=s2) == (
        pytest.approx(1 / 86400)
    )
    store.withdraw_treatment(rid, "pen refused START", now=T0 + 2)
    assert store.last_treatment_days_ago("P-1", "cheeks", now=T0 + 3, exclude_session=s2) is None
    store.begin_treatment(s2, "cheeks", None, _interval_rule, now=T0 + 4)
    store.end_session(s1, "done", now=T0 + 5)
    assert [s.end_reason for s in store.sessions()] == ["done", None]
    assert store.verify().ok


def test_audit_rows_cannot_be_updated_or_deleted(open_store: Open, raw_sql: RawSql):
    store = _staffed(open_store())
    sid = _session(store)
    store.begin_treatment(sid, "cheeks", 5, _interval_rule, now=T0 + 1)
    for sql in (
        "UPDATE log SET kind = 'x' WHERE id = 1",
        "DELETE FROM log WHERE id = 1",
        "DELETE FROM treatments",
        "UPDATE cartridges SET session_id = 99",
        "DELETE FROM operators",
        "UPDATE operators SET role = 'engineer'",
    ):
        with pytest.raises(refusals()):
            raw_sql(sql)
    assert store.verify().ok


@pytest.mark.parametrize(
    ("sql", "params", "problem"),
    [
        ("UPDATE log SET data = ? WHERE id = 4", ('{"x":1}',), "Record 4 was altered"),
        ("DELETE FROM log WHERE id = 4", (), "Record 4 is missing"),
        ("UPDATE log SET id = id + 100 WHERE id = 3", (), "Record 3 is missing"),
        ("DELETE FROM log WHERE id >= 5", (), "cut short after record 4"),
        ("UPDATE operators SET failed = 0, locked_until_us = NULL", (), None),
    ],
)
def test_verify_finds_a_tampered_deleted_reordered_or_cut_record(
    open_store: Open, tamper: Tamper, sql: str, params: tuple[object, ...], problem: str | None
):
    a = _staffed(open_store())
    b = open_store()
    sid = _session(b)
    for i in range(4):
        (a if i % 2 else b).append("decision", {"i": i}, sid, now=T0 + i)
    with pytest.raises(WrongPin):  # a failed count for the table edit to reset
        b.authenticate("a1", "0000", now=T0 + 9)
    assert a.verify().ok
    tamper(sql, params)
    result = b.verify()
    assert not result.ok
    if problem is not None:
        assert problem in (result.problem or "")
    else:  # the tables are re-read at every check: the next login refuses
        assert "operators table disagrees" in (result.problem or "")
        with pytest.raises(StoreUntrusted):
            a.check_trust()


def test_verify_checks_an_anchor(open_store: Open):
    store = _staffed(open_store())
    anchor = store.head()
    store.append("note", {"n": 1})
    assert store.verify(anchor=anchor).ok
    assert not store.verify(anchor="0" * 64).ok


def test_export_writes_every_record(open_store: Open):
    store = _staffed(open_store())
    sid = _session(store)
    store.append("decision", {"d": 1}, sid)
    out = io.StringIO()
    assert store.export("json", out) == len(store.records())
    assert [r["hash"] for r in json.loads(out.getvalue())["records"]] == [
        r.hash for r in store.records()
    ]
    csv_out = io.StringIO()
    assert store.export("csv", csv_out, sid) == 2
    assert csv_out.getvalue().count("\n") == 3


def test_read_only_refuses_every_write(open_store: Open):
    _staffed(open_store()).close()
    ro = open_store(read_only=True, create=False)
    assert ro.verify().ok
    with pytest.raises(StoreError, match="read-only"):
        ro.append("note", {})


#: any JSON a PostgreSQL jsonb keeps exactly too (finite floats, 63-bit integers)
_json = json_values(finite=True, max_int=2**62, max_leaves=12)


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.dictionaries(st.text(max_size=10), _json, max_size=5))
def test_any_json_data_reads_back_as_written_and_verifies(open_store: Open, data: dict):
    store = open_store()
    rec = store.append("note", data)
    assert store.records()[-1].data == json.loads(json.dumps(data))
    assert rec.data == store.records()[-1].data
    assert store.verify().ok
    store.close()
