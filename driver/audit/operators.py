"""Operators: registration, administrators, scrypt PINs and the lockout, all chained."""

from __future__ import annotations

import hmac
import json
import secrets

from driver.audit.backend import Conn, Row
from driver.audit.base import StoreBase
from driver.audit.canon import (
    _clock,
    _quoted,
    _scrypt,
    _ts_us,
    canonical_json,
    check_new_operator,
    check_pin,
    pin_fingerprint,
)
from driver.audit.values import (
    _PIN_RE,
    _SALT_BYTES,
    BAD_LOGIN,
    LOCKOUT_SECONDS,
    MAX_FAILED_PINS,
    PROFESSIONAL_ROLES,
    SCRYPT_P,
    SCRYPT_R,
    Operator,
)
from driver.errors import (
    NotAdministrator,
    OperatorDisabled,
    OperatorLocked,
    StoreError,
    UnknownOperator,
    WrongPin,
)
from driver.text import printable


class OperatorsMixin(StoreBase):
    # --- operators ---------------------------------------------------------------------------

    def add_operator(
        self,
        op_id: str,
        name: str,
        role: str,
        pin: str | None,
        now: float | None = None,
        *,
        by: tuple[str, str | None] | None = None,
        admin: bool = False,
    ) -> Operator:
        """Register an operator; professional roles need a PIN of 4 to 12 digits.

        The first operator of a store is its administrator (and so needs a PIN). Afterwards
        `by` must be an active administrator's (ID, PIN): the login is checked and recorded
        first, and the new operator's record names who added them. `admin=True` makes the new
        operator an administrator too.
        """
        check_new_operator(op_id, name, role)
        if role in PROFESSIONAL_ROLES:
            if pin is None:
                raise StoreError(f"The {role} role needs a PIN of 4 to 12 digits.")
            pin = check_pin(pin)
        elif pin is not None:
            raise StoreError("The home role has no PIN; leave it out.")
        first = not self._read("SELECT 1 FROM operators LIMIT 1")
        if first and role not in PROFESSIONAL_ROLES:
            raise StoreError(
                "The first operator administers the store and logs in with a PIN: give them "
                "a professional role (aesthetician, clinician or engineer)."
            )
        if not first and self._read("SELECT 1 FROM operators WHERE id = ?", (op_id,)):
            raise StoreError(f"An operator with ID {_quoted(op_id)} already exists.")
        admin_id = None if first else self._authorise(by, now)
        salt: bytes | None = None
        digest: bytes | None = None
        n: int | None = None
        r: int | None = None
        p: int | None = None
        if pin is not None:
            salt = secrets.token_bytes(_SALT_BYTES)
            n, r, p = self._scrypt_n, SCRYPT_R, SCRYPT_P
            digest = _scrypt(pin, salt, n, r, p)
        is_admin = bool(first or admin)
        ts_us = _ts_us(now)
        data = {
            "operator": op_id,
            "name": name,
            "role": role,
            "pin": pin_fingerprint(salt, digest, n, r, p),
            "admin": is_admin,
            "by": admin_id,
        }
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM operators WHERE id = ?", (op_id,)).fetchone():
                raise StoreError(f"An operator with ID {_quoted(op_id)} already exists.")
            if first and conn.execute("SELECT 1 FROM operators LIMIT 1").fetchone():
                raise StoreError("Another operator was added meanwhile; try again.")
            conn.execute(
                "INSERT INTO operators (id, name, role, pin_salt, pin_hash, scrypt_n, scrypt_r, "
                "scrypt_p, disabled, failed, locked_until_us, created_us, admin) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 0, NULL, ?, ?)",
                (op_id, name, role, salt, digest, n, r, p, ts_us, int(is_admin)),
            )
            self._append(conn, "operator_added", canonical_json(data), None, ts_us)
        return Operator(op_id, name, role, False, None, 0, is_admin)

    def _authorise(self, by: object, now: float | None) -> str:
        """Check an administrator's ID and PIN (a recorded login); their ID."""
        if (
            not isinstance(by, tuple)
            or len(by) != 2
            or not isinstance(by[0], str)
            or not (by[1] is None or isinstance(by[1], str))
        ):
            raise NotAdministrator(
                "This change needs an administrator: give an administrator's ID and PIN."
            )
        op = self.authenticate(by[0], by[1], now)
        if not op.admin:
            raise NotAdministrator(
                f"Operator {_quoted(op.id)} is not an administrator; an administrator's ID and "
                "PIN are needed for this change."
            )
        return op.id

    @property
    def _op_cols(self) -> str:
        admin = "admin" if self._version >= 2 else "0 AS admin"
        return (
            "id, name, role, pin_salt, pin_hash, scrypt_n, scrypt_r, scrypt_p, disabled, failed, "
            f"locked_until_us, {admin}"
        )

    @staticmethod
    def _operator(row: Row, now_us: int) -> Operator:
        locked = row["locked_until_us"]
        admin = bool(row["admin"])
        if locked is not None and locked > now_us:
            return Operator(
                row["id"],
                row["name"],
                row["role"],
                bool(row["disabled"]),
                locked / 1e6,
                int(row["failed"]),
                admin,
            )
        failed = 0 if locked is not None else int(row["failed"])  # an expired lock starts afresh
        return Operator(
            row["id"], row["name"], row["role"], bool(row["disabled"]), None, failed, admin
        )

    def list_operators(self, now: float | None = None) -> list[Operator]:
        """All operators, with the lock state as of `now` (an expired lock shows as none)."""
        now_us = _ts_us(now)
        rows = self._read(f"SELECT {self._op_cols} FROM operators ORDER BY id")
        return [self._operator(row, now_us) for row in rows]

    def get_operator(self, op_id: str, now: float | None = None) -> Operator:
        now_us = _ts_us(now)
        rows = self._read(f"SELECT {self._op_cols} FROM operators WHERE id = ?", (str(op_id),))
        if not rows:
            raise UnknownOperator(f"There is no operator {_quoted(op_id)}.")
        return self._operator(rows[0], now_us)

    def _target(self, conn: Conn, op_id: object) -> Row:
        row = conn.execute(
            f"SELECT {self._op_cols} FROM operators WHERE id = ?", (str(op_id),)
        ).fetchone()
        if row is None:
            raise UnknownOperator(f"There is no operator {_quoted(op_id)}.")
        return row

    def disable_operator(
        self,
        op_id: str,
        now: float | None = None,
        *,
        by: tuple[str, str | None] | None = None,
    ) -> None:
        """Disable an operator for good (they can no longer log in; the record stays).

        Needs an administrator (`by`); the last active administrator cannot be disabled."""
        with self._lock:
            self._check_open()
            self._target(self._conn, op_id)
        admin_id = self._authorise(by, now)
        ts_us = _ts_us(now)
        with self._write() as conn:
            row = self._target(conn, op_id)
            if row["disabled"]:
                return
            if row["admin"]:
                others = conn.execute(
                    "SELECT COUNT(*) AS n FROM operators WHERE admin = 1 AND disabled = 0 "
                    "AND id != ?",
                    (op_id,),
                ).fetchone()["n"]
                if not others:
                    raise StoreError(
                        f"Operator {_quoted(op_id)} is the last active administrator; add another "
                        "administrator before disabling them."
                    )
            conn.execute("UPDATE operators SET disabled = 1 WHERE id = ?", (op_id,))
            data = {"operator": op_id, "by": admin_id}
            self._append(conn, "operator_disabled", canonical_json(data), None, ts_us)

    def unlock_operator(
        self, op_id: str, now: float | None = None, *, by: tuple[str, str | None] | None = None
    ) -> None:
        """Lift a PIN lockout before it expires (needs an administrator; recorded)."""
        with self._lock:
            self._check_open()
            self._target(self._conn, op_id)
        admin_id = self._authorise(by, now)
        ts_us = _ts_us(now)
        with self._write() as conn:
            self._target(conn, op_id)
            conn.execute(
                "UPDATE operators SET failed = 0, locked_until_us = NULL WHERE id = ?", (op_id,)
            )
            data = {"operator": op_id, "by": admin_id, "failed": 0, "locked_until_us": None}
            self._append(conn, "operator_unlocked", canonical_json(data), None, ts_us)

    def reset_pin(
        self,
        op_id: str,
        new_pin: str,
        now: float | None = None,
        *,
        by: tuple[str, str | None] | None = None,
    ) -> None:
        """Give an operator a new PIN (needs an administrator; recorded; lifts any lockout)."""
        new_pin = check_pin(new_pin)
        with self._lock:
            self._check_open()
            row = self._target(self._conn, op_id)
        if row["role"] not in PROFESSIONAL_ROLES:
            raise StoreError(f"Operator {_quoted(op_id)} has the home role, which has no PIN.")
        admin_id = self._authorise(by, now)
        salt = secrets.token_bytes(_SALT_BYTES)
        n, r, p = self._scrypt_n, SCRYPT_R, SCRYPT_P
        digest = _scrypt(new_pin, salt, n, r, p)
        ts_us = _ts_us(now)
        with self._write() as conn:
            row = self._target(conn, op_id)
            if row["disabled"]:
                raise OperatorDisabled(f"Operator {_quoted(op_id)} is disabled.")
            conn.execute(
                "UPDATE operators SET pin_salt = ?, pin_hash = ?, scrypt_n = ?, scrypt_r = ?, "
                "scrypt_p = ?, failed = 0, locked_until_us = NULL WHERE id = ?",
                (salt, digest, n, r, p, op_id),
            )
            data = {
                "operator": op_id,
                "by": admin_id,
                "pin": pin_fingerprint(salt, digest, n, r, p),
                "failed": 0,
                "locked_until_us": None,
            }
            self._append(conn, "operator_pin_reset", canonical_json(data), None, ts_us)

    def authenticate(self, op_id: str, pin: str | None, now: float | None = None) -> Operator:
        """Check an operator's PIN; 5 wrong PINs in a row lock them for 15 minutes.

        Every attempt, failed or not, is a record in the chain (committed before this returns
        or raises). The PIN is checked outside the store's locks: scrypt takes tens of ms and
        the Pen's reader thread must keep appending meanwhile. An unknown ID and a wrong PIN
        cost the same scrypt work and raise the same WrongPin sentence. The failure count and
        lock come from the operator's last chained login record, not from the table: a table
        that disagrees (say, a count reset by UPDATE) refuses the login with StoreError.
        """
        now_us = _ts_us(now)
        self.check_trust()  # the operators table is used only while it agrees with the chain
        key = op_id if isinstance(op_id, str) else None
        shown = printable(key[:64] if key is not None else repr(op_id)[:64])
        rows = (
            self._read(f"SELECT {self._op_cols} FROM operators WHERE id = ?", (key,))
            if key is not None
            else []
        )
        pin_ok = False
        if not rows or rows[0]["pin_hash"] is None:
            # the same work as a real check, so timing does not tell which IDs exist
            _scrypt(str(pin), b"\0" * _SALT_BYTES, self._scrypt_n, SCRYPT_R, SCRYPT_P)
        else:
            row = rows[0]
            if row["role"] in PROFESSIONAL_ROLES and isinstance(pin, str):
                candidate = _scrypt(
                    pin,
                    bytes(row["pin_salt"]),
                    int(row["scrypt_n"]),
                    int(row["scrypt_r"]),
                    int(row["scrypt_p"]),
                )
                pin_ok = hmac.compare_digest(candidate, bytes(row["pin_hash"])) and bool(
                    _PIN_RE.fullmatch(pin)
                )
            else:
                _scrypt(str(pin), b"\0" * _SALT_BYTES, int(row["scrypt_n"]), SCRYPT_R, SCRYPT_P)

        error: Exception | None = None
        result: Operator | None = None
        with self._write() as conn:
            row = (
                conn.execute(
                    f"SELECT {self._op_cols} FROM operators WHERE id = ?", (key,)
                ).fetchone()
                if key is not None
                else None
            )
            if row is None:
                data: dict[str, object] = {"operator": shown, "reason": "unknown"}
                self._append(conn, "login_failed", canonical_json(data), None, now_us)
                error = WrongPin(BAD_LOGIN, MAX_FAILED_PINS)
            else:
                error, result = self._judge(conn, row, pin, pin_ok, now_us)
        if error is not None:
            raise error
        assert result is not None
        return result

    def _chained_lock_state(self, conn: Conn, op_id: str) -> tuple[int, int | None] | None:
        """(failed, locked_until_us) as the operator's last chained record left them; None
        when the log holds no such record (a store of schema 1 read as it is)."""
        row = conn.execute(
            "SELECT kind, data FROM log WHERE kind IN ('operator_added', 'login', "
            "'login_failed', 'operator_unlocked', 'operator_pin_reset') "
            f"AND {self._backend.json_text('operator')} = ? ORDER BY id DESC LIMIT 1",
            (op_id,),
        ).fetchone()
        if row is None:
            return None
        if row["kind"] == "operator_added":
            return 0, None
        try:
            data = json.loads(row["data"])
            failed, locked = data["failed"], data["locked_until_us"]
        except (ValueError, KeyError, TypeError):
            return None
        if not isinstance(failed, int) or not (locked is None or isinstance(locked, int)):
            return None
        return failed, locked

    def _judge(
        self,
        conn: Conn,
        row: Row,
        pin: object,
        pin_ok: bool,
        now_us: int,
    ) -> tuple[Exception | None, Operator | None]:
        """Decide one login attempt against the operator's chained state (in a transaction)."""
        op_id, role = str(row["id"]), str(row["role"])
        admin = bool(row["admin"])
        failed, locked = int(row["failed"]), row["locked_until_us"]
        chained = self._chained_lock_state(conn, op_id)
        if chained is not None and chained != (failed, locked):
            raise StoreError(
                f"The operators table disagrees with the log about operator {_quoted(op_id)}'s "
                "failed PIN count or lock (edited outside needlepen?); run 'needlepen log "
                "verify' and restore the store from a copy you trust."
            )

        def log(kind: str, reason: str | None) -> None:
            data: dict[str, object] = {
                "operator": op_id,
                "role": role,
                "failed": failed,
                "locked_until_us": locked,
            }
            if reason is not None:
                data["reason"] = reason
            conn.execute(
                "UPDATE operators SET failed = ?, locked_until_us = ? WHERE id = ?",
                (failed, locked, op_id),
            )
            self._append(conn, kind, canonical_json(data), None, now_us)

        if row["disabled"]:
            log("login_failed", "disabled")
            return OperatorDisabled(f"Operator {_quoted(op_id)} is disabled."), None
        if locked is not None and locked > now_us:
            log("login_failed", "locked")
            return (
                OperatorLocked(
                    f"Operator {_quoted(op_id)} is locked after {MAX_FAILED_PINS} wrong PINs "
                    f"until {_clock(locked)}; try again then.",
                    locked / 1e6,
                ),
                None,
            )
        if locked is not None:  # the lock has expired: a fresh start
            failed, locked = 0, None
        if role not in PROFESSIONAL_ROLES:
            failed, locked = 0, None
            log("login", None)
            return None, Operator(op_id, str(row["name"]), role, False, None, 0, admin)
        if pin is None:
            log("login_failed", "no_pin")
            return (
                WrongPin(f"Operator {_quoted(op_id)} needs a PIN.", MAX_FAILED_PINS - failed),
                None,
            )
        if pin_ok:
            failed, locked = 0, None
            log("login", None)
            return None, Operator(op_id, str(row["name"]), role, False, None, 0, admin)
        failed += 1
        if failed >= MAX_FAILED_PINS:
            locked = now_us + LOCKOUT_SECONDS * 1_000_000
            log("login_failed", "wrong_pin")
            return (
                OperatorLocked(
                    f"Wrong PIN for operator {_quoted(op_id)}: after {MAX_FAILED_PINS} wrong PINs "
                    f"in a row it is locked for {LOCKOUT_SECONDS // 60} minutes, until "
                    f"{_clock(locked)}.",
                    locked / 1e6,
                ),
                None,
            )
        log("login_failed", "wrong_pin")
        return WrongPin(BAD_LOGIN, MAX_FAILED_PINS - failed), None
