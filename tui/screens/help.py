"""F1 or ?: what the current step does and every key that works on it."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Static

from .dialogs import Dialog

#: What each step is for, in a sentence or two.
ABOUT: dict[str, str] = {
    "Connect": "Choose the pen: the built-in simulator, a serial port of this machine or a "
    "typed URL. Enter connects; a missing, busy or silent port is one sentence.",
    "Operator": "Choose the role and, for professional roles, your operator ID and PIN. The "
    "PIN is checked here, before any client is asked.",
    "Client": "The client's reference: a chart number or pseudonym, one word, never a name. "
    "The last session per zone is shown once it is typed.",
    "Screening": "Ten contraindications, each answered Y or N. Any yes blocks a home session; "
    "in a professional session a clinician acknowledges it with ID, PIN and a reason.",
    "Treatment": "Choose a zone, set depth and rate (the governor decides what is sent), start "
    "and stop the needle with Space. The banner at the top says what is wrong.",
    "Summary": "What was delivered per zone, how the session ended, aftercare, and an export "
    "of the session's audit log.",
}

ALWAYS: tuple[tuple[str, str], ...] = (
    ("Esc / F2", "E-STOP: stops the needle at once, on every screen and dialog"),
    ("F1 / ?", "this help"),
    ("Ctrl+Q", "stop the needle, close the session, quit"),
    ("Tab", "next field or button"),
)


def keys_of(screen: Screen[Any]) -> list[tuple[str, str]]:
    """(key, what it does) for the step's own bindings that have a description."""
    out: list[tuple[str, str]] = []
    for binding in screen.BINDINGS:
        if not isinstance(binding, Binding) or not binding.description:
            continue
        key = binding.key_display or binding.key.split(",")[0]
        out.append((key.replace("_", " "), binding.description))
    return out


class HelpScreen(Dialog[None]):
    """The help for one step; Enter, Ctrl+X or F1 closes it (Esc stays the e-stop)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+x,enter,f1,question_mark", "cancel", "Close", priority=True)
    ]
    TITLE_TEXT = "Help"

    def __init__(self, step: str, keys: list[tuple[str, str]]) -> None:
        super().__init__(classes="dialog")
        self.step = step
        self.keys = keys

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog-box"):
            yield from self.compose_head()
            yield Static(
                Text(f"{self.step}: ", style="bold") + Text(ABOUT.get(self.step, "")),
                classes="dialog-what",
            )
            table = Table.grid(padding=(0, 2))
            table.add_column(style="bold", no_wrap=True)
            table.add_column()
            for key, what in (*ALWAYS, *self.keys):
                table.add_row(key, what)
            yield Static(table, classes="dialog-body")
            yield Button("Close", id="cancel")
            yield Static("Enter or F1: close · Esc/F2: E-STOP", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    @on(Button.Pressed, "#cancel")
    def close_pressed(self) -> None:
        self.dismiss(None)
