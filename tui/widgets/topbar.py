"""The bar at the top of every screen: where we are, which pen, who, the E-STOP button and the
banner that tells of a fault, a lost link, a rebooted pen or an e-stop."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Button, Static

from ..model import Level

STEPS = ("Connect", "Operator", "Client", "Screening", "Treatment", "Summary")


class EstopButton(Button):
    """The visible e-stop. Escape and F2 do the same from anywhere."""

    def __init__(self, *, id: str | None = "estop") -> None:
        super().__init__("E-STOP  Esc/F2", id=id, variant="error", classes="estop")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.app.action_estop()  # type: ignore[attr-defined]


class Banner(Static):
    """One line per alarm, most serious first; hidden when all is well."""

    def __init__(self) -> None:
        super().__init__("", id="banner", markup=False)
        self._shown: list[tuple[Level, str]] = []

    def show_alarms(self, alarms: list[tuple[Level, str]]) -> None:
        if alarms == self._shown:
            return
        self._shown = list(alarms)
        self.update("\n".join(text for _, text in alarms))
        self.set_class(bool(alarms), "-on")
        self.set_class(any(level == "error" for level, _ in alarms), "-error")


class TopBar(Widget):
    """Title with the step, the context line (pen, operator, client, session) and E-STOP."""

    def __init__(self, step: str) -> None:
        super().__init__(id="topbar")
        self.step = step
        self._context_text = ""

    def compose(self) -> ComposeResult:
        with Horizontal(id="topline"):
            with Vertical(id="titles"):
                yield Static(self._steps_text(), id="steps", markup=True)
                yield Static(self._short_steps_text(), id="steps-short", markup=True)
                yield Static("", id="context", markup=False)
            yield EstopButton()
        yield Banner()

    def _steps_text(self) -> str:
        parts = []
        for i, name in enumerate(STEPS, 1):
            if name == self.step:
                parts.append(f"[reverse b] {i} {name} [/]")
            else:
                parts.append(f"[dim]{i} {name}[/]")
        return "[b]needlepen[/]  " + " › ".join(parts)

    def _short_steps_text(self) -> str:
        """For a narrow terminal: the step on screen only ("5/6 Treatment")."""
        number = STEPS.index(self.step) + 1 if self.step in STEPS else 0
        here = f"[reverse b] {number}/{len(STEPS)} {self.step} [/]" if number else ""
        return f"[b]needlepen[/]  {here}"

    def set_context(self, text: str) -> None:
        if text != self._context_text:
            self._context_text = text
            self.query_one("#context", Static).update(text, layout=False)

    def show_alarms(self, alarms: list[tuple[Level, str]]) -> None:
        self.query_one(Banner).show_alarms(alarms)
