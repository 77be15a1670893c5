"""The link's timing (answer time-out, resends, heartbeat, link check, e-stop resend, the UI's
lease), its counters, and how an answer is matched to its command."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import protocol
from protocol import Message, MsgType

ANSWER_TIMEOUT_S = 0.050
RESENDS = 3
HEARTBEAT_PERIOD_S = 0.100
LINK_TIMEOUT_S = 0.300
#: An unconfirmed e-stop is sent again this often until the pen confirms it (an ACK of ESTOP
#: or a STATUS in ESTOP): far enough apart that one short glitch cannot swallow every copy,
#: close enough that a pen that missed the first one stops within a few tens of milliseconds.
ESTOP_RESEND_S = 0.020
#: A UI that keeps a lease (`Link.keepalive`) must renew it this often, or the heartbeat ends
#: and the pen's watchdog stops the needle: longer than the stalls of a loaded PC (<= 0.6 s
#: measured), short enough that a hung UI stops the needle within about 1.3 s.
UI_LEASE_S = 1.0
#: The longest UI lease a caller may ask for (a hung UI must still stop the needle soon).
UI_LEASE_MAX_S = 5.0
#: Heartbeat frames the child process cycles through (seqs reserved from the host's counter).
HEARTBEAT_FRAMES = 16

Clock = Callable[[], float]


@dataclass
class _Waiter:
    command: MsgType
    event: threading.Event = field(default_factory=threading.Event)
    answer: Message | None = None


@dataclass
class LinkStats:
    frames_in: int = 0
    frames_out: int = 0
    resends: int = 0
    stray_answers: int = 0
    invalid_frames: int = 0
    #: unsolicited frames (STATUS and EVENT share the pen's counter) lost on the way
    status_gaps: int = 0
    duplicates: int = 0  # unsolicited frames received twice (dropped)
    estops_sent: int = 0  # ESTOP frames written (the first copy and every resend)


def _answer_matches(command: MsgType, msg: Message) -> bool:
    if isinstance(msg, protocol.Info):
        return command is MsgType.HELLO
    if isinstance(msg, protocol.Ack | protocol.Nack):
        return msg.of_type == command
    return False
