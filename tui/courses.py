"""Courses in the TUI: the client screen's course list, the treatment screen's course line,
and what the summary does with a course (attach the session, write the report).

No course logic of its own: everything is `driver.records.courses`, `driver.records.client` and
`driver.records.report`; this module only turns their typed values into Rich text.
"""

from __future__ import annotations

from pathlib import Path

from rich.table import Table
from rich.text import Text

from driver.audit import AuditStore
from driver.errors import DriverError
from driver.records.client import Timing, client_record
from driver.records.courses import Course, attach_session, courses, session_delivery
from driver.records.report import render_report
from driver.safety.concerns import guidance_for
from driver.safety.policy import Policy

from . import format as fmt

__all__ = ["CourseLines", "attach_delivered", "courses_table", "write_report"]

_TIMING_STYLE = {
    Timing.TOO_SOON: "bold yellow",
    Timing.OVERDUE: "bold red",
    Timing.DUE: "green",
    Timing.NOT_STARTED: "dim",
    Timing.FINISHED: "dim",
}


class CourseLines:
    """The client's open course per zone, read from the store once per zone."""

    def __init__(self, store: AuditStore, policy: Policy, client: str | None) -> None:
        self.store, self.policy, self.client = store, policy, client
        self._open: list[Course] | None = None

    def course_for(self, zone: str | None) -> Course | None:
        if self.client is None or zone is None:
            return None
        if self._open is None:
            try:
                self._open = [c for c in courses(self.store, self.client) if c.is_open]
            except DriverError:
                self._open = []
        return next((c for c in self._open if zone in c.zones), None)

    def text(self, zone: str | None) -> Text | None:
        """'acne scars, session 2 of 4  suggests 1.00-1.50 mm' (the governor's cap decides)."""
        course = self.course_for(zone)
        if course is None or zone is None:
            return None
        g = guidance_for(self.policy.concerns, course.concern, zone)
        out = Text(course.line(g.label if g else None))
        if g is not None:
            out.append(f"  suggests {g.min_mm:.2f}-{g.max_mm:.2f} mm", style="dim")
        return out


def courses_table(
    store: AuditStore,
    policy: Policy,
    client: str,
    now: float,
    known: list[Course] | None = None,
) -> Table | None:
    """The client's courses and, per zone, the last session and the next window (`known`:
    every course of the store, read once per screen rather than per key typed)."""
    record = client_record(store, policy, client, now=now, known=known)
    if not record.courses:
        return None
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True)
    table.add_column()
    for cr in record.courses:
        c = cr.course
        table.add_row(
            Text(cr.label, style="bold"),
            f"{c.sessions_done} of {c.sessions_planned}, {c.status.value}",
        )
        for z in cr.zones:
            when = (
                f"next {z.next_from:%d %b}-{z.next_to:%d %b}"
                if z.next_from and z.next_to
                else "not yet treated"
            )
            row = Text(when)
            if z.timing is not Timing.NOT_STARTED:
                row.append("  " + z.timing.value.replace("_", " "), style=_TIMING_STYLE[z.timing])
            table.add_row(f"  {fmt.zone(z.zone)}", row)
    return table


def attach_delivered(store: AuditStore, client: str | None, session_id: int) -> list[Course]:
    """Attach the session to each open course of the client it delivered on (the summary
    moves the course on); returns those courses as they now stand."""
    if client is None or session_id < 0:
        return []
    delivered = session_delivery(store.records(session_id))
    out = []
    for c in courses(store, client):
        if c.is_open and any(z in delivered for z in c.zones):
            out.append(attach_session(store, c.id, session_id))
    return out


def write_report(store: AuditStore, policy: Policy, session_id: int, path: Path) -> Path:
    """Write the session's report to `path` (never over an existing file)."""
    text = render_report(store, policy, session_id)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(path, "x", encoding="utf-8") as out:
        out.write(text)
    return path
