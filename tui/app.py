"""The clinicians' terminal UI: connect, log in, screen the client, treat, summarise.

The app owns the session's plumbing; the screens (tui/screens/) show one step each.

- The Pen's updates land in a `PenModel` (from the driver's reader thread) and a 20 Hz timer
  redraws the current screen from it, so telemetry never floods the UI.
- Driver calls that wait on the pen run on one worker thread (`CommandRunner`), in order.
- Escape is the e-stop on every screen, dialogs and text inputs included: a priority binding
  of the app that calls `pen.estop()` at once (it never blocks and never waits behind a
  command). Every screen also shows an E-STOP button.
- Ctrl+Q, Ctrl+C, an unhandled error and SIGHUP/SIGTERM all stop the needle before the
  program exits (the last two latch an e-stop first: nobody is watching any more).

The TUI holds no protocol or policy logic: it shows what the driver and its governor decide.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.driver import Driver
from textual.message import Message

from driver.audit import AuditStore
from driver.errors import CannotContinue, DriverError, NotAllowed
from driver.safety.policy import ZONE_NAMES, Policy, load_policy
from driver.safety.screening import ScreeningResult, Verdict, required
from driver.session import DEFAULT_TELEMETRY_HZ, Login, Pen
from driver.vocabulary import HOME_CLIENT, PROFESSIONAL_ROLES, ROLE_NAMES
from protocol import DeviceClass

from .commands import CommandRunner, Job, Outcome
from .model import PenModel
from .screens.base import StepScreen

REFRESH_HZ = 20
SAMPLE_EVERY = 2  # ticks: the plots get 10 samples a second
ROLES = ROLE_NAMES
#: After SIGHUP/SIGTERM the process ends at the latest this long after its e-stop was sent.
EXIT_AFTER_SIGNAL_S = 1.5
#: The client reference of a home session when none is given (self-treatment).


@dataclass
class Flow:
    """What the steps have answered so far (flags pre-fill it)."""

    port: str | None = None
    role: str | None = None
    operator: str | None = None
    pin: str | None = None
    client: str | None = None
    zone: str | None = None
    screening: ScreeningResult | None = None
    #: the PIN check of the operator step (before the client is asked), which the session's
    #: begin uses: one login record per login
    login: Login | None = None
    #: the session that ended by itself and this one continues (the same visit)
    continues: int | None = None
    #: one sentence for the operator screen (a wrong PIN, a lockout, ...)
    operator_error: str | None = None
    client_error: str | None = None
    #: a clear screening of the session that ended by itself, offered again to the same client
    kept_answers: dict[str, bool] | None = None


class CommandDone(Message):
    """A driver call finished on the worker thread (posted to the app)."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__()
        self.outcome = outcome


class EstopSent(Message):
    """The terminal's input thread has sent an e-stop (posted to the app for the UI)."""

    def __init__(self, key: str, seconds: float) -> None:
        super().__init__()
        self.key = key
        self.seconds = seconds


class NeedlepenApp(App[int]):
    CSS_PATH = "needlepen.tcss"
    TITLE = "needlepen"
    ENABLE_COMMAND_PALETTE = False
    #: Classes on the screen by the terminal's size (tui/needlepen.tcss): 80x24 gets a compact
    #: layout (the face map hides, the buttons give way to the footer's keys), 160 columns and
    #: more a wide one.
    HORIZONTAL_BREAKPOINTS = [  # noqa: RUF012 (Textual declares it without ClassVar)
        (0, "-narrow"),
        (100, "-normal"),
        (160, "-wide"),
    ]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]  # noqa: RUF012
    ESCAPE_TO_MINIMIZE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "estop", "E-STOP", priority=True, id="estop", key_display="Esc/F2"),
        # A second e-stop key: a function key is a complete sequence, never a prefix a
        # terminal (or tmux's escape-time) holds back, so it is as fast everywhere.
        Binding("f2", "estop", "E-STOP", priority=True, id="estop_f2", show=False),
        Binding("f1", "help", "Help", priority=True, id="help"),
        # ? as help where no text field takes it (a field gets its characters first).
        Binding("question_mark", "help", "Help", show=False, id="help_q"),
        Binding("ctrl+q", "quit", "Quit", priority=True, show=False, id="quit"),
        Binding("ctrl+c", "quit", "Quit", priority=True, show=False, id="quit_c"),
    ]

    def __init__(
        self,
        *,
        store: AuditStore,
        policy: Policy | None = None,
        port: str | None = None,
        role: str | None = None,
        operator: str | None = None,
        client: str | None = None,
        zone: str | None = None,
        clock: Callable[[], float] = time.time,
        handle_signals: bool = False,
        refresh_hz: float = REFRESH_HZ,
        driver_class: type[Driver] | None = None,
        telemetry_hz: int = DEFAULT_TELEMETRY_HZ,
        exit_guard: bool = False,
    ) -> None:
        super().__init__(driver_class=driver_class)
        self.store = store
        self.policy = policy if policy is not None else load_policy(None)
        self.flow = Flow(port=port, role=role, operator=operator, client=client, zone=zone)
        self.clock = clock
        self.model = PenModel(clock)
        self.pen: Pen | None = None
        self.runner: CommandRunner | None = None
        self.handle_signals = handle_signals
        self.refresh_hz = refresh_hz
        self.ticks = 0
        self.last_estop_s: float | None = None
        self.stopped_for: str | None = None
        self._signals: list[int] = []
        self._auto_connect = port is not None
        self.telemetry_hz = telemetry_hz
        #: after SIGHUP/SIGTERM, end the process at the latest EXIT_AFTER_SIGNAL_S later
        self.exit_guard = exit_guard
        self.exit_timer: Any = None

    # --- lifecycle -------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.runner = CommandRunner(self._deliver)
        self.set_interval(1 / self.refresh_hz, self._tick)
        if self.handle_signals:  # the real program (not a test harness)
            self._install_signal_handlers()
        self.call_after_refresh(self._after_first_screen)
        self.advance()

    def _after_first_screen(self) -> None:
        """Once the first screen is drawn: import the later steps' modules (the treatment
        screen's plots and log cost a tenth of a second), then, in the real program, keep
        what start-up built out of the collector's full scans, whose pauses hold the GIL and
        could delay the driver's heartbeat."""
        from .screens import client, operator, screening, treatment  # noqa: F401

        if self.handle_signals:
            gc.freeze()

    def _deliver(self, outcome: Outcome) -> None:
        """From the worker thread: post the outcome to the UI thread (thread-safe)."""
        self.post_message(CommandDone(outcome))

    def on_unmount(self) -> None:
        self.shutdown("the program ended")
        if self.runner is not None:
            self.runner.close(timeout=1.0)
        for signum in self._signals:
            with contextlib.suppress(Exception):
                self._loop_remove_signal(signum)

    def _install_signal_handlers(self) -> None:
        import asyncio

        loop = asyncio.get_running_loop()
        for sig, why in ((signal.SIGHUP, "the terminal closed"), (signal.SIGTERM, "SIGTERM")):
            try:
                loop.add_signal_handler(sig, self.on_signal, why)
            except (NotImplementedError, RuntimeError, ValueError):
                continue
            self._signals.append(sig)

    def _loop_remove_signal(self, signum: int) -> None:
        import asyncio

        asyncio.get_running_loop().remove_signal_handler(signum)

    def on_signal(self, why: str) -> None:
        """SIGHUP (the terminal closed) or SIGTERM: e-stop, stop, close, exit.

        Nobody is watching, so the process must end: once the e-stop is on the wire, a last
        resort ends it EXIT_AFTER_SIGNAL_S later whatever still waits (a thread, a lock, a
        terminal that is gone). The pen's own watchdog stops the needle anyway."""
        import os
        import threading

        if self.pen is not None and not self.pen.closed:
            with contextlib.suppress(Exception):
                self.pen.estop()
        if self.exit_guard:  # the real program only: never a test process
            timer = threading.Timer(EXIT_AFTER_SIGNAL_S, os._exit, args=(1,))
            timer.daemon = True
            timer.start()
            self.exit_timer = timer
        self.emergency_stop(why)
        self.exit(1)

    def _handle_exception(self, error: Exception) -> None:
        # An unhandled error ends the app: stop the needle first, whatever state the UI is in.
        with contextlib.suppress(Exception):
            self.emergency_stop(f"unhandled error: {type(error).__name__}")
        super()._handle_exception(error)

    # --- the timer ---------------------------------------------------------------------------

    def _tick(self) -> None:
        self.ticks += 1
        pen = self.pen
        if pen is not None and self.handle_signals:
            # the real program renews the UI's lease on the heartbeat: a hung UI thread lets
            # the pen's watchdog stop the needle (driver: Pen.keepalive)
            with contextlib.suppress(DriverError):
                pen.keepalive()
        if self.ticks % SAMPLE_EVERY == 0:
            self.model.sample()
        snap = self.model.snapshot()
        for screen in self.screen_stack:
            if isinstance(screen, StepScreen) and screen.is_mounted:
                with contextlib.suppress(NoMatches):  # a screen still composing or leaving
                    screen.refresh_view(snap)

    # --- running driver calls ------------------------------------------------------------------

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

    def on_command_done(self, message: CommandDone) -> None:
        out = message.outcome
        job = out.job
        if out.cancelled:
            return
        if out.error is not None and not isinstance(out.error, DriverError):
            raise out.error  # a bug: the app stops the needle and ends
        # The screen that asked may have gone meanwhile (its widgets with it).
        with contextlib.suppress(NoMatches):
            if out.error is None:
                if job.on_done is not None:
                    job.on_done(out.result)
            elif job.on_error is not None:
                job.on_error(out.error)
            else:
                self.show_error(str(out.error))

    def show_error(self, text: str) -> None:
        self.model.log("error", text)
        self.notify(text, severity="error", timeout=8)

    def commands_busy(self) -> bool:
        return self.runner is not None and self.runner.busy

    # --- the flow ----------------------------------------------------------------------------

    @property
    def effective_role(self) -> str | None:
        pen = self.pen
        if pen is not None and pen.info.device_class == DeviceClass.HOME:
            return "home"
        return self.flow.role

    def advance(self) -> None:
        """Show the next step that still needs an answer. (Each step's module is imported when
        it is first shown: the first screen need not wait for the treatment screen's.)"""
        pen = self.pen
        flow = self.flow
        if pen is None or pen.closed:
            from .screens.connect import ConnectScreen

            auto = flow.port if self._auto_connect else None
            self._auto_connect = False
            self._show(ConnectScreen(auto_connect=auto))
            return
        if pen.session_id < 0:
            role = self.effective_role
            if role is None or (
                role in PROFESSIONAL_ROLES and (not flow.operator or flow.login is None)
            ):
                from .screens.operator import OperatorScreen

                self._show(OperatorScreen())
                return
            if required(role) and not flow.client:
                if role == "home":
                    flow.client = HOME_CLIENT  # self-treatment: the client is the user
                else:
                    from .screens.client import ClientScreen

                    self._show(ClientScreen())
                    return
            self.begin_session()
            return
        if required(pen.role) and (flow.screening is None or not flow.screening.may_treat):
            from .screens.screening import ScreeningScreen

            self._show(ScreeningScreen())
            return
        from .screens.treatment import TreatmentScreen

        self._show(TreatmentScreen())
        if self.handle_signals:
            # the treatment screen's widgets live as long as the session: keep them out of the
            # collector's full scans too, whose pauses hold the GIL (and delay an e-stop key)
            self.call_after_refresh(gc.freeze)

    def _show(self, screen: StepScreen) -> None:
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

    def connect(self, url: str, on_error: Callable[[BaseException], None]) -> None:
        """Open `url`, shake hands and turn telemetry on (on the worker thread)."""
        self.flow.port = url

        def done(pen: Pen) -> None:
            self.adopt(pen)
            self.advance()

        self.run_command(
            "connect",
            lambda: Pen.connect(
                url, db=self.store, policy=self.policy, telemetry_hz=self.telemetry_hz
            ),
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
        """Authenticate and begin the audited session with what the steps gathered."""
        pen = self.pen
        assert pen is not None
        flow = self.flow
        role = self.effective_role or "home"
        professional = role in PROFESSIONAL_ROLES
        operator = flow.operator if professional else None
        login = flow.login if professional else None
        client = flow.client if required(role) else None
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
            self._show(SummaryScreen(pen))

        if self.runner is not None:
            self.runner.cancel_pending()
        self.run_command("end session", lambda: pen.close(reason), on_done=done, urgent=True)

    def restart_after_loss(self) -> None:
        """After a link loss, a reboot or a watchdog end: a new session on the same port, with
        the same role, operator (PIN asked again), client and zone. A clear screening's
        answers are kept for the operator to confirm with the client; a contraindication is
        asked again (its acknowledgement belongs to the session that ended)."""
        flow = self.flow
        screening = flow.screening
        kept = (
            dict(screening.answers)
            if screening is not None and screening.verdict is Verdict.CLEAR
            else None
        )
        old = self.pen
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

    # --- safety actions ----------------------------------------------------------------------

    def estop_from_terminal(self, key: str) -> bool:
        """Escape or F2, called by the terminal driver from its input thread (thread-safe):
        the ESTOP is written before the UI's event loop hears of the key. Returns False when
        there is no pen to stop (the key then reaches the binding, which says so)."""
        t0 = time.perf_counter()
        pen = self.pen
        if pen is None or pen.closed:
            return False
        pen.estop()
        if self.runner is not None:
            self.runner.cancel_pending()
        self.post_message(EstopSent(key, time.perf_counter() - t0))
        return True

    def on_estop_sent(self, message: EstopSent) -> None:
        self.last_estop_s = message.seconds
        self._estop_notice()

    def action_estop(self) -> None:
        """Escape / F2 / E-STOP button: written to the pen at once, from the UI thread,
        never queued."""
        t0 = time.perf_counter()
        pen = self.pen
        if pen is None or pen.closed:
            self.model.log("warn", "E-stop pressed, but no pen is connected: nothing to stop.")
            self.notify("No pen is connected: nothing to stop.", severity="warning")
            return
        pen.estop()
        self.last_estop_s = time.perf_counter() - t0
        if self.runner is not None:
            self.runner.cancel_pending()
        self._estop_notice()

    def _estop_notice(self) -> None:
        self.notify(
            "E-STOP sent to the pen. The banner says when the pen confirms it; "
            "press U on the treatment screen to release it.",
            severity="error",
            timeout=6,
        )

    def action_help(self) -> None:
        """F1 / ?: the help of the step on screen (not on top of another dialog)."""
        from .screens.help import HelpScreen, keys_of

        screen = self.screen
        if not isinstance(screen, StepScreen):
            return
        self.push_screen(HelpScreen(screen.STEP, keys_of(screen)))

    async def action_quit(self) -> None:
        """Ctrl+Q / Ctrl+C: stop the needle, close the session, then exit."""
        self.shutdown("the operator quit")
        self.exit(0)

    def shutdown(self, reason: str) -> None:
        """Stop the needle and close the session (idempotent; blocks at most a few hundred ms)."""
        if self.runner is not None:
            self.runner.cancel_pending()
        pen = self.pen
        if pen is not None and not pen.closed:
            self.stopped_for = reason
            with contextlib.suppress(Exception):
                pen.close(reason)

    def emergency_stop(self, reason: str) -> None:
        """For exits nobody chose: latch an e-stop at once, then stop and close."""
        pen = self.pen
        if pen is not None and not pen.closed:
            with contextlib.suppress(Exception):
                pen.estop()
        self.shutdown(reason)

    # --- for the screens ---------------------------------------------------------------------

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


def client_ref_problem(text: str) -> str | None:
    """One sentence when `text` cannot be a client reference, else None. The store is
    append-only and holds pseudonyms only, so anything that looks like a name (two words,
    spaces) is refused: a chart number or pseudonym is one word (P-0042, k7-smith)."""
    ref = text.strip()
    if not ref:
        return "Type the client's reference (a chart number or pseudonym such as P-0042)."
    if any(ch.isspace() for ch in ref):
        return (
            "A client reference is one word, such as P-0042, never a name: the audit log "
            "keeps what is typed forever."
        )
    if not ref.isprintable():
        return "A client reference holds letters, digits and signs only, such as P-0042."
    return None


def check_flags(args: argparse.Namespace, policy: Policy) -> None:
    """Refuse, with one sentence, launch flags that cannot work (or work together)."""
    role = getattr(args, "role", None)
    if role is not None and role not in ROLES:
        raise NotAllowed(f"Unknown role {role!r}: the roles are {', '.join(ROLES)}.")
    zone = getattr(args, "zone", None)
    if zone is not None and zone not in ZONE_NAMES:
        raise NotAllowed(f"Unknown zone {zone!r}: the zones are {', '.join(ZONE_NAMES)}.")
    client = getattr(args, "client", None)
    if client is not None and (problem := client_ref_problem(client)):
        raise NotAllowed(problem)
    telemetry = getattr(args, "telemetry", None)
    if telemetry is not None and not 5 <= telemetry <= 200:
        raise NotAllowed(f"--telemetry {telemetry}: the pen streams 5 to 200 Hz.")
    operator = getattr(args, "operator", None)
    if role is not None and role not in PROFESSIONAL_ROLES and operator:
        raise NotAllowed(f"--operator is for the professional roles; {role} has no login.")
    if role == "engineer" and client:
        raise NotAllowed("The engineer role treats the bench zone only: it has no client.")
    if role is not None and zone is not None:
        from driver.safety import Governor

        zones = Governor(policy).zones_for(role)
        if zone not in zones:
            raise NotAllowed(
                f"The {role} role cannot treat {zone}: its zones are {', '.join(zones)}."
            )
    port = getattr(args, "port", None) or ""
    if role in PROFESSIONAL_ROLES and "device_class=home" in port.replace(" ", ""):
        raise NotAllowed(f"A home pen forces the home role: --role {role} cannot work with {port}.")


def terminal_driver() -> type[Driver] | None:
    """The real program's driver: on Linux and macOS the one whose Escape is prompt
    (tui/input_driver.py); elsewhere, or when TEXTUAL_DRIVER names one, Textual's choice."""
    import os
    import sys

    if sys.platform == "win32" or os.environ.get("TEXTUAL_DRIVER"):
        return None
    from .input_driver import PromptEscapeDriver

    return PromptEscapeDriver


def run(args: argparse.Namespace) -> int:
    """`needlepen tui`: run the app; the needle is stopped and the session closed on any exit."""
    policy = load_policy(getattr(args, "policy", None))
    check_flags(args, policy)
    port = getattr(args, "port", None)
    prefilled = any(getattr(args, k, None) for k in ("role", "operator", "zone", "client"))
    if port is None and prefilled:
        port = "sim://"
    store = AuditStore(getattr(args, "db", None))
    app = NeedlepenApp(
        store=store,
        policy=policy,
        port=port,
        role=getattr(args, "role", None),
        operator=getattr(args, "operator", None),
        client=(args.client.strip() if getattr(args, "client", None) else None),
        zone=getattr(args, "zone", None),
        handle_signals=True,
        driver_class=terminal_driver(),
        telemetry_hz=getattr(args, "telemetry", None) or DEFAULT_TELEMETRY_HZ,
        exit_guard=True,
    )
    try:
        code = app.run()
    finally:
        app.shutdown("the program ended")
        store.close()
    if app.stopped_for:
        print(f"needlepen: the needle was stopped and the session closed ({app.stopped_for}).")
    return int(code or app.return_code or 0)
