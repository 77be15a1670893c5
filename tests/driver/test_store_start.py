"""The interval rule holds for the person (issue 11 item 2, item 6's lost START):

client references compared normalised, professional sessions name their client, home sessions
keyed to the pen, START's rules re-checked and the treatment recorded in one transaction
before START is sent, a withdrawn (NACKed) start, and a screening that cannot be undone.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driver.audit import AuditStore, StartFacts, home_client, normalise_client
from driver.errors import CommandRefused, NotAllowed, StoreError
from driver.safety import screening
from driver.session import Pen

T0 = 1_700_000_000.0
DAY = 86_400.0


@pytest.fixture
def fast_store(tmp_path: Path) -> Any:
    s = AuditStore(tmp_path / "audit.db", scrypt_n=16)
    s.add_operator("c1", "Dr Clin", "clinician", "1234")
    s.add_operator("a1", "Ann Aesth", "aesthetician", "5678", by=("c1", "1234"))
    yield s
    s.close()


def session(store: AuditStore, client: str | None, role: str = "aesthetician", **kw: Any) -> int:
    return store.begin_session(
        role=role,
        operator_id=None if role == "home" else ("a1" if role == "aesthetician" else "c1"),
        client_ref=client,
        device_serial=kw.get("serial", 7),
        boot_id=1,
        device_class="professional",
        now=kw.get("now", T0),
    )


def accept(_: StartFacts) -> None:
    return None


# --- normalised client references -------------------------------------------------------


@pytest.mark.parametrize("typed", ["p-0042", " P-0042 ", "P-0042", "Ｐ-００４２", "\u00a0P-0042"])
def test_one_client_however_typed(fast_store: AuditStore, typed: str) -> None:
    first = session(fast_store, "P-0042")
    fast_store.begin_treatment(first, "cheeks", None, accept, now=T0)
    second = session(fast_store, typed, now=T0 + DAY)
    assert fast_store.sessions()[-1].client_ref == "p-0042"  # the stored (and shown) form
    assert fast_store.last_treatment_days_ago(typed, "cheeks", now=T0 + DAY) == 1.0
    facts: list[StartFacts] = []
    fast_store.begin_treatment(second, "forehead", None, facts.append, now=T0 + DAY)
    assert facts[0].client_ref == "p-0042"


@given(st.text(max_size=20))
def test_normalising_is_idempotent(text: str) -> None:
    once = normalise_client(text)
    assert normalise_client(once) == once


def test_a_zero_width_character_is_refused_not_a_new_client(fast_store: AuditStore) -> None:
    with pytest.raises(StoreError, match="control characters"):
        session(fast_store, "P-00\u200b42")
    assert fast_store.sessions() == []


def test_a_professional_session_must_name_its_client(fast_store: AuditStore) -> None:
    for client in (None,):
        with pytest.raises(StoreError, match="must name its client"):
            session(fast_store, client)
    with pytest.raises(StoreError, match="must not be empty"):
        session(fast_store, "   ")
    assert fast_store.sessions() == []


def test_pen_refuses_a_professional_session_without_client_before_the_pin(
    fast_store: AuditStore,
) -> None:
    logins = len(fast_store.records())
    pen = Pen.connect("sim://?seed=3", db=fast_store)
    try:
        with pytest.raises(NotAllowed, match="must name its client"):
            pen.begin(role="aesthetician", operator="a1", pin="5678", client="  ")
        assert pen.session_id < 0
        kinds = [r.kind for r in fast_store.records()[logins:]]
        assert "login" not in kinds and "login_failed" not in kinds
    finally:
        pen.close()


def test_a_home_session_is_keyed_to_the_pen_whatever_name_is_typed(
    fast_store: AuditStore,
) -> None:
    a = session(fast_store, "me", role="home", serial=0xBEEF)
    b = session(fast_store, "someone else", role="home", serial=0xBEEF)
    rows = {s.id: s.client_ref for s in fast_store.sessions()}
    assert rows[a] == rows[b] == home_client(0xBEEF)
    fast_store.begin_treatment(a, "forehead", None, accept, now=T0)
    seen: list[StartFacts] = []
    fast_store.begin_treatment(b, "forehead", None, seen.append, now=T0 + DAY)
    assert seen[0].days_since_last == 1.0


def test_pen_home_session_cannot_dodge_the_interval_by_renaming(fast_store: AuditStore) -> None:
    with Pen.open("sim://?seed=4", role="home", zone="forehead", client="A", db=fast_store) as p:
        p.set_depth(0.5)
        p.set_rate(100)
        p.start()
        p.stop()
    with pytest.raises(NotAllowed, match="28 days"):
        Pen.open("sim://?seed=5", role="home", zone="forehead", client="B", db=fast_store)


# --- START: re-checked and recorded in one transaction, before it is sent -----------------


def test_a_refusing_check_writes_nothing(fast_store: AuditStore) -> None:
    sid = session(fast_store, "P-1")
    before = len(fast_store.records())

    def refuse(_: StartFacts) -> None:
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        fast_store.begin_treatment(sid, "cheeks", 0xABC, refuse)
    assert len(fast_store.records()) == before
    assert not fast_store.cartridge_used_before(0xABC, sid + 1)
    assert fast_store.verify().ok


def test_the_treatment_is_recorded_before_start_is_sent(fast_store: AuditStore) -> None:
    with Pen.open(
        "sim://?seed=6",
        role="aesthetician",
        operator="a1",
        pin="5678",
        client="P-2",
        zone="cheeks",
        db=fast_store,
    ) as pen:
        pen.set_depth(0.5)
        pen.set_rate(100)
        pen.start()
        records = fast_store.records(pen.session_id)
        kinds = [(r.kind, r.data.get("type")) for r in records]
        treated = kinds.index(("treatment_recorded", None))
        sent = next(i for i, k in enumerate(kinds) if k == ("command", "START"))
        assert treated < sent
        assert records[treated].data["before_start"] is True
        pen.stop()


def test_a_nacked_start_withdraws_the_treatment(fast_store: AuditStore) -> None:
    with Pen.open(
        "sim://?seed=7",
        role="aesthetician",
        operator="a1",
        pin="5678",
        client="P-3",
        zone="cheeks",
        db=fast_store,
    ) as pen:
        pen.set_depth(0.5)
        pen.set_rate(100)
        pen.port.pen.command("battery 5")  # the pen refuses START (NACK BATTERY_LOW)
        with pytest.raises(CommandRefused, match="battery"):
            pen.start()
        kinds = [r.kind for r in fast_store.records(pen.session_id)]
        assert "treatment_recorded" in kinds and "treatment_withdrawn" in kinds
    assert fast_store.last_treatment_days_ago("P-3", "cheeks") is None
    assert fast_store.verify().ok


def test_a_second_screening_cannot_undo_a_blocking_one(fast_store: AuditStore) -> None:
    blocked = dict.fromkeys(screening.KEYS, False) | {"pregnancy": True}
    clear = dict.fromkeys(screening.KEYS, False)
    with Pen.open("sim://?seed=8", role="home", zone="forehead", db=fast_store) as pen:
        screening.record(fast_store, pen.session_id, blocked, "home")
        screening.record(fast_store, pen.session_id, clear, "home")
        pen.set_depth(0.5)
        pen.set_rate(100)
        with pytest.raises(NotAllowed, match="contraindication"):
            pen.start()
        assert not pen.port.pen.firmware.needle_running
        assert "treatment_recorded" not in [r.kind for r in fast_store.records(pen.session_id)]


def test_a_clear_screening_after_a_positive_one_still_needs_the_acknowledgement() -> None:
    positive = {"event": "answers", "verdict": "needs_acknowledgement"}
    clear = {"event": "answers", "verdict": "clear"}
    ack = {"event": "acknowledged"}
    v = screening.Verdict
    assert screening.session_verdict([positive, clear]) is v.NEEDS_ACKNOWLEDGEMENT
    assert screening.session_verdict([positive, ack, clear]) is v.ACKNOWLEDGED
    assert screening.session_verdict([positive, ack, positive]) is v.NEEDS_ACKNOWLEDGEMENT
    assert screening.session_verdict([{"event": "answers", "verdict": "blocked"}, ack]) is v.BLOCKED
    assert screening.session_verdict([clear]) is v.CLEAR
    assert screening.session_verdict([]) is None


# --- two hosts on one store race the same client and zone ---------------------------------

PAIRS = 20


def _racer(path: str, side: int, barrier: Any, results: Any) -> None:
    store = AuditStore(path, scrypt_n=16)
    try:
        for i in range(PAIRS):
            outcome = "error"
            try:
                pen = Pen.open(
                    f"sim://?seed={100 + 2 * i + side}",
                    role="aesthetician",
                    operator="a1",
                    pin="5678",
                    client=f"P-race-{i}",
                    zone="cheeks",
                    db=store,
                )
            except NotAllowed:
                barrier.wait()
                results.put((i, side, "refused_at_open"))
                continue
            try:
                pen.set_depth(0.5)
                pen.set_rate(100)
                barrier.wait()
                try:
                    pen.start()
                    outcome = "treated"
                    pen.stop()
                except NotAllowed:
                    outcome = "refused"
            finally:
                pen.close()
                results.put((i, side, outcome))
    finally:
        store.close()


def test_two_processes_racing_one_client_and_zone_never_both_treat(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    with AuditStore(path, scrypt_n=16) as s:
        s.add_operator("c1", "Dr Clin", "clinician", "1234")
        s.add_operator("a1", "Ann Aesth", "aesthetician", "5678", by=("c1", "1234"))
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2, timeout=60)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_racer, args=(str(path), side, barrier, results)) for side in (0, 1)
    ]
    for p in procs:
        p.start()
    got = [results.get(timeout=120) for _ in range(2 * PAIRS)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    by_pair: dict[int, list[str]] = {}
    for i, _side, outcome in got:
        by_pair.setdefault(i, []).append(outcome)
    both = [i for i, o in by_pair.items() if o.count("treated") == 2]
    assert both == [], f"{len(both)} of {PAIRS} pairs both treated"
    assert all(o.count("treated") == 1 for o in by_pair.values()), by_pair
    with AuditStore(path) as s:
        assert s.verify().ok
        raw = sqlite3.connect(path)
        count = raw.execute("SELECT COUNT(*) FROM treatments").fetchone()[0]
        raw.close()
        assert count == PAIRS


def test_a_refused_start_makes_the_next_decision_read_the_interval_again(
    fast_store: AuditStore,
) -> None:
    """The interval is read once per zone for a session's depth and rate decisions (not per
    command: issue 15's command path). Another workstation's treatment in between is caught
    by START's own re-check, and after that refusal the next decision reads it afresh: it asks
    for the reason instead of approving what START would refuse again."""
    b = Pen.open(
        "sim://?seed=41",
        role="clinician",
        operator="c1",
        pin="1234",
        client="P-7",
        zone="cheeks",
        db=fast_store,
    )
    try:
        b.set_depth(0.5)  # approved: the client has no earlier session
        with Pen.open(
            "sim://?seed=42",
            role="clinician",
            operator="c1",
            pin="1234",
            client="P-7",
            zone="cheeks",
            db=fast_store,
        ) as a:
            a.set_depth(0.5)
            a.set_rate(100)
            a.start()
            a.stop()
        b.set_rate(100)
        with pytest.raises(NotAllowed, match="cannot start on cheeks"):
            b.start()
        d = b.set_depth(0.55)  # asks for the reason: nothing is sent without it
        assert not d.sendable and "28 days" in " ".join(d.reasons), d
    finally:
        b.close()
