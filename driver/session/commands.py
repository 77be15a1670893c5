"""Governed commands: depth, rate and zone changes, judged by the governor and
sent only as it approves, never raising the depth by a zone change."""

from __future__ import annotations

import protocol
from protocol import State

from ..errors import CommandRefused, DriverError, LinkLost, NotAllowed
from ..safety import Decision, Effect, Outcome, Request, Rule
from ..vocabulary import format_mm
from .core import DEPTH_TOLERANCE_UM, PenCore
from .records import jsonable, sentences
from .updates import PenUpdate


class GovernedCommands(PenCore):
    """Governed commands: depth, rate and zone changes, judged by the governor and"""

    def _days_since_last(self, zone: str) -> float | None:
        key = (self.client_ref, self.session_id, zone)  # a new session or client reads again
        if key not in self._interval_read:
            self._interval_read[key] = self.store.last_treatment_days_ago(
                self.client_ref, zone, exclude_session=self.session_id
            )
        return self._interval_read[key]

    def _decide(
        self, zone: str, depth_mm: float, rate_hz: float, override_reason: str | None
    ) -> Decision:
        return self.governor.decide(
            Request(
                role=self.role,
                zone=zone,
                depth_mm=depth_mm,
                rate_hz=rate_hz,
                device=self.device,
                override_reason=override_reason,
                last_session_days_ago=self._days_since_last(zone),
            )
        )

    def _deepest_possible_um(self) -> int:
        """The deepest set-point the pen may hold now (for judging a zone change or a rate):
        the last acknowledged depth, any depth sent without an answer, and what a STATUS sent
        after the last acknowledgement reports. Before any depth was set, the pen's own
        set-point, whatever it is (never taken as the operator's request)."""
        candidates = [self.device_floor_um]
        if self._acked_um is not None:
            candidates.append(self._acked_um)
        if self._unconfirmed_um is not None:
            candidates.append(self._unconfirmed_um)
        st = self.status
        if st is not None and (self._acked_um is None or self._status_is_fresh()):
            candidates.append(st.depth_set_um)
        return max(candidates)

    def _real_setpoint_um(self) -> int:
        """The set-point the pen really holds, as low as it may be: the one it acknowledged
        last (or, with an unanswered one outstanding, the lower of the two). A depth the host
        lowers to automatically never goes above this."""
        candidates: list[int] = []
        if self._acked_um is not None:
            candidates.append(self._acked_um)
        if self._unconfirmed_um is not None:
            candidates.append(self._unconfirmed_um)
        st = self.status
        if st is not None and (self._acked_um is None or self._status_is_fresh()):
            candidates.append(st.depth_set_um)
        return min(candidates) if candidates else self.device_floor_um

    @property
    def device_floor_um(self) -> int:
        """The shallowest depth this host sends to this pen (its range within the policy)."""
        return round(self.device.depth_min_mm * 1000)

    def _current_depth_mm(self) -> float:
        """The depth a rate change is judged with: the approved one, or the deepest the pen may
        hold; before any depth was approved, the shallowest depth the host would send."""
        if self.depth_decision is None or self.depth_decision.depth_mm is None:
            return self.device_floor_um / 1000
        return max(self.depth_decision.depth_mm, self._deepest_possible_um() / 1000)

    def set_depth(self, depth_mm: float, override_reason: str | None = None) -> Decision:
        """Ask the governor for `depth_mm` in the current zone; send what it approves.

        Returns the decision. `needs_override` and `rejected` send nothing. A clamped depth is
        sent clamped. A deeper (or equal) depth is committed to the audit log before it is
        written; a shallower one is sent even when the store cannot take its record at once.
        """
        with self._cmd_lock:
            self._require_usable()
            if self.zone is None:
                raise NotAllowed("Choose a treatment zone before setting a depth.")
            decision = self._decide(self.zone, depth_mm, self._current_rate(), override_reason)
            decision = decision.without(Rule.RATE, Effect.WITHIN)
            self._apply_depth(decision, requested=depth_mm, why="set_depth")
            return decision

    def preview_depth(self, depth_mm: float, override_reason: str | None = None) -> Decision:
        """What `set_depth(depth_mm, override_reason)` would decide now, without sending or
        recording anything: for a UI that shows "this will set X mm" before it asks."""
        with self._cmd_lock:
            self._require_usable()
            if self.zone is None:
                raise NotAllowed("Choose a treatment zone before setting a depth.")
            decision = self._decide(self.zone, depth_mm, self._current_rate(), override_reason)
            return decision.without(Rule.RATE, Effect.WITHIN)

    def preview_rate(self, rate_hz: float) -> Decision:
        """What `set_rate(rate_hz)` would decide now, without sending or recording anything."""
        with self._cmd_lock:
            self._require_usable()
            if self.zone is None:
                raise NotAllowed("Choose a treatment zone before setting a rate.")
            carried = self.depth_decision.override_reason if self.depth_decision else None
            decision = self._decide(self.zone, self._current_depth_mm(), rate_hz, carried)
            return decision.without(Rule.DEPTH, Effect.WITHIN)

    def _apply_depth(
        self, decision: Decision, *, requested: object, why: str, zone: str | None = None
    ) -> None:
        zone = zone or self.zone
        sendable = decision.outcome in (Outcome.ALLOWED, Outcome.CLAMPED)
        depth_um = decision.depth_um if sendable else None
        seq = self._link.next_seq() if depth_um is not None else None
        record = {
            "what": "depth",
            "why": why,
            "zone": zone,
            "requested_mm": jsonable(requested),
            **decision.to_json_dict(),
            "command": None
            if depth_um is None
            else {"type": "SET_DEPTH", "seq": seq, "depth_um": depth_um},
        }
        deepest = self._deepest_possible_um()
        lowering = depth_um is not None and depth_um < deepest
        if lowering:
            self._log_soon("decision", record)
        else:
            self._log_first("decision", record)
        self._publish(PenUpdate("decision", " ".join(decision.reasons), decision=decision))
        if depth_um is None or seq is None:
            return
        if lowering and deepest - depth_um > DEPTH_TOLERANCE_UM and self._needle_may_run():
            # the needle would stamp deeper than the new set-point while it retracts: stop it
            # first; it does not start again by itself
            self._command(protocol.Stop(), lowers_risk=True)
            self._end_zone_timer()
            sentence = (
                f"The needle was stopped while it retracts from {format_mm(deepest)} to "
                f"{format_mm(depth_um)}; start again when ready."
            )
            self._log_soon("retract_stop", {"from_um": deepest, "to_um": depth_um})
            self._publish(PenUpdate("retracting", sentence))
        previous = self._unconfirmed_um
        # Until the ACK arrives the pen may or may not have this set-point: remember the
        # deepest such depth, so later checks (a zone change) assume the worst.
        self._unconfirmed_um = max(depth_um, previous or 0)
        self._known_setpoints.add(depth_um)
        try:
            self._command(protocol.SetDepth(depth_um), seq=seq, logged=True, lowers_risk=lowering)
        except CommandRefused:
            self._unconfirmed_um = previous  # a NACK: the pen changed nothing
            raise
        self._unconfirmed_um = None
        self._acked_um = depth_um
        self._status_count_at_ack = self._status_count
        self.depth_decision = decision

    def set_rate(self, rate_hz: float) -> Decision:
        """Ask the governor for `rate_hz`; send the rate it approves (never higher)."""
        with self._cmd_lock:
            self._require_usable()
            if self.zone is None:
                raise NotAllowed("Choose a treatment zone before setting a rate.")
            # The depth stays as approved, with the override reason it was approved with (a
            # clinician past a recommended max must still be able to change the rate).
            carried = self.depth_decision.override_reason if self.depth_decision else None
            decision = self._decide(self.zone, self._current_depth_mm(), rate_hz, carried)
            decision = decision.without(Rule.DEPTH, Effect.WITHIN)
            sendable = decision.outcome in (Outcome.ALLOWED, Outcome.CLAMPED)
            rate = decision.rate_hz if sendable else None
            seq = self._link.next_seq() if rate is not None else None
            self._log_first(
                "decision",
                {
                    "what": "rate",
                    "zone": self.zone,
                    "requested_hz": jsonable(rate_hz),
                    **decision.to_json_dict(),
                    "command": None
                    if rate is None
                    else {"type": "SET_RATE", "seq": seq, "rate_hz": rate},
                },
            )
            self._publish(PenUpdate("decision", "; ".join(decision.reasons), decision=decision))
            if rate is not None and seq is not None:
                self._command(protocol.SetRate(rate), seq=seq, logged=True)
                self.rate_decision = decision
            return decision

    def select_zone(self, zone: str, override_reason: str | None = None) -> Decision | None:
        """Change the treatment zone.

        The depth in force is judged against the new zone's limits (with `override_reason`,
        which is recorded with the decision for the new zone). If it is too deep there it is
        brought down at once, never above the set-point the pen really holds: a zone change
        only ever lowers the depth, and the zone changes only once the pen has acknowledged
        the lower depth. Raises NotAllowed (and keeps the old zone) when the role may not
        treat that zone at all, or only with a reason that was not given.

        If the lower depth cannot be confirmed, the needle is stopped; if even that fails, the
        host stops feeding the pen's watchdog, so the pen stops by itself.
        """
        with self._cmd_lock:
            self._require_usable()
            deepest = self._deepest_possible_um()
            real = self._real_setpoint_um()
            rate = self._current_rate()
            approved = self.depth_decision is not None or self._unconfirmed_um is not None
            # Before any depth was approved the pen's idle set-point is nobody's request: judge
            # the zone at the shallowest depth the host would send, and only lower the pen.
            judged = deepest if approved else min(deepest, self.device_floor_um)
            decision = self._decide(zone, judged / 1000, rate, override_reason)
            if decision.outcome is Outcome.NEEDS_OVERRIDE:
                # Deeper than the new zone allows without a reason: come down to what it
                # allows (its cap without override), never stay deeper.
                fallback = self.governor.cap_for(self.role, zone, self.device)
                if fallback is not None:
                    decision = self._decide(zone, min(judged / 1000, fallback), rate, None)
            if decision.outcome is Outcome.REJECTED or decision.outcome is Outcome.NEEDS_OVERRIDE:
                self._log_first(
                    "zone_refused",
                    {"zone": zone, "from": self.zone, **decision.to_json_dict()},
                )
                raise NotAllowed(
                    f"Zone {zone} is not available: {sentences(decision.reasons)}", decision
                )
            target = decision.depth_um
            if target is not None and target > real and target < deepest:
                # Never raise: the pen may already hold less than the worst case judged above.
                again = self._decide(zone, real / 1000, rate, decision.override_reason)
                if again.sendable and again.depth_um is not None and again.depth_um <= real:
                    decision = again
                    target = again.depth_um
            if target is not None and target < deepest:
                try:
                    self._apply_depth(
                        decision, requested=judged / 1000, why="zone_change", zone=zone
                    )
                except DriverError as exc:
                    raise self._clamp_failed(zone, exc) from exc
            elif approved:
                # No depth change: the depth in force gets its decision for the new zone, with
                # the reason it was given (the interval, a recommended limit).
                self._log_first(
                    "decision",
                    {
                        "what": "depth",
                        "why": "zone_change",
                        "zone": zone,
                        "requested_mm": judged / 1000,
                        **decision.to_json_dict(),
                        "reason_given": override_reason,
                        "command": None,
                    },
                )
                self._publish(PenUpdate("decision", " ".join(decision.reasons), decision=decision))
                self.depth_decision = decision
            old = self.zone
            self._end_zone_timer()
            self.zone = zone
            if self.status is not None and self.status.state == State.RUNNING:
                self._zone_started = self._clock()
            self._log_first("zone", {"zone": zone, "from": old})
            return decision

    def _clamp_failed(self, zone: str, exc: DriverError) -> DriverError:
        """The pen may still be deeper than `zone` allows: stop the needle, or failing that,
        let the pen's watchdog stop it."""
        try:
            self._command(protocol.Stop(), lowers_risk=True)
            stopped = "the needle was stopped"
        except DriverError:
            self._link.stop_heartbeat()
            self._die(
                LinkLost(
                    "The pen does not answer: the host stopped its heartbeat so the pen's "
                    "watchdog stops the needle; start again."
                )
            )
            stopped = "the pen does not answer, so its watchdog will stop the needle"
        sent = self._unconfirmed_um
        self._log_soon(
            "zone_change_failed",
            {"zone": zone, "error": str(exc), "sent_depth_um": sent, "then": stopped},
        )
        what = f"{format_mm(sent)} was sent without an answer" if sent is not None else str(exc)
        return NotAllowed(
            f"The zone stays {self.zone or 'unset'}: the depth could not be lowered for {zone} "
            f"({what}); {stopped}."
        )
