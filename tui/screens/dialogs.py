"""Dialogs on top of a step: override reason, clinician acknowledgement, a typed value, a
yes/no question. Escape stays the e-stop here too (a priority binding of the app), so each
dialog cancels with Ctrl+X or its Cancel button, and shows its own E-STOP button."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar, TypeVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from driver.governor import Decision
from driver.screening import ScreeningResult

from .. import format as fmt
from ..widgets.topbar import EstopButton

T = TypeVar("T")

HINT = "Enter: confirm · Tab: move · Ctrl+X: cancel · Esc/F2: E-STOP"


class Dialog(ModalScreen[T | None]):
    """A modal with a title, a body, its own E-STOP button and a cancel key."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+x", "cancel", "Cancel", priority=True)]
    TITLE_TEXT = ""

    def compose_head(self) -> ComposeResult:
        with Horizontal(classes="dialog-head"):
            yield Static(self.TITLE_TEXT, classes="dialog-title")
            yield EstopButton(id=None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def show_error(self, text: str) -> None:
        err = self.query_one(".dialog-error", Static)
        err.update(text)
        err.set_class(bool(text), "-on")


class OverrideDialog(Dialog[str]):
    """Asks a clinician why they pass a recommended limit; returns the reason (or None)."""

    TITLE_TEXT = "Past the recommended limit"

    def __init__(self, what: str, decision: Decision, previous_reason: str = "") -> None:
        super().__init__(classes="dialog")
        self.what = what
        self.decision = decision
        self.previous_reason = previous_reason

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield from self.compose_head()
            yield Static(self.what, classes="dialog-what")
            yield Static("\n".join(self.decision.reasons), classes="dialog-body", markup=False)
            yield Static(
                "The reason is recorded in the audit log with your operator ID and the time.",
                classes="dialog-note",
            )
            yield Input(
                value=self.previous_reason,
                placeholder="Reason for passing the recommended limit",
                max_length=300,
                id="reason",
            )
            yield Static("", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Apply with this reason", id="ok", variant="warning")
                yield Button("Cancel", id="cancel")
            yield Static(HINT, classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#reason", Input).focus()

    def _submit(self) -> None:
        reason = self.query_one("#reason", Input).value.strip()
        if not reason:
            self.show_error("Type the reason first: passing a recommended limit needs one.")
            return
        self.dismiss(reason)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self._submit()
        elif event.button.id == "cancel":
            self.dismiss(None)


class AcknowledgeDialog(Dialog[ScreeningResult]):
    """A clinician acknowledges a positive screening with their ID, PIN and a reason.

    `submit(clinician, pin, reason)` runs the acknowledgement (off the UI thread); the caller
    then calls `dismiss(result)` or `show_error(sentence)`.
    """

    TITLE_TEXT = "Contraindication: clinician's acknowledgement"

    def __init__(
        self,
        result: ScreeningResult,
        submit: Callable[[AcknowledgeDialog, str, str, str], None],
        clinician: str = "",
    ) -> None:
        super().__init__(classes="dialog")
        self.result = result
        self.submit = submit
        self.clinician = clinician

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield from self.compose_head()
            yield Static(self.result.sentence(), classes="dialog-what", markup=False)
            yield Static(
                "\n".join("• " + q for q in self.result.positive_questions),
                classes="dialog-body",
                markup=False,
            )
            yield Input(value=self.clinician, placeholder="Clinician's operator ID", id="clinician")
            yield Input(placeholder="Clinician's PIN", password=True, id="pin", max_length=12)
            yield Input(
                placeholder="Why treatment is acceptable (recorded)", id="reason", max_length=500
            )
            yield Static("", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Acknowledge and treat", id="ok", variant="warning")
                yield Button("Cancel", id="cancel")
            yield Static(HINT, classes="dialog-hint")

    def on_mount(self) -> None:
        target = "#pin" if self.clinician else "#clinician"
        self.query_one(target, Input).focus()

    def _submit(self) -> None:
        clinician = self.query_one("#clinician", Input).value.strip()
        pin = self.query_one("#pin", Input).value
        reason = self.query_one("#reason", Input).value.strip()
        if not clinician or not pin or not reason:
            self.show_error("Fill in the clinician's ID, PIN and the reason.")
            return
        self.show_error("Checking…")
        self.submit(self, clinician, pin, reason)

    def clear_pin(self) -> None:
        self.query_one("#pin", Input).value = ""
        self.query_one("#pin", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "reason":
            self._submit()
        else:
            self.focus_next()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self._submit()
        elif event.button.id == "cancel":
            self.dismiss(None)


class ValueDialog(Dialog[float]):
    """Type a number (a depth in mm or a rate in Hz); returns it, or None when cancelled."""

    def __init__(self, title: str, prompt: str, initial: float | None, unit: str) -> None:
        super().__init__(classes="dialog")
        self.TITLE_TEXT = title
        self.prompt = prompt
        self.initial = initial
        self.unit = unit

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box small"):
            yield from self.compose_head()
            yield Static(self.prompt, classes="dialog-what", markup=False)
            initial = "" if self.initial is None else f"{self.initial:g}"
            yield Input(value=initial, placeholder=self.unit, id="value", restrict=r"[0-9.]*")
            yield Static("", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Ask the governor", id="ok", variant="primary")
                yield Button("Cancel", id="cancel")
            yield Static(HINT, classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#value", Input).focus()

    def _submit(self) -> None:
        text = self.query_one("#value", Input).value.strip()
        try:
            value = float(text)
        except ValueError:
            self.show_error(f"Type a number of {self.unit}, such as 0.5.")
            return
        if not math.isfinite(value):
            self.show_error(f"Type a finite number of {self.unit}.")
            return
        self.dismiss(value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self._submit()
        elif event.button.id == "cancel":
            self.dismiss(None)


class ConfirmDialog(Dialog[bool]):
    """A yes/no question; returns True for yes."""

    def __init__(self, title: str, question: str, yes: str = "Yes", no: str = "No") -> None:
        super().__init__(classes="dialog")
        self.TITLE_TEXT = title
        self.question = question
        self.yes = yes
        self.no = no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box small"):
            yield from self.compose_head()
            yield Static(self.question, classes="dialog-what", markup=False)
            yield Static("", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.yes, id="ok", variant="primary")
                yield Button(self.no, id="cancel")
            yield Static(HINT, classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#ok", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "ok")


def depth_prompt(zone: str | None, cap: float | None, hard: float | None) -> str:
    where = f"on {zone}" if zone else ""
    limit = f"cap {fmt.mm(cap)}" if cap is not None else "no cap known"
    if hard is not None and cap is not None and hard > cap:
        limit += f", up to {fmt.mm(hard)} with a recorded reason"
    return f"Depth in millimetres {where} ({limit}). The governor decides what is sent."
