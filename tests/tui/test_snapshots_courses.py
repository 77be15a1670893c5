"""Snapshots of the screens issue 16 changes, with a course planned, at 80x24 and 120x40:
the client screen's course list and the treatment screen's course line. Same fixed world as
tests/tui/test_snapshots.py; update with --snapshot-update and look at the SVGs."""

from __future__ import annotations

from driver.records.courses import plan_course
from driver.safety.policy import default_policy
from tests.tui.conftest import FIXED_NOW, focused_id, make_app, on_screen
from tests.tui.test_snapshots import (  # noqa: F401  (fixed_world is an autouse fixture)
    SIZES,
    _clinician_app,
    _to_half_a_millimetre,
    fixed_world,
    frozen_snapshot,
    no_blink,
)


def _plan(store) -> None:
    by = store.authenticate("c1", "1234", now=FIXED_NOW - 60)
    plan_course(store, default_policy(), client="P-7", concern="fine_lines", by=by, now=FIXED_NOW)


@SIZES
def test_client_screen_with_a_course(snap_compare, store, size):
    _plan(store)
    app = make_app(
        store, port="sim://?seed=57", role="clinician", operator="c1", clock=lambda: FIXED_NOW
    )

    async def before(pilot) -> None:
        from tests.tui.conftest import until

        await until(pilot, lambda: focused_id(app) == "pin", "the PIN field")
        await pilot.press(*"1234", "enter")
        await on_screen(pilot, "ClientScreen")
        await pilot.press(*"P-7")
        no_blink(app)
        assert app.pen is not None and app.pen.alive, "the link dropped (machine load): rerun"

    assert snap_compare(app, terminal_size=size, run_before=before)


@SIZES
def test_treatment_screen_with_a_course_line(snap_compare, store, size):
    _plan(store)
    app = _clinician_app(store, 58)

    async def before(pilot) -> None:
        await _to_half_a_millimetre(pilot)
        app.model.freeze(frozen_snapshot())
        await pilot.pause(0.3)
        no_blink(app)
        assert app.pen is not None and app.pen.alive, "the link dropped (machine load): rerun"

    assert snap_compare(app, terminal_size=size, run_before=before)
