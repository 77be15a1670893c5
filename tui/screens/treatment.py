"""Step 4: the treatment. Pick a zone, set depth and rate (the governor decides what is sent),
start and stop with Space, watch the live telemetry and the event log.

Every depth shows three things: what was asked, what the governor allowed, and the limit that
bound it. When a clinician asks past a recommended limit the governor answers needs_override
and this screen asks for the reason, then asks again with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Footer, OptionList, Static

from driver.errors import DriverError, NotAllowed
from driver.safety import Decision, Outcome
from protocol import State

from .. import format as fmt
from ..cartridge import BY_HAND, fit_fresh_cartridge, simulated
from ..courses import CourseLines
from ..model import Snapshot
from ..typed import Proposal, proposal
from ..widgets.eventlog import EventLog
from ..widgets.facemap import FaceMap
from ..widgets.telemetry import Telemetry
from ..widgets.zones import ZoneList
from .base import StepScreen
from .dialogs import ConfirmDialog, OverrideDialog, ValueDialog, depth_prompt

#: The rate asked when a zone is first chosen and no rate was set (typical of commercial pens;
#: the governor clamps it to the role's and the pen's range like any other request).
DEFAULT_RATE_HZ = 100
RATE_STEP_HZ = 5


class TreatmentScreen(StepScreen):
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

    def __init__(self) -> None:
        super().__init__()
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
        self._last_count = -1
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
        app = self.napp
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
        pen = self.napp.pen
        if pen is None or pen.alive:
            return None
        snap = self.napp.model.snapshot()
        for what in (snap.link_lost, snap.rebooted, snap.session_ended):
            if what:
                return what
        return "The session has ended."

    def action_restart(self) -> None:
        if self.ended_by_itself() is not None:
            self.napp.restart_after_loss()

    def _show_session_over(self) -> None:
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
        self._show_session_over()
        log = self.query_one(EventLog)
        if snap.last_log_seq != log.last_seq:
            log.add(self.napp.model.log_since(log.last_seq))
        if snap.status_count != self._last_count or self.napp.model is None:
            self._last_count = snap.status_count
            self.query_one(Telemetry).show(snap, self.zone, self.step_um)
            self._show_run_button(snap.state)

    def _show_run_button(self, state: State | None) -> None:
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
            pen = self.napp.pen
            client = pen.client_ref if pen is not None else None
            self._course_lines = CourseLines(self.napp.store, self.napp.policy, client)
        return self._course_lines

    def show_setpoints(self) -> None:
        pen = self.napp.pen
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
        grid.add_row("Depth", self._decision_text(self.depth_asked, self.depth_decision, "mm"))
        rate = self._decision_text(self.rate_asked, self.rate_decision, "Hz")
        if self.rate_note:
            rate.append(f"  {self.rate_note}", style="dim")
        grid.add_row("Rate", rate)
        if pen is not None:
            how = "C fits a fresh one (simulated pen)" if simulated(pen) else BY_HAND
            grid.add_row("Cartridge", Text(how, style="dim"))
        self.query_one("#setpoints", Static).update(grid, layout=False)

    def _decision_text(self, asked: float | None, d: Decision | None, unit: str) -> Text:
        if asked is None:
            return Text("not set", style="dim")
        step = self.step_um
        shown = fmt.mm(asked, step) if unit == "mm" else fmt.hz(asked)
        text = Text(f"asked {shown} → ")
        if d is None:
            text.append("waiting for the governor…", style="dim")
            return text
        if d.outcome in (Outcome.ALLOWED, Outcome.CLAMPED):
            value = fmt.mm(d.depth_mm, step) if unit == "mm" else fmt.hz(d.rate_hz)
            style = "bold green" if d.outcome is Outcome.ALLOWED else "bold yellow"
            text.append(f"allowed {value}", style=style)
            if d.outcome is Outcome.CLAMPED:
                text.append(f" (clamped by {fmt.bound_by(d.bound_by)})", style="yellow")
            elif unit == "mm" and d.depth_mm is not None and d.depth_mm < asked - 1e-9:
                above_cap = d.cap_mm is not None and asked > d.cap_mm + 1e-9
                why = "brought down for this zone" if above_cap else "rounded to the pen's step"
                text.append(f" ({why})", style="yellow")
            if d.override_reason and unit == "mm":
                text.append(f"  override: {d.override_reason}", style="yellow")
            if unit == "mm" and d.cap_mm is not None:
                text.append(f"  cap {fmt.mm(d.cap_mm, step)}", style="dim")
        elif d.outcome is Outcome.NEEDS_OVERRIDE:
            text.append("needs a recorded reason", style="bold yellow")
            text.append(f" ({fmt.bound_by(d.bound_by)})", style="yellow")
        else:
            text.append("refused: " + " ".join(d.reasons), style="bold red")
        return text

    # --- zones ---------------------------------------------------------------------------------

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.choose_zone(event.option.id)

    def action_focus_zones(self) -> None:
        self.query_one(ZoneList).focus()

    def choose_zone(self, zone: str, reason: str | None = None) -> None:
        app = self.napp
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
        app = self.napp
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
        app = self.napp
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
        app = self.napp
        pen = app.pen
        days = app.policy.min_days_between_sessions
        when = ""
        if pen is not None and pen.client_ref:
            try:
                ago = app.store.last_treatment_days_ago(pen.client_ref, zone, now=app.clock())
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

    # --- depth and rate ----------------------------------------------------------------------

    def _depth_base_um(self) -> int | None:
        if self.pending_depth_um is not None:
            return self.pending_depth_um
        pen = self.napp.pen
        if pen is not None and pen.depth_decision is not None:
            return pen.depth_decision.depth_um
        return None

    def action_depth(self, direction: int) -> None:
        pen = self.napp.pen
        if pen is None:
            return
        step = round(pen.device.depth_step_mm * 1000)
        base = self._depth_base_um()
        target = round(pen.device.depth_min_mm * 1000) if base is None else base + direction * step
        self.request_depth(target / 1000)

    def action_type_depth(self) -> None:
        pen = self.napp.pen
        if pen is None:
            return
        if self.zone is None:
            self.napp.show_error("Choose a treatment zone before setting a depth.")
            return
        cap = pen.cap_mm(self.zone)
        hard = pen.governor.cap_for(pen.role, self.zone, pen.device, override=True)
        step = self.step_um

        def chosen(value: float | None) -> None:
            if value is not None:
                self.request_depth(value)

        self.app.push_screen(
            ValueDialog(
                "Depth",
                depth_prompt(self.zone, cap, hard, pen.depth_mm, step),
                "mm",
                judge=self._judge_depth,
                show=lambda v: fmt.mm(v, step),
            ),
            chosen,
        )

    def _judge_depth(
        self, mm: float, reply: Callable[[Proposal], None], reason: str | None = None
    ) -> None:
        """The governor's preview of `mm` (on the worker thread) as a Proposal for `reply`."""
        app = self.napp
        pen = app.pen
        if pen is None:
            reply(Proposal(mm, None, sentence="No pen is connected; nothing was sent."))
            return
        running = pen.depth_mm
        step = self.step_um
        app.run_command(
            "preview depth",
            lambda: pen.preview_depth(mm, override_reason=reason),
            on_done=lambda d: reply(proposal(mm, d, "mm", running=running, step_um=step)),
            on_error=lambda e: reply(Proposal(mm, None, sentence=str(e))),
        )

    def _depth_with_reason(self, mm: float, reason: str) -> None:
        """After an override reason: what the governor will send with it, confirmed first
        when it is not what was asked (a clamp to the hard max, the pen's step)."""

        def judged(p: Proposal) -> None:
            if p.send is None:
                self.napp.show_error(p.sentence or "The governor still asks for a reason.")
                return
            send = p.send
            if not p.confirm:
                self.request_depth(send, reason)
                return

            def closed(yes: bool | None) -> None:
                if yes:
                    self.request_depth(send, reason)
                else:
                    self.napp.model.log("info", "Depth not changed; nothing was sent.")

            self.app.push_screen(
                ConfirmDialog(
                    "Depth with a recorded reason",
                    p.sentence,
                    yes=f"Set {fmt.mm(send, self.step_um)}",
                    no="Cancel",
                ),
                closed,
            )

        self._judge_depth(mm, judged, reason)

    def request_depth(self, mm: float, reason: str | None = None) -> None:
        app = self.napp
        pen = app.pen
        if pen is None:
            return
        if self.zone is None:
            app.show_error("Choose a treatment zone before setting a depth.")
            return
        self.depth_asked = mm
        self.depth_decision = None
        self.pending_depth_um = round(mm * 1000)
        self.show_setpoints()
        job = app.run_command(
            "depth",
            lambda: pen.set_depth(mm, override_reason=reason),
            on_done=lambda d: self._depth_decided(job_id, mm, d),
            on_error=lambda e: self._depth_failed(job_id, e),
            coalesce="depth",
        )
        job_id = job.id
        self._latest_depth_job = job_id

    def _depth_decided(self, job_id: int, mm: float, d: Decision) -> None:
        if job_id != self._latest_depth_job:
            return
        self.pending_depth_um = None
        self.depth_asked = mm
        self.depth_decision = d
        self.show_setpoints()
        if d.outcome is Outcome.NEEDS_OVERRIDE and d.bound_by == "interval" and self.zone:
            known = self.interval_reasons.get(self.zone)
            if known is not None:  # asked once per zone and session, never again
                self.request_depth(mm, known)
                return
        if d.outcome is Outcome.NEEDS_OVERRIDE:
            self._ask_override(
                f"Depth {fmt.mm(mm, self.step_um)} on {fmt.zone(self.zone)}",
                d,
                lambda why: self._depth_with_reason(mm, why),
            )

    def _depth_failed(self, job_id: int, exc: BaseException) -> None:
        if job_id == self._latest_depth_job:
            self.pending_depth_um = None
            self.depth_decision = None
            self.depth_asked = None if self.napp.pen is None else self.napp.pen.depth_mm
            self.show_setpoints()
        self.napp.show_error(str(exc))

    def _ask_override(self, what: str, d: Decision, retry: Any) -> None:
        def closed(reason: str | None) -> None:
            if reason is None:
                self.napp.model.log("info", f"{what}: no override; nothing was sent.")
                return
            retry(reason)

        # The reason field starts empty every time: each override is its own decision.
        self.app.push_screen(OverrideDialog(what, d), closed)

    def action_rate(self, direction: int) -> None:
        pen = self.napp.pen
        if pen is None:
            return
        base = self.pending_rate if self.pending_rate is not None else pen.rate_hz
        if base is None:
            base = DEFAULT_RATE_HZ
            direction = 0
        self.rate_note = ""
        self.request_rate(base + direction * RATE_STEP_HZ)

    def action_type_rate(self) -> None:
        pen = self.napp.pen
        if pen is None:
            return
        if self.zone is None:
            self.napp.show_error("Choose a treatment zone before setting a rate.")
            return
        rng = pen.governor.rate_range_for(pen.role, pen.device)
        where = f" (allowed {rng[0]}–{rng[1]} Hz)" if rng else ""
        now = f" Now {fmt.hz(pen.rate_hz)}." if pen.rate_hz is not None else ""

        def chosen(value: float | None) -> None:
            if value is not None:
                self.rate_note = ""
                self.request_rate(value)

        self.app.push_screen(
            ValueDialog(
                "Stamp rate",
                f"Stamps per second{where}.{now}",
                "Hz",
                judge=self._judge_rate,
                show=fmt.hz,
            ),
            chosen,
        )

    def _judge_rate(self, hz: float, reply: Callable[[Proposal], None]) -> None:
        app = self.napp
        pen = app.pen
        if pen is None:
            reply(Proposal(hz, None, sentence="No pen is connected; nothing was sent."))
            return
        running = float(pen.rate_hz) if pen.rate_hz is not None else None
        app.run_command(
            "preview rate",
            lambda: pen.preview_rate(hz),
            on_done=lambda d: reply(proposal(hz, d, "Hz", running=running)),
            on_error=lambda e: reply(Proposal(hz, None, sentence=str(e))),
        )

    def request_rate(self, hz: float) -> None:
        app = self.napp
        pen = app.pen
        if pen is None:
            return
        if self.zone is None:
            app.show_error("Choose a treatment zone before setting a rate.")
            return
        self.rate_asked = hz
        self.rate_decision = None
        self.pending_rate = int(hz)
        self.show_setpoints()
        job = app.run_command(
            "rate",
            lambda: pen.set_rate(hz),
            on_done=lambda d: self._rate_decided(job_id, hz, d),
            on_error=lambda e: self._rate_failed(job_id, e),
            coalesce="rate",
        )
        job_id = job.id
        self._latest_rate_job = job_id

    def _rate_decided(self, job_id: int, hz: float, d: Decision) -> None:
        if job_id != self._latest_rate_job:
            return
        self.pending_rate = None
        self.rate_asked = hz
        self.rate_decision = d
        self.show_setpoints()

    def _rate_failed(self, job_id: int, exc: BaseException) -> None:
        if job_id == self._latest_rate_job:
            self.pending_rate = None
            self.rate_decision = None
            self.show_setpoints()
        self.napp.show_error(str(exc))

    # --- run control -------------------------------------------------------------------------

    def action_start_stop(self) -> None:
        app = self.napp
        pen = app.pen
        if pen is None:
            return
        state = pen.status.state if pen.status is not None else None
        start_queued = app.runner is not None and app.runner.busy and self._start_job
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
        self.napp.show_error(str(exc))

    def action_reset_fault(self) -> None:
        app = self.napp
        pen = app.pen
        if pen is None:
            return
        app.run_command(
            "reset fault",
            lambda: pen.reset("fault"),
            on_done=lambda _: app.model.log("info", "Fault reset sent; the pen cleared it."),
        )

    def action_release_estop(self) -> None:
        app = self.napp
        pen = app.pen
        if pen is None:
            return

        def done(_: object) -> None:
            app.model.clear_estop_note()
            app.model.log("info", "E-stop released. Press Space to start again.")

        app.run_command("release e-stop", lambda: pen.reset("estop"), on_done=done)

    def action_fresh_cartridge(self) -> None:
        """C: a fresh cartridge on a simulated pen; on a real pen, say it is changed by hand."""
        app = self.napp
        pen = app.pen
        if pen is None:
            return
        if simulated(pen) is None:
            app.model.log("info", BY_HAND)
            app.notify(BY_HAND, timeout=6)
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
                self.napp.end_session("treatment finished")

        self.app.push_screen(
            ConfirmDialog(
                "End the session",
                "Stop the needle, close the session and show the summary?",
                yes="End session",
                no="Keep treating",
            ),
            closed,
        )

    def on_button_pressed(self, event: Button.Pressed) -> None:
        actions = {
            "depth-down": lambda: self.action_depth(-1),
            "depth-up": lambda: self.action_depth(1),
            "depth-type": self.action_type_depth,
            "rate-down": lambda: self.action_rate(-1),
            "rate-up": lambda: self.action_rate(1),
            "rate-type": self.action_type_rate,
            "start-stop": self.action_start_stop,
            "reset-fault": self.action_reset_fault,
            "release-estop": self.action_release_estop,
            "end-session": self.action_end_session,
        }
        action = actions.get(event.button.id or "")
        if action is not None:
            event.stop()
            action()
