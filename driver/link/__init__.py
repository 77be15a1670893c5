"""The host end of the serial link: port opening (pyserial URLs, a pty, a device), the
threaded reader (seq-matched answers, resends, the link check, the e-stop resend), and the
heartbeat, which on a local device or pty comes from a small child process under leases."""

from .heartbeat import HOST_LEASE_S, HeartbeatProcess
from .reader import Link
from .timing import (
    ANSWER_TIMEOUT_S,
    ESTOP_RESEND_S,
    HEARTBEAT_FRAMES,
    HEARTBEAT_PERIOD_S,
    LINK_TIMEOUT_S,
    RESENDS,
    UI_LEASE_MAX_S,
    UI_LEASE_S,
    LinkStats,
)
from .transport import FdPort, Port, open_port

__all__ = [
    "ANSWER_TIMEOUT_S",
    "ESTOP_RESEND_S",
    "HEARTBEAT_FRAMES",
    "HEARTBEAT_PERIOD_S",
    "HOST_LEASE_S",
    "LINK_TIMEOUT_S",
    "RESENDS",
    "UI_LEASE_MAX_S",
    "UI_LEASE_S",
    "FdPort",
    "HeartbeatProcess",
    "Link",
    "LinkStats",
    "Port",
    "open_port",
]
