"""The group commit of the command path: `append(..., before=...)` writes the records that wait
and a new one in one transaction, on both backends; the Pen's audit writer hands what it holds
to a risk-raising record (`AuditQueue.write_after`) so the command waits for one commit.

What must hold: the chain keeps the order of events, a group is written whole or not at all
(also when the writing process is killed between its parts), the database's chaining (the
one-statement append on PostgreSQL) agrees with `record_hash` on any record, and writers on
several workstations at once still make one verifiable chain.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driver.audit import STORE_KINDS, AuditStore, Record, canonical_json, record_hash
from driver.errors import StoreError
from driver.session.audit_queue import AuditQueue
from driver.testing.stores import TEST_SCRYPT_N as SCRYPT_N

Open = Callable[..., AuditStore]
T0 = 1_800_000_000.0
WAIT_S = 30.0  # generous: these wait for conditions on a loaded machine, never for windows


def _wait_for(what: str, condition: Callable[[], object], timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def _sessions(store: AuditStore, count: int) -> list[int]:
    store.add_operator("c1", "Dr Clin", "clinician", "1234", now=T0)
    return [
        store.begin_session(
            role="clinician",
            operator_id="c1",
            client_ref=f"P-{n}",
            device_serial=7 + n,
            boot_id=1,
            device_class="professional",
            now=T0,
            workstation=f"room-{n}",
        )
        for n in range(count)
    ]


def _chained(records: list[Record]) -> bool:
    return all(b.prev_hash == a.hash and b.id == a.id + 1 for a, b in itertools.pairwise(records))


# --- the store: append(before=...) on both backends ------------------------------------------


def test_a_group_is_written_in_order_after_the_chain(open_store: Open) -> None:
    store = open_store()
    (sid,) = _sessions(store, 1)
    head = store.records()[-1]
    rec = store.append(
        "decision",
        {"depth_um": 500},
        sid,
        now=T0 + 2,
        before=[("ack", {"seq": 1}, sid), ("pen_state", {"state": "IDLE"}, None)],
    )
    last = store.records()[-4:]
    assert [r.kind for r in last] == ["session_opened", "ack", "pen_state", "decision"][-4:]
    assert last[0] == head and last[-1] == rec
    assert _chained(last)
    assert [r.session_id for r in last[1:]] == [sid, None, sid]
    assert rec.data == {"depth_um": 500} and rec.ts == T0 + 2
    assert store.verify().ok


@pytest.mark.parametrize(
    "bad",
    [
        ("note", {}, 99),  # no such session
        ("login", {}, None),  # the store's own kind
        ("1bad", {}, None),  # not a kind
        ("note", {"x": object()}, None),  # not JSON
        ("note", {}, True),  # not a session number
    ],
)
def test_one_bad_record_refuses_the_whole_group_and_changes_nothing(
    open_store: Open, bad: tuple[str, dict[str, object], Any]
) -> None:
    store = open_store()
    (sid,) = _sessions(store, 1)
    before = store.records()
    with pytest.raises(StoreError):
        store.append("decision", {"depth_um": 500}, sid, before=[("ack", {"seq": 1}, sid), bad])
    assert store.records() == before
    assert store.verify().ok
    store.append("decision", {"depth_um": 500}, sid)  # and the chain goes on
    assert store.verify().ok


_kinds = st.from_regex(r"[A-Za-z][A-Za-z0-9_.:-]{0,39}", fullmatch=True).filter(
    lambda k: k not in STORE_KINDS
)
_values = st.none() | st.booleans() | st.integers(-(2**62), 2**62) | st.text(max_size=12)
_records = st.tuples(
    _kinds, st.dictionaries(st.text(max_size=8), _values, max_size=4), st.booleans()
)


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    group=st.lists(_records, min_size=1, max_size=5),
    now=st.sampled_from([0.0, 1e-6, T0, T0 + 0.123457, 99_999_999_999.999999]),
)
def test_the_databases_chaining_is_record_hash_on_any_group(
    open_store: Open, group: list[tuple[str, dict[str, object], bool]], now: float
) -> None:
    """On PostgreSQL the server chains the records (one statement each); whatever the kind,
    data, session, time or group size, the hash it stores is `record_hash` of the record."""
    store = open_store()
    sid = store.sessions()[-1].id if store.sessions() else _sessions(store, 1)[0]
    items = [(kind, data, sid if in_session else None) for kind, data, in_session in group]
    rec = store.append(*items[-1], now=now, before=items[:-1])
    written = store.records()[-len(items) :]
    assert written[-1] == rec
    assert [(r.kind, r.session_id) for r in written] == [(k, s) for k, _, s in items]
    ts_us = round(now * 1_000_000)
    for r, (kind, data, session) in zip(written, items, strict=True):
        assert r.hash == record_hash(r.prev_hash, r.id, ts_us, session, kind, canonical_json(data))
    assert _chained(written)
    other = open_store()  # another workstation reads back the same records
    assert other.records()[-len(items) :] == written
    assert store.verify().ok
    store.close()
    other.close()


# --- a process killed between the parts of a group commit ------------------------------------


class _StallBeforeDecision(AuditStore):
    """A workstation that stops (to be killed) after the waiting records of a group are in the
    transaction and before the decision is: the general path's second part."""

    def _append(self, conn: Any, kind: str, *args: Any, **kwargs: Any) -> Record:
        if kind == "decision":
            Path(os.environ["NEEDLEPEN_TEST_STALLED"]).write_text("stalled")
            time.sleep(120)
        return super()._append(conn, kind, *args, **kwargs)


def _group_writer(location: str, sid_ack: int, sid_decision: int, flag: str) -> None:
    os.environ["NEEDLEPEN_TEST_STALLED"] = flag
    cls = AuditStore if location.startswith("postgresql://") else _StallBeforeDecision
    store = cls(location, scrypt_n=SCRYPT_N)
    store.append(
        "decision",
        {"depth_um": 700},
        sid_decision,
        before=[("ack", {"seq": 41}, sid_ack), ("pen_state", {"state": "IDLE"}, sid_ack)],
    )
    Path(flag).write_text("committed")
    time.sleep(120)


def _backend_waiting_for_a_lock(location: str) -> int | None:
    import psycopg

    with psycopg.connect(location, autocommit=True) as conn:
        row = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'needlepen' "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        ).fetchone()
    return None if row is None else int(row[0])


def _backend_gone(location: str, pid: int) -> bool:
    import psycopg

    with psycopg.connect(location, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))
        return int(row.fetchone()[0]) == 0  # type: ignore[index]


def test_sigkill_between_the_parts_of_a_group_commit_leaves_a_chain_that_verifies(
    open_store: Open, location: str, tmp_path: Path
) -> None:
    """SQLite: the process is killed after the waiting records were inserted and before the
    decision was: nothing of the group is committed. PostgreSQL: the group went to the server
    in one round trip; the server is held (the decision's session row locked by another
    connection) while the records before it are inserted, and the process is killed there.
    Either way the group is in the store whole or not at all, and the chain verifies."""
    store = open_store()
    sid_ack, sid_decision = _sessions(store, 2)
    before = store.records()
    flag = str(tmp_path / "stalled")
    holder = None
    if location.startswith("postgresql://"):
        import psycopg

        holder = psycopg.connect(location)  # a transaction that holds the session row
        holder.execute("SELECT id FROM sessions WHERE id = %s FOR UPDATE", (sid_decision,))
    ctx = mp.get_context("fork")
    child = ctx.Process(target=_group_writer, args=(location, sid_ack, sid_decision, flag))
    child.start()
    try:
        backend = None
        if holder is not None:
            _wait_for("the decision's insert to wait for its session row", lambda: (
                _backend_waiting_for_a_lock(location)
            ))  # fmt: skip
            backend = _backend_waiting_for_a_lock(location)
        else:
            _wait_for("the group to stall before the decision", lambda: os.path.exists(flag))
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        child.join(WAIT_S)
        assert child.exitcode == -signal.SIGKILL
    finally:
        if child.is_alive():
            child.kill()
        if holder is not None:
            holder.rollback()
            holder.close()
    if backend is not None:
        _wait_for("the killed workstation's server process to end", lambda: (
            _backend_gone(location, backend)
        ))  # fmt: skip
    after = open_store()
    records = after.records()
    added = records[len(before) :]
    assert records[: len(before)] == before
    assert [r.kind for r in added] in ([], ["ack", "pen_state", "decision"])
    assert after.verify().ok
    after.append("note", {"after": "the kill"})
    assert after.verify().ok


# --- several workstations at once on PostgreSQL ----------------------------------------------

WRITERS = 4
ROUNDS = 15


def _writer(url: str, room: int, start: Any, out: Any) -> None:
    try:
        with AuditStore(url, scrypt_n=SCRYPT_N) as store:
            start.wait(timeout=60)
            for n in range(ROUNDS):
                store.append("note", {"room": room, "n": n, "part": 0})
                store.append(
                    "note",
                    {"room": room, "n": n, "part": 3},
                    before=[("note", {"room": room, "n": n, "part": p}, None) for p in (1, 2)],
                )
        out.put((room, "done"))
    except BaseException as exc:  # reported, so the test fails with the reason
        out.put((room, f"error: {exc!r}"))


@pytest.mark.postgres
def test_four_workstations_appending_at_once_make_one_chain(pg_schema: str) -> None:
    AuditStore(pg_schema).close()
    ctx = mp.get_context("fork")
    start, out = ctx.Barrier(WRITERS), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(pg_schema, room, start, out)) for room in range(4)]
    for p in procs:
        p.start()
    results = sorted(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(WAIT_S)
    assert results == [(room, "done") for room in range(WRITERS)]
    with AuditStore(pg_schema) as store:
        records = store.records()
        assert store.verify().ok
    notes = [r for r in records if r.kind == "note"]
    assert len(notes) == WRITERS * ROUNDS * 4
    assert [r.id for r in records] == list(range(1, len(records) + 1))
    for room in range(WRITERS):
        mine = [(r.data["n"], r.data["part"], r.id) for r in notes if r.data["room"] == room]
        assert [(n, p) for n, p, _ in mine] == [(n, p) for n in range(ROUNDS) for p in range(4)]
        for n in range(ROUNDS):  # a group's three records are consecutive in the one chain
            ids = [i for m, p, i in mine if m == n and p > 0]
            assert ids == list(range(ids[0], ids[0] + 3))


# --- the Pen's audit writer: what waits goes in with the risk-raising record -----------------


class _GatedStore(AuditStore):
    """Records each transaction's records; the first one waits for `gate`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.transactions: list[list[str]] = []
        self.failing = False

    def append(self, kind: str, data: Any, session_id: int | None = None, now: float | None = None,
               *, before: Any = ()) -> Record:  # fmt: skip
        if not self.transactions:
            self.entered.set()
            self.gate.wait(WAIT_S)
        if self.failing:
            raise StoreError("The audit store could not be written (disk full).")
        record = super().append(kind, data, session_id, now, before=before)
        names = [str(d.get("name", k)) for k, d, _ in [*before, (kind, data, session_id)]]
        self.transactions.append(names)
        return record


def _queue(store: AuditStore) -> tuple[AuditQueue, list[str]]:
    told: list[str] = []
    return AuditQueue(store, told.append, lambda: told.append("recovered")), told


def _names(store: AuditStore) -> list[str]:
    return [str(r.data["name"]) for r in store.records() if r.kind in ("ack", "decision")]


def test_a_risk_raising_record_carries_what_waits_in_one_commit(tmp_path: Path) -> None:
    store = _GatedStore(tmp_path / "audit.db")
    queue, _ = _queue(store)
    try:
        queue.put("ack", {"name": "a"}, None)  # the writer takes it, and waits at the gate
        assert store.entered.wait(WAIT_S), "the writer did not take the first record"
        queue.put("ack", {"name": "b"}, None)
        queue.put("ack", {"name": "c"}, None)
        done = threading.Event()

        def raising() -> None:
            queue.write_after("decision", {"name": "d"}, None, WAIT_S)
            done.set()

        worker = threading.Thread(target=raising)
        worker.start()
        _wait_for("the decision to wait behind the writer", lambda: queue.backlog == 4)
        store.gate.set()
        worker.join(WAIT_S)
        assert done.is_set()
        assert store.transactions == [["a"], ["b", "c", "d"]]
        assert _names(store) == ["a", "b", "c", "d"]
        assert queue.backlog == 0
        assert store.verify().ok
    finally:
        store.gate.set()
        queue.close()
        store.close()


def test_a_risk_raising_record_is_refused_while_earlier_ones_cannot_be_written(
    tmp_path: Path,
) -> None:
    store = _GatedStore(tmp_path / "audit.db")
    store.gate.set()
    queue, told = _queue(store)
    try:
        store.failing = True
        queue.put("ack", {"name": "a"}, None)
        _wait_for("the writer to find the store in trouble", lambda: queue.trouble is not None)
        with pytest.raises(StoreError, match="cannot be written"):
            queue.write_after("decision", {"name": "refused"}, None, 0.3)
        assert _names(store) == []
        store.failing = False
        queue.write_after("decision", {"name": "d"}, None, WAIT_S)
        assert _names(store) == ["a", "d"]  # the earlier record first; the refused one never
        _wait_for("the recovery to be told", lambda: "recovered" in told)
        assert store.verify().ok
    finally:
        queue.close()
        store.close()


@settings(max_examples=15, deadline=None)
@given(script=st.lists(st.sampled_from(["put", "raise"]), min_size=1, max_size=25))
def test_the_audit_writer_keeps_the_order_of_events_and_loses_nothing(
    script: list[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("queue") / "audit.db"
    store = _GatedStore(path)
    store.gate.set()
    queue, _ = _queue(store)
    issued: list[str] = []
    try:
        for n, op in enumerate(script):
            name = f"{op}-{n}"
            issued.append(name)
            if op == "put":
                queue.put("ack", {"name": name}, None)
            else:  # durable, with everything issued before it, when it returns
                queue.write_after("decision", {"name": name}, None, WAIT_S)
                assert _names(store) == issued
        assert queue.flush(WAIT_S)
        assert _names(store) == issued
        assert sum(len(t) for t in store.transactions) == len(issued)
    finally:
        queue.close()
        store.close()


def test_on_a_virtual_clock_the_kept_records_go_first_with_the_next_decision(
    tmp_path: Path,
) -> None:
    """No writer thread: records the store could not take are kept by the Pen; the next
    risk-raising record is written after them, in one transaction, not ahead of them."""
    from driver.session import Pen
    from simulator.firmware import PenConfig
    from simulator.simulation import Simulation
    from simulator.virtual import VirtualClock, VirtualPort

    store = _GatedStore(tmp_path / "audit.db")
    store.gate.set()
    clock = VirtualClock()
    port = VirtualPort(Simulation(PenConfig.professional(), seed=3), clock)
    pen = Pen.connect("virtual", db=store, port=port, clock=clock.now, idle=clock.advance)
    try:
        pen.begin(role="home")
        pen.select_zone("forehead")
        pen.set_depth(0.5)
        store.failing = True
        pen.set_depth(0.3)  # lowering: sent, its records kept
        assert pen.store_trouble is not None
        store.failing = False
        calls = len(store.transactions)
        pen.set_depth(0.6)  # raising: committed after the kept records, with them
        group = store.transactions[calls]  # the decision's (its ACK's follows)
        assert group[-1] == "decision" and group[:-1] and "ack" in group[:-1]
        records = store.records(pen.session_id)
        depths = [(r.kind, r.data.get("requested_mm"), r.data.get("type")) for r in records]
        shallow = depths.index(("decision", 0.3, None))
        deep = depths.index(("decision", 0.6, None))
        assert shallow < deep
        assert ("ack", None, "SET_DEPTH") in depths[shallow:deep]
        assert store.verify().ok
    finally:
        store.failing = False
        pen.close()
        store.close()


@pytest.mark.postgres
def test_a_server_that_chains_differently_is_caught_and_nothing_more_is_written() -> None:
    """A server whose sha256 is not the standard one (here a function of the store's own
    schema shadows it) chains a record needlepen would not: the append says so as
    StoreUntrusted, and every later write is refused before it writes (the audit writer's
    retries would otherwise add copies); verify names the record."""
    import uuid

    from driver.audit.pgserver import with_schema
    from driver.errors import StoreUntrusted
    from tests.pg import pg_admin, pg_url

    schema = f"s_{uuid.uuid4().hex[:12]}"
    pg_admin(f"CREATE SCHEMA {schema}")
    pg_admin(
        f"CREATE FUNCTION {schema}.sha256(bytea) RETURNS bytea LANGUAGE sql IMMUTABLE AS "
        "$$ SELECT pg_catalog.sha256($1 || '\\x00'::bytea) $$"
    )
    try:
        url = with_schema(pg_url(), f"{schema},pg_catalog")
        with AuditStore(url, scrypt_n=SCRYPT_N) as store:
            with pytest.raises(StoreUntrusted, match="chained record 1 differently"):
                store.append("note", {"n": 1})
            count = len(store.records())
            with pytest.raises(StoreUntrusted):
                store.append("note", {"n": 2})
            with pytest.raises(StoreUntrusted):
                store.add_operator("c1", "Dr Clin", "clinician", "1234", now=T0)
            assert len(store.records()) == count == 1
            result = store.verify()
            assert not result.ok and result.first_broken == 1
    finally:
        pg_admin(f"DROP SCHEMA {schema} CASCADE")
