"""Verification: the full walk an auditor runs, and the incremental check before treating."""

from __future__ import annotations

import hashlib
import json
from contextlib import suppress

from driver.audit.backend import Conn, Row
from driver.audit.base import StoreBase
from driver.audit.canon import record_hash
from driver.audit.replay import Replay
from driver.audit.values import _KIND_RE, GENESIS_HASH, VerifyResult
from driver.errors import StoreError, StoreUntrusted


class VerifyMixin(StoreBase):
    # --- verification ------------------------------------------------------------------------

    def verify(self, anchor: str | None = None) -> VerifyResult:
        """Walk the chain from the genesis value and check the tables against it.

        `anchor`: a head hash written down earlier; the log must still contain it (this catches
        a log that was cut short or rebuilt from some point on by someone with write access).
        Ignores the checkpoint: this is the full check an auditor runs.
        """
        with self._snapshot() as conn:
            try:
                return self._verify(conn, anchor, Replay(), GENESIS_HASH, 1)
            except self._errors as exc:
                return VerifyResult(
                    False, 0, None, f"The audit store could not be read to the end ({exc})."
                )

    def check_trust(self) -> VerifyResult:
        """Verify the records since the last verified point, and the tables, or raise.

        Called at session start and at every login: the tables the rules read (operators,
        treatments, cartridges, ...) are used only while they agree with the chain. The chain
        is walked from the checkpoint (the last record verified, with the tables' state as the
        chain had built them then) to its end, so the check costs the new records plus one read
        of the tables, not the whole log; then the checkpoint moves to the end. A checkpoint
        that does not match its own digest or the log is ignored (a full walk instead).
        Raises StoreUntrusted naming the first bad record.
        """
        with self._snapshot() as conn:
            try:
                replay, prev, start = self._load_checkpoint(conn)
                result = self._verify(conn, None, replay, prev, start)
            except self._errors as exc:
                result = VerifyResult(
                    False, 0, None, f"The audit store could not be read to the end ({exc})."
                )
            if not result.ok:
                raise StoreUntrusted(
                    "The audit store failed its integrity check, so it cannot be used to treat: "
                    f"{result.problem} Run 'needlepen log verify' and restore a copy you trust.",
                    result,
                )
            last = start - 1 + result.count
            if result.count and not self.read_only and self._version >= 2:
                state = replay.to_json()
                digest = hashlib.sha256(f"{last}\n{result.head}\n{state}".encode()).hexdigest()
                with suppress(StoreError), self._write() as wconn:
                    wconn.execute(
                        "INSERT INTO checkpoint (id, record_id, hash, state, state_hash) "
                        "VALUES (1, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                        "record_id = excluded.record_id, hash = excluded.hash, "
                        "state = excluded.state, state_hash = excluded.state_hash "
                        "WHERE excluded.record_id > checkpoint.record_id",
                        (last, result.head, state, digest),
                    )
        return result

    def _load_checkpoint(self, conn: Conn) -> tuple[Replay, str, int]:
        """(replayed state, hash of the last verified record, next id) from the checkpoint,
        or the genesis when there is none or it does not hold together."""
        genesis = (Replay(), GENESIS_HASH, 1)
        if self._version < 2:
            return genesis
        row = conn.execute(
            "SELECT record_id, hash, state, state_hash FROM checkpoint WHERE id = 1"
        ).fetchone()
        if row is None:
            return genesis
        last, head, state, digest = row
        if not (isinstance(last, int) and isinstance(head, str) and isinstance(state, str)):
            return genesis
        if hashlib.sha256(f"{last}\n{head}\n{state}".encode()).hexdigest() != digest:
            return genesis
        at = conn.execute("SELECT hash FROM log WHERE id = ?", (last,)).fetchone()
        if at is None or at["hash"] != head:
            return genesis
        try:
            replay = Replay.from_json(state)
        except (ValueError, KeyError, TypeError):
            return genesis
        return replay, head, last + 1

    def _verify(
        self,
        conn: Conn,
        anchor: str | None,
        replay: Replay,
        prev: str,
        expected: int,
    ) -> VerifyResult:
        count = 0
        anchor_seen = anchor is None
        first = expected
        cursor = conn.execute(
            "SELECT id, ts_us, session_id, kind, data, prev_hash, hash FROM log WHERE id >= ? "
            "ORDER BY id",
            (expected,),
        )
        if first > 1:  # a record deleted just before the resumed walk still shows as a gap
            before = conn.execute("SELECT MAX(id) AS id FROM log WHERE id < ?", (first,)).fetchone()
            if before["id"] != first - 1:
                return VerifyResult(
                    False, 0, first - 1, f"Record {first - 1} is missing or was changed.", None
                )

        def broken(rid: int | None, problem: str) -> VerifyResult:
            return VerifyResult(False, count, rid, problem, prev if count else None)

        for row in cursor:
            found = _check_record(row, expected, prev, replay)
            if found is not None:
                return broken(*found)
            digest = str(row["hash"])
            if digest == anchor:
                anchor_seen = True
            prev = digest
            expected += 1
            count += 1

        seq = self._backend.highest_id(conn)
        head = prev
        last = first - 1 + count
        if seq > last:
            missing = (
                f"Record {last + 1} is missing"
                if seq == last + 1
                else f"Records {last + 1} to {seq} are missing"
            )
            return VerifyResult(
                False,
                count,
                last + 1,
                f"{missing}: the log was cut short after record {last}.",
                head,
            )
        if not anchor_seen:
            return VerifyResult(
                False,
                count,
                None,
                "No record has the anchor hash you gave: the log is not a continuation of the "
                "one you anchored.",
                head,
            )
        problem = replay.check_tables(conn, self._version)
        if problem is not None:
            return VerifyResult(False, count, None, problem, head)
        return VerifyResult(True, count, None, None, head)


def _check_record(row: Row, expected: int, prev: str, replay: Replay) -> tuple[int, str] | None:
    """(record id, problem) when this record breaks the chain or the replay; else None."""
    rid, ts_us, sid, kind, text, prev_hash, digest = row
    if not isinstance(rid, int) or rid < expected:
        return (expected, f"Record {expected} has a malformed id.")
    if rid > expected:
        gap = (
            f"Record {expected} is missing"
            if rid == expected + 1
            else f"Records {expected} to {rid - 1} are missing"
        )
        return (expected, f"{gap}: the log jumps from record {expected - 1} to {rid}.")
    if not (
        isinstance(ts_us, int)
        and (sid is None or isinstance(sid, int))
        and isinstance(kind, str)
        and _KIND_RE.fullmatch(kind)
        and isinstance(text, str)
        and isinstance(prev_hash, str)
        and isinstance(digest, str)
    ):
        return (rid, f"Record {rid} has a field of the wrong type.")
    if prev_hash != prev:
        before = "the genesis value" if rid == 1 else f"record {rid - 1}'s hash"
        return (rid, f"Record {rid} does not chain: its prev_hash is not {before}.")
    if record_hash(prev_hash, rid, ts_us, sid, kind, text) != digest:
        return (rid, f"Record {rid} was altered: its content does not match its hash.")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return (rid, f"Record {rid} holds data that is not a JSON object.")
    problem = replay.apply(rid, ts_us, sid, kind, data)
    if problem is not None:
        return (rid, problem)
    return None
