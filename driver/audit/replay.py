"""Replaying the chain: what the tables must hold, rebuilt from the store's own records."""

from __future__ import annotations

import json
from typing import Any

from driver.audit.backend import Conn
from driver.audit.canon import _quoted, pin_fingerprint
from driver.audit.values import STORE_KINDS


class Replay:
    """What the operators, sessions, clients, treatments and cartridges tables should hold,
    rebuilt from the store's own records in the chain."""

    def __init__(self) -> None:
        self.operators: dict[str, dict[str, object]] = {}
        self.sessions: dict[int, dict[str, object]] = {}
        self.clients: dict[str, int] = {}
        self.treatments: dict[int, tuple[object, ...]] = {}
        self.cartridges: dict[tuple[int, int], tuple[int, int]] = {}
        self.withdrawals: dict[int, tuple[int, int]] = {}

    def to_json(self) -> str:
        """The replayed state as canonical JSON (the checkpoint keeps it)."""
        return json.dumps(
            {
                "operators": self.operators,
                "sessions": {str(k): v for k, v in self.sessions.items()},
                "clients": self.clients,
                "treatments": {str(k): list(v) for k, v in self.treatments.items()},
                "cartridges": [[c, s, *v] for (c, s), v in self.cartridges.items()],
                "withdrawals": {str(k): list(v) for k, v in self.withdrawals.items()},
            },
            sort_keys=True,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> Replay:
        data = json.loads(text)
        replay = cls()
        replay.operators = {str(k): dict(v) for k, v in data["operators"].items()}
        replay.sessions = {int(k): dict(v) for k, v in data["sessions"].items()}
        replay.clients = {str(k): int(v) for k, v in data["clients"].items()}
        replay.treatments = {int(k): tuple(v) for k, v in data["treatments"].items()}
        replay.cartridges = {(int(c), int(s)): (a, b) for c, s, a, b in data["cartridges"]}
        replay.withdrawals = {int(k): (v[0], v[1]) for k, v in data["withdrawals"].items()}
        return replay

    def _legacy_admin(self, data: dict[str, Any]) -> bool:
        """A schema-1 record: its first professional operator is the administrator."""
        first_pro = all(state["role"] == "home" for state in self.operators.values())
        return data.get("role") != "home" and first_pro

    def _is_admin(self, op: object) -> bool:
        state = self.operators.get(str(op))
        return state is not None and bool(state["admin"]) and not state["disabled"]

    def _client(self, ref: object, ts_us: int) -> None:
        if isinstance(ref, str) and ref not in self.clients:
            self.clients[ref] = ts_us

    def apply(
        self, rid: int, ts_us: int, sid: int | None, kind: str, data: dict[str, Any]
    ) -> str | None:
        if kind not in STORE_KINDS:
            return None
        bad = f"Record {rid} is not a valid {kind} record"
        try:
            if kind.startswith("operator_") or kind in ("login", "login_failed"):
                return self._apply_operator(bad, rid, ts_us, kind, data)
            if kind == "session_opened":
                if sid is None or sid in self.sessions:
                    return f"{bad}: it does not open a new session."
                self.sessions[sid] = {
                    "role": data["role"],
                    "operator_id": data["operator"],
                    "client_ref": data["client"],
                    "device_serial": data["device_serial"],
                    "boot_id": data["boot_id"],
                    "device_class": data["device_class"],
                    "started_us": ts_us,
                    "ended_us": None,
                    "end_reason": None,
                }
                self._client(data["client"], ts_us)
            elif kind == "session_closed":
                session = self.sessions[sid] if sid is not None else None
                if session is None or session["ended_us"] is not None:
                    return f"{bad}: its session is not open."
                session["ended_us"] = ts_us
                session["end_reason"] = data["reason"]
            elif kind == "treatment_recorded":
                if sid not in self.sessions:
                    return f"{bad}: its session was never opened."
                self.treatments[rid] = (sid, data["client"], data["zone"], ts_us)
                self._client(data["client"], ts_us)
            elif kind == "treatment_withdrawn":
                treated = int(data["treatment"])
                if treated not in self.treatments or treated in self.withdrawals:
                    return f"{bad}: it withdraws no recorded treatment."
                self.withdrawals[treated] = (ts_us, rid)
            elif kind == "cartridge_recorded":
                if sid not in self.sessions:
                    return f"{bad}: its session was never opened."
                self.cartridges[(int(data["cartridge"]), sid)] = (ts_us, rid)
        except (KeyError, TypeError, ValueError):
            return f"{bad}: a field is missing or refers to something never recorded."
        return None

    def _apply_operator(
        self, bad: str, rid: int, ts_us: int, kind: str, data: dict[str, Any]
    ) -> str | None:
        """An operator or login record (KeyError and the like: the caller's one sentence)."""
        if kind == "operator_added":
            op = str(data["operator"])
            if op in self.operators:
                return f"{bad}: operator '{op}' was already added."
            by = data.get("by")
            if "by" in data and self.operators and not self._is_admin(by):
                return f"{bad}: {_quoted(by)} was not an active administrator."
            self.operators[op] = {
                "name": data["name"],
                "role": data["role"],
                "pin": data["pin"],
                "disabled": False,
                "failed": 0,
                "locked_until_us": None,
                "created_us": ts_us,
                "admin": bool(data["admin"]) if "admin" in data else self._legacy_admin(data),
                "record": rid,
            }
        elif kind == "operator_disabled":
            if "by" in data and not self._is_admin(data["by"]):
                return f"{bad}: {_quoted(data['by'])} was not an active administrator."
            self.operators[str(data["operator"])]["disabled"] = True
        elif kind in ("operator_unlocked", "operator_pin_reset"):
            if not self._is_admin(data["by"]):
                return f"{bad}: {_quoted(data['by'])} was not an active administrator."
            state = self.operators[str(data["operator"])]
            state["failed"] = data["failed"]
            state["locked_until_us"] = data["locked_until_us"]
            if kind == "operator_pin_reset":
                state["pin"] = data["pin"]
        elif kind in ("login", "login_failed"):
            op = str(data["operator"])
            if data.get("reason") != "unknown":
                state = self.operators[op]
                state["failed"] = data["failed"]
                state["locked_until_us"] = data["locked_until_us"]
        return None

    def check_tables(self, conn: Conn, version: int) -> str | None:
        """The first disagreement between the tables and the chain, as one sentence."""
        return (
            self._check_operators(conn, version)
            or self._check_sessions(conn)
            or self._check_rows(conn, version)
        )

    def _check_operators(self, conn: Conn, version: int) -> str | None:
        seen: set[str] = set()
        has_admin = version >= 2  # a schema-1 store read as it is has no admin column
        for row in conn.execute(
            "SELECT id, name, role, pin_salt, pin_hash, scrypt_n, scrypt_r, scrypt_p, disabled, "
            f"failed, locked_until_us, created_us, {'admin' if has_admin else '0 AS admin'} "
            "FROM operators ORDER BY id"
        ):
            op = str(row["id"])
            seen.add(op)
            want = self.operators.get(op)
            if want is None:
                return f"The operators table holds operator {_quoted(op)}, whom no record added."
            have = {
                "name": row["name"],
                "role": row["role"],
                "pin": pin_fingerprint(
                    row["pin_salt"],
                    row["pin_hash"],
                    row["scrypt_n"],
                    row["scrypt_r"],
                    row["scrypt_p"],
                ),
                "disabled": bool(row["disabled"]),
                "failed": row["failed"],
                "locked_until_us": row["locked_until_us"],
                "created_us": row["created_us"],
                # a schema-1 store read as it is has no administrator column to compare
                "admin": bool(row["admin"]) if has_admin else want["admin"],
            }
            for field, value in have.items():
                if want[field] != value:
                    return (
                        f"The operators table disagrees with the log about operator {_quoted(op)} "
                        f"({field.replace('_us', '')})."
                    )
        for op, want in self.operators.items():
            if op not in seen:
                return (
                    f"Operator {_quoted(op)}, added in record {want['record']}, is missing from "
                    "the operators table."
                )

        return None

    def _check_sessions(self, conn: Conn) -> str | None:
        seen_sessions: set[int] = set()
        for row in conn.execute(
            "SELECT id, role, operator_id, client_ref, device_serial, boot_id, device_class, "
            "started_us, ended_us, end_reason FROM sessions ORDER BY id"
        ):
            sid = int(row["id"])
            seen_sessions.add(sid)
            wanted = self.sessions.get(sid)
            if wanted is None:
                return f"The sessions table holds session {sid}, which no record opened."
            names = (
                "role",
                "operator_id",
                "client_ref",
                "device_serial",
                "boot_id",
                "device_class",
                "started_us",
                "ended_us",
                "end_reason",
            )
            for field in names:
                if wanted[field] != row[field]:
                    return (
                        f"The sessions table disagrees with the log about session {sid} "
                        f"({field.replace('_us', '')})."
                    )
        for sid in self.sessions:
            if sid not in seen_sessions:
                return f"Session {sid} is in the log but missing from the sessions table."

        return None

    def _check_rows(self, conn: Conn, version: int) -> str | None:
        """Clients, treatments, cartridges and withdrawals."""
        clients = {
            str(r["ref"]): r["first_seen_us"]
            for r in conn.execute("SELECT ref, first_seen_us FROM clients")
        }
        if clients != self.clients:
            extra = sorted(set(clients) - set(self.clients))
            missing = sorted(set(self.clients) - set(clients))
            if extra:
                return f"The clients table holds {_quoted(extra[0])}, whom no record mentions."
            if missing:
                return (
                    f"Client {_quoted(missing[0])} is in the log but missing from the clients "
                    "table."
                )
            return "The clients table disagrees with the log about when a client was first seen."

        treatments = {
            int(r["record_id"]): (r["session_id"], r["client_ref"], r["zone"], r["ts_us"])
            for r in conn.execute(
                "SELECT record_id, session_id, client_ref, zone, ts_us FROM treatments"
            )
        }
        count = conn.execute("SELECT COUNT(*) AS n FROM treatments").fetchone()["n"]
        if treatments != self.treatments or count != len(self.treatments):
            return "The treatments table disagrees with the treatment records in the log."

        cartridges = {
            (int(r["cartridge_id"]), int(r["session_id"])): (r["first_seen_us"], r["record_id"])
            for r in conn.execute(
                "SELECT cartridge_id, session_id, first_seen_us, record_id FROM cartridges"
            )
        }
        if cartridges != self.cartridges:
            return "The cartridges table disagrees with the cartridge records in the log."
        has_withdrawals = version >= 2
        withdrawals = (
            {
                int(r["treatment_record_id"]): (r["ts_us"], r["record_id"])
                for r in conn.execute(
                    "SELECT treatment_record_id, ts_us, record_id FROM treatment_withdrawals"
                )
            }
            if has_withdrawals
            else {}
        )
        if withdrawals != self.withdrawals:
            return "The treatment_withdrawals table disagrees with the withdrawal records."
        return None
