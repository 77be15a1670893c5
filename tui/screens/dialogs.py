"""Dialogs on top of a step: override reason, clinician acknowledgement, a typed value, a
yes/no question. Escape stays the e-stop here too (a priority binding of the app), so each
dialog cancels with Ctrl+X or its Cancel button, and shows its own E-STOP button."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, TypeVar

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from driver.session import Decision, ScreeningVerdict

from .. import format as fmt
from ..screening_text import verdict_words
from ..typed import Proposal, TypedValueError, parse_amount
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


#: The characters of the keys that step a set-point on the treatment screen.
SET_POINT_KEYS = frozenset("+=-][<>")


class ReasonInput(Input):
    """The reason field of a dialog that a set-point key opened: while that key is held down
    its repeats keep arriving after the dialog is up, so set-point characters typed before any
    other key are not taken (they are a held key, not a reason); any other key ends that."""

    def __init__(self, *, placeholder: str, max_length: int, id: str) -> None:
        super().__init__(placeholder=placeholder, max_length=max_length, id=id)
        self.held = True

    async def _on_key(self, event: events.Key) -> None:
        if self.held and event.character is not None and event.character in SET_POINT_KEYS:
            event.stop()
            event.prevent_default()
            return
        self.held = False
        await super()._on_key(event)


class OverrideDialog(Dialog[str]):
    """Asks a clinician why they pass a recommended limit; returns the reason (or None)."""

    TITLE_TEXT = "Past the recommended limit"

    def __init__(
        self,
        what: str,
        decision: Decision,
        *,
        title: str | None = None,
        note: str = "",
        placeholder: str = "Reason for passing the recommended limit",
    ) -> None:
        super().__init__(classes="dialog")
        self.what = what
        self.decision = decision
        if title is not None:
            self.TITLE_TEXT = title
        self.note = note
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield from self.compose_head()
            yield Static(self.what, classes="dialog-what")
            body = self.note or "\n".join(self.decision.reasons)
            yield Static(body, classes="dialog-body", markup=False)
            yield Static(
                "The reason is recorded in the audit log with your operator ID and the time.",
                classes="dialog-note",
            )
            yield ReasonInput(
                placeholder=self.placeholder,
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
            self.show_error("Type the reason first: nothing is sent without one.")
            return
        self.dismiss(reason)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    @on(Button.Pressed, "#ok")
    def ok_pressed(self) -> None:
        self._submit()

    @on(Button.Pressed, "#cancel")
    def cancel_pressed(self) -> None:
        self.dismiss(None)


class AcknowledgeDialog(Dialog[ScreeningVerdict]):
    """A clinician acknowledges a positive screening with their ID, PIN and a reason.

    `submit(clinician, pin, reason)` runs the acknowledgement (off the UI thread); the caller
    then calls `dismiss(result)` or `show_error(sentence)`.
    """

    TITLE_TEXT = "Contraindication: clinician's acknowledgement"

    def __init__(
        self,
        result: ScreeningVerdict,
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
            yield Static(verdict_words(self.result), classes="dialog-what", markup=False)
            yield Static(
                "\n".join("• " + c.question for c in self.result.contraindications),
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

    @on(Button.Pressed, "#ok")
    def ok_pressed(self) -> None:
        self._submit()

    @on(Button.Pressed, "#cancel")
    def cancel_pressed(self) -> None:
        self.dismiss(None)


class ValueDialog(Dialog[float]):
    """Type a number (a depth in mm or a rate in Hz); returns the value to send, or None.

    What was typed is parsed by `tui.typed.parse_amount` (no character is ever dropped; a
    refusal is one sentence and sends nothing). With a `judge`, the governor's preview of the
    value comes back as a Proposal before the dialog closes: when it would send something
    else, the dialog says "This will set X" and a second Enter (or the button, now "Set X")
    returns X itself. Editing the value after that asks again.
    """

    def __init__(
        self,
        title: str,
        prompt: str,
        unit: str,
        judge: Callable[[float, Callable[[Proposal], None]], None] | None = None,
        spell: Callable[[float], str] | None = None,
    ) -> None:
        super().__init__(classes="dialog")
        self.TITLE_TEXT = title
        self.prompt = prompt
        self.unit = unit
        self.judge = judge
        self.spell = spell or (lambda v: f"{v:g} {unit}")
        self.proposed: tuple[str, Proposal] | None = None
        self.asking = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box small"):
            yield from self.compose_head()
            yield Static(self.prompt, classes="dialog-what", markup=False)
            # Starts empty: what runs now is on the treatment screen; a typed value is asked.
            yield Input(placeholder=self.unit, id="value")
            yield Static("", classes="dialog-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Ask the governor", id="ok", variant="primary")
                yield Button("Cancel", id="cancel")
            yield Static(HINT, classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#value", Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if self.proposed is not None and event.value != self.proposed[0]:
            self.proposed = None
            self.query_one("#ok", Button).label = "Ask the governor"
            self.show_error("")

    def _submit(self) -> None:
        if self.asking:
            return
        text = self.query_one("#value", Input).value
        if self.proposed is not None and self.proposed[0] == text:
            send = self.proposed[1].send
            if send is not None:
                self.dismiss(send)
            return
        try:
            value = parse_amount(text, self.unit)
        except TypedValueError as exc:
            self.show_error(str(exc))
            return
        if self.judge is None:
            self.dismiss(value)
            return
        self.asking = True
        self.show_error("Asking the governor…")
        self.judge(value, lambda p: self.judged(text, p))

    def judged(self, text: str, p: Proposal) -> None:
        """The governor's preview of what was typed (on the UI thread)."""
        self.asking = False
        if p.needs_reason:
            self.dismiss(p.typed)  # the treatment screen asks for the reason
        elif p.send is None:
            self.show_error(p.sentence)
        elif not p.confirm:
            self.dismiss(p.send)
        else:
            self.proposed = (text, p)
            self.show_error(p.sentence + " Enter sets it; change the value to ask again.")
            self.query_one("#ok", Button).label = f"Set {self.spell(p.send)}"

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    @on(Button.Pressed, "#ok")
    def ok_pressed(self) -> None:
        self._submit()

    @on(Button.Pressed, "#cancel")
    def cancel_pressed(self) -> None:
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

    @on(Button.Pressed, "#ok")
    def yes_pressed(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def no_pressed(self) -> None:
        self.dismiss(False)


def depth_prompt(
    zone: str | None,
    cap: float | None,
    hard: float | None,
    running: float | None = None,
    step_um: int | None = None,
) -> str:
    where = f"on {fmt.zone(zone)} " if zone else ""
    limit = f"cap {fmt.mm(cap, step_um)}" if cap is not None else "no cap known"
    if hard is not None and cap is not None and hard > cap:
        limit += f", up to {fmt.mm(hard, step_um)} with a recorded reason"
    now = f" Now {fmt.mm(running, step_um)}." if running is not None else ""
    return (
        f"Depth in millimetres {where}({limit}).{now} Type 0.5 or 0,5. "
        "The governor decides what is sent."
    )
