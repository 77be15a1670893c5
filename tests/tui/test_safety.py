"""The TUI's safety controls, against the in-process simulator: Escape is the e-stop on every
screen (dialogs and text inputs included) and never waits behind a command; banners for a
fault, a lost link, a rebooted pen and an e-stop; Ctrl+Q, Ctrl+C, an unhandled error and
SIGHUP all stop the needle before the program exits."""

from __future__ import annotations

import os
import signal
import threading

import pytest

import protocol
from protocol import CartridgeState, State
from tests.tui.conftest import (
    SIZE,
    banner_text,
    clinician_treatment,
    focused_id,
    fw,
    home_treatment,
    live,
    log_text,
    make_app,
    on_screen,
    screen_name,
    settle,
    text_of,
    until,
)


def kinds(store, app) -> list[str]:
    return [r.kind for r in store.records(app.pen.session_id)]


async def start_needle(pilot) -> None:
    """From the treatment screen with a zone: the shallowest depth, then Space."""
    app = pilot.app
    await pilot.press("plus")
    await settle(pilot)
    await pilot.press("space")
    await until(pilot, lambda: fw(app).needle_running, "the needle running")


def applied_types(app) -> list[type]:
    return [type(a.message) for a in fw(app).applied if a.message is not None]


@pytest.mark.anyio
async def test_escape_in_a_dialog_with_a_text_input_estops_and_the_dialog_stays(store):
    app = make_app(store, port="sim://?seed=21", role="home", zone="forehead")
    async with app.run_test(size=SIZE) as pilot:
        await home_treatment(pilot, keys=False)
        await start_needle(pilot)
        await pilot.press("d")
        await on_screen(pilot, "ValueDialog")
        assert focused_id(app) == "value"  # a text input has the focus
        await pilot.press("escape")
        assert not fw(app).needle_running  # e-stop is written before the key returns
        assert fw(app).state is State.ESTOP
        assert screen_name(app) == "ValueDialog"  # Escape is not "cancel"
        assert "estop" in kinds(store, app)
        await until(pilot, lambda: "E-STOP" in banner_text_below(app), "the e-stop banner")


def banner_text_below(app) -> str:
    """The banner of the step screen under any dialog."""
    from tui.screens.base import StepScreen
    from tui.widgets.topbar import Banner

    for screen in reversed(app.screen_stack):
        if isinstance(screen, StepScreen):
            return "\n".join(t for _, t in screen.query_one(Banner)._shown)
    return ""


@pytest.mark.anyio
async def test_escape_in_the_pin_field_estops_and_keeps_what_was_typed(store):
    app = make_app(store, port="sim://?seed=22", role="clinician", operator="c1")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: focused_id(app) == "pin", "the PIN field")
        await pilot.press("1", "2")
        await pilot.press("escape")
        assert fw(app).state is State.ESTOP
        assert screen_name(app) == "OperatorScreen"
        assert app.screen.query_one("#pin").value == "12"  # the field is untouched


@pytest.mark.anyio
async def test_escape_in_the_client_reference_field_estops(store):
    app = make_app(store, port="sim://?seed=23", role="clinician", operator="c1")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: focused_id(app) == "pin", "the PIN field")
        await pilot.press(*"1234", "enter")
        await until(pilot, lambda: focused_id(app) == "client", "the client field")
        await pilot.press("escape")
        assert fw(app).state is State.ESTOP
        await until(pilot, lambda: "E-STOP" in banner_text(app), "the e-stop banner")


@pytest.mark.anyio
async def test_estop_never_waits_behind_a_command_in_progress(store):
    """A driver call holds the Pen's command lock (as a set_depth waiting for its answer does);
    Escape still reaches the pen at once."""

    app = make_app(store, port="sim://?seed=24", role="home", zone="forehead")
    async with app.run_test(size=SIZE) as pilot:
        await home_treatment(pilot, keys=False)
        await start_needle(pilot)
        release = threading.Event()
        holding = threading.Event()

        def slow_command() -> None:
            with app.pen._cmd_lock:
                holding.set()
                release.wait(5)

        app.run_command("slow", slow_command)
        await pilot.press("plus")  # queued behind the slow one
        await until(pilot, holding.is_set, "the slow command to hold the lock")
        try:
            await pilot.press("escape")
            assert not fw(app).needle_running
            assert fw(app).state is State.ESTOP
            assert app.runner.running == "slow"  # still in progress
        finally:
            release.set()
        await settle(pilot)
        # the queued depth change was cancelled by the e-stop: nothing after it
        assert applied_types(app)[-1] is protocol.Estop


@pytest.mark.anyio
async def test_estop_with_no_pen_connected_says_so(store):
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("escape")
        assert "no pen is connected" in log_text(app)
        assert screen_name(app) == "ConnectScreen"


@pytest.mark.anyio
async def test_estop_release_then_start_again(store):
    app = make_app(store, port="sim://?seed=25", role="home", zone="forehead")
    async with app.run_test(size=SIZE) as pilot:
        await home_treatment(pilot, keys=False)
        await start_needle(pilot)
        await pilot.press("escape")
        await until(pilot, lambda: app.pen.status.state is State.ESTOP, "ESTOP telemetry")
        await pilot.press("space")  # refused: the e-stop is latched
        await settle(pilot)
        assert not fw(app).needle_running
        assert "e-stop is latched" in log_text(app)
        await pilot.press("u")
        await settle(pilot)
        await until(pilot, lambda: "E-STOP" not in banner_text(app), "the banner to clear")
        assert fw(app).state is State.IDLE
        await pilot.press("space")
        await until(pilot, lambda: fw(app).needle_running, "running again")


@pytest.mark.anyio
async def test_fault_banner_then_reset(store):
    app = make_app(store, port="sim://?seed=26", role="home", zone="forehead")
    async with app.run_test(size=SIZE) as pilot:
        await home_treatment(pilot, keys=False)
        await start_needle(pilot)
        live(app).command("overheat")
        await until(pilot, lambda: "FAULT: overheating" in banner_text(app), "fault banner")
        assert not fw(app).needle_running
        assert "Fault raised by the pen: overheating" in log_text(app)
        live(app).command("cool")
        await pilot.press("f")
        await settle(pilot)
        await until(pilot, lambda: "FAULT" not in banner_text(app), "the banner to clear")
        assert fw(app).state is State.IDLE


@pytest.mark.anyio
async def test_lost_link_banner_and_commands_refused_in_one_sentence(store):
    app = make_app(store, port="sim://?seed=27", role="home", zone="forehead")
    async with app.run_test(size=SIZE) as pilot:
        await home_treatment(pilot, keys=False)
        await start_needle(pilot)
        live(app).command("cut 3s")
        await until(pilot, lambda: "LINK LOST" in banner_text(app), "link-lost banner")
        await until(pilot, lambda: not fw(app).needle_running, "the pen's own watchdog")
        await pilot.press("plus")
        await settle(pilot)
        assert "The link to the pen is lost" in log_text(app).splitlines()[-1]
        # the readings panel shows no last-known values as if live (a new user saw RUNNING,
        # 100 Hz and 250 mA ten seconds after the link was lost and the pen had stopped)
        from textual.widgets import Static

        readings = str(app.screen.query_one("#readings", Static).render())
        assert "UNKNOWN" in readings and "the link is lost" in readings, readings
        assert "RUNNING" not in readings and "mA" not in readings, readings


@pytest.mark.anyio
async def test_rebooted_pen_banner(store):
    app = make_app(store, port="sim://?seed=28", role="home", zone="forehead")
    async with app.run_test(size=SIZE) as pilot:
        await home_treatment(pilot, keys=False)
        live(app).command("reboot")
        await until(pilot, lambda: "PEN REBOOTED" in banner_text(app), "reboot banner")


@pytest.mark.parametrize("key", ["ctrl+q", "ctrl+c"])
@pytest.mark.anyio
async def test_quitting_stops_the_needle_first(store, key):
    async def go() -> object:
        app = make_app(store, port="sim://?seed=29", role="home", zone="forehead")
        async with app.run_test(size=SIZE) as pilot:
            await home_treatment(pilot, keys=False)
            await start_needle(pilot)
            firmware = fw(app)
            await pilot.press(key)
            await until(pilot, lambda: not app.is_running, "the app to exit", timeout=3)
        return app, firmware

    app, firmware = await go()
    assert not firmware.needle_running
    stops = [a for a in firmware.applied if isinstance(a.message, protocol.Stop)]
    assert stops and stops[-1].accepted
    ends = [r for r in store.records(app.pen.session_id) if r.kind == "session_end"]
    assert [r.data["reason"] for r in ends] == ["the operator quit"]


@pytest.mark.anyio
async def test_an_unhandled_error_stops_the_needle(store):
    box: dict[str, object] = {}

    async def go() -> None:
        app = make_app(store, port="sim://?seed=30", role="home", zone="forehead")
        box["app"] = app
        async with app.run_test(size=SIZE) as pilot:
            await home_treatment(pilot, keys=False)
            await start_needle(pilot)
            box["fw"] = fw(app)

            def boom() -> None:
                raise RuntimeError("a bug in a screen")

            app.call_later(boom)
            await until(pilot, lambda: not app.is_running, "the app to exit", timeout=3)

    with pytest.raises(RuntimeError, match="a bug in a screen"):
        await go()
    firmware = box["fw"]
    assert not firmware.needle_running  # type: ignore[attr-defined]
    assert firmware.state is State.ESTOP  # type: ignore[attr-defined]
    app = box["app"]
    assert app.pen.closed  # type: ignore[attr-defined]
    ends = [r for r in store.records(app.pen.session_id) if r.kind == "session_end"]  # type: ignore[attr-defined]
    assert [r.data["reason"] for r in ends] == ["unhandled error: RuntimeError"]


@pytest.mark.anyio
async def test_an_error_in_a_driver_call_that_is_not_a_driver_error_stops_the_needle(store):
    box: dict[str, object] = {}

    async def go() -> None:
        app = make_app(store, port="sim://?seed=31", role="home", zone="forehead")
        async with app.run_test(size=SIZE) as pilot:
            await home_treatment(pilot, keys=False)
            await start_needle(pilot)
            box["fw"] = fw(app)

            def broken() -> None:
                raise ValueError("a bug behind a command")

            app.run_command("broken", broken)
            await until(pilot, lambda: not app.is_running, "the app to exit", timeout=3)

    with pytest.raises(ValueError, match="a bug behind a command"):
        await go()
    assert not box["fw"].needle_running  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_sighup_stops_the_needle_and_exits(store):
    """A real SIGHUP to this process, handled by the app's signal handler."""
    box: dict[str, object] = {}

    async def go() -> None:
        app = make_app(
            store, port="sim://?seed=32", role="home", zone="forehead", handle_signals=True
        )
        async with app.run_test(size=SIZE) as pilot:
            await home_treatment(pilot, keys=False)
            await start_needle(pilot)
            box["fw"] = fw(app)
            box["app"] = app
            os.kill(os.getpid(), signal.SIGHUP)
            await until(pilot, lambda: not app.is_running, "the app to exit", timeout=3)

    previous = signal.getsignal(signal.SIGHUP)
    try:
        await go()
    finally:
        signal.signal(signal.SIGHUP, previous)
    firmware = box["fw"]
    assert not firmware.needle_running  # type: ignore[attr-defined]
    assert firmware.state is State.ESTOP  # type: ignore[attr-defined]
    app = box["app"]
    ends = [r for r in store.records(app.pen.session_id) if r.kind == "session_end"]  # type: ignore[attr-defined]
    assert [r.data["reason"] for r in ends] == ["the terminal closed"]


@pytest.mark.anyio
async def test_an_estop_the_pen_has_not_confirmed_is_shown_as_not_confirmed(store):
    app = make_app(store, port="sim://?seed=29", role="home", zone="forehead")
    async with app.run_test(size=SIZE) as pilot:
        await home_treatment(pilot, keys=False)
        live(app).command("cut 2s")  # nothing reaches the pen, nothing comes back
        await pilot.pause(0.05)
        await pilot.press("escape")
        await until(
            pilot,
            lambda: "E-STOP NOT CONFIRMED by the pen" in banner_text(app),
            "the unconfirmed e-stop banner",
        )
        assert app.pen.estop_pending


@pytest.mark.anyio
async def test_c_fits_a_fresh_cartridge_on_a_simulated_pen(store):
    app = make_app(store, port="sim://?seed=30", role="home", zone="forehead")
    async with app.run_test(size=SIZE) as pilot:
        await home_treatment(pilot, keys=False)
        before = fw(app).cartridge_id
        await pilot.press("c")
        await settle(pilot)
        await until(
            pilot,
            lambda: app.pen.status is not None and app.pen.status.cartridge_id != before,
            "a new cartridge id in the telemetry",
        )
        assert app.pen.status.cartridge_state is CartridgeState.FRESH
        assert "fresh cartridge was fitted" in log_text(app)


def test_a_real_pens_cartridge_is_changed_by_hand():
    from types import SimpleNamespace

    from driver.errors import NotAllowed
    from tui.cartridge import BY_HAND, fit_fresh_cartridge, simulated

    real = SimpleNamespace(port=SimpleNamespace(write=None), status=None)
    assert simulated(real) is None  # type: ignore[arg-type]
    with pytest.raises(NotAllowed, match="by hand"):
        fit_fresh_cartridge(real)  # type: ignore[arg-type]
    assert BY_HAND.endswith(".")


@pytest.mark.anyio
async def test_after_a_lost_link_the_screen_says_so_and_n_starts_again_with_the_same_client(store):
    app = make_app(store, port="sim://?seed=31", role="home", zone="forehead")
    async with app.run_test(size=SIZE) as pilot:
        await home_treatment(pilot, keys=False)
        await start_needle(pilot)
        first, client = app.pen.session_id, app.pen.client_ref
        live(app).command("cut 3s")
        await until(
            pilot,
            lambda: "Press N for a new session" in text_of(app, "#session-over"),
            "the sentence saying the session ended",
        )
        assert "link" in text_of(app, "#session-over").lower()
        await pilot.press("n")
        await on_screen(pilot, "ScreeningScreen")
        assert app.pen.session_id > first and app.pen.client_ref == client
        assert all(q.answer is False for q in app.screen.questions())  # kept, clear
        await pilot.press("enter")  # the operator confirms them for this session
        await on_screen(pilot, "TreatmentScreen")
        kinds = [r.kind for r in store.records(app.pen.session_id)]
        assert "screening" in kinds  # recorded for the new session too
        # The new session continues the interrupted one (the same visit): the interval
        # rule does not count that one as the last session, so the same zone goes on.
        assert app.pen.continues == first
        await until(pilot, lambda: app.pen.zone == "forehead", "the same zone again")
        await start_needle(pilot)
        assert fw(app).needle_running
        closed = [r.data for r in store.records(first) if r.kind == "session_closed"]
        assert closed[0]["interrupted"] == "link_lost"


@pytest.mark.anyio
async def test_a_clinician_continues_after_a_lost_link_with_one_login_each_time(store):
    def logins() -> list[str]:
        return [r.kind for r in store.records() if r.kind in ("login", "login_failed")]

    app = make_app(
        store,
        port="sim://?seed=33",
        role="clinician",
        operator="c1",
        client="P-33",
        zone="cheeks",
    )
    before = len(logins())
    async with app.run_test(size=SIZE) as pilot:
        await clinician_treatment(pilot)
        assert len(logins()) == before + 1  # the PIN step and begin: one login record
        await until(pilot, lambda: app.pen.zone == "cheeks", "cheeks")
        await start_needle(pilot)
        first = app.pen.session_id
        live(app).command("cut 3s")
        await until(
            pilot,
            lambda: "Press N for a new session" in text_of(app, "#session-over"),
            "the sentence saying the session ended",
        )
        await pilot.press("n")
        await clinician_treatment(pilot)  # the PIN again, the kept screening confirmed
        assert len(logins()) == before + 2
        assert app.pen.continues == first and app.pen.client_ref == "p-33"
        # the same zone, no interval question (the driver decides: no override needed)
        await until(pilot, lambda: app.pen.zone == "cheeks", "cheeks again")
        assert screen_name(app) == "TreatmentScreen"
        await start_needle(pilot)
        assert fw(app).needle_running


@pytest.mark.anyio
async def test_summary_says_how_the_session_ended_and_gives_no_aftercare_for_zero_stamps(store):
    app = make_app(store, port="sim://?seed=32", role="home", zone="forehead")
    async with app.run_test(size=SIZE) as pilot:
        await home_treatment(pilot, keys=False)
        await pilot.press("ctrl+e")
        await on_screen(pilot, "ConfirmDialog")
        await pilot.press("enter")
        await on_screen(pilot, "SummaryScreen")
        await until(pilot, lambda: "No client aftercare" in text_of(app, "#aftercare"), "it")
        summary = text_of(app, "#summary")
        assert "Ended" in summary and "treatment finished" in summary
