"""The terminal driver that resolves a lone Escape on time (tui/input_driver.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from textual import events
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

from tui.input_driver import (
    DEFAULT_ESCAPE_DELAY_S,
    IDLE_WAIT_S,
    PromptEscapeDriver,
    escape_delay,
    next_wait,
    shorten,
)

times = st.floats(min_value=0, max_value=1e6, allow_nan=False)


@given(times, times)
def test_the_wait_never_passes_the_pending_deadline_nor_the_idle_wait(deadline, now):
    wait = next_wait(deadline, now)
    assert 0.0 <= wait <= IDLE_WAIT_S
    assert now + wait <= max(deadline, now) + 1e-9


def test_without_a_pending_escape_the_thread_waits_as_long_as_textual_does():
    assert next_wait(None, 5.0) == IDLE_WAIT_S


@given(times, times, st.floats(min_value=0.001, max_value=1.0))
def test_a_deadline_is_only_ever_brought_forward(deadline, fed_at, delay):
    new = shorten(deadline, fed_at, delay)
    assert new is not None and new <= deadline and new <= fed_at + delay
    assert shorten(None, fed_at, delay) is None


def test_escdelay_from_the_environment_wins_over_the_default():
    assert escape_delay({}) == DEFAULT_ESCAPE_DELAY_S
    from textual import constants

    assert escape_delay({"ESCDELAY": "300"}) == constants.ESCAPE_DELAY


def test_textuals_parser_still_has_the_deadline_the_driver_shortens():
    """The one private name the driver relies on: after a lone ESC, a float deadline."""
    parser = XTermParser()
    assert list(parser.feed("\x1b")) == []
    assert isinstance(getattr(parser, "_timeout_time", None), float)
    assert list(parser.feed("[A"))  # the sequence completes: up arrow, and no deadline left
    assert parser._timeout_time is None


class _App:
    def __init__(self, handles: bool) -> None:
        self.handles = handles
        self.keys: list[str] = []

    def estop_from_terminal(self, key: str) -> bool:
        self.keys.append(key)
        return self.handles


def _route(app: _App, key: str, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Give the driver one key event; return what it passed on to Textual's own handling."""
    forwarded: list[object] = []
    monkeypatch.setattr(LinuxDriver, "process_message", lambda self, m: forwarded.append(m))
    driver = object.__new__(PromptEscapeDriver)  # only the app matters to process_message
    driver._app = app  # type: ignore[assignment]
    driver.process_message(events.Key(key, None))
    return forwarded


def test_escape_and_f2_go_to_the_apps_estop_from_the_input_thread(monkeypatch):
    app = _App(handles=True)
    assert _route(app, "escape", monkeypatch) == [] and _route(app, "f2", monkeypatch) == []
    assert app.keys == ["escape", "f2"]


def test_other_keys_and_an_app_with_nothing_to_stop_reach_textual_as_usual(monkeypatch):
    app = _App(handles=False)
    assert (
        len(_route(app, "escape", monkeypatch)) == 1
    )  # no pen: the binding says there is nothing to stop
    busy = _App(handles=True)
    assert len(_route(busy, "a", monkeypatch)) == 1 and len(_route(busy, "alt+d", monkeypatch)) == 1
    assert busy.keys == []
