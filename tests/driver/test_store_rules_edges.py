"""The store's part of the start rules, at their edges: what a withdrawn treatment, a cartridge
and a session's operator must be, and the sentence a refusal says (the `store-rules` group of
`make mutate`: driver/audit/sessions.py, clients.py, visits.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from driver.audit import AuditStore, StartFacts
from driver.errors import OperatorDisabled, StoreError, UnknownOperator

T0 = 1_800_000_000.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AuditStore]:
    with AuditStore(tmp_path / "rules.db", scrypt_n=16) as s:
        s.add_operator("c1", "Dr Clin", "clinician", "1234", now=T0)
        s.add_operator("a1", "Ann Aesth", "aesthetician", "5678", by=("c1", "1234"), now=T0)
        yield s


def _session(store: AuditStore, client: str = "P-1", operator: str = "c1", **kw: object) -> int:
    role = kw.pop("role", "clinician")
    return store.begin_session(
        role=role, operator_id=operator, client_ref=client, device_serial=7, boot_id=1,
        device_class="professional", now=kw.pop("now", T0),
    )  # fmt: skip


def _accept(facts: StartFacts) -> None:
    return None


def _kinds(store: AuditStore, sid: int) -> list[str]:
    return [r.kind for r in store.records(sid)]


# --- withdrawing a treatment the pen refused to start -----------------------------------------


def test_a_withdrawal_records_its_treatment_and_reason_and_frees_the_zone(
    store: AuditStore,
) -> None:
    sid = _session(store)
    treatment = store.begin_treatment(sid, "cheeks", None, _accept, now=T0 + 1)
    assert store.last_treatment_days_ago("P-1", "cheeks", now=T0 + 86_400) == pytest.approx(
        1.0, abs=1e-3
    )
    store.withdraw_treatment(treatment, "NACK BAD_STATE", now=T0 + 2)
    (withdrawn,) = [r for r in store.records(sid) if r.kind == "treatment_withdrawn"]
    assert withdrawn.data == {"treatment": treatment, "reason": "NACK BAD_STATE"}
    assert withdrawn.session_id == sid
    assert store.last_treatment_days_ago("P-1", "cheeks", now=T0 + 86_400) is None
    store.withdraw_treatment(treatment, "NACK BAD_STATE", now=T0 + 3)  # twice: no new record
    assert _kinds(store, sid).count("treatment_withdrawn") == 1


@pytest.mark.parametrize(
    ("reason", "says"),
    [
        ("", "reason for withdrawing the treatment"),
        ("x" * 201, "too long (at most 200"),
        ("bad\x07bell", "control characters"),
        (None, "reason for withdrawing the treatment"),
    ],
)
def test_a_withdrawal_with_a_bad_reason_is_refused_and_changes_nothing(
    store: AuditStore, reason: object, says: str
) -> None:
    sid = _session(store)
    treatment = store.begin_treatment(sid, "cheeks", None, _accept, now=T0 + 1)
    before = _kinds(store, sid)
    with pytest.raises(StoreError) as refused:
        store.withdraw_treatment(treatment, reason, now=T0 + 2)  # type: ignore[arg-type]
    assert says in str(refused.value)
    assert _kinds(store, sid) == before
    assert store.last_treatment_days_ago("P-1", "cheeks", now=T0 + 3) is not None


def test_a_reason_of_exactly_200_characters_is_kept_whole(store: AuditStore) -> None:
    sid = _session(store)
    treatment = store.begin_treatment(sid, "cheeks", None, _accept, now=T0 + 1)
    store.withdraw_treatment(treatment, "r" * 200, now=T0 + 2)
    (withdrawn,) = [r for r in store.records(sid) if r.kind == "treatment_withdrawn"]
    assert withdrawn.data["reason"] == "r" * 200


def test_withdrawing_a_record_that_is_no_treatment_names_the_record(store: AuditStore) -> None:
    sid = _session(store)
    note = store.append("note", {"text": "hello"}, sid, now=T0 + 1)
    with pytest.raises(StoreError, match=rf"^No treatment was recorded in record {note.id}\.$"):
        store.withdraw_treatment(note.id, "NACK", now=T0 + 2)
    assert "treatment_withdrawn" not in _kinds(store, sid)


# --- cartridges ---------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, "12", True])
def test_a_cartridge_id_out_of_range_is_named_back_and_nothing_is_recorded(
    store: AuditStore, bad: object
) -> None:
    sid = _session(store)
    before = _kinds(store, sid)
    for call in (
        lambda: store.cartridge_used_before(bad, sid),  # type: ignore[arg-type]
        lambda: store.record_cartridge(bad, sid, now=T0 + 1),  # type: ignore[arg-type]
        lambda: store.begin_treatment(sid, "cheeks", bad, _accept, now=T0 + 1),  # type: ignore[arg-type]
    ):
        with pytest.raises(StoreError) as refused:
            call()
        assert str(refused.value) == f"'{bad}' is not a cartridge id (0 to 2^32-1)."
    assert _kinds(store, sid) == before


def test_the_cartridge_bounds_themselves_are_cartridge_ids(store: AuditStore) -> None:
    sid = _session(store)
    for cid in (0, 1, 2**32 - 1):
        store.record_cartridge(cid, sid, now=T0 + 1)
        assert store.cartridge_used_before(cid, sid) is False
    later = _session(store, now=T0 + 10)
    assert store.cartridge_used_before(2**32 - 1, later) is True


def test_a_cartridge_is_recorded_once_per_session_and_seen_by_the_next(
    store: AuditStore,
) -> None:
    sid = _session(store)
    store.record_cartridge(42, sid, now=T0 + 1)
    store.record_cartridge(42, sid, now=T0 + 2)
    recorded = [r for r in store.records(sid) if r.kind == "cartridge_recorded"]
    assert [r.data for r in recorded] == [{"cartridge": 42}]
    assert store.cartridge_used_before(42, sid) is False  # this session's own is not "before"
    other = _session(store, client="P-2", now=T0 + 10)
    assert store.cartridge_used_before(42, other) is True
    assert store.cartridge_used_before(43, other) is False


# --- the session's operator ---------------------------------------------------------------------


def test_a_session_for_an_unknown_operator_names_them(store: AuditStore) -> None:
    with pytest.raises(UnknownOperator, match=r"^There is no operator 'zz9'\.$"):
        _session(store, operator="zz9")


def test_a_disabled_operator_is_named_and_cannot_open_a_session(store: AuditStore) -> None:
    store.disable_operator("a1", by=("c1", "1234"), now=T0 + 1)
    with pytest.raises(OperatorDisabled, match=r"^Operator 'a1' is disabled\.$"):
        _session(store, operator="a1", role="aesthetician", now=T0 + 2)


def test_an_operator_opens_only_sessions_of_their_own_role(store: AuditStore) -> None:
    with pytest.raises(StoreError) as refused:
        _session(store, operator="a1", role="clinician")
    assert str(refused.value) == (
        "Operator 'a1' is registered as aesthetician and cannot open a clinician session."
    )
    assert store.sessions() == []
    sid = _session(store, operator="a1", role="aesthetician")
    assert [s.role for s in store.sessions() if s.id == sid] == ["aesthetician"]


# --- START's transaction: the facts the start rules read, and what it records ---------------------


def _facts_of(store: AuditStore, sid: int, zone: str, cartridge: int | None, now: float):
    seen: list[StartFacts] = []

    def check(facts: StartFacts) -> dict[str, object]:
        seen.append(facts)
        return {"rule": "passed"}

    record = store.begin_treatment(sid, zone, cartridge, check, now=now)
    (facts,) = seen
    return facts, record


def test_start_reads_the_facts_of_the_client_zone_cartridge_and_screening(
    store: AuditStore,
) -> None:
    first = _session(store, client=" P-0042 ")
    facts, _ = _facts_of(store, first, "cheeks", 77, T0 + 10)
    assert facts == StartFacts("p-0042", "cheeks", None, False, ())
    store.end_session(first, "done", now=T0 + 20)
    later = T0 + 30 * 86_400
    second = _session(store, client="p-0042", now=later)
    store.append("screening", {"answers": {"pregnant": False}}, second, now=later + 1)
    facts, record = _facts_of(store, second, "cheeks", 77, later + 2)
    assert facts.client_ref == "p-0042" and facts.zone == "cheeks"
    assert facts.days_since_last == pytest.approx(30.0, abs=1e-3)
    assert facts.cartridge_used_before is True  # fitted in the first session
    assert facts.screening == ({"answers": {"pregnant": False}},)
    data = next(r.data for r in store.records(second) if r.id == record)
    assert data == {"rule": "passed", "client": "p-0042", "zone": "cheeks", "before_start": True}
    # another zone of the same client: never treated; a new cartridge: never used
    facts, _ = _facts_of(store, second, "forehead", 78, later + 3)
    assert (facts.days_since_last, facts.cartridge_used_before) == (None, False)


def test_start_without_a_client_reads_no_interval_and_records_no_client(
    store: AuditStore,
) -> None:
    store.add_operator("e1", "Eve Eng", "engineer", "9999", by=("c1", "1234"), now=T0)
    sid = _session(store, client=None, operator="e1", role="engineer")  # type: ignore[arg-type]
    facts, record = _facts_of(store, sid, "bench", None, T0 + 1)
    assert facts == StartFacts(None, "bench", None, False, ())
    data = next(r.data for r in store.records(sid) if r.id == record)
    assert data["client"] is None


def test_a_start_rule_that_refuses_writes_nothing(store: AuditStore) -> None:
    sid = _session(store)
    before = _kinds(store, sid)

    def refuse(facts: StartFacts) -> None:
        raise StoreError("refused by the rule")

    with pytest.raises(StoreError, match="refused by the rule"):
        store.begin_treatment(sid, "cheeks", 55, refuse, now=T0 + 1)
    assert _kinds(store, sid) == before
    assert store.last_treatment_days_ago("P-1", "cheeks", now=T0 + 2) is None
    other = _session(store, client="P-2", now=T0 + 3)
    assert store.cartridge_used_before(55, other) is False


def test_a_cartridge_fitted_for_two_starts_of_one_session_is_recorded_once(
    store: AuditStore,
) -> None:
    sid = _session(store)
    store.begin_treatment(sid, "cheeks", 9, _accept, now=T0 + 1)
    store.begin_treatment(sid, "forehead", 9, _accept, now=T0 + 2)
    cartridges = [r for r in store.records(sid) if r.kind == "cartridge_recorded"]
    assert [(r.data, r.ts) for r in cartridges] == [({"cartridge": 9}, T0 + 1)]
    treatments = [r.data["zone"] for r in store.records(sid) if r.kind == "treatment_recorded"]
    assert treatments == ["cheeks", "forehead"]


def test_the_cartridge_record_carries_the_time_given(store: AuditStore) -> None:
    sid = _session(store)
    store.record_cartridge(12, sid, now=T0 + 5)
    (recorded,) = [r for r in store.records(sid) if r.kind == "cartridge_recorded"]
    assert recorded.ts == T0 + 5


def test_start_is_refused_for_an_operator_disabled_since_the_session_began(
    store: AuditStore,
) -> None:
    sid = _session(store, operator="a1", role="aesthetician")
    store.disable_operator("a1", by=("c1", "1234"), now=T0 + 1)
    before = _kinds(store, sid)
    with pytest.raises(OperatorDisabled, match=r"^Operator 'a1' is disabled\.$"):
        store.begin_treatment(sid, "cheeks", None, _accept, now=T0 + 2)
    assert _kinds(store, sid) == before


def test_a_recorded_treatment_makes_its_client_known(store: AuditStore) -> None:
    store.add_operator("e1", "Eve Eng", "engineer", "9999", by=("c1", "1234"), now=T0)
    sid = _session(store, client=None, operator="e1", role="engineer")  # type: ignore[arg-type]
    store.record_treatment(sid, "P-8", "cheeks", now=T0 + 1)
    assert store.last_treatment_days_ago("p-8", "cheeks", now=T0 + 86_400) == pytest.approx(
        1.0, abs=1e-3
    )
    assert store.check_trust().ok  # the clients table agrees with the chain's replay


# --- a schema-1 store: client references kept as typed ------------------------------------------


def test_a_schema_1_treatment_typed_in_capitals_still_counts_for_the_interval(
    tmp_path: Path,
) -> None:
    from tests.driver.test_store_trust import T0 as WRITTEN
    from tests.driver.test_store_trust import make_schema_1

    path = tmp_path / "old.db"
    make_schema_1(path)  # 'P-0042' as typed, treated on cheeks at WRITTEN
    with AuditStore(path, read_only=True) as old:
        assert old.last_treatment_days_ago("p-0042", "cheeks", now=WRITTEN + 2 * 86_400) == 2.0
        assert old.last_treatment_days_ago("p-0043", "cheeks", now=WRITTEN + 86_400) is None
