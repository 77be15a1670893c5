"""One screening question, answered with Y or N (or a click on Yes or No)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widget import Widget

from driver.session import Contraindication


class Question(Widget, can_focus=True):
    """A focusable row: "[ ? ] Pregnant?". Y answers yes, N answers no; either moves on."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
        Binding("up", "app.focus_previous", "Previous", show=False),
        Binding("down", "app.focus_next", "Next", show=False),
    ]

    class Answered(Message):
        def __init__(self, question: Question) -> None:
            super().__init__()
            self.question = question

    def __init__(self, item: Contraindication, number: int) -> None:
        super().__init__(id=f"q-{item.key}", classes="question")
        self.item = item
        self.number = number
        self.answer: bool | None = None

    def render(self) -> Text:
        if self.answer is None:
            mark = Text(" ?? ", style="bold black on yellow")
        elif self.answer:
            mark = Text(" YES", style="bold white on red")
        else:
            mark = Text(" no ", style="bold black on green")
        text = Text()
        text.append(f"{self.number:2d}. ")
        text.append_text(mark)
        text.append("  " + self.item.question)
        text.append(f"   ({self.item.why})", style="dim")
        return text

    def action_answer(self, value: bool) -> None:
        self.answer = value
        self.refresh()
        self.post_message(self.Answered(self))
        self.app.action_focus_next()

    def on_focus(self) -> None:
        # In a small terminal the list scrolls: the question being asked is always in view.
        self.scroll_visible(animate=False)

    def on_click(self) -> None:
        self.focus()
