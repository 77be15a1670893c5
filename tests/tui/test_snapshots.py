"""Snapshots of every screen at 80x24 and at 120x40 (pytest-textual-snapshot).

Deterministic on purpose: fixed simulator seeds, a fresh in-memory audit store, a fixed wall
clock for the screens and the audit records, UTC, a fixed list of serial ports, no blinking
cursor, and on the treatment screen a frozen telemetry snapshot instead of the live stream.
Update them with `pytest tests/tui/test_snapshots.py --snapshot-update` and look at the SVGs.
"""

from __future__ import annotations

import pathlib
import time
import types

import pytest
from textual.widgets import Input

import driver.audit.canon
import protocol
from protocol import CartridgeState, Fault, State
from tests.tui.conftest import (
    FIXED_NOW,
    clinician_treatment,
    focused_id,
    make_app,
    on_screen,
    settle,
    until,
)
from tui.model import Snapshot


@pytest.fixture(autouse=True)
def fixed_world(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    fake_time = types.SimpleNamespace(
        time=lambda: FIXED_NOW, localtime=time.localtime, strftime=time.strftime
    )
    monkeypatch.setattr(driver.audit.canon, "time", fake_time)
    # The export folder shown on the summary (nothing is written there by these tests).
    monkeypatch.setattr(
        "tui.screens.summary.export_dir", lambda: pathlib.Path("/data/needlepen/exports")
    )
    monkeypatch.setattr(
        "tui.screens.connect.list_serial_ports",
        lambda: [("/dev/ttyUSB0", "CP2102 USB to UART Bridge Controller")],
    )
    yield
    monkeypatch.undo()
    time.tzset()


SIZES = pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])


def no_blink(app) -> None:
    from tui.widgets.eventlog import EventLog

    for screen in app.screen_stack:
        for box in screen.query(Input):
            box.cursor_blink = False
        # The event log's lines depend on thread timing (key repeats coalesce); show a fixed one.
        for log in screen.query(EventLog):
            log.clear()
            log.last_seq = 10**9
            log.write("12:00:00  Allowed: 0.50 mm at 100 Hz.")


def frozen_snapshot() -> Snapshot:
    status = protocol.Status(
        state=State.RUNNING,
        faults=Fault(0),
        depth_set_um=500,
        depth_actual_um=495,
        rate_set_hz=100,
        rate_actual_hz=100,
        stamps=12_345,
        motor_ma=248,
        temp_dc=312,
        battery_pct=87,
        cartridge_id=0x1A2B3C4D,
        cartridge_state=CartridgeState.IN_USE,
        uptime_ms=123_456,
    )
    ramp = tuple(min(0.5, 0.25 + 0.01 * i) for i in range(60))
    return Snapshot(
        status=status,
        status_count=999_999,
        link_lost=None,
        rebooted=None,
        session_ended=None,
        estop_note=None,
        estop_pending=False,
        run_ms_by_zone={"forehead": 83_000.0, "cheeks": 41_000.0},
        stamps_by_zone={"forehead": 8_245, "cheeks": 4_100},
        deepest_um_by_zone={"forehead": 500, "cheeks": 1000},
        faults_seen=Fault(0),
        depth_history=ramp,
        rate_history=tuple([0.0] * 10 + [100.0] * 50),
        last_log_seq=0,
    )


@SIZES
def test_connect_screen(snap_compare, store, size):
    app = make_app(store, clock=lambda: FIXED_NOW)

    async def before(pilot) -> None:
        await on_screen(pilot, "ConnectScreen")
        no_blink(app)

    assert snap_compare(app, terminal_size=size, run_before=before)


@SIZES
def test_operator_screen(snap_compare, store, size):
    app = make_app(
        store, port="sim://?seed=51", role="clinician", operator="c1", clock=lambda: FIXED_NOW
    )

    async def before(pilot) -> None:
        await until(pilot, lambda: focused_id(app) == "pin", "the PIN field")
        no_blink(app)

    assert snap_compare(app, terminal_size=size, run_before=before)


@SIZES
def test_screening_screen(snap_compare, store, size):
    app = make_app(store, port="sim://?seed=52", role="home", clock=lambda: FIXED_NOW)

    async def before(pilot) -> None:
        await on_screen(pilot, "ScreeningScreen")
        await until(pilot, lambda: focused_id(app) is not None, "a question")
        await pilot.press("n", "n", "n", "n", "y")
        no_blink(app)

    assert snap_compare(app, terminal_size=size, run_before=before)


def _clinician_app(store, seed: int):
    return make_app(
        store,
        port=f"sim://?seed={seed}",
        role="clinician",
        operator="c1",
        client="P-7",
        zone="forehead",
        clock=lambda: FIXED_NOW,
    )


async def _to_half_a_millimetre(pilot) -> None:
    app = pilot.app
    await clinician_treatment(pilot)
    await until(pilot, lambda: app.pen.zone == "forehead", "forehead")
    await settle(pilot)
    # Typed, not six "+" presses: repeated keys coalesce by timing, and the summary's depth
    # range would then depend on the machine's load.
    await pilot.press("d")
    await pilot.pause(0.2)
    await pilot.press("ctrl+u", *"0.5", "enter")
    await until(pilot, lambda: app.pen.depth_mm == 0.5, "0.50 mm")
    await settle(pilot)


@SIZES
def test_treatment_screen(snap_compare, store, size):
    app = _clinician_app(store, 53)

    async def before(pilot) -> None:
        await _to_half_a_millimetre(pilot)
        app.model.freeze(frozen_snapshot())
        await pilot.pause(0.3)
        no_blink(app)

    assert snap_compare(app, terminal_size=size, run_before=before)


@SIZES
def test_override_dialog(snap_compare, store, size):
    app = _clinician_app(store, 54)

    async def before(pilot) -> None:
        await _to_half_a_millimetre(pilot)
        app.model.freeze(frozen_snapshot())
        await pilot.press("plus")  # 0.55 mm: past the recommended 0.50 mm
        await on_screen(pilot, "OverrideDialog")
        no_blink(app)

    assert snap_compare(app, terminal_size=size, run_before=before)


@SIZES
def test_summary_screen(snap_compare, store, size):
    app = _clinician_app(store, 55)

    async def before(pilot) -> None:
        await _to_half_a_millimetre(pilot)
        app.end_session()
        await on_screen(pilot, "SummaryScreen")
        no_blink(app)

    assert snap_compare(app, terminal_size=size, run_before=before)


@SIZES
def test_client_screen(snap_compare, store, size):
    app = make_app(
        store, port="sim://?seed=56", role="clinician", operator="c1", clock=lambda: FIXED_NOW
    )

    async def before(pilot) -> None:
        await until(pilot, lambda: focused_id(app) == "pin", "the PIN field")
        await pilot.press(*"1234", "enter")
        await on_screen(pilot, "ClientScreen")
        await pilot.press(*"P-7")
        no_blink(app)

    assert snap_compare(app, terminal_size=size, run_before=before)


@SIZES
def test_depth_dialog_shows_what_will_be_set(snap_compare, store, size):
    app = _clinician_app(store, 57)

    async def before(pilot) -> None:
        await _to_half_a_millimetre(pilot)
        app.model.freeze(frozen_snapshot())
        await pilot.press("d")
        await on_screen(pilot, "ValueDialog")
        await pilot.press(*"0,53", "enter")  # between the pen's 0.05 mm steps
        await until(
            pilot,
            lambda: "This will set" in str(app.screen.query_one(".dialog-error").content),
            "the proposal",
        )
        no_blink(app)

    assert snap_compare(app, terminal_size=size, run_before=before)


@SIZES
def test_help_screen(snap_compare, store, size):
    app = _clinician_app(store, 58)

    async def before(pilot) -> None:
        await _to_half_a_millimetre(pilot)
        app.model.freeze(frozen_snapshot())
        await pilot.press("f1")
        await on_screen(pilot, "HelpScreen")
        no_blink(app)

    assert snap_compare(app, terminal_size=size, run_before=before)
