"""Workstations racing on one PostgreSQL store: the database, not luck, keeps the rules.

20 pairs of separate processes start the same client and zone (then: fit the same cartridge)
at the same moment, released together by a barrier; in every pair exactly one treats.
"""

from __future__ import annotations

import multiprocessing as mp
from typing import Any

import pytest

from driver.audit import AuditStore, StartFacts
from driver.errors import StoreError

pytestmark = pytest.mark.postgres

PAIRS = 20
T0 = 1_800_000_000.0


class Refused(StoreError):
    pass


def _rule(facts: StartFacts) -> None:
    if facts.days_since_last is not None and facts.days_since_last < 28:
        raise Refused("inside the interval")
    if facts.cartridge_used_before:
        raise Refused("cartridge used before")


def _workstation(url: str, pair: int, room: int, race: str, barrier: Any, out: Any) -> None:
    store = AuditStore(url, scrypt_n=2**8)
    try:
        client = f"P-{pair}" if race == "client" else f"P-{pair}-{room}"
        sid = store.begin_session(
            role="clinician",
            operator_id="c1",
            client_ref=client,
            device_serial=1000 + room,
            boot_id=1,
            device_class="professional",
            now=T0,
            workstation=f"room-{room}",
        )
        barrier.wait(timeout=60)
        try:
            store.begin_treatment(sid, "cheeks", 5000 + pair, _rule, now=T0 + 1)
            out.put((pair, room, "treated"))
        except Refused:
            out.put((pair, room, "refused"))
    except BaseException as exc:  # reported, so the test fails with the reason
        out.put((pair, room, f"error: {exc!r}"))
    finally:
        store.close()


@pytest.mark.parametrize("race", ["client", "cartridge"])
def test_twenty_pairs_of_workstations_never_both_treat(pg_schema: str, race: str) -> None:
    with AuditStore(pg_schema, scrypt_n=2**8) as setup:
        setup.add_operator("c1", "Dr Clin", "clinician", "1234", now=T0)
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    for pair in range(PAIRS):
        barrier = ctx.Barrier(2)
        procs = [
            ctx.Process(target=_workstation, args=(pg_schema, pair, room, race, barrier, out))
            for room in (1, 2)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(90)
            assert p.exitcode == 0
    results: dict[int, list[str]] = {}
    for _ in range(2 * PAIRS):
        pair, _room, what = out.get(timeout=10)
        results.setdefault(pair, []).append(what)
    assert all(sorted(v) == ["refused", "treated"] for v in results.values()), results
    with AuditStore(pg_schema, scrypt_n=2**8) as check:
        result = check.verify()
        assert result.ok, result.problem
        treated = [r for r in check.records() if r.kind == "treatment_recorded"]
        assert len(treated) == PAIRS
