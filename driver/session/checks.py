"""What this host accepts of a pen: its INFO, its line speed, and its NACKs in words."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import protocol
from protocol import DeviceClass, NackError

from ..errors import CommandRefused, HandshakeError
from ..safety import DeviceLimits, Governor
from ..vocabulary import ROLE_NAMES

if TYPE_CHECKING:
    from ..safety.policy import Policy

__all__ = [
    "BAUD_PER_STATUS_HZ",
    "WATCHDOG_MS_RANGE",
    "check_info",
    "nack_error",
    "telemetry_for_line",
    "usable_limits",
]

#: The watchdog periods the host's heartbeat (100 ms) and link check (300 ms) can serve.
WATCHDOG_MS_RANGE = (protocol.WATCHDOG_MIN_MS, protocol.WATCHDOG_MAX_MS)

_NACK_SENTENCES: dict[NackError, str] = {
    NackError.UNKNOWN_TYPE: "the pen does not know this command (firmware mismatch?)",
    NackError.BAD_LENGTH: "the pen got a command of the wrong length (firmware mismatch?)",
    NackError.BAD_STATE: "the pen cannot do that in its present state",
    NackError.OUT_OF_RANGE: "the value is outside the pen's own range (its limit is {detail})",
    NackError.NO_SESSION: "the pen has no session (its watchdog tripped or it rebooted)",
    NackError.NO_CARTRIDGE: "no cartridge is fitted",
    NackError.CARTRIDGE_USED: "the cartridge was used before; fit a fresh one",
    NackError.FAULT_LATCHED: "a fault is latched; remove its cause and reset it",
    NackError.ESTOP_LATCHED: "the e-stop is latched; release it first",
    NackError.UNSUPPORTED_VERSION: "the pen speaks protocol version {detail} only",
    NackError.BATTERY_LOW: "the battery is too low",
}


def nack_error(command: str, nack: protocol.Nack) -> CommandRefused:
    """The typed exception, with one sentence, for a NACK of `command`."""
    text = _NACK_SENTENCES.get(nack.error, "error {error}").format(
        detail=nack.detail, error=int(nack.error)
    )
    return CommandRefused(command, nack.error, nack.detail, f"The pen refused {command}: {text}.")


BAUD_PER_STATUS_HZ = 780


def telemetry_for_line(wanted_hz: int, url: str, port: object) -> int:
    """The STATUS rate to ask for: `wanted_hz`, lowered on a serial device whose baud rate is
    known to be too slow for it (a pty, a socket or sim:// report no real line speed)."""
    baud = getattr(port, "baudrate", None)
    is_device = "://" not in url and not url.startswith("/dev/pts/")
    if not is_device or not isinstance(baud, int) or baud <= 0:
        return wanted_hz
    return max(5, min(wanted_hz, baud // BAUD_PER_STATUS_HZ))


def check_info(info: protocol.Info, url: str, policy: Policy) -> None:
    """Refuse, with one sentence, a pen whose INFO this host cannot work with safely."""
    lo, hi = WATCHDOG_MS_RANGE
    where = f"The pen on {url}"
    if not lo <= info.watchdog_ms <= hi:
        raise HandshakeError(
            f"{where} reports a watchdog of {info.watchdog_ms} ms; this host supports "
            f"{lo} to {hi} ms (its heartbeat every 100 ms must be able to feed it)."
        )
    if info.depth_step_um == 0 or info.depth_min_um > info.depth_max_um:
        raise HandshakeError(
            f"{where} reports an impossible depth range ({info.depth_min_um}-"
            f"{info.depth_max_um} µm in {info.depth_step_um} µm steps)."
        )
    if info.depth_max_um > 3000 or info.depth_max_um < 250:
        raise HandshakeError(
            f"{where} reports a deepest depth of {info.depth_max_um} µm; a pen must stop "
            "between 250 and 3000 µm."
        )
    if info.device_class == DeviceClass.HOME and info.depth_max_um >= 1000:
        raise HandshakeError(
            f"{where} is a home pen that reports {info.depth_max_um} µm; a home pen must stay "
            "below 1000 µm."
        )
    limits = usable_limits(info)
    if limits.depth_min_mm > limits.depth_max_mm:
        raise HandshakeError(f"{where} has no depth step between 250 and 3000 µm.")
    governor = Governor(policy)
    if all(governor.rate_range_for(role, limits) is None for role in ROLE_NAMES):
        raise HandshakeError(
            f"{where} reports stamp rates {info.rate_min_hz}-{info.rate_max_hz} Hz, none of "
            "which the treatment policy allows."
        )


def usable_limits(info: protocol.Info) -> DeviceLimits:
    """The pen's range as the governor uses it: a pen that reaches shallower than 0.25 mm or
    down to 0 Hz is used within the policy's range (from its first step at or above 0.25 mm,
    and from 1 Hz)."""
    limits = DeviceLimits.from_info(info)
    step = max(info.depth_step_um, 1)
    floor_um = max(info.depth_min_um, 250)
    floor_um = -(-floor_um // step) * step  # the first step at or above it
    return dataclasses.replace(
        limits,
        depth_min_mm=floor_um / 1000,
        rate_min_hz=max(info.rate_min_hz, 1),
    )
