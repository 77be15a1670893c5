"""Fixtures and helpers for the TUI's pilot tests against the in-process simulator (sim://)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest

from driver.audit import AuditStore
from driver.session import Workstation
from tui.app import NeedlepenApp

SIZE = (120, 40)
#: A fixed wall clock for the screens (event-log times, "days ago"), so runs look alike.
FIXED_NOW = 1_750_000_000.0


async def _short_idle(min_sleep: float = 0.0, max_sleep: float = 1.0) -> None:
    await asyncio.sleep(0.002)


@pytest.fixture(autouse=True)
def quick_pilot(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pilot waits for the *process* to go idle after each key (up to 1 s); with the simulator
    and the driver's threads ticking it never does. Wait 2 ms instead: the tests wait for
    the behaviour they check with `until`."""
    import textual.app
    import textual.pilot

    monkeypatch.setattr(textual.app, "wait_for_idle", _short_idle)
    monkeypatch.setattr(textual.pilot, "wait_for_idle", _short_idle)


@pytest.fixture(autouse=True)
def private_data_dir(tmp_path_factory, monkeypatch: pytest.MonkeyPatch) -> None:
    """needlepen's user data directory (exports) in a temporary folder, never the real one."""
    monkeypatch.setenv("NEEDLEPEN_DATA_DIR", str(tmp_path_factory.mktemp("needlepen-data")))


_apps_made = [0]


@pytest.fixture(autouse=True)
def collect_garbage() -> Iterator[None]:
    """Collect the previous test's app before the next one starts: a full collection of a dead
    app's widgets holds the GIL for 100 ms and more, and on a loaded machine that starves the
    driver's heartbeat thread long enough for the pen's watchdog to end the session. What is
    still alive is then frozen, so collections during a test stay short."""
    import gc

    if _apps_made[0]:
        _apps_made[0] = 0
        gc.collect()
        gc.freeze()
    yield


@pytest.fixture
def store(tmp_path) -> Iterator[AuditStore]:
    # In memory, with a cheap scrypt cost: these tests are about the UI, not about disks or
    # PIN hashing. (On a loaded disk a slow fsync in the driver's reader thread can hold back
    # the heartbeat long enough for the pen's watchdog to end the session.)
    s = AuditStore(":memory:", scrypt_n=16)
    s.add_operator("c1", "Dr Clin", "clinician", "1234")
    s.add_operator("a1", "Ann Aesth", "aesthetician", "5678", by=("c1", "1234"))
    s.add_operator("e1", "Eve Eng", "engineer", "9999", by=("c1", "1234"))
    yield s
    s.close()


def make_app(store: AuditStore, **kwargs: object) -> NeedlepenApp:
    _apps_made[0] += 1
    policy = kwargs.pop("policy", None)
    workstation = Workstation(store, policy)  # type: ignore[arg-type]
    return NeedlepenApp(workstation=workstation, **kwargs)  # type: ignore[arg-type]


async def until(pilot, predicate: Callable[[], object], what: str, timeout: float = 5.0) -> None:
    """Let the app run until `predicate()` is true; fail naming `what` after `timeout` s.

    A bound on waiting for a behaviour, not a performance assertion: generous on purpose.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await pilot.pause(0.02)
    app = pilot.app
    recent = "\n".join(e.text for e in app.model.log_since(0)[-8:])
    raise AssertionError(
        f"timed out after {timeout} s waiting for {what}; screen {screen_name(app)}, "
        f"focus {app.focused!r}, pen alive {app.pen is not None and app.pen.alive}; "
        f"recent log:\n{recent}"
    )


async def on_screen(pilot, name: str, timeout: float = 5.0) -> None:
    """Wait until `name` is the current screen and it has finished mounting."""
    app = pilot.app
    await until(
        pilot,
        lambda: screen_name(app) == name and app.screen.is_mounted,
        f"the {name}",
        timeout,
    )
    await pilot.pause()


async def settle(pilot) -> None:
    """Wait until no driver call is queued or running, and its result was handled."""
    app = pilot.app
    await until(pilot, lambda: not app.commands_busy(), "the command queue to drain")
    await pilot.pause(0.05)


def screen_name(app: NeedlepenApp) -> str:
    return type(app.screen).__name__


def focused_id(app: NeedlepenApp) -> str | None:
    return app.focused.id if app.focused is not None else None


def fw(app: NeedlepenApp):
    """The simulated pen's firmware behind the app's current Pen."""
    assert app.pen is not None
    return app.pen.port.pen.firmware


def live(app: NeedlepenApp):
    assert app.pen is not None
    return app.pen.port.pen


async def answer_screening(pilot, answers: str = "n" * 10, *, keys: bool = True) -> None:
    """Answer the checklist: by key presses (Y/N, then Enter), or, with keys=False, by setting
    the answers on the widgets and pressing the Record button in code (faster, same rule)."""
    await on_screen(pilot, "ScreeningScreen")
    await until(pilot, lambda: focused_id(pilot.app) is not None, "a focused question")
    if keys:
        for key in answers:
            await pilot.press(key)
        await pilot.press("enter")
        return
    screen = pilot.app.screen
    for question, key in zip(screen.questions(), answers, strict=True):
        question.answer = key == "y"
    screen.submit()
    await pilot.pause()


async def home_treatment(pilot, zone_wanted: str = "forehead", *, keys: bool = True) -> None:
    """From a home app with --zone: through the screening to a treatment with its zone."""
    await answer_screening(pilot, keys=keys)
    await on_screen(pilot, "TreatmentScreen")
    await until(
        pilot,
        lambda: (
            getattr(pilot.app.screen, "zone", None) == zone_wanted
            and pilot.app.pen is not None
            and pilot.app.pen.rate_decision is not None
        ),
        "the zone and default rate",
    )
    await settle(pilot)


async def clinician_treatment(pilot, pin: str = "1234", *, keys: bool = False) -> None:
    """From an app pre-filled with clinician c1, client and zone: PIN, screening, treatment."""
    await on_screen(pilot, "OperatorScreen")
    await until(pilot, lambda: focused_id(pilot.app) == "pin", "the PIN field to have focus")
    for ch in pin:
        await pilot.press(ch)
    await pilot.press("enter")
    await answer_screening(pilot, keys=keys)
    await on_screen(pilot, "TreatmentScreen")
    await settle(pilot)


def log_text(app: NeedlepenApp) -> str:
    return "\n".join(e.text for e in app.model.log_since(0))


def banner_text(app: NeedlepenApp) -> str:
    from tui.widgets.topbar import Banner

    banners = app.screen.query(Banner)
    if not banners:
        return ""
    return "\n".join(text for _, text in banners.first()._shown)


def text_of(app: NeedlepenApp, selector: str) -> str:
    """The plain text a Static on the current screen shows."""
    import io

    from rich.console import Console
    from rich.text import Text

    content = app.screen.query_one(selector).content  # type: ignore[attr-defined]
    if isinstance(content, str):
        return Text.from_markup(content).plain
    console = Console(width=200, file=io.StringIO(), record=True, color_system=None)
    console.print(content)
    return console.export_text()


@pytest.fixture
def anyio_backend() -> str:
    """The async tests (`@pytest.mark.anyio`) run on asyncio, as Textual does."""
    return "asyncio"
