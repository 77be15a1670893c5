"""The treatment screen's depth and rate controls: + and -, ] and [, typed values (d, r)
with the governor's preview, and the override reason the governor may ask for.

Every request goes to the driver on the worker thread (coalesced: a held key becomes one or
two commands); what the governor decided comes back and is shown beside what was asked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from driver.session import Decision, Outcome

from .. import format as fmt
from ..typed import Proposal, proposal
from .base import StepScreen
from .dialogs import ConfirmDialog, OverrideDialog, ValueDialog, depth_prompt

#: The rate asked when a zone is first chosen and no rate was set (typical of commercial pens;
#: the governor clamps it to the role's and the pen's range like any other request).
DEFAULT_RATE_HZ = 100
RATE_STEP_HZ = 5


class DepthRateControls(StepScreen):
    """Depth and rate requests (the rest of the treatment screen: tui/screens/treatment.py)."""

    zone: str | None
    depth_asked: float | None
    depth_decision: Decision | None
    rate_asked: float | None
    rate_decision: Decision | None
    rate_note: str
    pending_depth_um: int | None
    pending_rate: int | None
    _latest_depth_job: int
    _latest_rate_job: int
    #: the reason given for a zone sooner than the interval (asked once per zone)
    interval_reasons: dict[str, str]

    def show_setpoints(self) -> None:
        raise NotImplementedError

    def _depth_base_um(self) -> int | None:
        if self.pending_depth_um is not None:
            return self.pending_depth_um
        pen = self.host.pen
        if pen is not None and pen.depth_decision is not None:
            return pen.depth_decision.depth_um
        return None

    def action_depth(self, direction: int) -> None:
        pen = self.host.pen
        if pen is None:
            return
        step = round(pen.device.depth_step_mm * 1000)
        base = self._depth_base_um()
        target = round(pen.device.depth_min_mm * 1000) if base is None else base + direction * step
        self.request_depth(target / 1000)

    def action_type_depth(self) -> None:
        pen = self.host.pen
        if pen is None:
            return
        if self.zone is None:
            self.host.show_error("Choose a treatment zone before setting a depth.")
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
                spell=lambda v: fmt.mm(v, step),
            ),
            chosen,
        )

    def _judge_depth(
        self, mm: float, reply: Callable[[Proposal], None], reason: str | None = None
    ) -> None:
        """The governor's preview of `mm` (on the worker thread) as a Proposal for `reply`."""
        app = self.host
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
                self.host.show_error(p.sentence or "The governor still asks for a reason.")
                return
            send = p.send
            if not p.confirm:
                self.request_depth(send, reason)
                return

            def closed(yes: bool | None) -> None:
                if yes:
                    self.request_depth(send, reason)
                else:
                    self.host.model.log("info", "Depth not changed; nothing was sent.")

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
        app = self.host
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
            self.depth_asked = None if self.host.pen is None else self.host.pen.depth_mm
            self.show_setpoints()
        self.host.show_error(str(exc))

    def _ask_override(self, what: str, d: Decision, retry: Any) -> None:
        def closed(reason: str | None) -> None:
            if reason is None:
                self.host.model.log("info", f"{what}: no override; nothing was sent.")
                return
            retry(reason)

        # The reason field starts empty every time: each override is its own decision.
        self.app.push_screen(OverrideDialog(what, d), closed)

    def action_rate(self, direction: int) -> None:
        pen = self.host.pen
        if pen is None:
            return
        base = self.pending_rate if self.pending_rate is not None else pen.rate_hz
        if base is None:
            base = DEFAULT_RATE_HZ
            direction = 0
        self.rate_note = ""
        self.request_rate(base + direction * RATE_STEP_HZ)

    def action_type_rate(self) -> None:
        pen = self.host.pen
        if pen is None:
            return
        if self.zone is None:
            self.host.show_error("Choose a treatment zone before setting a rate.")
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
                spell=fmt.hz,
            ),
            chosen,
        )

    def _judge_rate(self, hz: float, reply: Callable[[Proposal], None]) -> None:
        app = self.host
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
        app = self.host
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
        self.host.show_error(str(exc))
