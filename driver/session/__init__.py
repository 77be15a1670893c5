"""The Pen facade: one governed, audited treatment session with one pen. The TUI and scripts
talk only to it (`Pen`), to its updates (`PenUpdate`, `UpdateStream`), to the `Workstation`
(this machine's audit store and policy: operators, client history, courses, exports, reports)
and to the opt-in exit hooks (`install_exit_hooks`). The typed values they hand out are
re-exported here (with the safety layer's Decision, Policy, Governor, aftercare and concern
guidance), so a UI imports nothing below driver.session."""

from typing import TYPE_CHECKING, Any

from ..audit import Operator, Record
from ..exit_hooks import install_exit_hooks
from ..safety import Decision, Governor, Outcome
from ..safety.aftercare import Delivered, delivered_instructions
from ..safety.concerns import guidance_for
from ..safety.screening import (
    CHECKLIST,
    Contraindication,
    Finding,
    ScreeningError,
    ScreeningVerdict,
    Verdict,
)
from ..safety.screening import required as screening_required
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
from .screening import ScreeningSteps
from .updates import PenUpdate, Subscriber, UpdateKind, UpdateStream
from .workstation import Workstation

if TYPE_CHECKING:
    from ..records.client import ClientRecord, Timing
    from ..records.courses import Course
    from ..safety.policy import Policy, load_policy

#: typed values of driver.records and the policy (pydantic), imported when first asked for, so
#: that the TUI draws its first screen before they are loaded (start-up stays short)
_RECORDS = {
    "ClientRecord": "driver.records.client",
    "Timing": "driver.records.client",
    "Course": "driver.records.courses",
    "Policy": "driver.safety.policy",
    "load_policy": "driver.safety.policy",
}


def __getattr__(name: str) -> Any:
    module = _RECORDS.get(name)
    if module is None:
        raise AttributeError(f"module 'driver.session' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [  # noqa: RUF022 (the records' types come last: they are imported lazily)
    "BAUD_PER_STATUS_HZ",
    "CHECKLIST",
    "DEFAULT_TELEMETRY_HZ",
    "DEPTH_TOLERANCE_UM",
    "LATCHING_FAULTS",
    "LOGIN_VALID_S",
    "PROGRESS_EVERY_S",
    "START_SETTLE_S",
    "WATCHDOG_MS_RANGE",
    "Contraindication",
    "Decision",
    "Delivered",
    "Finding",
    "Governor",
    "Lifecycle",
    "Login",
    "Operator",
    "Outcome",
    "Pen",
    "PenUpdate",
    "Policy",
    "Record",
    "ScreeningError",
    "ScreeningSteps",
    "ScreeningVerdict",
    "Subscriber",
    "UpdateKind",
    "UpdateStream",
    "Verdict",
    "Workstation",
    "check_info",
    "delivered_instructions",
    "estop_held",
    "forget_estops",
    "guidance_for",
    "install_exit_hooks",
    "load_policy",
    "nack_error",
    "screening_required",
    "telemetry_for_line",
    "usable_limits",
    "ClientRecord",
    "Course",
    "Timing",
]
