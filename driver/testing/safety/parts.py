"""The pieces of the safety rig: test operators, scratch space, the sessions it opened, and the
bookkeeping its invariants read (which commands the pen executed, acknowledged or refused).
"""

from __future__ import annotations

import math
import os
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from driver.audit import AuditStore, Record
from driver.session import Pen
from protocol import MsgType, Nack, NackError
from simulator.firmware import Applied

__all__ = [
    "HOME_LIMIT_UM",
    "OPERATORS",
    "POLL_S",
    "TEST_SCRYPT_N",
    "DepthApplied",
    "FirstSeq",
    "Session",
    "StoreFactory",
    "accepted",
    "ack_records",
    "cap_um",
    "default_store",
    "one_sentence",
    "refused_out_of_range",
    "scratch_dir",
]

#: Operators of every professional role (PINs are not secrets here: a test store).
OPERATORS = {
    "clinician": ("c1", "1234"),
    "aesthetician": ("a1", "5678"),
    "engineer": ("e1", "9999"),
}
#: The scrypt cost for test PINs (the store keeps each hash's own parameters).
TEST_SCRYPT_N = 16
#: The home role's and a home pen's limit: never reached, under any policy.
HOME_LIMIT_UM = 1000
#: How often the host's reader turns while virtual time passes (a real reader spins faster).
POLL_S = 0.005


def scratch_dir() -> str | None:
    """Where the audit store files go: $NEEDLEPEN_QA_TMPDIR, else a RAM file system when the
    machine has one (the same SQLite file, WAL and snapshot code paths, without waiting for
    the disk's fsync thousands of times a run), else the system's temp dir."""
    chosen = os.environ.get("NEEDLEPEN_QA_TMPDIR", "").strip()
    if chosen:
        return chosen
    shm = os.path.join(os.sep, "dev", "shm")
    if os.path.isdir(shm) and os.access(shm, os.W_OK):
        return shm
    return None


#: Makes the audit store under test in the rig's scratch directory (a test PIN cost, at least).
StoreFactory = Callable[[str], AuditStore]


def default_store(directory: str) -> AuditStore:
    """The rig's default store: a SQLite file in `directory`, with the test scrypt cost."""
    return AuditStore(os.path.join(directory, "audit.db"), scrypt_n=TEST_SCRYPT_N)


class FirstSeq(random.Random):
    """A seeded generator whose first 16-bit draw (the link's first seq) is chosen."""

    def __init__(self, first_seq: int, seed: int) -> None:
        super().__init__(seed)
        self._first: int | None = first_seq

    def getrandbits(self, k: int, /) -> int:
        if k == 16 and self._first is not None:
            first, self._first = self._first, None
            return first
        return super().getrandbits(k)


@dataclass
class Session:
    """One `Pen` the rig opened (connect, then maybe begin), and what the rig knows of it."""

    index: int
    pen: Pen | None = None
    role: str | None = None  # the effective role once begin() succeeded
    #: zones on which an override reason was given and not since replaced by a plain decision
    override_zones: set[str] = field(default_factory=set)
    #: the id of the last audit record before this session's connect
    records_before: int = 0
    #: how many commands the firmware had executed before this session's connect
    applied_before: int = 0
    #: the same two bounds when the next session began (None while this one is the latest)
    records_until: int | None = None
    applied_until: int | None = None
    final_checked: bool = False
    abandoned: bool = False  # the host process "died": the Pen object is never used again


@dataclass(frozen=True)
class DepthApplied:
    """A SET_DEPTH the firmware executed and accepted, with the audit head at that instant."""

    seq: int
    depth_um: int
    head: str
    session: int  # Session.index of the rig's current session at that instant


def one_sentence(exc: BaseException) -> str:
    """The error's message, checked to be what a user should see: one line, one sentence."""
    text = str(exc)
    assert text.strip(), f"{type(exc).__name__} has no message"
    assert "\n" not in text, f"{type(exc).__name__} message spans lines: {text!r}"
    assert "Traceback" not in text
    return text


def ack_records(records: list[Record], after_id: int) -> Counter[tuple[int, int]]:
    """(seq, type code) of every command the driver logged as acknowledged after a record id."""
    out: Counter[tuple[int, int]] = Counter()
    for r in records:
        if r.id > after_id and r.kind == "ack":
            out[(int(_num(r.data["seq"])), int(MsgType[str(r.data["type"])]))] += 1
    return out


def accepted(items: list[Applied]) -> Counter[tuple[int, int]]:
    """(seq, type code) of every command the firmware executed and did not refuse."""
    return Counter((a.seq, a.type_code) for a in items if not isinstance(a.answer, Nack))


def refused_out_of_range(items: list[Applied]) -> list[Applied]:
    """Governed values the pen had to refuse for its own range (the governor failed)."""
    return [
        a
        for a in items
        if isinstance(a.answer, Nack)
        and a.answer.error == NackError.OUT_OF_RANGE
        and a.type_code in (MsgType.SET_DEPTH, MsgType.SET_RATE)
    ]


def _num(value: object) -> float:
    assert isinstance(value, int | float) and math.isfinite(value)
    return value


def cap_um(mm: float | None) -> int | None:
    return None if mm is None else round(mm * 1000)
