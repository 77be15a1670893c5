"""The link's timing (answer time-out, resends, heartbeat, link check, e-stop resend, the UI's
and the host's leases) and its counters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

ANSWER_TIMEOUT_S = 0.050
RESENDS = 3
HEARTBEAT_PERIOD_S = 0.100
LINK_TIMEOUT_S = 0.300
#: An unconfirmed e-stop is sent again this often until the pen confirms it (an ACK of ESTOP
#: or a STATUS in ESTOP): far enough apart that one short glitch cannot swallow every copy,
#: close enough that a pen that missed the first one stops within a few tens of milliseconds.
ESTOP_RESEND_S = 0.020
#: A UI that keeps a lease (`keepalive`) must renew it this often, or the heartbeat ends
#: and the pen's watchdog stops the needle: longer than the stalls of a loaded PC (<= 0.6 s
#: measured), short enough that a hung UI stops the needle within about 1.3 s.
UI_LEASE_S = 1.0
#: The longest UI lease a caller may ask for (a hung UI must still stop the needle soon).
UI_LEASE_MAX_S = 5.0
#: The longest the heartbeat child goes on heartbeating after the host's reader last renewed
#: its lease (a stalled host process: garbage collection, a starved CPU). Longer than the
#: stalls measured on a loaded PC (<= 0.6 s), short enough that a hung host stops the needle
#: about a second later, through the pen's watchdog.
HOST_LEASE_S = 1.0
#: Heartbeat frames the child process cycles through (seqs reserved from the host's counter).
HEARTBEAT_FRAMES = 16

Clock = Callable[[], float]


@dataclass
class LinkStats:
    frames_in: int = 0
    frames_out: int = 0  # frames written to the port (heartbeats, commands, resends, e-stops)
    resends: int = 0
    stray_answers: int = 0
    invalid_frames: int = 0
    #: unsolicited frames (STATUS and EVENT share the pen's counter) lost on the way
    status_gaps: int = 0
    duplicates: int = 0  # unsolicited frames received twice (dropped)
    estops_sent: int = 0  # ESTOP frames written (the first copy and every resend)
