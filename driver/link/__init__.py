"""The host end of the serial link: port opening (pyserial URLs, a pty, a device), the
host's side of the protocol as a sans-IO state machine (`HostProtocol`: seq-matched answers,
resends, the heartbeat schedule, the link check, the e-stop resend), and two drivers around
it: the threaded reader (`Link`, with the heartbeat child process on a local device or pty)
and the virtual-clock pump (`VirtualLink`)."""

from .base import BaseLink
from .heartbeat import HeartbeatProcess
from .reader import Link
from .sansio import (
    Answered,
    EstopConfirmed,
    FollowUp,
    GiveUp,
    HostProtocol,
    LinkEvent,
    Outgoing,
    Resend,
    Telemetry,
    Wait,
)
from .timing import (
    ANSWER_TIMEOUT_S,
    ESTOP_RESEND_S,
    HEARTBEAT_FRAMES,
    HEARTBEAT_PERIOD_S,
    HOST_LEASE_S,
    LINK_TIMEOUT_S,
    RESENDS,
    UI_LEASE_MAX_S,
    UI_LEASE_S,
    LinkStats,
)
from .transport import FdPort, Port, open_port
from .virtual import VirtualLink

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
    "Answered",
    "BaseLink",
    "EstopConfirmed",
    "FdPort",
    "FollowUp",
    "GiveUp",
    "HeartbeatProcess",
    "HostProtocol",
    "Link",
    "LinkEvent",
    "LinkStats",
    "Outgoing",
    "Port",
    "Resend",
    "Telemetry",
    "VirtualLink",
    "Wait",
    "open_port",
]
