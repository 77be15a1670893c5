"""Pilot tests of whole sessions, by keyboard, against the in-process simulator."""

from __future__ import annotations

import json

import pytest

import protocol
from driver.errors import AuthError
from driver.safety import Outcome
from protocol import State
from tests.tui.conftest import (
    SIZE,
    answer_screening,
    clinician_treatment,
    focused_id,
    fw,
    home_treatment,
    log_text,
    make_app,
    on_screen,
    screen_name,
    settle,
    text_of,
    until,
)


@pytest.mark.anyio
async def test_full_clinician_session_by_keyboard(store, tmp_path, monkeypatch):
    """Connect, operator, client, screening, zone, depth, start, stop, summary, export:
    every step by keyboard alone, starting from the connect screen as `make demo` does."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("NEEDLEPEN_DATA_DIR", str(tmp_path / "data"))

    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        assert screen_name(app) == "ConnectScreen"
        await pilot.press("enter")  # the first entry: the built-in simulator
        await on_screen(pilot, "OperatorScreen")
        await pilot.press("down", "down", "enter")  # home, aesthetician, clinician
        await pilot.pause()
        await pilot.press("c", "1", "enter")
        await until(pilot, lambda: focused_id(app) == "pin", "the PIN field")
        await pilot.press("1", "2", "3", "4", "enter")
        await on_screen(pilot, "ClientScreen")
        await pilot.press(*"C-42", "enter")
        await answer_screening(pilot)
        await on_screen(pilot, "TreatmentScreen")
        assert app.pen is not None and app.pen.role == "clinician"
        assert app.pen.client_ref == "c-42"  # stored normalised
        await settle(pilot)
        await pilot.press("down", "down", "down", "down", "enter")  # cheeks
        await until(pilot, lambda: app.pen.zone == "cheeks", "zone cheeks")
        await settle(pilot)
        for _ in range(6):  # 0.25 then five steps of 0.05: 0.50 mm
            await pilot.press("plus")
        await settle(pilot)
        assert fw(app).depth_set_um == 500
        assert fw(app).rate_set_hz == 100  # the default rate, through the governor
        await pilot.press("space")
        await until(pilot, lambda: fw(app).needle_running, "needle running")
        await until(
            pilot,
            lambda: app.model.snapshot().state is State.RUNNING,
            "telemetry to show RUNNING",
        )
        await pilot.pause(0.3)
        await pilot.press("space")
        await until(pilot, lambda: not fw(app).needle_running, "needle stopped")
        await pilot.press("ctrl+e")
        await on_screen(pilot, "ConfirmDialog")
        await pilot.press("enter")
        await on_screen(pilot, "SummaryScreen")
        summary = app.screen.summary  # type: ignore[attr-defined]
        assert summary is not None
        # Held "+" presses coalesce by timing: which intermediate depths were sent varies,
        # but they rise in pen steps to the 0.50 mm asked for, never past it.
        depths = summary.zones["cheeks"].depths_mm
        assert depths[-1] == 0.5 and depths == sorted(depths) and max(depths) == 0.5
        assert all(round(d * 1000) % 50 == 0 for d in depths)
        assert summary.zones["cheeks"].seconds > 0
        assert summary.zones["cheeks"].stamps > 0
        await pilot.press("j")
        await pilot.pause()
        sid = app.pen.session_id
        path = tmp_path / "data" / "exports" / f"needlepen-session-{sid}.json"
        exported = json.loads(path.read_text())
        assert list(cwd.iterdir()) == []  # never the current directory by default
        kinds = [r["kind"] for r in exported["records"]]
        assert "screening" in kinds and "session_end" in kinds
        assert exported["session"] == sid


@pytest.mark.anyio
async def test_flags_bring_a_home_session_to_the_treatment_screen(store):
    """--role home --zone forehead: only the screening is asked, then treatment on forehead."""

    app = make_app(store, port="sim://?seed=2", role="home", zone="forehead")
    async with app.run_test(size=SIZE) as pilot:
        await home_treatment(pilot)
        assert app.pen is not None
        assert app.pen.role == "home" and app.pen.zone == "forehead"
        assert app.pen.client_ref == "home-pen-" + format(app.pen.info.serial, "08x")


@pytest.mark.anyio
async def test_home_class_pen_skips_the_operator_step_and_forces_home(store):
    app = make_app(store, port="sim://?device_class=home&seed=3", role="clinician")
    async with app.run_test(size=SIZE) as pilot:
        await answer_screening(pilot)
        await on_screen(pilot, "TreatmentScreen")
        assert app.pen is not None and app.pen.role == "home"


@pytest.mark.anyio
async def test_engineer_goes_to_the_bench_without_client_or_screening(store):
    app = make_app(store, port="sim://?seed=4", role="engineer", operator="e1")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: focused_id(app) == "pin", "the PIN field")
        await pilot.press(*"9999", "enter")
        await on_screen(pilot, "TreatmentScreen")
        await pilot.press("enter")  # the only zone: bench
        await until(pilot, lambda: app.pen.zone == "bench", "bench")
        records = store.records(app.pen.session_id)
        assert not [r for r in records if r.kind == "screening"]


@pytest.mark.anyio
async def test_zone_change_clamps_the_depth_down_at_once(store):
    app = make_app(
        store, port="sim://?seed=5", role="clinician", operator="c1", client="P1", zone="cheeks"
    )
    async with app.run_test(size=SIZE) as pilot:
        await clinician_treatment(pilot)
        await until(pilot, lambda: app.pen.zone == "cheeks", "cheeks")
        await pilot.press("d")
        await on_screen(pilot, "ValueDialog")
        await pilot.press("ctrl+u", "1", "enter")
        await until(pilot, lambda: fw(app).depth_set_um == 1000, "1.00 mm at the pen")
        await pilot.press("z", "home", "enter")  # the first zone: forehead
        await until(pilot, lambda: app.pen.zone == "forehead", "forehead")
        await until(pilot, lambda: fw(app).depth_set_um == 500, "0.50 mm at the pen")
        await settle(pilot)
        assert fw(app).depth_set_um == 500, log_text(app)  # the recommended max for forehead
        assert app.pen.depth_mm == 0.5
        text = log_text(app)
        assert "Clamped by the zone change" in text and "brought down to 0.50 mm" in text
        zone_change = [
            r
            for r in store.records(app.pen.session_id)
            if r.kind == "decision" and r.data.get("why") == "zone_change"
        ]
        assert zone_change and zone_change[-1].data["depth_um"] == 500


@pytest.mark.anyio
async def test_override_dialog_reason_ends_up_in_the_audit_log(store):
    app = make_app(
        store,
        port="sim://?seed=6",
        role="clinician",
        operator="c1",
        client="P2",
        zone="forehead",
    )
    async with app.run_test(size=SIZE) as pilot:
        await clinician_treatment(pilot)
        await until(pilot, lambda: app.pen.zone == "forehead", "forehead")
        await pilot.press("d")
        await on_screen(pilot, "ValueDialog")
        await pilot.press("ctrl+u", *"0.7", "enter")
        await on_screen(pilot, "OverrideDialog")
        assert fw(app).depth_set_um != 700  # nothing sent before the reason
        await pilot.press("enter")  # an empty reason is refused
        assert screen_name(app) == "OverrideDialog"
        reason = "deep lines"
        await pilot.press(*reason, "enter")
        await settle(pilot)
        await on_screen(pilot, "TreatmentScreen")
        assert fw(app).depth_set_um == 700
        decisions = [
            r.data
            for r in store.records(app.pen.session_id)
            if r.kind == "decision" and r.data.get("override_reason")
        ]
        assert decisions and decisions[-1]["override_reason"] == reason
        assert decisions[-1]["depth_um"] == 700
        assert decisions[-1]["command"]["type"] == "SET_DEPTH"


@pytest.mark.anyio
async def test_cancelled_override_sends_nothing(store):
    app = make_app(
        store, port="sim://?seed=7", role="clinician", operator="c1", client="P3", zone="nose"
    )
    async with app.run_test(size=SIZE) as pilot:
        await clinician_treatment(pilot)
        await until(pilot, lambda: app.pen.zone == "nose", "nose")
        await pilot.press("d")
        await on_screen(pilot, "ValueDialog")
        await pilot.press("ctrl+u", *"0.6", "enter")
        await on_screen(pilot, "OverrideDialog")
        await pilot.press("ctrl+x")
        await settle(pilot)
        await on_screen(pilot, "TreatmentScreen")
        assert fw(app).depth_set_um == 250  # still the pen's boot set-point
        assert not any(r.data.get("override_reason") for r in store.records(app.pen.session_id))


@pytest.mark.anyio
async def test_aesthetician_cannot_pass_the_recommended_limit(store):
    """The governor clamps; no dialog is offered to a role that may not override."""

    app = make_app(
        store,
        port="sim://?seed=8",
        role="aesthetician",
        operator="a1",
        client="P4",
        zone="forehead",
    )
    async with app.run_test(size=SIZE) as pilot:
        await clinician_treatment(pilot, pin="5678")
        await until(pilot, lambda: app.pen.zone == "forehead", "forehead")
        await pilot.press("d")
        await on_screen(pilot, "ValueDialog")
        await pilot.press("ctrl+u", *"0.7", "enter")
        await until(pilot, lambda: "This will set" in text_of(app, ".dialog-error"), "why")
        assert "This will set 0.50 mm, not 0.70 mm" in text_of(app, ".dialog-error")
        assert fw(app).depth_set_um != 500  # nothing sent before the operator confirms
        await pilot.press("enter")
        await settle(pilot)
        await on_screen(pilot, "TreatmentScreen")
        assert fw(app).depth_set_um == 500
        assert app.screen.depth_decision.outcome is Outcome.ALLOWED  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_wrong_pin_is_shown_and_the_session_does_not_begin(store):
    app = make_app(store, port="sim://?seed=9", role="clinician", operator="c1", client="P5")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: focused_id(app) == "pin", "the PIN field")
        await pilot.press(*"0000", "enter")
        await settle(pilot)
        await until(pilot, lambda: app.flow.operator_error is not None, "the wrong-PIN sentence")
        assert screen_name(app) == "OperatorScreen"
        assert "Wrong PIN" in app.flow.operator_error
        assert app.pen is not None and app.pen.session_id < 0
        await until(
            pilot,
            lambda: focused_id(app) == "pin" and not app.screen.query_one("#pin").value,
            "an empty PIN field again",
        )
        await pilot.press(*"1234", "enter")
        await answer_screening(pilot)
        await on_screen(pilot, "TreatmentScreen")


@pytest.mark.anyio
async def test_locked_operator_is_shown_before_any_pin_is_typed(store):
    for _ in range(5):
        with pytest.raises(AuthError):
            store.authenticate("c1", "0000")

    app = make_app(store, port="sim://?seed=10", role="clinician", operator="c1")
    async with app.run_test(size=SIZE) as pilot:
        await on_screen(pilot, "OperatorScreen")
        await pilot.pause(0.1)
        state = text_of(app, "#operator-state")
        assert "LOCKED" in state


@pytest.mark.anyio
async def test_a_missing_port_is_one_clear_sentence(store):
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("tab")  # to the URL input
        await pilot.press(*"/dev/no-such-pen-here", "enter")
        await settle(pilot)
        status = text_of(app, "#connect-status")
        assert "Cannot open /dev/no-such-pen-here" in status
        assert "no such device" in status
        assert screen_name(app) == "ConnectScreen" and app.pen is None


@pytest.mark.anyio
async def test_telemetry_reaches_the_screen(store):
    app = make_app(store, port="sim://?seed=11", role="home", zone="forehead")
    async with app.run_test(size=SIZE) as pilot:
        await home_treatment(pilot, keys=False)
        await until(pilot, lambda: app.model.snapshot().status_count > 10, "telemetry")
        await pilot.pause(0.2)
        readings = text_of(app, "#readings")
        assert "IDLE" in readings and "Battery" in readings and "Cartridge" in readings
        assert len(app.model.snapshot().depth_history) > 0


@pytest.mark.anyio
async def test_stuck_plus_key_never_passes_the_cap(store):
    """Twenty-five presses of + in a row: coalesced, and never deeper than the home cap."""

    app = make_app(store, port="sim://?seed=12", role="home", zone="cheeks")
    async with app.run_test(size=SIZE) as pilot:
        await home_treatment(pilot, "cheeks", keys=False)
        for _ in range(25):
            await pilot.press("plus")
        await settle(pilot)
        assert fw(app).depth_set_um == 500
        depths = [
            a.message.depth_um for a in fw(app).applied if isinstance(a.message, protocol.SetDepth)
        ]
        assert max(depths) == 500


def _home_app(store, seed: int):
    return make_app(store, port=f"sim://?seed={seed}", role="home", zone="forehead")


def _depth_decisions(store, app) -> list[dict]:
    return [
        r.data
        for r in store.records(app.pen.session_id)
        if r.kind == "decision" and r.data.get("what") == "depth"
    ]


@pytest.mark.anyio
async def test_a_decimal_comma_is_a_decimal_point(store):
    app = _home_app(store, 40)
    async with app.run_test(size=SIZE) as pilot:
        await home_treatment(pilot, keys=False)
        await pilot.press("d")
        await on_screen(pilot, "ValueDialog")
        assert app.screen.query_one("#value").value == ""  # starts empty
        await pilot.press(*"0,4", "enter")
        await settle(pilot)
        await on_screen(pilot, "TreatmentScreen")
        assert fw(app).depth_set_um == 400


@pytest.mark.anyio
async def test_what_is_not_a_plain_number_is_refused_and_nothing_is_sent(store):
    app = _home_app(store, 41)
    async with app.run_test(size=SIZE) as pilot:
        await home_treatment(pilot, keys=False)
        before = (fw(app).depth_set_um, len(_depth_decisions(store, app)))
        await pilot.press("d")
        await on_screen(pilot, "ValueDialog")
        for typed in ("-1", "1e3", "nan", "abc", "0.8mm", "0.2345"):
            await pilot.press("ctrl+u", *typed, "enter")
            await pilot.pause(0.05)
            assert screen_name(app) == "ValueDialog", typed
            assert app.screen.query_one("#value").value == typed  # nothing stripped
            assert "not a plain number" in text_of(app, ".dialog-error"), typed
        await settle(pilot)
        assert (fw(app).depth_set_um, len(_depth_decisions(store, app))) == before


@pytest.mark.anyio
async def test_the_override_reason_starts_empty_every_time(store):
    app = make_app(
        store,
        port="sim://?seed=42",
        role="clinician",
        operator="c1",
        client="P9",
        zone="forehead",
    )
    async with app.run_test(size=SIZE) as pilot:
        await clinician_treatment(pilot)
        for depth, reason in (("0.6", "deep lines"), ("0.7", None)):
            await pilot.press("d")
            await on_screen(pilot, "ValueDialog")
            await pilot.press(*depth, "enter")
            await on_screen(pilot, "OverrideDialog")
            assert app.screen.query_one("#reason").value == ""
            if reason is None:
                await pilot.press("ctrl+x")
            else:
                await pilot.press(*reason, "enter")
            await settle(pilot)
            await on_screen(pilot, "TreatmentScreen")
        assert fw(app).depth_set_um == 600


@pytest.mark.anyio
async def test_a_wrong_pin_is_reported_on_the_operator_step_before_any_client(store):
    app = make_app(store, port="sim://?seed=43", role="clinician", operator="c1")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: focused_id(app) == "pin", "the PIN field")
        await pilot.press(*"0000", "enter")
        await until(pilot, lambda: app.flow.operator_error is not None, "the sentence")
        await settle(pilot)
        assert screen_name(app) == "OperatorScreen"
        assert "Wrong PIN" in text_of(app, "#operator-error")
        assert app.pen.session_id < 0  # no session, no client asked
        await pilot.press(*"1234", "enter")
        await on_screen(pilot, "ClientScreen")  # the client only after the PIN checked
        await pilot.press(*"Jane Doe", "enter")
        await pilot.pause(0.05)
        assert "one word" in text_of(app, "#client-error")
        assert app.pen.session_id < 0


@pytest.mark.anyio
async def test_f1_and_question_mark_open_the_help_of_the_step(store):
    app = _home_app(store, 44)
    async with app.run_test(size=SIZE) as pilot:
        await home_treatment(pilot, keys=False)
        for key in ("f1", "question_mark"):
            await pilot.press(key)
            await on_screen(pilot, "HelpScreen")
            text = text_of(app, ".dialog-body")
            assert "E-STOP" in text and "Start/Stop" in text and "Type depth" in text
            await pilot.press("enter")
            await on_screen(pilot, "TreatmentScreen")


@pytest.mark.anyio
async def test_the_interval_is_asked_once_per_zone_in_its_own_words(store):
    async def session(seed: int, second: bool) -> None:
        app = make_app(
            store,
            port=f"sim://?seed={seed}",
            role="clinician",
            operator="c1",
            client="P-int",
            zone=None if second else "cheeks",
        )
        async with app.run_test(size=SIZE) as pilot:
            await clinician_treatment(pilot)
            if not second:
                await until(pilot, lambda: app.pen.zone == "cheeks", "cheeks")
                await pilot.press("plus")
                await settle(pilot)
                await pilot.press("space")
                await until(pilot, lambda: fw(app).stamps > 50, "some stamps")
                await pilot.press("space")
                await settle(pilot)
                await pilot.press("ctrl+e")
                await on_screen(pilot, "ConfirmDialog")
                await pilot.press("enter")
                await on_screen(pilot, "SummaryScreen")
                return
            screen = app.screen
            screen.choose_zone("cheeks")
            await on_screen(pilot, "OverrideDialog")
            assert "interval" in app.screen.TITLE_TEXT
            body = text_of(app, ".dialog-body")
            assert "allowed from" in body and "recommended" not in body
            await pilot.press(*"scar course", "enter")
            await until(pilot, lambda: app.pen.zone == "cheeks", "cheeks with a reason")
            await settle(pilot)
            screen.choose_zone("forehead")
            await until(pilot, lambda: app.pen.zone == "forehead", "forehead")
            await settle(pilot)
            screen.choose_zone("cheeks")
            await until(pilot, lambda: app.pen.zone == "cheeks", "cheeks again, not asked")
            await pilot.press("plus")
            await settle(pilot)
            assert screen_name(app) == "TreatmentScreen"  # never asked a second time

    await session(45, second=False)
    await session(46, second=True)


@pytest.mark.anyio
async def test_a_held_plus_key_does_not_type_into_the_override_reason(store):
    """+ held down up to the recommended limit: the dialog opens while the key still repeats;
    its repeats are not the reason, the words typed after them are."""
    app = make_app(
        store, port="sim://?seed=44", role="clinician", operator="c1", client="P4", zone="forehead"
    )
    async with app.run_test(size=SIZE) as pilot:
        await clinician_treatment(pilot)
        for _ in range(60):
            await pilot.press("plus")
            if screen_name(app) == "OverrideDialog":
                break
        await on_screen(pilot, "OverrideDialog")
        await pilot.press(*["plus"] * 6, "equals_sign", "minus")  # the repeats, and a wobble
        assert app.screen.query_one("#reason").value == ""
        await pilot.press(*"thick skin +1", "enter")
        await settle(pilot)
        await on_screen(pilot, "TreatmentScreen")
        reasons = [
            r.data["override_reason"]
            for r in store.records(app.pen.session_id)
            if r.kind == "decision" and r.data.get("override_reason")
        ]
        assert reasons == ["thick skin +1"]  # a + inside the reason is kept
