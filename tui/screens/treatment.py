"""Step 4: the treatment. Pick a zone, set depth and rate (the governor decides what is sent),
start and stop with Space, watch the live telemetry and the event log.

Every depth shows three things: what was asked, what the governor allowed, and the limit that
bound it. When a clinician asks past a recommended limit the governor answers needs_override
and this screen asks for the reason, then asks again with it.
"""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Footer, OptionList, Static

from driver.errors import DriverError, NotAllowed
from driver.session import Decision, Outcome
from protocol import State

from .. import format as fmt
from ..cartridge import BY_HAND, fit_fresh_cartridge, simulated
from ..courses import CourseLines
from ..model import Snapshot
from ..widgets.eventlog import EventLog
from ..widgets.facemap import FaceMap
from ..widgets.telemetry import Telemetry
from ..widgets.zones import ZoneList
from .base import StepHost
from .depth_rate import DEFAULT_RATE_HZ, DepthRateControls
from .dialogs import ConfirmDialog, OverrideDialog
from .setpoints import decision_text


class TreatmentScreen(DepthRateControls):
    STEP = "Treatment"
    _course_lines: CourseLines | None = None
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "start_stop", "Start/Stop", priority=True, key_display="Space"),
        Binding("plus,equals_sign", "depth(1)", "Depth", key_display="+/-"),
        Binding("minus", "depth(-1)", "Depth −", show=False),
        Binding("d", "type_depth", "Type depth", show=False),
        Binding("right_square_bracket,greater_than_sign", "rate(1)", "Rate", key_display="]/["),
        Binding("left_square_bracket,less_than_sign", "rate(-1)", "Rate −", show=False),
        Binding("r", "type_rate", "Type rate", show=False),
        Binding("z", "focus_zones", "Zones", show=False),
        # F and U always work; the banner names them when there is a fault or an e-stop to
        # clear (not in the footer, which must fit 80 columns).
        Binding("f", "reset_fault", "Reset fault", show=False),
        Binding("u", "release_estop", "Release e-stop", show=False),
        Binding("c", "fresh_cartridge", "Cartridge", show=False),
        Binding("ctrl+e", "end_session", "End"),
        Binding("n", "restart", "New session"),
    ]

    def __init__(self, host: StepHost) -> None:
        super().__init__(host)
        self.zone: str | None = None
        self.depth_asked: float | None = None
        self.depth_decision: Decision | None = None
        self.depth_error: str | None = None
        self.rate_asked: float | None = None
        self.rate_decision: Decision | None = None
        self.rate_note = ""
        self.pending_depth_um: int | None = None
        self.pending_rate: int | None = None
        self._latest_depth_job = 0
        self._latest_rate_job = 0
        self._start_job = 0
        self._last_count: tuple[int, bool] = (-1, False)
        self._over_shown = ""
        self._shown_state: State | None = None
        #: the reason given for a zone sooner than the interval (asked once per zone)
        self.interval_reasons: dict[str, str] = {}

    # --- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield self.top_bar()
        with Horizontal(id="treat-top"):
            with Vertical(id="zones-panel", classes="panel"):
                yield Static("Zone               cap", classes="panel-title", id="zones-title")
                yield ZoneList()
            with Vertical(id="map-panel", classes="panel"):
                yield FaceMap()
            with Vertical(id="telemetry-panel", classes="panel"):
                yield Static("Live telemetry", classes="panel-title")
                yield Telemetry(id="telemetry")
        yield Static("", id="session-over", markup=False)
        with Vertical(id="controls", classes="panel"):
            yield Static("", id="setpoints")
            with Horizontal(id="buttons"):
                yield Button("Depth −", id="depth-down")
                yield Button("Depth +", id="depth-up")
                yield Button("Depth…", id="depth-type")
                yield Button("Rate −", id="rate-down")
                yield Button("Rate +", id="rate-up")
                yield Button("Rate…", id="rate-type")
                yield Button("▶ Start", id="start-stop", variant="success")
                yield Button("Reset fault", id="reset-fault")
                yield Button("Release e-stop", id="release-estop")
                yield Button("End session", id="end-session")
        with Vertical(id="log-panel", classes="panel"):
            yield EventLog()
        yield Footer()

    def on_mount(self) -> None:
        app = self.host
        pen = app.pen
        assert pen is not None
        zones = pen.governor.zones_for(pen.role)
        limits = {
            z: (
                pen.governor.cap_for(pen.role, z, pen.device),
                pen.governor.cap_for(pen.role, z, pen.device, override=True),
            )
            for z in zones
        }
        self.query_one(ZoneList).set_zones(limits, self.step_um)
        if any(h is not None and c is not None and h > c for c, h in limits.values()):
            self.query_one("#zones-title", Static).update("Zone               cap   reason")
        self.query_one(FaceMap).show(None, zones)
        self.query_one(EventLog).add(app.model.log_since(0))
        self.show_setpoints()
        self.query_one(ZoneList).focus()
        if pen.zone is not None:
            self._zone_chosen(pen.zone, None)
        elif app.flow.zone:
            self.choose_zone(app.flow.zone)

    # --- refresh from the model (20 times a second) ------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # N (a new session) only once this one has ended by itself.
        if action == "restart":
            return self.ended_by_itself() is not None
        return True

    def ended_by_itself(self) -> str | None:
        """What ended this session without the operator (a lost link, a reboot, the pen's
        watchdog), or None while it lives."""
        pen = self.host.pen
        if pen is None or pen.alive:
            return None
        snap = self.host.model.snapshot()
        for what in (snap.link_lost, snap.rebooted, snap.session_ended):
            if what:
                return what
        return "The session has ended."

    def action_restart(self) -> None:
        if self.ended_by_itself() is not None:
            self.host.restart_after_loss()

    def _session_over_line(self) -> None:
        over = self.ended_by_itself()
        box = self.query_one("#session-over", Static)
        text = (
            ""
            if over is None
            else f"{over} The needle is stopped. Press N for a new session with the same "
            "client, or Ctrl+E for the summary."
        )
        if self._over_shown != text:  # only on a change: a footer rebuild is not free
            self._over_shown = text
            box.update(text)
            box.set_class(bool(text), "-on")
            self.refresh_bindings()

    def refresh_view(self, snap: Snapshot) -> None:
        super().refresh_view(snap)
        self._session_over_line()
        log = self.query_one(EventLog)
        if snap.last_log_seq != log.last_seq:
            log.add(self.host.model.log_since(log.last_seq))
        # redrawn on each STATUS, and once when the link is lost or the pen reboots (then the
        # panel says the readings are unknown instead of showing the last ones as live)
        seen = (snap.status_count, bool(snap.link_lost or snap.rebooted))
        if seen != self._last_count or self.host.model is None:
            self._last_count = seen
            self.query_one(Telemetry).show(snap, self.zone, self.step_um)
            self._run_button(snap.state)

    def _run_button(self, state: State | None) -> None:
        # No refresh_bindings() here: no binding depends on the pen's state (F and U always
        # work), and each refresh rebuilds the footer, tens of ms of UI work at every START,
        # STOP and e-stop, when the driver's threads most need the GIL.
        self._shown_state = state
        button = self.query_one("#start-stop", Button)
        running = state is State.RUNNING
        label = "■ Stop" if running else "▶ Start"
        if str(button.label) != label:
            button.label = label
            button.variant = "warning" if running else "success"

    def _courses(self) -> CourseLines:
        """The client's open courses (read once per screen), for the course line."""
        if self._course_lines is None:
            pen = self.host.pen
            client = pen.client_ref if pen is not None else None
            self._course_lines = CourseLines(self.host.workstation, client)
        return self._course_lines

    def show_setpoints(self) -> None:
        pen = self.host.pen
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column()
        if self.zone is None:
            grid.add_row("Zone", Text("choose a zone (Up/Down, Enter)", style="yellow"))
        else:
            cap = pen.cap_mm(self.zone) if pen is not None else None
            hard = (
                pen.governor.cap_for(pen.role, self.zone, pen.device, override=True)
                if pen is not None
                else None
            )
            step = self.step_um
            words = f"{fmt.zone(self.zone)}   cap {fmt.mm(cap, step)}"
            if hard is not None and cap is not None and hard > cap:
                words += f", up to {fmt.mm(hard, step)} with a recorded reason"
            grid.add_row("Zone", words)
            course = self._courses().text(self.zone)
            if course is not None:
                grid.add_row("Course", course)
            self.query_one("#controls").set_class(course is not None, "-course")
        step = self.step_um
        grid.add_row("Depth", decision_text(self.depth_asked, self.depth_decision, "mm", step))
        rate = decision_text(self.rate_asked, self.rate_decision, "Hz", step)
        if self.rate_note:
            rate.append(f"  {self.rate_note}", style="dim")
        grid.add_row("Rate", rate)
        if pen is not None:
            how = "C fits a fresh one (simulated pen)" if simulated(pen) else BY_HAND
            grid.add_row("Cartridge", Text(how, style="dim"))
        self.query_one("#setpoints", Static).update(grid, layout=False)

    # --- zones ---------------------------------------------------------------------------------

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.choose_zone(event.option.id)

    def action_focus_zones(self) -> None:
        self.query_one(ZoneList).focus()

    def choose_zone(self, zone: str, reason: str | None = None) -> None:
        app = self.host
        pen = app.pen
        if pen is None:
            return
        app.run_command(
            f"zone {zone}",
            lambda: pen.select_zone(zone, override_reason=reason),
            on_done=lambda d: self._zone_chosen(zone, d),
            on_error=lambda e: self._zone_refused(zone, e),
            coalesce="zone",
        )

    def _zone_chosen(self, zone: str, decision: Decision | None) -> None:
        app = self.host
        pen = app.pen
        self.zone = zone
        app.flow.zone = zone
        self.query_one(ZoneList).set_current(zone)
        if pen is not None:
            self.query_one(FaceMap).show(zone, pen.governor.zones_for(pen.role))
            before = self.depth_decision
            if (
                decision is not None
                and before is not None
                and before.depth_um is not None
                and decision.depth_um is not None
                and decision.depth_um < before.depth_um
            ):
                app.model.log(
                    "warn",
                    f"Clamped by the zone change: {fmt.mm(before.depth_mm, self.step_um)} is too "
                    f"deep for {fmt.zone(zone)}; the depth was brought down to "
                    f"{fmt.mm(decision.depth_mm, self.step_um)} (its cap without a recorded "
                    f"reason is {fmt.mm(pen.cap_mm(zone), self.step_um)}).",
                )
            if pen.depth_decision is not None:
                self.depth_decision = pen.depth_decision
            app.model.log("info", f"Zone: {fmt.zone(zone)}.")
            if pen.rate_decision is None and self.rate_asked is None:
                self.rate_note = "(default)"
                self.request_rate(DEFAULT_RATE_HZ)
        self.show_setpoints()

    def _zone_refused(self, zone: str, exc: BaseException) -> None:
        app = self.host
        pen = app.pen
        app.show_error(str(exc))
        if pen is None or not isinstance(exc, NotAllowed) or pen.role != "clinician":
            return
        # The driver refuses a zone that needs an override (the interval since the last
        # session) and hands over the governor's decision: ask the clinician for the reason.
        decision = exc.decision
        if decision is None or decision.outcome is not Outcome.NEEDS_OVERRIDE:
            return
        if decision.bound_by == "interval":
            self._ask_interval(zone, decision)
            return
        self._ask_override(
            f"Zone {fmt.zone(zone)}", decision, lambda why: self.choose_zone(zone, why)
        )

    def _ask_interval(self, zone: str, decision: Decision) -> None:
        """A session sooner than the policy's interval on `zone`: asked once per zone and
        session; the reason given is used again for that zone (zone changes, depths)."""
        known = self.interval_reasons.get(zone)
        if known is not None:
            self.choose_zone(zone, known)
            return
        app = self.host
        pen = app.pen
        days = app.policy.min_days_between_sessions
        when = ""
        if pen is not None and pen.client_ref:
            try:
                ago = app.workstation.last_treatment_days_ago(pen.client_ref, zone, now=app.clock())
            except DriverError:
                ago = None
            if ago is not None:
                last = app.clock() - ago * 86400
                when = (
                    f"The last session on {fmt.zone(zone)} was on {fmt.date(last)}; the policy "
                    f"asks {days} days between sessions. Without a reason the next session "
                    f"there is allowed from {fmt.date(last + days * 86400)}."
                )

        def closed(reason: str | None) -> None:
            if reason is None:
                app.model.log("info", f"Zone {fmt.zone(zone)}: no reason given; not chosen.")
                return
            self.interval_reasons[zone] = reason
            self.choose_zone(zone, reason)

        self.app.push_screen(
            OverrideDialog(
                f"Zone {fmt.zone(zone)}, sooner than the interval",
                decision,
                title="Sooner than the interval between sessions",
                note=when,
                placeholder="Reason for treating this zone again so soon",
            ),
            closed,
        )

    # --- run control -------------------------------------------------------------------------

    def action_start_stop(self) -> None:
        app = self.host
        pen = app.pen
        if pen is None:
            return
        state = pen.status.state if pen.status is not None else None
        start_queued = app.commands_busy() and self._start_job
        if state is State.RUNNING or start_queued:
            self._start_job = 0
            self.pending_depth_um = None
            self.pending_rate = None
            app.run_command("stop", pen.stop, urgent=True)
            return
        job = app.run_command(
            "start", pen.start, on_done=lambda _: self._started(), on_error=self._start_failed
        )
        self._start_job = job.id

    def _started(self) -> None:
        self._start_job = 0

    def _start_failed(self, exc: BaseException) -> None:
        self._start_job = 0
        self.host.show_error(str(exc))

    def action_reset_fault(self) -> None:
        app = self.host
        pen = app.pen
        if pen is None:
            return
        app.run_command(
            "reset fault",
            lambda: pen.reset("fault"),
            on_done=lambda _: app.model.log("info", "Fault reset sent; the pen cleared it."),
        )

    def action_release_estop(self) -> None:
        app = self.host
        pen = app.pen
        if pen is None:
            return

        def done(_: object) -> None:
            app.model.clear_estop_note()
            app.model.log("info", "E-stop released. Press Space to start again.")

        app.run_command("release e-stop", lambda: pen.reset("estop"), on_done=done)

    def action_fresh_cartridge(self) -> None:
        """C: a fresh cartridge on a simulated pen; on a real pen, say it is changed by hand."""
        app = self.host
        pen = app.pen
        if pen is None:
            return
        if simulated(pen) is None:
            app.model.log("info", BY_HAND)
            self.app.notify(BY_HAND, timeout=6)
            return
        app.run_command(
            "fresh cartridge",
            lambda: fit_fresh_cartridge(pen),
            on_done=lambda _: app.model.log(
                "info", "A fresh cartridge was fitted to the simulated pen."
            ),
        )

    def action_end_session(self) -> None:
        def closed(yes: bool | None) -> None:
            if yes:
                self.host.end_session("treatment finished")

        self.app.push_screen(
            ConfirmDialog(
                "End the session",
                "Stop the needle, close the session and show the summary?",
                yes="End session",
                no="Keep treating",
            ),
            closed,
        )

    # --- the buttons (each does what its key does) ---------------------------------------

    @on(Button.Pressed, "#depth-down")
    def depth_down_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_depth(-1)

    @on(Button.Pressed, "#depth-up")
    def depth_up_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_depth(1)

    @on(Button.Pressed, "#rate-down")
    def rate_down_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_rate(-1)

    @on(Button.Pressed, "#rate-up")
    def rate_up_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_rate(1)

    @on(Button.Pressed, "#depth-type")
    def depth_type_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_type_depth()

    @on(Button.Pressed, "#rate-type")
    def rate_type_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_type_rate()

    @on(Button.Pressed, "#start-stop")
    def start_stop_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_start_stop()

    @on(Button.Pressed, "#reset-fault")
    def reset_fault_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_reset_fault()

    @on(Button.Pressed, "#release-estop")
    def release_estop_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_release_estop()

    @on(Button.Pressed, "#end-session")
    def end_session_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_end_session()
