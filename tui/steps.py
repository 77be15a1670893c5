"""The session's steps as the app runs them: which screen next (tui/flow.py decides), connect,
the PIN check, begin, end, and a new session after a summary or after the pen stopped.

`SessionSteps` is the part of the app (tui/app.py) that moves between steps; the driver calls
run on the worker thread (`run_command`) and their results come back on the UI thread.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual.app import App

from driver.errors import CannotContinue
from driver.session import Login, Pen, Verdict, Workstation, screening_required
from driver.vocabulary import HOME_CLIENT, HOME_ROLE, PROFESSIONAL_ROLES
from protocol import DeviceClass

from .commands import CommandRunner, Job
from .flow import Flow, PenState, Step, effective_role, next_step
from .model import PenModel
from .screens.base import StepScreen

if TYPE_CHECKING:
    from driver.session import Policy


class SessionSteps(App[int]):
    """Moving between the steps (the rest of the app is tui/app.py's NeedlepenApp)."""

    flow: Flow
    model: PenModel
    workstation: Workstation
    pen: Pen | None
    runner: CommandRunner | None
    handle_signals: bool
    telemetry_hz: int
    _auto_connect: bool
    clock: Callable[[], float]

    @property
    def policy(self) -> Policy:
        return self.workstation.policy

    # --- running driver calls ------------------------------------------------------------

    def run_command(
        self,
        name: str,
        fn: Callable[[], Any],
        *,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        coalesce: str | None = None,
        urgent: bool = False,
    ) -> Job:
        """Run `fn` on the worker thread; its result or DriverError comes back on the UI
        thread. Any other exception is a bug: it is raised on the UI thread, which stops the
        needle and ends the program."""
        assert self.runner is not None
        return self.runner.submit(
            name, fn, on_done=on_done, on_error=on_error, coalesce=coalesce, urgent=urgent
        )

    def commands_busy(self) -> bool:
        return self.runner is not None and self.runner.busy

    def show_error(self, text: str) -> None:
        self.model.log("error", text)
        self.notify(text, severity="error", timeout=8)

    # --- the top bar's context line -------------------------------------------------------

    def context_line(self) -> str:
        pen = self.pen
        if pen is None:
            return "No pen connected. The built-in simulator is sim://."
        info = pen.info
        parts = [
            pen.url,
            f"{pen.device.device_class} pen #{info.serial} fw {info.fw_major}.{info.fw_minor}."
            f"{info.fw_patch}",
        ]
        if pen.session_id >= 0:
            who = pen.role + (f" {pen.operator_id}" if pen.operator_id else "")
            parts.append(who)
            if pen.client_ref:
                parts.append(f"client {pen.client_ref}")
            parts.append(f"session {pen.session_id}")
        if pen.closed:
            parts.append("closed")
        return " · ".join(parts)

    # --- which step --------------------------------------------------------------------------

    def pen_state(self) -> PenState | None:
        """The pen as the flow sees it (None: no pen, or it is closed)."""
        pen = self.pen
        if pen is None or pen.closed:
            return None
        home = pen.info.device_class == DeviceClass.HOME
        return PenState(
            forced_role=HOME_ROLE if home else None,
            in_session=pen.session_id >= 0,
            session_role=pen.role,
            screening=pen.screening,
        )

    @property
    def effective_role(self) -> str | None:
        return effective_role(self.flow, self.pen_state())

    def advance(self) -> None:
        """Show the next step that still needs an answer. (Each step's module is imported when
        it is first shown: the first screen need not wait for the treatment screen's.)"""
        step = next_step(self.flow, self.pen_state())
        if step is Step.CONNECT:
            from .screens.connect import ConnectScreen

            auto = self.flow.port if self._auto_connect else None
            self._auto_connect = False
            self.show_step(ConnectScreen(self, auto_connect=auto))
        elif step is Step.OPERATOR:
            from .screens.operator import OperatorScreen

            self.show_step(OperatorScreen(self))
        elif step is Step.CLIENT:
            from .screens.client import ClientScreen

            self.show_step(ClientScreen(self))
        elif step is Step.BEGIN:
            self.begin_session()
        elif step is Step.SCREENING:
            from .screens.screening import ScreeningScreen

            self.show_step(ScreeningScreen(self))
        else:
            from .screens.treatment import TreatmentScreen

            self.show_step(TreatmentScreen(self))
            if self.handle_signals:
                # the treatment screen's widgets live as long as the session: keep them out of
                # the collector's full scans too, whose pauses hold the GIL (and delay an
                # e-stop key)
                self.call_after_refresh(gc.freeze)

    def show_step(self, screen: StepScreen) -> None:
        """Make `screen` the current step (the same step again is reloaded, not remade)."""
        # Dialogs of the step being left go with it.
        while len(self.screen_stack) > 1 and not isinstance(self.screen, StepScreen):
            self.pop_screen()
        current = self.screen
        if not isinstance(current, StepScreen):
            self.push_screen(screen)  # the first step, on top of Textual's default screen
            return
        if type(current) is type(screen):
            reload = getattr(current, "reload", None)
            if reload is not None:
                reload()
            return
        self.switch_screen(screen)

    # --- the steps ---------------------------------------------------------------------------

    def connect(self, url: str, on_error: Callable[[BaseException], None]) -> None:
        """Open `url`, shake hands and turn telemetry on (on the worker thread)."""
        self.flow.port = url

        def done(pen: Pen) -> None:
            self.adopt(pen)
            self.advance()

        self.run_command(
            "connect",
            lambda: self.workstation.connect(url, telemetry_hz=self.telemetry_hz),
            on_done=done,
            on_error=on_error,
        )

    def adopt(self, pen: Pen) -> None:
        """Take a freshly connected pen: the model listens to it from now on."""
        old = self.pen
        if old is not None and not old.closed:
            old.close("another pen was connected")
        self.pen = pen
        self.model.reset()
        self.model.attach(lambda: pen.zone, lambda: pen.estop_pending)
        pen.subscribe(self.model.on_update)
        info = pen.info
        self.model.log(
            "info",
            f"Connected to {pen.url}: {pen.device.device_class} pen, serial {info.serial}, "
            f"firmware {info.fw_major}.{info.fw_minor}.{info.fw_patch}.",
        )

    def another_pen(self, reason: str) -> None:
        """Back to the pens: close this one (the operator chose another)."""
        if self.pen is not None and not self.pen.closed:
            self.pen.close(reason)
        self.pen = None
        self.advance()

    def back_to_operator(self) -> None:
        """From the client step: the operator step again, with the PIN asked again (a home
        pen has no operator step: back to the pens)."""
        self.flow.pin = None
        self.flow.login = None
        pen = self.pen
        if pen is not None and pen.info.device_class == DeviceClass.HOME:
            self.another_pen("the operator chose another pen")
            return
        from .screens.operator import OperatorScreen

        self.switch_screen(OperatorScreen(self))

    def check_operator(self) -> None:
        """The operator step's PIN check (on the worker thread), before any client is asked
        or any client history shown. A wrong PIN, a lockout or a role the operator is not
        registered for comes back to the operator step as one sentence."""
        flow = self.flow
        role = self.effective_role
        pen = self.pen
        flow.login = None
        if role not in PROFESSIONAL_ROLES or not flow.operator or not flow.pin or pen is None:
            self.advance()
            return
        operator, pin = flow.operator, flow.pin

        def done(login: Login) -> None:
            flow.login = login
            flow.pin = None  # checked: not kept longer than needed
            flow.operator_error = None
            self.advance()

        def failed(exc: BaseException) -> None:
            flow.pin = None
            flow.login = None
            flow.operator_error = str(exc)
            self.model.log("error", str(exc))
            self.advance()

        self.run_command(
            "check PIN",
            lambda: pen.login(role=role, operator=operator, pin=pin),
            on_done=done,
            on_error=failed,
        )

    def begin_session(self) -> None:
        """Begin the audited session with what the steps gathered."""
        pen = self.pen
        assert pen is not None
        flow = self.flow
        role = self.effective_role or HOME_ROLE
        if role == HOME_ROLE and not flow.client:
            flow.client = HOME_CLIENT  # self-treatment: the client is the user
        professional = role in PROFESSIONAL_ROLES
        operator = flow.operator if professional else None
        login = flow.login if professional else None
        client = flow.client if screening_required(role) else None
        continues = flow.continues

        def done(_: object) -> None:
            flow.pin = None  # not kept longer than needed
            flow.login = None
            flow.operator_error = None
            self.model.log(
                "info",
                f"Session {pen.session_id} begun: {pen.role}"
                + (f" {pen.operator_id}" if pen.operator_id else "")
                + (f", client {pen.client_ref}" if pen.client_ref else "")
                + ".",
            )
            self.advance()

        def failed(exc: BaseException) -> None:
            if isinstance(exc, CannotContinue):
                # not the same visit after all: a new session, the interval rule as usual
                flow.continues = None
                self.model.log("warn", f"{exc} This is a new session.")
                self.notify(f"{exc} This is a new session.", severity="warning", timeout=8)
                self.begin_session()  # the login is still unused
                return
            flow.pin = None
            flow.login = None
            flow.operator_error = str(exc)
            self.model.log("error", str(exc))
            self.advance()

        self.run_command(
            "login",
            lambda: pen.begin(
                role=role, operator=operator, login=login, client=client, continues=continues
            ),
            on_done=done,
            on_error=failed,
        )

    def end_session(self, reason: str = "treatment finished") -> None:
        """Stop the needle, close the session and show the summary."""
        from .screens.summary import SummaryScreen

        pen = self.pen
        if pen is None:
            self.advance()
            return

        def done(_: object) -> None:
            self.show_step(SummaryScreen(self, pen))

        if self.runner is not None:
            self.runner.cancel_pending()
        self.run_command("end session", lambda: pen.close(reason), on_done=done, urgent=True)

    def restart_after_loss(self) -> None:
        """After a link loss, a reboot or a watchdog end: a new session on the same port, with
        the same role, operator (PIN asked again), client and zone. A clear screening's
        answers are kept for the operator to confirm with the client; a contraindication is
        asked again (its acknowledgement belongs to the session that ended)."""
        flow = self.flow
        old = self.pen
        screening = old.screening if old is not None else None
        kept = (
            screening.answers
            if screening is not None and screening.outcome is Verdict.CLEAR
            else None
        )
        continues = old.session_id if old is not None and old.session_id >= 0 else None
        self.flow = Flow(
            port=flow.port,
            role=flow.role,
            operator=flow.operator,
            client=flow.client,
            zone=flow.zone,
            kept_answers=kept,
            continues=continues,
        )
        self._auto_connect = flow.port is not None
        if self.runner is not None:
            self.runner.cancel_pending()
        if old is not None and not old.closed:
            with contextlib.suppress(Exception):
                old.close("a new session after the pen stopped")
        self.pen = None
        self.model.reset()
        self.model.log("info", "A new session with the same client: connecting again.")
        self.advance()

    def new_session(self) -> None:
        """After a summary: the same port and operator, a new login, client and screening."""
        flow = self.flow
        self.flow = Flow(port=flow.port, role=flow.role, operator=flow.operator)
        self._auto_connect = flow.port is not None
        if self.pen is not None and not self.pen.closed:
            self.pen.close("new session")
        self.pen = None
        self.model.reset()
        self.advance()
