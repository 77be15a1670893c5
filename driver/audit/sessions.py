"""Sessions, clients, treatments and cartridges: the rules' facts and their records."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping

from driver.audit.backend import Conn
from driver.audit.base import StoreBase
from driver.audit.canon import (
    _check_text,
    _check_zone,
    _device_class,
    _is_u32,
    _quoted,
    _ts_us,
    canonical_json,
)
from driver.audit.clients import check_client, home_client, normalise_client
from driver.audit.values import (
    _DAY,
    PROFESSIONAL_ROLES,
    ROLES,
    TREATING_ROLES,
    Interruption,
    SessionRow,
    StartFacts,
)
from driver.audit.visits import check_continues, visit_chain
from driver.errors import CannotContinue, OperatorDisabled, StoreError, UnknownOperator

#: the environment variable naming this workstation in the records it writes
WORKSTATION_ENV = "NEEDLEPEN_WORKSTATION"


def workstation_name(given: str | None = None) -> str | None:
    """This workstation's name as records carry it: given, NEEDLEPEN_WORKSTATION, host name."""
    name = given if given is not None else os.environ.get(WORKSTATION_ENV) or socket.gethostname()
    if not name:
        return None
    return _check_text(name, "workstation name", 64)


class SessionsMixin(StoreBase):
    def _add_client(self, conn: Conn, client_ref: str | None, ts_us: int) -> None:
        if client_ref is not None:
            conn.execute(
                "INSERT INTO clients (ref, first_seen_us) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (client_ref, ts_us),
            )

    def begin_session(
        self,
        *,
        role: str,
        operator_id: str | None,
        client_ref: str | None,
        device_serial: int,
        boot_id: int,
        device_class: str,
        continues: int | None = None,
        now: float | None = None,
        workstation: str | None = None,
    ) -> int:
        """Open a session and return its number.

        `continues` names the session this one carries on after an interruption (a lost link,
        a pen reboot, the pen's watchdog; `end_session(interrupted=...)`): see
        `visits.check_continues`; CannotContinue says why not and nothing is written. The
        interval rule then does not count that session (nor those it continued) as this one's
        last session: it is the same visit.

        The session's record names the workstation (`workstation`, else NEEDLEPEN_WORKSTATION,
        else the host name) beside the pen serial: on a store shared by several rooms every
        record of the session says where it was written."""
        station = workstation_name(workstation)
        client, dclass = _session_fields(
            role, operator_id, client_ref, device_serial, boot_id, device_class, continues
        )
        ts_us = _ts_us(now)
        self.check_trust()  # no session treats from a store whose tables disagree with the log
        with self._write() as conn:
            if continues is not None:
                check_continues(
                    conn, self._backend.json_text, continues, role, operator_id, client, ts_us
                )
            if operator_id is not None:
                _check_session_operator(conn, str(operator_id), role)
            self._add_client(conn, client, ts_us)
            session_id = int(
                conn.execute(
                    "INSERT INTO sessions (role, operator_id, client_ref, device_serial, boot_id, "
                    "device_class, started_us) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (role, operator_id, client, device_serial, boot_id, dclass, ts_us),
                ).fetchone()["id"]
            )
            data: dict[str, object] = {
                "role": role,
                "operator": operator_id,
                "client": client,
                "device_serial": device_serial,
                "boot_id": boot_id,
                "device_class": dclass,
            }
            if station is not None:
                data["workstation"] = station
            if continues is not None:
                data["continues"] = continues
            self._append(conn, "session_opened", canonical_json(data), session_id, ts_us)
        return session_id

    def end_session(
        self,
        session_id: int,
        reason: str,
        now: float | None = None,
        *,
        interrupted: Interruption | None = None,
    ) -> None:
        """Close a session (a second call is a no-op: the first reason stands).

        `interrupted` says the session ended without the operator choosing it (recorded as
        the session_closed record's `interrupted` field): only such a session may be
        continued by another (`begin_session(continues=...)`)."""
        reason = _check_text(reason, "reason for ending the session", 200)
        if interrupted is not None and interrupted not in set(Interruption):
            raise StoreError(
                f"{_quoted(interrupted)} is not an interruption; choose one of "
                f"{', '.join(i.value for i in Interruption)}."
            )
        ts_us = _ts_us(now)
        with self._write() as conn:
            if self._session_row(conn, session_id)["ended_us"] is not None:
                return
            conn.execute(
                "UPDATE sessions SET ended_us = ?, end_reason = ? WHERE id = ?",
                (ts_us, reason, session_id),
            )
            closed: dict[str, object] = {"reason": reason}
            if interrupted is not None:
                closed["interrupted"] = Interruption(interrupted).value
            self._append(conn, "session_closed", canonical_json(closed), session_id, ts_us)

    def sessions(self) -> list[SessionRow]:
        rows = self._read(
            "SELECT id, role, operator_id, client_ref, device_serial, boot_id, device_class, "
            "started_us, ended_us, end_reason FROM sessions ORDER BY id"
        )
        return [
            SessionRow(
                int(r["id"]),
                r["role"],
                r["operator_id"],
                r["client_ref"],
                int(r["device_serial"]),
                int(r["boot_id"]),
                r["device_class"],
                r["started_us"] / 1e6,
                None if r["ended_us"] is None else r["ended_us"] / 1e6,
                r["end_reason"],
            )
            for r in rows
        ]

    def record_treatment(
        self, session_id: int, client_ref: str | None, zone: str, now: float | None = None
    ) -> None:
        """Note that treatment started in `zone` (a START was acknowledged)."""
        client = check_client(client_ref)
        zone = _check_zone(zone)
        ts_us = _ts_us(now)
        with self._write() as conn:
            self._open_session(conn, session_id)
            self._add_client(conn, client, ts_us)
            record = self._append(
                conn,
                "treatment_recorded",
                canonical_json({"client": client, "zone": zone}),
                session_id,
                ts_us,
            )
            conn.execute(
                "INSERT INTO treatments (session_id, client_ref, zone, ts_us, record_id) "
                "VALUES (?, ?, ?, ?, ?)",
                (session_id, client, zone, ts_us, record.id),
            )

    def last_treatment_days_ago(
        self,
        client_ref: str | None,
        zone: str,
        now: float | None = None,
        exclude_session: int | None = None,
    ) -> float | None:
        """Days since this client's zone was last treated in another session (None if never).

        The client reference is compared normalised (`normalise_client`). Any other session
        counts, not only older ones: two pens on one client is no excuse. A last treatment
        "in the future" (the clock went back) counts as today. A treatment withdrawn because
        the pen refused START does not count.
        """
        if client_ref is None or not isinstance(client_ref, str):
            return None
        now_us = _ts_us(now)
        with self._lock:
            self._check_open()
            try:
                return self._days_ago(
                    self._conn, normalise_client(client_ref), str(zone), now_us, exclude_session
                )
            except self._errors as exc:
                raise self._failed(exc, "read") from exc

    def _days_ago(
        self,
        conn: Conn,
        client: str,
        zone: str,
        now_us: int,
        exclude_session: int | None,
    ) -> float | None:
        # the excluded session and the interrupted ones it continues: one visit
        chain = "" if exclude_session is None else visit_chain(self._backend.json_text)
        other = "" if exclude_session is None else " AND session_id NOT IN (SELECT sid FROM chain)"
        first: tuple[object, ...] = () if exclude_session is None else (exclude_session,)
        withdrawn = ""
        if self._version >= 2:
            withdrawn = (
                " AND record_id NOT IN (SELECT treatment_record_id FROM treatment_withdrawals)"
            )
        row = conn.execute(
            chain
            + "SELECT MAX(ts_us) AS last FROM treatments WHERE client_ref = ? AND zone = ?"
            + other
            + withdrawn,
            (*first, client, zone),
        ).fetchone()
        last = row["last"]
        legacy_upto = self._legacy_upto(conn)
        if legacy_upto:
            row = conn.execute(
                chain + "SELECT MAX(ts_us) AS last FROM treatments WHERE id <= ? AND zone = ? "
                "AND np_client_key(client_ref) = ?" + other + withdrawn,
                (*first, legacy_upto, zone, client),
            ).fetchone()
            if row["last"] is not None and (last is None or row["last"] > last):
                last = row["last"]
        if last is None:
            return None
        return max(0.0, (now_us - int(last)) / 1e6 / _DAY)

    def _legacy_upto(self, conn: Conn) -> int:
        if self._version < 2:
            return 1 << 62  # a schema-1 store read as it is: every row is as typed
        row = conn.execute("SELECT value FROM meta WHERE key = 'legacy_treatments_upto'").fetchone()
        return int(row["value"]) if row is not None else 0

    def begin_treatment(
        self,
        session_id: int,
        zone: str,
        cartridge_id: int | None,
        check: Callable[[StartFacts], Mapping[str, object] | None],
        now: float | None = None,
    ) -> int:
        """Re-check the start rules and record that treatment may begin, in one transaction.

        Called BEFORE START is sent. Inside one write transaction (BEGIN IMMEDIATE: every other
        writer on this store waits, and this one sees all they committed) it gathers the facts
        the rules need (days since this client's zone was treated in any other session,
        whether the cartridge was used in another session, this session's screening records),
        calls `check(facts)`, which raises to refuse (nothing is written) or returns extra data
        for the record, and then records the treatment and the cartridge. Returns the
        treatment record's id (for `withdraw_treatment` when the pen refuses START).
        """
        zone = _check_zone(zone)
        if cartridge_id is not None and not _is_u32(cartridge_id):
            raise StoreError(f"{_quoted(cartridge_id)} is not a cartridge id (0 to 2^32-1).")
        ts_us = _ts_us(now)
        with self._write() as conn:
            self._open_session(conn, session_id)
            row = conn.execute(
                "SELECT s.client_ref, s.operator_id, o.disabled FROM sessions s "
                "LEFT JOIN operators o ON o.id = s.operator_id WHERE s.id = ?",
                (session_id,),
            ).fetchone()
            if row["disabled"]:  # disabled at another workstation since the session began
                raise OperatorDisabled(f"Operator {_quoted(row['operator_id'])} is disabled.")
            client = None if row["client_ref"] is None else str(row["client_ref"])
            days = (
                None
                if client is None
                else self._days_ago(conn, client, zone, ts_us, exclude_session=session_id)
            )
            used = bool(cartridge_id) and bool(
                conn.execute(
                    "SELECT 1 FROM cartridges WHERE cartridge_id = ? AND session_id != ? LIMIT 1",
                    (cartridge_id, session_id),
                ).fetchone()
            )
            screening = self._screening_of(conn, session_id)
            extra = check(StartFacts(client, zone, days, used, screening)) or {}
            data: dict[str, object] = {**extra, "client": client, "zone": zone}
            data["before_start"] = True
            record = self._append(
                conn, "treatment_recorded", canonical_json(data), session_id, ts_us
            )
            conn.execute(
                "INSERT INTO treatments (session_id, client_ref, zone, ts_us, record_id) "
                "VALUES (?, ?, ?, ?, ?)",
                (session_id, client, zone, ts_us, record.id),
            )
            if (
                cartridge_id
                and not conn.execute(
                    "SELECT 1 FROM cartridges WHERE cartridge_id = ? AND session_id = ?",
                    (cartridge_id, session_id),
                ).fetchone()
            ):
                crec = self._append(
                    conn,
                    "cartridge_recorded",
                    canonical_json({"cartridge": cartridge_id}),
                    session_id,
                    ts_us,
                )
                conn.execute(
                    "INSERT INTO cartridges (cartridge_id, session_id, first_seen_us, "
                    "record_id) VALUES (?, ?, ?, ?)",
                    (cartridge_id, session_id, ts_us, crec.id),
                )
        return record.id

    def _screening_of(self, conn: Conn, session_id: int) -> tuple[dict[str, object], ...]:
        """This session's screening records, oldest first (the start rule reads them all)."""
        return tuple(
            self._record(r).data
            for r in conn.execute(
                "SELECT id, ts_us, session_id, kind, data, prev_hash, hash FROM log "
                "WHERE session_id = ? AND kind = 'screening' ORDER BY id",
                (session_id,),
            )
        )

    def withdraw_treatment(
        self, treatment_record: int, reason: str, now: float | None = None
    ) -> None:
        """The pen refused START (a NACK): the treatment recorded before it did not begin, so
        it no longer counts for the interval rule. The record of the attempt stays."""
        reason = _check_text(reason, "reason for withdrawing the treatment", 200)
        ts_us = _ts_us(now)
        with self._write() as conn:
            row = conn.execute(
                "SELECT session_id FROM treatments WHERE record_id = ?", (treatment_record,)
            ).fetchone()
            if row is None:
                raise StoreError(f"No treatment was recorded in record {treatment_record}.")
            if conn.execute(
                "SELECT 1 FROM treatment_withdrawals WHERE treatment_record_id = ?",
                (treatment_record,),
            ).fetchone():
                return
            record = self._append(
                conn,
                "treatment_withdrawn",
                canonical_json({"treatment": treatment_record, "reason": reason}),
                int(row["session_id"]),
                ts_us,
            )
            conn.execute(
                "INSERT INTO treatment_withdrawals (treatment_record_id, ts_us, record_id) "
                "VALUES (?, ?, ?)",
                (treatment_record, ts_us, record.id),
            )

    def cartridge_used_before(self, cartridge_id: int, session_id: int) -> bool:
        """True when this cartridge was recorded in any other session."""
        if not _is_u32(cartridge_id):
            raise StoreError(f"{_quoted(cartridge_id)} is not a cartridge id (0 to 2^32-1).")
        rows = self._read(
            "SELECT 1 FROM cartridges WHERE cartridge_id = ? AND session_id != ? LIMIT 1",
            (cartridge_id, session_id),
        )
        return bool(rows)

    def record_cartridge(
        self, cartridge_id: int, session_id: int, now: float | None = None
    ) -> None:
        """Note that this cartridge was used in this session (once per session)."""
        if not _is_u32(cartridge_id):
            raise StoreError(f"{_quoted(cartridge_id)} is not a cartridge id (0 to 2^32-1).")
        ts_us = _ts_us(now)
        with self._write() as conn:
            self._open_session(conn, session_id)
            seen = conn.execute(
                "SELECT 1 FROM cartridges WHERE cartridge_id = ? AND session_id = ?",
                (cartridge_id, session_id),
            ).fetchone()
            if seen:
                return
            record = self._append(
                conn,
                "cartridge_recorded",
                canonical_json({"cartridge": cartridge_id}),
                session_id,
                ts_us,
            )
            conn.execute(
                "INSERT INTO cartridges (cartridge_id, session_id, first_seen_us, record_id) "
                "VALUES (?, ?, ?, ?)",
                (cartridge_id, session_id, ts_us, record.id),
            )


def _session_fields(
    role: str,
    operator_id: str | None,
    client_ref: str | None,
    device_serial: int,
    boot_id: int,
    device_class: str,
    continues: int | None,
) -> tuple[str | None, str]:
    """The session's client and device class, checked (StoreError, CannotContinue)."""
    if role not in ROLES:
        raise StoreError(f"{_quoted(role)} is not a role; choose one of {', '.join(ROLES)}.")
    client = check_client(client_ref)
    if not _is_u32(device_serial):
        raise StoreError(f"{_quoted(device_serial)} is not a pen serial number (0 to 2^32-1).")
    if not _is_u32(boot_id):
        raise StoreError(f"{_quoted(boot_id)} is not a boot id (0 to 2^32-1).")
    dclass = _device_class(device_class)
    if dclass == "home" and role != "home":
        raise StoreError(f"A home-class pen runs home sessions only, not {role} sessions.")
    if role in PROFESSIONAL_ROLES and operator_id is None:
        raise StoreError(f"A {role} session needs an authenticated operator.")
    if role in TREATING_ROLES and client is None:
        raise StoreError(
            f"A {role} session must name its client (a pseudonymous reference such as a "
            "chart number)."
        )
    if role == "home":
        client = home_client(device_serial)
    if continues is not None and (
        not isinstance(continues, int) or isinstance(continues, bool)
    ):
        raise CannotContinue(f"{_quoted(continues)} is not a session number.")
    return client, dclass


def _check_session_operator(conn: Conn, operator_id: str, role: str) -> None:
    """The operator exists, is not disabled and is registered for `role`."""
    row = conn.execute(
        "SELECT role, disabled FROM operators WHERE id = ?", (operator_id,)
    ).fetchone()
    if row is None:
        raise UnknownOperator(f"There is no operator {_quoted(operator_id)}.")
    if row["disabled"]:
        raise OperatorDisabled(f"Operator {_quoted(operator_id)} is disabled.")
    if role != "home" and row["role"] != role:
        raise StoreError(
            f"Operator {_quoted(operator_id)} is registered as {row['role']} and cannot "
            f"open a {role} session."
        )
