"""Issue 16 in the TUI: the client's courses, the course line beside the cap, the summary
moving the course on and writing the report (key R)."""

from __future__ import annotations

import pytest

from driver.records.courses import courses, plan_course
from driver.safety.policy import default_policy
from protocol import State
from tests.tui.conftest import (
    FIXED_NOW,
    SIZE,
    clinician_treatment,
    focused_id,
    fw,
    make_app,
    on_screen,
    settle,
    text_of,
    until,
)


def _plan(store, client: str = "P-7", concern: str = "fine_lines") -> int:
    by = store.authenticate("c1", "1234")
    return plan_course(store, default_policy(), client=client, concern=concern, by=by).id


@pytest.mark.anyio
async def test_the_client_screen_lists_the_client_s_courses(store):
    _plan(store)

    app = make_app(store, port="sim://?seed=61", role="clinician", operator="c1")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: focused_id(app) == "pin", "the PIN field")
        await pilot.press(*"1234", "enter")
        await on_screen(pilot, "ClientScreen")
        await pilot.press(*"p-7")
        await pilot.pause(0.2)
        shown = text_of(app, "#last-sessions")
        assert "Courses" in shown and "fine lines" in shown and "0 of 4, planned" in shown
        assert "forehead" in shown and "not yet treated" in shown
        await pilot.press("backspace")
        await pilot.pause(0.2)
        assert "fine lines" not in text_of(app, "#last-sessions")  # p- has no course


@pytest.mark.anyio
async def test_a_course_line_then_the_summary_moves_the_course_on_and_writes_the_report(
    store, tmp_path, monkeypatch
):
    monkeypatch.setenv("NEEDLEPEN_DATA_DIR", str(tmp_path / "data"))
    course_id = _plan(store)

    async def go() -> None:
        app = make_app(
            store,
            port="sim://?seed=62",
            role="clinician",
            operator="c1",
            client="P-7",
            zone="forehead",
        )
        async with app.run_test(size=SIZE) as pilot:
            await clinician_treatment(pilot)
            await until(pilot, lambda: app.pen.zone == "forehead", "forehead")
            await settle(pilot)
            shown = text_of(app, "#setpoints")
            assert "fine lines, session 1 of 4" in shown
            assert "suggests 0.25-0.50 mm" in shown and "cap 0.50" in shown
            await pilot.press("d")
            await pilot.pause(0.2)
            await pilot.press("ctrl+u", *"0.4", "enter")
            await until(pilot, lambda: app.pen.depth_mm == 0.4, "0.40 mm")
            await settle(pilot)
            await pilot.press("space")
            await until(pilot, lambda: fw(app).needle_running, "needle running")
            await until(pilot, lambda: app.model.snapshot().state is State.RUNNING, "RUNNING")
            await pilot.pause(0.2)
            await pilot.press("space")
            await until(pilot, lambda: not fw(app).needle_running, "needle stopped")
            await pilot.press("ctrl+e")
            await on_screen(pilot, "ConfirmDialog")
            await pilot.press("enter")
            await on_screen(pilot, "SummaryScreen")
            assert "fine lines, session 2 of 4" in text_of(app, "#summary").replace("Fine", "fine")
            (course,) = courses(store, "p-7")
            assert course.id == course_id and course.sessions_done == 1
            await pilot.press("r")
            await pilot.pause(0.2)
            sid = app.pen.session_id
            path = tmp_path / "data" / "exports" / f"needlepen-session-{sid}-report.html"
            text = path.read_text(encoding="utf-8")
            assert "fine lines, session 1 of 4" in text
            assert store.verify(anchor=store.head()).ok

    await go()


@pytest.mark.anyio
async def test_no_course_no_course_line(store):
    app = make_app(
        store,
        port="sim://?seed=63",
        role="clinician",
        operator="c1",
        client="P-8",
        zone="forehead",
        clock=lambda: FIXED_NOW,
    )
    async with app.run_test(size=SIZE) as pilot:
        await clinician_treatment(pilot)
        await settle(pilot)
        assert "Course" not in text_of(app, "#setpoints")
