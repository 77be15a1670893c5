"""The store's part of the start rules, at their edges: what a withdrawn treatment, a cartridge
and a session's operator must be, and the sentence a refusal says (the `store-rules` group of
`make mutate`: driver/audit/sessions.py, clients.py, visits.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from driver.audit import AuditStore, StartFacts
from driver.errors import CannotContinue, OperatorDisabled, StoreError, UnknownOperator

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


def test_a_migrated_store_counts_its_old_treatments_beside_its_new_ones(tmp_path: Path) -> None:
    """After schema 1 -> 2, a treatment typed 'P-0042' before normalisation still counts for
    'p-0042'; a client first treated after the migration is read too; and when a client has
    both, the newer one is the one that counts."""
    from tests.driver.test_store_trust import T0 as WRITTEN
    from tests.driver.test_store_trust import make_schema_1

    path = tmp_path / "old.db"
    make_schema_1(path)  # session 1, 'P-0042' as typed, treated on cheeks at WRITTEN
    with AuditStore(path) as s:  # migrates to schema 2
        assert s.schema_version == 2
        day = 86_400
        assert s.last_treatment_days_ago("p-0042", "cheeks", now=WRITTEN + 3 * day) == 3.0
        s.record_treatment(1, "P-0050", "cheeks", now=WRITTEN + day)
        assert s.last_treatment_days_ago("p-0050", "cheeks", now=WRITTEN + 3 * day) == 2.0
        s.record_treatment(1, "p-0042", "cheeks", now=WRITTEN + 2 * day)
        assert s.last_treatment_days_ago("P-0042", "cheeks", now=WRITTEN + 3 * day) == 1.0
        assert s.last_treatment_days_ago("p-0042", "forehead", now=WRITTEN + 3 * day) is None


# --- the fields of a session and the sentences that refuse them --------------------------------


def test_the_workstation_is_the_one_given_else_the_environment_else_the_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket

    from driver.audit import WORKSTATION_ENV, workstation_name

    monkeypatch.setenv(WORKSTATION_ENV, "room-2")
    assert workstation_name("room-1") == "room-1"
    assert workstation_name() == "room-2"
    monkeypatch.delenv(WORKSTATION_ENV)
    assert workstation_name() == (socket.gethostname() or None)
    monkeypatch.setattr(socket, "gethostname", lambda: "")
    assert workstation_name() is None
    assert workstation_name("w" * 64) == "w" * 64
    with pytest.raises(StoreError) as refused:
        workstation_name("w" * 65)
    assert "workstation name" in str(refused.value) and "at most 64" in str(refused.value)


def test_every_record_of_a_session_names_the_workstation_it_was_written_at(
    store: AuditStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from driver.audit import WORKSTATION_ENV

    monkeypatch.setenv(WORKSTATION_ENV, "room-9")
    sid = store.begin_session(
        role="clinician", operator_id="c1", client_ref="P-1", device_serial=7, boot_id=1,
        device_class="professional", now=T0, workstation="room-3",
    )  # fmt: skip
    (opened,) = [r for r in store.records(sid) if r.kind == "session_opened"]
    assert opened.data["workstation"] == "room-3"
    monkeypatch.delenv(WORKSTATION_ENV)
    import socket

    monkeypatch.setattr(socket, "gethostname", lambda: "")
    nameless = _session(store, client="P-2", now=T0 + 1)
    (opened,) = [r for r in store.records(nameless) if r.kind == "session_opened"]
    assert "workstation" not in opened.data


@pytest.mark.parametrize(
    ("fields", "sentence"),
    [
        ({"role": "surgeon"}, "'surgeon' is not a role; choose one of "),
        ({"device_serial": -3}, "'-3' is not a pen serial number (0 to 2^32-1)."),
        ({"boot_id": 2**32}, f"'{2**32}' is not a boot id (0 to 2^32-1)."),
        ({"continues": "7"}, "'7' is not a session number."),
        ({"client_ref": 42}, "The client reference must be text."),
        ({"client_ref": "c" * 65}, "client reference"),
    ],
)
def test_a_session_with_a_bad_field_is_refused_naming_it_and_nothing_is_recorded(
    store: AuditStore, fields: dict[str, object], sentence: str
) -> None:
    before = store.records()
    args: dict[str, object] = {
        "role": "clinician", "operator_id": "c1", "client_ref": "P-1", "device_serial": 7,
        "boot_id": 1, "device_class": "professional", "now": T0,
    }  # fmt: skip
    args.update(fields)
    with pytest.raises((StoreError, CannotContinue)) as refused:
        store.begin_session(**args)  # type: ignore[arg-type]
    assert sentence in str(refused.value)
    assert store.records() == before


@pytest.mark.parametrize(
    ("reason", "interrupted", "sentence"),
    [
        ("", None, "reason for ending the session"),
        ("x" * 201, None, "too long (at most 200"),
        ("link dropped", "power_cut", "'power_cut' is not an interruption; choose one of "),
    ],
)
def test_an_end_with_a_bad_reason_or_cause_is_refused_naming_it_and_the_session_stays_open(
    store: AuditStore, reason: str, interrupted: str | None, sentence: str
) -> None:
    from driver.audit import Interruption

    sid = _session(store)
    before = _kinds(store, sid)
    with pytest.raises(StoreError) as refused:
        store.end_session(sid, reason, now=T0 + 1, interrupted=interrupted)  # type: ignore[arg-type]
    assert sentence in str(refused.value)
    if interrupted is not None:
        assert ", ".join(i.value for i in Interruption) in str(refused.value)
    assert _kinds(store, sid) == before


def test_an_end_reason_of_exactly_200_characters_is_kept_whole(store: AuditStore) -> None:
    sid = _session(store)
    store.end_session(sid, "r" * 200, now=T0 + 1)
    (closed,) = [r for r in store.records(sid) if r.kind == "session_closed"]
    assert closed.data["reason"] == "r" * 200


def test_a_withdrawal_carries_the_time_given(store: AuditStore) -> None:
    sid = _session(store)
    treatment = store.begin_treatment(sid, "cheeks", None, _accept, now=T0 + 1)
    store.withdraw_treatment(treatment, "NACK BAD_STATE", now=T0 + 2)
    (withdrawn,) = [r for r in store.records(sid) if r.kind == "treatment_withdrawn"]
    assert withdrawn.ts == T0 + 2


def test_the_interval_of_no_client_or_of_a_non_text_client_is_none(store: AuditStore) -> None:
    sid = _session(store)
    store.begin_treatment(sid, "cheeks", None, _accept, now=T0 + 1)
    assert store.last_treatment_days_ago(None, "cheeks", now=T0 + 2) is None
    assert store.last_treatment_days_ago(42, "cheeks", now=T0 + 2) is None  # type: ignore[arg-type]


def test_an_interval_the_store_cannot_read_is_one_sentence_not_a_database_error(
    tmp_path: Path,
) -> None:
    import sqlite3

    path = tmp_path / "broken.db"
    with AuditStore(path, scrypt_n=16) as s:
        s.add_operator("c1", "Dr Clin", "clinician", "1234", now=T0)
        other = sqlite3.connect(path)
        other.execute("ALTER TABLE treatments RENAME TO gone")
        other.commit()
        other.close()
        with pytest.raises(StoreError) as refused:
            s.last_treatment_days_ago("P-1", "cheeks", now=T0)
    assert str(refused.value) == "The audit store could not be read (no such table: treatments)."


def _interrupted_session(store: AuditStore, ended: float) -> int:
    from driver.audit import Interruption

    sid = _session(store, now=ended - 60)
    store.end_session(sid, "link lost", now=ended, interrupted=Interruption.LINK_LOST)
    return sid


def test_an_interrupted_session_may_be_continued_up_to_two_hours_after_it_ended(
    store: AuditStore,
) -> None:
    from driver.audit import CONTINUE_WITHIN_SECONDS

    assert CONTINUE_WITHIN_SECONDS == 2 * 60 * 60
    late = _interrupted_session(store, T0)
    with pytest.raises(CannotContinue, match="ended more than 2 hours ago"):
        store.begin_session(
            role="clinician", operator_id="c1", client_ref="P-1", device_serial=7, boot_id=1,
            device_class="professional", now=T0 + CONTINUE_WITHIN_SECONDS + 0.00001,
            continues=late,
        )  # fmt: skip
    on_time = _interrupted_session(store, T0 + 10)
    sid = store.begin_session(
        role="clinician", operator_id="c1", client_ref="P-1", device_serial=7, boot_id=1,
        device_class="professional", now=T0 + 10 + CONTINUE_WITHIN_SECONDS, continues=on_time,
    )  # fmt: skip
    (opened,) = [r for r in store.records(sid) if r.kind == "session_opened"]
    assert opened.data["continues"] == on_time
