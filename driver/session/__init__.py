"""The Pen facade: one governed, audited treatment session with one pen. The TUI and scripts
talk only to it (`Pen`), to its updates (`PenUpdate`, `UpdateStream`) and to the opt-in exit
hooks (`install_exit_hooks`)."""

from ..exit_hooks import install_exit_hooks
from .checks import (
    BAUD_PER_STATUS_HZ,
    WATCHDOG_MS_RANGE,
    check_info,
    nack_error,
    telemetry_for_line,
    usable_limits,
)
from .core import (
    DEFAULT_TELEMETRY_HZ,
    DEPTH_TOLERANCE_UM,
    LATCHING_FAULTS,
    PROGRESS_EVERY_S,
    START_SETTLE_S,
)
from .estops import estop_held, forget_estops
from .pen import LOGIN_VALID_S, Lifecycle, Login, Pen
from .updates import PenUpdate, Subscriber, UpdateKind, UpdateStream

__all__ = [
    "BAUD_PER_STATUS_HZ",
    "DEFAULT_TELEMETRY_HZ",
    "DEPTH_TOLERANCE_UM",
    "LATCHING_FAULTS",
    "LOGIN_VALID_S",
    "PROGRESS_EVERY_S",
    "START_SETTLE_S",
    "WATCHDOG_MS_RANGE",
    "Lifecycle",
    "Login",
    "Pen",
    "PenUpdate",
    "Subscriber",
    "UpdateKind",
    "UpdateStream",
    "check_info",
    "estop_held",
    "forget_estops",
    "install_exit_hooks",
    "nack_error",
    "telemetry_for_line",
    "usable_limits",
]
