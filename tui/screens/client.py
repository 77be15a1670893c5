"""Step 3a: the client's pseudonymous reference, and when each zone was last treated."""

from __future__ import annotations

from typing import ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Footer, Input, Static

from driver.errors import DriverError
from driver.session import Course

from .. import format as fmt
from ..courses import courses_table
from ..flow import client_ref_problem
from .base import StepScreen
from .operator import device_info


class ClientScreen(StepScreen):
    STEP = "Client"
    _known_courses: list[Course] | None = None
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+b", "back", "Back to operator")]

    def compose(self) -> ComposeResult:
        yield self.top_bar()
        with Horizontal(classes="step-body"):
            with Vertical(id="client-form"):
                yield Static(
                    "Client reference: a chart number or pseudonym, never a name.",
                    classes="step-help",
                )
                yield Input(placeholder="Client reference", id="client", max_length=64)
                yield Static("", id="client-error", markup=False)
                with Horizontal(classes="row"):
                    yield Button("Continue", id="continue", variant="primary")
                    yield Button("Back", id="back")
                yield Static("The pen", classes="panel-title")
                yield Static("", id="device")
            with Vertical(id="history", classes="panel"):
                yield Static("Last session per zone", classes="panel-title")
                yield Static("", id="last-sessions")
        yield Footer()

    def on_mount(self) -> None:
        self.reload()

    def reload(self) -> None:
        app = self.host
        flow = app.flow
        box = self.query_one("#client", Input)
        if flow.client:
            box.value = flow.client
        err = self.query_one("#client-error", Static)
        err.update(flow.client_error or "")
        err.set_class(bool(flow.client_error), "-error")
        if app.pen is not None:
            self.query_one("#device", Static).update(device_info(app.pen))
        self.show_history(box.value.strip())
        box.focus()

    def show_history(self, client: str) -> None:
        """The last session date per zone for this client (from the audit store)."""
        app = self.host
        out = self.query_one("#last-sessions", Static)
        if client_ref_problem(client):
            out.update(Text("Type a client reference to see their history.", style="dim"))
            return
        role = app.effective_role or "home"
        zones = app.pen.governor.zones_for(role) if app.pen is not None else []
        min_days = app.policy.min_days_between_sessions
        table = Table.grid(padding=(0, 2))
        table.add_column()
        table.add_column()
        table.add_column()
        now = app.clock()
        try:
            for zone in zones:
                days = app.workstation.last_treatment_days_ago(client, zone, now=now)
                if days is None:
                    table.add_row(fmt.zone(zone), Text("never", style="dim"), "")
                    continue
                when = fmt.date(now - days * 86400)
                note = (
                    Text(f"under {min_days} days", style="bold yellow")
                    if days < min_days
                    else Text("")
                )
                table.add_row(fmt.zone(zone), f"{when} ({fmt.days_ago(days)})", note)
            if self._known_courses is None:  # the whole log, once per screen
                self._known_courses = app.workstation.courses()
            course_list = courses_table(app.workstation, client, now, self._known_courses)
        except DriverError as exc:
            out.update(str(exc))
            return
        if course_list is None:
            out.update(table)
            return
        title = Text("Courses", style="bold")
        out.update(Group(title, course_list, Text(""), Text("Last session", style="bold"), table))

    def on_input_changed(self, event: Input.Changed) -> None:
        self.show_history(event.value.strip())

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit()

    @on(Button.Pressed, "#continue")
    def continue_pressed(self) -> None:
        self.submit()

    @on(Button.Pressed, "#back")
    def action_back(self) -> None:
        """Back to the operator step (the PIN is asked again); a home pen: to the pens."""
        self.host.back_to_operator()

    def submit(self) -> None:
        client = self.query_one("#client", Input).value.strip()
        err = self.query_one("#client-error", Static)
        if problem := client_ref_problem(client):
            err.update(problem)
            err.set_class(True, "-error")
            return
        flow = self.host.flow
        flow.client = client
        flow.client_error = None
        err.update("Logging in…")
        err.set_class(False, "-error")
        self.host.advance()
