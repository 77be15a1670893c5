"""Run control: START with its rules re-checked in the store's transaction, and the
risk-lowering STOP, e-stop and the audit store's trouble, which never wait."""

from __future__ import annotations

import contextlib
import math
from typing import Literal

import protocol

from ..audit import StartFacts
from ..errors import Cancelled, CommandRefused, DriverError, NotAllowed
from ..safety import Request
from ..safety.screening import Verdict, session_verdict
from ..vocabulary import format_mm
from .core import DEPTH_TOLERANCE_UM, START_SETTLE_S, PenCore
from .estops import confirm_estop, estop_held, hold_estop, release_estop
from .records import StartRefused, sentences
from .updates import PenUpdate


class RunControl(PenCore):
    """Run control: START with its rules re-checked in the store's transaction, and the"""

    def start(self) -> None:
        """Start the needle at the approved depth and rate.

        Refused when they are not set, after an e-stop the pen has not confirmed or the
        operator has not released, when the fitted cartridge was used in an earlier session,
        and until the needle has reached the approved depth (START holds up to
        `START_SETTLE_S` for a needle still moving to a shallower set-point). A stop or an
        e-stop that comes while START waits wins: START is then not sent."""
        with self._state_lock:
            epoch = self._run_epoch
        with self._cmd_lock:
            self._require_usable()
            if self.zone is None:
                raise NotAllowed("Choose a treatment zone before starting.")
            if self.depth_decision is None:
                raise NotAllowed("Set a depth before starting.")
            if self.rate_decision is None:
                raise NotAllowed("Set a stamp rate before starting.")
            self._check_estop_released()
            status = self._wait_depth_settled()
            cartridge = status.cartridge_id if status is not None and status.cartridge_id else None
            # The rules are re-checked and the treatment recorded in one transaction BEFORE
            # START is sent: a host killed right after START still leaves its record, and a
            # second host on the same store sees it.
            self._flush_first()
            treatment = self._record_start(cartridge)

            def gate() -> bool:
                return self._run_epoch == epoch and not self._link.estop_pending

            def withdraw(why: str) -> None:
                with contextlib.suppress(DriverError):  # must not hide the real answer
                    self.store.withdraw_treatment(treatment, why)

            self._may_run, self._start_acked = True, False
            try:
                self._command(protocol.Start(), gate=gate)
            except Cancelled as exc:
                self._may_run = False
                if not exc.sent:
                    withdraw("a stop or an e-stop came before START was sent")
                raise NotAllowed("Not started: a stop or an e-stop came first.") from exc
            except CommandRefused as exc:
                # a NACK: the pen did not start, so the treatment did not begin
                self._may_run = False
                withdraw(f"the pen refused START ({getattr(exc.error, 'name', '?')})")
                raise
            except DriverError:
                # No answer: the pen may be running (the treatment stays recorded); stop it.
                with contextlib.suppress(DriverError):
                    self._command(protocol.Stop(), lowers_risk=True)
                raise
            self._start_acked = True
            self._zone_started = self._clock()

    def _wait_depth_settled(self) -> protocol.Status | None:
        """Hold START until a STATUS sent after the last depth was acknowledged shows the
        needle within `DEPTH_TOLERANCE_UM` of it; refuse after `START_SETTLE_S`."""
        target = self._acked_um
        if target is None:
            return self.status
        deadline = self._clock() + START_SETTLE_S
        while True:
            st = self.status
            if (
                st is not None
                and self._status_is_fresh()
                and st.depth_set_um == target
                and abs(st.depth_actual_um - target) <= DEPTH_TOLERANCE_UM
            ):
                return st
            self._require_connected()
            if self._clock() >= deadline:
                at = (
                    f"it is at {format_mm(st.depth_actual_um)}"
                    if st is not None
                    else "no telemetry"
                )
                self._log_first(
                    "start_refused",
                    {
                        "reason": "depth_not_settled",
                        "depth_set_um": target,
                        "depth_actual_um": st.depth_actual_um if st is not None else None,
                    },
                )
                raise NotAllowed(
                    f"Not started: the needle has not reached {format_mm(target)} yet ({at}); "
                    "try again in a moment."
                )
            self._pause()

    def _check_estop_released(self) -> None:
        held = estop_held(self.info.serial)
        if held is False or self._link.estop_pending:
            raise NotAllowed(
                "E-STOP NOT CONFIRMED by the pen: it may not have stopped; the host keeps "
                "sending the e-stop. Start is refused until the pen confirms it and it is "
                "released."
            )
        if held is True:
            raise NotAllowed("The e-stop is latched: release it before starting.")

    def _record_start(self, cartridge_id: int | None) -> int:
        """Re-check screening, cartridge and interval inside the store's write transaction
        and record the treatment there; NotAllowed (nothing recorded but the refusal) when a
        rule says no."""
        assert self.zone is not None and self.depth_decision is not None
        zone, approved = self.zone, self.depth_decision

        def check(facts: StartFacts) -> dict[str, object]:
            self._check_screening(facts)
            if facts.cartridge_used_before and cartridge_id is not None:
                raise StartRefused(
                    f"Cartridge {cartridge_id:08x} was used in an earlier session; "
                    "fit a fresh one.",
                    {"reason": "cartridge_reused", "cartridge_id": cartridge_id},
                )
            decision = self.governor.decide(
                Request(
                    role=self.role,
                    zone=zone,
                    depth_mm=approved.depth_mm if approved.depth_mm is not None else math.nan,
                    rate_hz=self._current_rate(),
                    device=self.device,
                    override_reason=approved.override_reason,
                    last_session_days_ago=facts.days_since_last,
                )
            )
            if not decision.sendable or (decision.depth_um or 0) < (approved.depth_um or 0):
                raise StartRefused(
                    f"Treatment cannot start on {zone}: {sentences(decision.reasons)}",
                    {"reason": "rules", **decision.to_json_dict()},
                )
            return {
                "days_since_last": facts.days_since_last,
                "override_reason": decision.override_reason,
            }

        self._interval_read.clear()  # the next decision reads the interval afresh
        try:
            return self.store.begin_treatment(self.session_id, zone, cartridge_id, check)
        except StartRefused as refused:
            self._log("start_refused", refused.record)
            raise NotAllowed(refused.sentence) from None

    def _check_screening(self, facts: StartFacts) -> None:
        """Refuse START after a contraindication screening of this session that blocks
        treatment or still waits for a clinician's acknowledgement (driver/screening.py's
        `session_verdict`: a later screening cannot undo a blocking one). A session with no
        screening recorded is not refused here: the TUI always screens, and scripts on the
        bench are the engineer's responsibility."""
        verdict = session_verdict(facts.screening)
        if verdict is Verdict.BLOCKED:
            raise StartRefused(
                "The screening found a contraindication: this session may not treat.",
                {"reason": "screening_blocked"},
            )
        if verdict is Verdict.NEEDS_ACKNOWLEDGEMENT:
            raise StartRefused(
                "The screening found a contraindication: a clinician must acknowledge it "
                "with a reason before treatment.",
                {"reason": "screening_unacknowledged"},
            )

    def reset(self, what: Literal["fault", "estop"]) -> None:
        """Clear a latched fault ("fault", RESET 1) or release the e-stop ("estop", RESET 2).

        Raises risk, so it is recorded before it is sent; an e-stop the pen has not
        confirmed yet cannot be released."""
        code = {"fault": protocol.ResetWhat.CLEAR_FAULT, "estop": protocol.ResetWhat.RELEASE_ESTOP}
        if what not in code:
            raise NotAllowed("Reset what? Say 'fault' or 'estop'.")
        with self._cmd_lock:
            self._require_connected()
            if what == "estop" and (
                self._link.estop_pending or estop_held(self.info.serial) is False
            ):
                raise NotAllowed(
                    "E-STOP NOT CONFIRMED by the pen: it cannot be released until the pen "
                    "confirms it."
                )
            self._command(protocol.Reset(int(code[what])))
            if what == "estop":
                release_estop(self.info.serial)

    def estop(self) -> None:
        """Emergency stop: written at once from the caller's thread; returns at once.

        Never blocked by another command in progress or by the audit store; works even when
        the session is dead. Until the pen confirms it (`estop_pending`), the host sends it
        again every 20 ms and stops its heartbeat, and START is refused on this pen (by
        serial, in this process) until it is confirmed and then released."""
        self._send_estop(None)

    @property
    def estop_pending(self) -> bool:
        """True from `estop()` until the pen confirms the e-stop (its ACK or a STATUS in
        ESTOP): the operator must be told "E-STOP NOT CONFIRMED by the pen"."""
        return self._link.estop_pending

    def wait_estop_confirmed(self, timeout: float = 1.0) -> bool:
        """Wait up to `timeout` seconds for the pen to confirm an e-stop; True once it has
        (or when none is pending). The host keeps resending meanwhile, and after."""
        deadline = self._clock() + timeout
        while self._link.estop_pending:
            if self._clock() >= deadline:
                return False
            self._pause()
        return True

    def _send_estop(self, why: str | None) -> None:
        self._bump_epoch()
        hold_estop(self.info.serial)
        seq: int | None = None
        error: str | None = None
        try:
            seq = self._link.send_estop()
        except Exception as exc:
            error = str(exc)
        self._end_zone_timer()
        self._log_soon(
            "estop",
            {"seq": seq, "serial": self.info.serial, "why": why, "error": error},
        )
        sentence = "E-stop sent; waiting for the pen to confirm it."
        if error is not None:
            sentence = f"E-stop could not be written ({error}); the host keeps trying."
        self._publish(PenUpdate("estop", sentence))

    def _on_estop_confirmed(self) -> None:
        """Reader thread: the pen acknowledged the e-stop or reported ESTOP."""
        confirm_estop(self.info.serial)
        self._may_run = False
        self._log_soon("estop_confirmed", {"serial": self.info.serial})
        self._publish(PenUpdate("estop_confirmed", "The pen confirmed the e-stop."))
