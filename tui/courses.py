"""Courses in the TUI: the client screen's course list, the treatment screen's course line,
and what the summary does with a course (attach the session, write the report).

No course logic of its own: everything comes typed from the session facade's `Workstation`
(driver.records underneath); this module only turns those values into Rich text.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from driver.errors import DriverError
from driver.session import Course, Timing, Workstation, guidance_for

from . import format as fmt

__all__ = ["CourseLines", "courses_table"]

_TIMING_STYLE = {
    Timing.TOO_SOON: "bold yellow",
    Timing.OVERDUE: "bold red",
    Timing.DUE: "green",
    Timing.NOT_STARTED: "dim",
    Timing.FINISHED: "dim",
}


class CourseLines:
    """The client's open course per zone, read from the store once per zone."""

    def __init__(self, workstation: Workstation, client: str | None) -> None:
        self.workstation, self.client = workstation, client
        self._open: list[Course] | None = None

    def course_for(self, zone: str | None) -> Course | None:
        if self.client is None or zone is None:
            return None
        if self._open is None:
            try:
                self._open = [c for c in self.workstation.courses(self.client) if c.is_open]
            except DriverError:
                self._open = []
        return next((c for c in self._open if zone in c.zones), None)

    def text(self, zone: str | None) -> Text | None:
        """'acne scars, session 2 of 4  suggests 1.00-1.50 mm' (the governor's cap decides)."""
        course = self.course_for(zone)
        if course is None or zone is None:
            return None
        g = guidance_for(self.workstation.policy.concerns, course.concern, zone)
        out = Text(course.line(g.label if g else None))
        if g is not None:
            out.append(f"  suggests {g.min_mm:.2f}-{g.max_mm:.2f} mm", style="dim")
        return out


def courses_table(
    workstation: Workstation,
    client: str,
    now: float,
    known: list[Course] | None = None,
) -> Table | None:
    """The client's courses and, per zone, the last session and the next window (`known`:
    every course of the store, read once per screen rather than per key typed)."""
    record = workstation.client_record(client, now=now, known=known)
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
