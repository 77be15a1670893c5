"""The driver's exceptions: one hierarchy, each message one clear sentence for the operator."""

from __future__ import annotations

from typing import TYPE_CHECKING

from protocol import NeedlepenError

if TYPE_CHECKING:
    from .safety.decision import Decision


class DriverError(NeedlepenError):
    """Base class of every error the driver raises on purpose."""


# --- link and pen ----------------------------------------------------------------------------


class PortError(DriverError):
    """The serial port could not be opened or used (missing, busy, permission, bad URL)."""


class HandshakeError(DriverError):
    """The device did not answer HELLO as an ICD v1 pen would."""


class NoAnswer(DriverError):
    """A command got no ACK or NACK after all its resends."""


class LinkLost(DriverError):
    """The pen went silent (no STATUS for the link timeout) or the port failed: session over."""


class PenRebooted(DriverError):
    """The pen's boot_id changed: it rebooted, and the operator must start again."""


class CommandRefused(DriverError):
    """The pen answered NACK. Carries the ICD error and detail."""

    def __init__(self, command: str, error: object, detail: int, sentence: str) -> None:
        self.command = command
        self.error = error
        self.detail = detail
        super().__init__(sentence)


class NotAllowed(DriverError):
    """The governor or the session rules refused the request (nothing was sent).

    `decision` is the governor's decision when there was one (e.g. a zone change that needs an
    override reason), so a UI can offer what it needs."""

    def __init__(self, sentence: str, decision: Decision | None = None) -> None:
        super().__init__(sentence)
        self.decision = decision


class Cancelled(DriverError):
    """A command was not sent (again) because a stop or an e-stop overtook it. `sent` is True
    when an earlier copy of it had already gone out (the pen may have executed that one)."""

    sent: bool = False


class SessionClosed(DriverError):
    """The Pen session is closed or dead; open a new one."""


# --- store, operators -------------------------------------------------------------------------


class StoreError(DriverError):
    """The audit store could not be opened, read or written."""


class StoreUntrusted(StoreError):
    """The audit store failed its integrity check: its tables or chain cannot be trusted, so
    no session may treat from it. `result` is the VerifyResult naming the first bad record."""

    def __init__(self, sentence: str, result: object) -> None:
        self.result = result
        super().__init__(sentence)


class CannotContinue(NotAllowed):
    """A session may not continue the one named: it did not end by an interruption, it is
    another client's or operator's, it ended too long ago, or it was continued already."""


class AuthError(DriverError):
    """Operator authentication failed (unknown, disabled, wrong PIN, locked out)."""


class UnknownOperator(AuthError):
    pass


class NotAdministrator(AuthError):
    """Operator administration (add, disable, unlock, reset a PIN) needs an administrator."""


class OperatorDisabled(AuthError):
    pass


class WrongPin(AuthError):
    def __init__(self, sentence: str, attempts_left: int) -> None:
        self.attempts_left = attempts_left
        super().__init__(sentence)


class OperatorLocked(AuthError):
    def __init__(self, sentence: str, locked_until: float) -> None:
        self.locked_until = locked_until
        super().__init__(sentence)
