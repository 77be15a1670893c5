"""The clinicians' terminal UI: connect, log in, screen the client, treat, summarise.

The app owns the session's plumbing (the steps themselves: tui/steps.py, which step comes
next: tui/flow.py); the screens (tui/screens/) show one step each, through the small
`StepHost` protocol (tui/screens/base.py).

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

import contextlib
import gc
import signal
import time
from collections.abc import Callable
from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.driver import Driver
from textual.message import Message

from driver.errors import DriverError
from driver.session import DEFAULT_TELEMETRY_HZ, Pen, Workstation

from .commands import CommandRunner, Outcome
from .flow import Flow
from .model import PenModel
from .screens.base import StepScreen
from .steps import SessionSteps

REFRESH_HZ = 20
SAMPLE_EVERY = 2  # ticks: the plots get 10 samples a second
#: After SIGHUP/SIGTERM the process ends at the latest this long after its e-stop was sent.
EXIT_AFTER_SIGNAL_S = 1.5


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


class NeedlepenApp(SessionSteps):
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
        # Tab moves the focus before the keys after it are handled: as an ordinary binding it
        # bubbled up from the field after those keys had reached it, so "Tab 2468" in one
        # write (a paste, a batching SSH link) put a PIN into the operator ID field in clear.
        Binding("tab", "focus_next", show=False, priority=True, id="focus_next"),
        Binding("shift+tab", "focus_previous", show=False, priority=True, id="focus_previous"),
    ]

    def __init__(
        self,
        *,
        workstation: Workstation,
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
        self.workstation = workstation
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
        """Once the first screen is drawn: load the built-in policy (pydantic: a quarter of a
        second the first screen need not wait for) and import the later steps' modules (the
        treatment screen's plots and log cost a tenth of a second), then, in the real program,
        keep what start-up built out of the collector's full scans, whose pauses hold the GIL
        and could delay the driver's heartbeat."""
        _ = self.workstation.policy
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
