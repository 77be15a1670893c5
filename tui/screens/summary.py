"""Step 5: the summary. Time, stamps and depths per zone, overrides, screening, the aftercare
instructions for the client, and an export of the session's audit log."""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Footer, Input, Static

from driver.errors import DriverError
from driver.paths import data_dir
from driver.session import Course, Delivered, Pen, delivered_instructions

from .. import format as fmt
from ..model import fault_words
from ..report import SessionSummary, summarise
from .base import StepHost, StepScreen


def export_dir() -> Path:
    """Where exports go unless the operator types a folder: `exports` in needlepen's user
    data directory (never the current directory, which may be anywhere)."""
    return data_dir() / "exports"


def export_path(typed: str, fmt_name: str) -> str:
    """The file an export goes to: the typed path; a bare or relative name goes into
    export_dir(). The folder is created (private to the user) when it is missing."""
    path = Path(typed).expanduser()
    if not path.is_absolute():
        path = export_dir() / path
    if path.suffix != f".{fmt_name}":
        path = path.with_name(f"{path.name}.{fmt_name}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise DriverError(
            f"The folder {path.parent} could not be created ({exc.strerror or exc})."
        ) from exc
    return str(path)


def summary_table(s: SessionSummary, step_um: int | None = None) -> Table:
    table = Table(expand=True, box=None, padding=(0, 1), header_style="bold")
    table.add_column("Zone")
    table.add_column("Time", justify="right")
    table.add_column("Stamps", justify="right")
    table.add_column("Depth (mm)")
    table.add_column("Clamps", justify="right")
    table.add_column("Overrides", justify="right")
    for z in s.zones.values():
        table.add_row(
            fmt.zone(z.zone),
            fmt.duration(z.seconds),
            f"{z.stamps:,}",
            _depths(z.depths_mm, step_um),
            str(z.clamps),
            str(z.overrides),
        )
    if not s.zones:
        table.add_row(Text("no zone was treated", style="dim"), "", "", "", "", "")
    return table


def _depths(depths: list[float], step_um: int | None = None) -> str:
    """The depths a zone was treated at: one value, or the shallowest to the deepest."""
    if not depths:
        return "—"
    lo, hi = min(depths), max(depths)
    shown = fmt.mm_number(hi, step_um)
    return shown if lo == hi else f"{fmt.mm_number(lo, step_um)}–{shown}"


class SummaryScreen(StepScreen):
    STEP = "Summary"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "export('json')", "Export JSON"),
        Binding("c", "export('csv')", "Export CSV"),
        Binding("n", "new_session", "New session"),
        Binding("r", "report", "Report"),
    ]

    def __init__(self, host: StepHost, pen: Pen) -> None:
        super().__init__(host)
        self.pen = pen
        self.summary: SessionSummary | None = None
        self.exported: list[str] = []

    def compose(self) -> ComposeResult:
        yield self.top_bar()
        with Horizontal(classes="step-body"):
            with VerticalScroll(id="summary-left", classes="panel"):
                yield Static("Session", classes="panel-title")
                yield Static("", id="summary")
            with Vertical(id="summary-right", classes="panel"):
                yield Static("Aftercare for the client", classes="panel-title")
                yield Static("", id="aftercare")
                yield Static("Export the session's audit log", classes="panel-title")
                yield Input(id="export-path", placeholder="file name")
                with Horizontal(classes="row"):
                    yield Button("Export JSON  J", id="export-json", variant="primary")
                    yield Button("Export CSV  C", id="export-csv")
                    yield Button("New session  N", id="new")
                yield Static("", id="export-status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        app = self.host
        pen = self.pen
        sid = pen.session_id
        self.query_one("#export-path", Input).value = str(
            export_dir() / f"needlepen-session-{max(sid, 0)}"
        )
        if sid < 0:
            self.query_one("#summary", Static).update("No session was begun.")
            return
        snap = app.model.snapshot()
        records = app.workstation.session_records(sid)
        s = summarise(sid, records, pen.zone_seconds, snap.stamps_by_zone)
        self.summary = s
        head = Table.grid(padding=(0, 2))
        head.add_column(style="dim")
        head.add_column()
        head.add_row("Session", str(sid))
        head.add_row("Operator", pen.role + (f" {pen.operator_id}" if pen.operator_id else ""))
        head.add_row("Client", pen.client_ref or "—")
        if s.started is not None:
            head.add_row("Started", f"{fmt.date(s.started)} {fmt.clock(s.started)}")
        head.add_row("Duration", fmt.duration(s.seconds))
        head.add_row("Ended", s.end_reason or "—")
        happened = [m for m in (snap.link_lost, snap.rebooted, snap.session_ended) if m]
        if happened:
            head.add_row("What happened", Text(" ".join(happened), style="bold red"))
        for course in self._move_courses_on():
            n = course.number_of(sid)
            head.add_row("Course", f"{course.line()}" + ("" if n else " (nothing delivered)"))
        head.add_row("E-stops", str(s.estops))
        head.add_row("Faults", fault_words(s.faults | snap.faults_seen) or "none")
        parts: list[object] = [head, Text(""), summary_table(s, self.step_um)]
        if s.overrides:
            parts.append(Text("\nOverrides", style="bold"))
            for o in s.overrides:
                depth = fmt.mm(o.depth_mm, self.step_um)
                parts.append(Text(f"  {fmt.clock(o.ts)}  {fmt.zone(o.zone)} {depth}: {o.reason}"))
        for line in s.screening:
            parts.append(Text(line, style="dim"))
        self.query_one("#summary", Static).update(Group(*parts))  # type: ignore[arg-type]
        delivered = [
            Delivered(zone, stamps, snap.deepest_um_by_zone.get(zone, 0) / 1000)
            for zone, stamps in snap.stamps_by_zone.items()
        ]
        lines = delivered_instructions(
            delivered, app.policy.min_days_between_sessions, blocked=s.blocked
        )
        self.query_one("#aftercare", Static).update(
            "\n".join(f"• {line}" for line in lines)
            or "No client aftercare: no stamps reached skin in this session."
        )
        self.query_one("#export-json", Button).focus()

    def action_export(self, fmt_name: str) -> None:
        status = self.query_one("#export-status", Static)
        base = self.query_one("#export-path", Input).value.strip()
        if not base:
            status.update("Type a file name first.")
            return
        try:
            path = export_path(base, fmt_name)
        except DriverError as exc:
            status.update(str(exc))
            return
        if os.path.exists(path):
            status.update(f"{path} exists already; choose another name.")
            return
        try:
            with open(path, "x", encoding="utf-8", newline="") as out:
                count = self.host.workstation.export(
                    fmt_name,  # type: ignore[arg-type]
                    out,
                    self.pen.session_id,
                )
        except (OSError, DriverError) as exc:
            status.update(f"Could not export to {path}: {exc}")
            return
        self.exported.append(path)
        status.update(f"Exported {count} records to {os.path.abspath(path)}.")
        self.host.model.log("info", f"Exported the session's log to {path}.")

    def _move_courses_on(self) -> list[Course]:
        """Attach the session to the client's open courses it delivered on."""
        try:
            return self.host.workstation.attach_delivered(self.pen.client_ref, self.pen.session_id)
        except DriverError as exc:
            self.host.model.log("warn", f"The course was not moved on: {exc}")
            return []

    def action_report(self) -> None:
        """R: write the session's report (HTML) beside the exports."""
        status = self.query_one("#export-status", Static)
        base = self.query_one("#export-path", Input).value.strip() or "needlepen-session"
        try:
            path = Path(export_path(base + "-report", "html"))
            if path.exists():
                status.update(f"{path} exists already; choose another name.")
                return
            self.host.workstation.write_report(self.pen.session_id, path)
        except (OSError, DriverError) as exc:
            status.update(f"Could not write the report: {exc}")
            return
        self.exported.append(str(path))
        status.update(f"Report written to {path}.")
        self.host.model.log("info", f"Wrote the session's report to {path}.")

    def action_new_session(self) -> None:
        self.host.new_session()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_export("json")

    @on(Button.Pressed, "#export-json")
    def export_json_pressed(self) -> None:
        self.action_export("json")

    @on(Button.Pressed, "#export-csv")
    def export_csv_pressed(self) -> None:
        self.action_export("csv")

    @on(Button.Pressed, "#new")
    def new_pressed(self) -> None:
        self.action_new_session()
