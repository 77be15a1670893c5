"""A Linux terminal driver whose Escape key arrives in tens of milliseconds, not a tenth of a
second: Escape is the e-stop.

Why: a terminal sends a lone Escape as the byte ESC, and also starts Alt+key (ESC x) and every
function-key or cursor sequence (ESC [ A, ESC O Q, ...) with it. Textual's parser therefore
holds an ESC until ESCAPE_DELAY (100 ms by default) passes with no next byte. Its Linux input
thread checks that deadline only when its select() wakes, with a fixed 0.1 s timeout, so a lone
Escape took 104-120 ms from the key to the app in a real pty, whatever ESCDELAY said.

What this driver changes, and nothing else:

1. The input thread's select() sleeps only until the parser's pending deadline while an ESC is
   waiting for its next byte (0.1 s otherwise, as before), so the deadline is met on time.
2. The pending deadline is at most `escape_delay` after the ESC arrived: 25 ms unless the
   environment sets ESCDELAY (milliseconds, as for curses programs), which then wins. A
   terminal writes Alt+key and every escape sequence in one write, so they reach one read()
   and parse exactly as before; only a sequence whose bytes arrive more than 25 ms apart (a
   very slow remote link) would be split, and its ESC then reads as Escape: an e-stop, the
   safe side. Set ESCDELAY higher for such links and use F2, the e-stop key that is not a
   sequence prefix.

3. The e-stop keys (Escape and F2) are acted on in the input thread itself: once the parser
   has resolved the key, the driver calls the app's `estop_from_terminal()`, which writes the
   ESTOP at once and then tells the UI. The e-stop so never waits behind a redraw or anything
   else on the UI's event loop (under load that wait was 20-60 ms, and a stalled loop would
   hold it indefinitely). An app without that method, or with no pen to stop, gets the key as
   usual and its binding answers.

4. When the terminal is gone (its pty closed under the program, so reading it gives end of file
   or EIO) and no SIGHUP came (a terminal that was not the process's controlling one), the
   driver raises SIGHUP itself: the app's hang-up path e-stops the pen, closes the session and
   ends the process, as for a terminal that closed normally. Textual's loop would otherwise
   spin on the dead terminal, keeping the pen's heartbeat alive with nobody at the screen.

1 and 2 rely on one private attribute of Textual's parser, `_timeout_time` (the monotonic time at
which a pending ESC is resolved). If a Textual release renames it, this driver behaves exactly
like Textual's own (slow Escape, nothing broken) and tests/tui/test_terminal.py, which times
Escape through the real program in a pty, fails and says so.
"""

from __future__ import annotations

import os
import selectors
import signal
from codecs import getincrementaldecoder
from typing import Any

from textual import constants, events
from textual._parser import ParseError
from textual._time import get_time
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

#: The longest wait for the byte after an ESC before it is the Escape key (seconds).
DEFAULT_ESCAPE_DELAY_S = 0.025
#: Keys that are the e-stop (as Textual names them); see tui/app.py's bindings.
ESTOP_KEYS = frozenset({"escape", "f2"})
#: How long the input thread sleeps when nothing is pending (Textual's own figure).
IDLE_WAIT_S = 0.1


def escape_delay(environ: dict[str, str] | os._Environ[str] = os.environ) -> float:
    """The ESC resolution delay in seconds: ESCDELAY (ms) when set, else 25 ms."""
    if "ESCDELAY" in environ:
        return float(constants.ESCAPE_DELAY)
    return DEFAULT_ESCAPE_DELAY_S


def next_wait(deadline: float | None, now: float, idle: float = IDLE_WAIT_S) -> float:
    """How long select() may sleep: until the pending ESC's deadline, or `idle` without one."""
    if deadline is None:
        return idle
    return min(idle, max(0.0, deadline - now))


def shorten(deadline: float | None, fed_at: float, delay: float) -> float | None:
    """The parser's pending deadline, brought forward to `delay` after the last byte."""
    if deadline is None:
        return None
    return min(deadline, fed_at + delay)


class PromptEscapeDriver(LinuxDriver):
    """Textual's LinuxDriver with an input loop that resolves a lone ESC on time."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.escape_delay = escape_delay()

    def process_message(self, message: Any) -> None:
        """From the input thread: an e-stop key goes to the app's e-stop at once."""
        if isinstance(message, events.Key) and message.key in ESTOP_KEYS:
            estop = getattr(self._app, "estop_from_terminal", None)
            if estop is not None and estop(message.key):
                return
        super().process_message(message)

    def terminal_gone(self) -> None:
        """The terminal closed without a SIGHUP reaching us: take the hang-up path (the app's
        SIGHUP handler e-stops, closes and exits)."""
        os.kill(os.getpid(), signal.SIGHUP)

    def run_input_thread(self) -> None:
        """Textual's loop (read, feed the parser, tick its timeout), with the wait computed
        from the parser's pending deadline instead of a fixed 0.1 s."""
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        fileno = self.fileno
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")().decode
        delay = self.escape_delay

        def pending() -> float | None:
            value = getattr(parser, "_timeout_time", None)
            return value if isinstance(value, float) else None

        def process(ready: list[tuple[selectors.SelectorKey, int]], final: bool = False) -> bool:
            """Read and dispatch what is ready; False once the terminal is gone."""
            for index, (_key, mask) in enumerate(ready):
                if mask & selectors.EVENT_READ:
                    last = index == len(ready) - 1
                    try:
                        raw = os.read(fileno, 1024 * 4)
                    except OSError:  # EIO: the pty's other side is closed
                        return False
                    if not raw:
                        return False  # end of file: the terminal (or stdin's pipe) is gone
                    data = decode(raw, final=final and last)
                    for event in parser.feed(data):
                        self.process_message(event)
                    deadline = shorten(pending(), get_time(), delay)
                    if deadline is not None and hasattr(parser, "_timeout_time"):
                        parser._timeout_time = deadline
            for event in parser.tick():
                self.process_message(event)
            return True

        try:
            while not self.exit_event.is_set():
                if not process(selector.select(next_wait(pending(), get_time()))):
                    self.terminal_gone()
                    return
            selector.unregister(self.fileno)
            process(selector.select(IDLE_WAIT_S), final=True)
        finally:
            selector.close()
            try:
                for _event in parser.feed(""):
                    pass
            except (EOFError, ParseError):
                pass
