"""The workstation: this machine's audit store and policy, as the one door a UI uses besides
the Pen. It connects pens, and answers the questions a UI asks of the store (an operator's
state, a client's last sessions and courses, a session's records), exports a session's log
and writes its report, all as typed calls: a UI never holds the store itself.

    with Workstation.open("clinic.db") as ws:
        pen = ws.connect("sim://")
        ...
        ws.write_report(pen.session_id, Path("report.html"))
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Literal, TextIO

from ..audit import AuditStore, Operator, Record
from ..safety import policy as policies
from .core import DEFAULT_TELEMETRY_HZ
from .pen import Pen

if TYPE_CHECKING:
    from ..records.client import ClientRecord
    from ..records.courses import Course
    from ..safety.policy import Policy

# driver.records is imported where it is used: the TUI's first screen need not wait for it.

__all__ = ["Workstation"]


class Workstation:
    """The audit store and policy of one workstation (thread-safe as the store is)."""

    def __init__(
        self, store: AuditStore, policy: Policy | None = None, *, owns_store: bool = False
    ) -> None:
        self._store = store
        self._policy = policy
        self._owns_store = owns_store

    @property
    def policy(self) -> Policy:
        """The policy; the built-in one is loaded (pydantic and all) when first asked for, so
        a UI can draw its first screen before (see tui/app.py's warm-up after it)."""
        if self._policy is None:
            self._policy = policies.default_policy()
        return self._policy

    @classmethod
    def open(
        cls,
        db: str | os.PathLike[str] | None = None,
        policy: Policy | str | os.PathLike[str] | None = None,
    ) -> Workstation:
        """Open the audit store `db` (a path, a PostgreSQL URL, or None: the user data
        directory's) under `policy` (a Policy, a TOML file: read and checked now, or None: the
        built-in one, loaded when first needed)."""
        pol = policies.load_policy(policy) if isinstance(policy, str | os.PathLike) else policy
        return cls(AuditStore(db), pol, owns_store=True)

    def close(self) -> None:
        """Close the store if this workstation opened it (idempotent)."""
        if self._owns_store:
            self._owns_store = False
            self._store.close()

    def __enter__(self) -> Workstation:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- pens ----------------------------------------------------------------------------

    def connect(self, url: str, *, telemetry_hz: int = DEFAULT_TELEMETRY_HZ) -> Pen:
        """`Pen.connect` on this workstation's store and policy (the Pen does not own them)."""
        return Pen.connect(url, db=self._store, policy=self.policy, telemetry_hz=telemetry_hz)

    # --- questions ---------------------------------------------------------------------------

    def operator(self, op_id: str, now: float | None = None) -> Operator:
        """The operator `op_id` as the store holds it (UnknownOperator when there is none)."""
        return self._store.get_operator(op_id, now)

    def last_treatment_days_ago(
        self, client: str | None, zone: str, now: float | None = None
    ) -> float | None:
        """Days since `client`'s `zone` was last treated (None: never)."""
        return self._store.last_treatment_days_ago(client, zone, now=now)

    def courses(self, client: str | None = None) -> list[Course]:
        """Every course (or one client's), as `driver.records.courses` reads them."""
        from ..records.courses import courses

        return courses(self._store, client)

    def client_record(
        self, client: str, now: float | None = None, known: list[Course] | None = None
    ) -> ClientRecord:
        """The client's courses with, per zone, the last session and the next window
        (`known`: every course, when the caller read them already)."""
        from ..records.client import client_record

        return client_record(self._store, self.policy, client, now=now, known=known)

    def session_records(self, session_id: int) -> list[Record]:
        """One session's audit records, oldest first."""
        return self._store.records(session_id)

    # --- what the summary does -------------------------------------------------------------

    def attach_delivered(self, client: str | None, session_id: int) -> list[Course]:
        """Attach the session to each open course of the client it delivered on (the course
        moves on); returns those courses as they now stand."""
        from ..records.courses import attach_session, courses, session_delivery

        if client is None or session_id < 0:
            return []
        delivered = session_delivery(self._store.records(session_id))
        return [
            attach_session(self._store, c.id, session_id)
            for c in courses(self._store, client)
            if c.is_open and any(z in delivered for z in c.zones)
        ]

    def export(self, fmt: Literal["csv", "json"], out: TextIO, session_id: int) -> int:
        """Write one session's audit log to `out` as CSV or JSON; returns the record count."""
        return self._store.export(fmt, out, session_id=session_id)

    def write_report(self, session_id: int, path: Path) -> Path:
        """Write the session's report (HTML) to `path`, never over an existing file."""
        from ..records.report import render_report

        text = render_report(self._store, self.policy, session_id)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(path, "x", encoding="utf-8") as out:
            out.write(text)
        return path
