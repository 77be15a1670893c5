"""Step 3b: the contraindication checklist. Every question needs an explicit Y or N; any "yes"
blocks a home session and needs a clinician's recorded acknowledgement in a professional one.
The rule lives in driver.safety.screening and the Pen holds the verdict (`Pen.screen`,
`Pen.screening`); this screen asks and shows the verdict's fields."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Footer, Static

from driver.errors import AuthError, DriverError
from driver.session import CHECKLIST, ScreeningVerdict, Verdict

from ..screening_text import verdict_words
from ..widgets.question import Question
from .base import StepHost, StepScreen
from .dialogs import AcknowledgeDialog


class ScreeningScreen(StepScreen):
    STEP = "Screening"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+e", "end_session", "End session")]

    def __init__(self, host: StepHost) -> None:
        super().__init__(host)
        self.result: ScreeningVerdict | None = None

    def compose(self) -> ComposeResult:
        yield self.top_bar()
        with Vertical(classes="step-body", id="screening-body"):
            yield Static(
                "Ask the client each question. Y = yes, N = no (Up/Down to move). "
                "Every question needs an answer.",
                classes="step-help",
            )
            with VerticalScroll(id="questions"):
                for i, item in enumerate(CHECKLIST, 1):
                    yield Question(item, i)
            yield Static("", id="screening-verdict", markup=False)
            with Horizontal(classes="row"):
                yield Button("Record the answers", id="record", variant="primary")
                yield Button("End session", id="end", variant="default")
        yield Footer()

    def on_mount(self) -> None:
        self.query(Question).first().focus()
        kept = self.host.flow.kept_answers
        if kept:
            for q in self.questions():
                if q.item.key in kept:
                    q.answer = kept[q.item.key]
                    q.refresh()
            self._update_verdict(
                "The answers of the session that ended are kept: check them with the client, "
                "then record them for this session (Enter)."
            )
            self.query_one("#record", Button).focus()
            return
        self._update_verdict()

    def questions(self) -> list[Question]:
        return list(self.query(Question))

    def answers(self) -> dict[str, bool | None]:
        return {q.item.key: q.answer for q in self.questions()}

    def _update_verdict(self, text: str | None = None, level: str = "info") -> None:
        box = self.query_one("#screening-verdict", Static)
        if text is None:
            missing = sum(1 for q in self.questions() if q.answer is None)
            yes = sum(1 for q in self.questions() if q.answer)
            if missing:
                text = f"{missing} question(s) still to answer."
            elif yes:
                text = f"{yes} contraindication(s): record the answers to see what follows."
                level = "warn"
            else:
                text = "All answered, no contraindication. Record the answers to go on."
        box.update(text)
        box.set_classes({"error": "-error", "warn": "-warn"}.get(level, ""))

    def on_question_answered(self, event: Question.Answered) -> None:
        self._update_verdict()
        if all(q.answer is not None for q in self.questions()):
            self.query_one("#record", Button).focus()

    @on(Button.Pressed, "#record")
    def record_pressed(self) -> None:
        self.submit()

    @on(Button.Pressed, "#end")
    def action_end_session(self) -> None:
        self.host.end_session("ended at screening")

    def submit(self) -> None:
        app = self.host
        pen = app.pen
        if pen is None:
            return
        unanswered = [q for q in self.questions() if q.answer is None]
        if unanswered:
            self._update_verdict(
                f"Answer every question first: question {unanswered[0].number} has no answer.",
                "error",
            )
            unanswered[0].focus()
            return
        answers = {k: bool(v) for k, v in self.answers().items()}
        try:
            result = pen.screen(answers)
        except DriverError as exc:  # one sentence; nothing was recorded
            self._update_verdict(str(exc), "error")
            return
        self.result = result
        words = verdict_words(result)
        app.model.log("warn" if result.positives else "info", "Screening: " + words)
        if result.may_treat:
            app.advance()
        elif result.outcome is Verdict.BLOCKED:
            self._update_verdict(words + " Press Ctrl+E to end the session.", "error")
            self.query_one("#end", Button).focus()
        elif result.outcome is Verdict.NEEDS_ACKNOWLEDGEMENT:
            self._update_verdict(words, "warn")
            self.ask_acknowledgement(result)

    def ask_acknowledgement(self, result: ScreeningVerdict) -> None:
        app = self.host
        pen = app.pen
        assert pen is not None
        default = pen.operator_id if pen.role == "clinician" and pen.operator_id else ""

        def run(dialog: AcknowledgeDialog, clinician: str, pin: str, reason: str) -> None:
            def done(acked: ScreeningVerdict) -> None:
                dialog.dismiss(acked)

            def failed(exc: BaseException) -> None:
                text = str(exc)
                if isinstance(exc, AuthError):
                    dialog.clear_pin()
                dialog.show_error(text)
                app.model.log("error", text)

            app.run_command(
                "acknowledge",
                lambda: pen.acknowledge_screening(clinician, pin, reason),
                on_done=done,
                on_error=failed,
            )

        def closed(acked: ScreeningVerdict | None) -> None:
            if acked is None:
                self._update_verdict(
                    verdict_words(result) + " Not acknowledged: press Record to try again, or "
                    "Ctrl+E to end the session.",
                    "warn",
                )
                return
            app.model.log("warn", "Screening: " + verdict_words(acked))
            app.advance()

        self.app.push_screen(AcknowledgeDialog(result, run, default), closed)
