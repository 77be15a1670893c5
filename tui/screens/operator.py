"""Step 2: the operator's role, ID and PIN (professional roles). A home-class pen skips this:
it forces the home role whatever the login."""

from __future__ import annotations

import time
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Footer, Input, RadioButton, RadioSet, Static

from driver.errors import DriverError
from driver.session import Pen
from driver.vocabulary import PROFESSIONAL_ROLES

from .. import format as fmt
from .base import StepScreen

ROLE_HELP = {
    "home": "self-treatment, shallow only, no PIN",
    "aesthetician": "clients; recommended limits are hard",
    "clinician": "patients; past a limit with a reason",
    "engineer": "the bench zone only, no skin",
}


def device_info(pen: Pen) -> Table:
    """The pen's INFO after the handshake, for the operator to check."""
    info = pen.info
    d = pen.device
    step = info.depth_step_um
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim")
    grid.add_column()
    grid.add_row("Port", pen.url)
    grid.add_row("Device class", Text(d.device_class, style="bold"))
    grid.add_row("Serial", str(info.serial))
    grid.add_row("Firmware", f"{info.fw_major}.{info.fw_minor}.{info.fw_patch}")
    grid.add_row(
        "Depth range",
        f"{fmt.mm_number(d.depth_min_mm, step)}–{fmt.mm(d.depth_max_mm, step)} "
        f"in steps of {fmt.mm(d.depth_step_mm, step)}",
    )
    grid.add_row("Stamp rate", f"{d.rate_min_hz}–{d.rate_max_hz} Hz")
    grid.add_row("Watchdog", f"{info.watchdog_ms} ms")
    return grid


class OperatorScreen(StepScreen):
    STEP = "Operator"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+b", "back", "Other pen")]

    def compose(self) -> ComposeResult:
        flow = self.host.flow
        yield self.top_bar()
        with Horizontal(classes="step-body"):
            with Vertical(id="operator-form"):
                yield Static("Role (Up/Down, Enter to choose):", classes="step-help")
                with RadioSet(id="role"):
                    for role, words in ROLE_HELP.items():
                        yield RadioButton(
                            f"{role:<13} {words}", value=(role == flow.role), id=f"role-{role}"
                        )
                yield Input(value=flow.operator or "", placeholder="Operator ID", id="operator")
                yield Static("", id="operator-state", markup=False)
                yield Input(placeholder="PIN", password=True, id="pin", max_length=12)
                yield Static("", id="operator-error", markup=False)
                with Horizontal(classes="row"):
                    yield Button("Continue", id="continue", variant="primary")
                    yield Button("Other pen", id="back")
            with Vertical(id="device-info", classes="panel"):
                yield Static("The pen", classes="panel-title")
                yield Static("", id="device")
        yield Footer()

    def on_mount(self) -> None:
        self.reload()

    def reload(self) -> None:
        flow = self.host.flow
        pen = self.host.pen
        if pen is not None:
            self.query_one("#device", Static).update(device_info(pen))
        err = self.query_one("#operator-error", Static)
        err.update(flow.operator_error or "")
        err.set_class(bool(flow.operator_error), "-error")
        self.query_one("#pin", Input).value = ""
        self._update_fields()
        self._operator_state()
        if flow.role is None:
            self.query_one("#role", RadioSet).focus()
        elif flow.role in PROFESSIONAL_ROLES and not flow.operator:
            self.query_one("#operator", Input).focus()
        elif flow.role in PROFESSIONAL_ROLES:
            self.query_one("#pin", Input).focus()
        else:
            self.query_one("#continue", Button).focus()

    @property
    def role(self) -> str | None:
        pressed = self.query_one("#role", RadioSet).pressed_button
        if pressed is None or pressed.id is None:
            return None
        return pressed.id.removeprefix("role-")

    def _update_fields(self) -> None:
        professional = self.role in PROFESSIONAL_ROLES
        self.query_one("#operator", Input).disabled = not professional
        self.query_one("#pin", Input).disabled = not professional

    def _operator_state(self) -> None:
        """Who the ID is and whether they are locked out (read only: no login is attempted)."""
        box = self.query_one("#operator-state", Static)
        op_id = self.query_one("#operator", Input).value.strip()
        if not op_id or self.role not in PROFESSIONAL_ROLES:
            box.update("")
            return
        try:
            op = self.host.workstation.operator(op_id)
        except DriverError as exc:
            box.update(str(exc))
            box.set_class(True, "-warn")
            return
        words = f"{op.name} ({op.role})"
        warn = False
        if op.disabled:
            words += ": disabled, cannot log in."
            warn = True
        elif op.locked_until is not None:
            words += (
                f": LOCKED after too many wrong PINs until {fmt.clock(op.locked_until)} "
                f"({max(0, int(op.locked_until - time.time()) // 60 + 1)} min)."
            )
            warn = True
        elif op.failed_attempts:
            words += f": {op.failed_attempts} wrong PIN(s) in a row so far."
        if op.role != self.role:
            words += f" Registered as {op.role}, not {self.role}."
            warn = True
        box.update(words)
        box.set_class(warn, "-warn")

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        self._update_fields()
        self._operator_state()
        if self.role in PROFESSIONAL_ROLES:
            self.query_one("#operator", Input).focus()
        else:
            self.query_one("#continue", Button).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "operator":
            self._operator_state()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "operator":
            self.query_one("#pin", Input).focus()
        else:
            self.submit()

    @on(Button.Pressed, "#continue")
    def continue_pressed(self) -> None:
        self.submit()

    @on(Button.Pressed, "#back")
    def action_back(self) -> None:
        self.host.another_pen("the operator chose another pen")

    def submit(self) -> None:
        role = self.role
        err = self.query_one("#operator-error", Static)
        err.set_class(True, "-error")
        if role is None:
            err.update("Choose a role first.")
            return
        flow = self.host.flow
        flow.role = role
        flow.operator_error = None
        if role in PROFESSIONAL_ROLES:
            op = self.query_one("#operator", Input).value.strip()
            pin = self.query_one("#pin", Input).value
            if not op:
                err.update(f"The {role} role needs an operator ID.")
                self.query_one("#operator", Input).focus()
                return
            if not pin:
                err.update("Type your PIN.")
                self.query_one("#pin", Input).focus()
                return
            flow.operator, flow.pin = op, pin
        else:
            flow.operator, flow.pin = None, None
        flow.login = None
        if role in PROFESSIONAL_ROLES:
            err.set_class(False, "-error")
            err.update("Checking the PIN…")
            self.host.check_operator()
            return
        err.update("")
        self.host.advance()
