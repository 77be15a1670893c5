"""Numbers and fault groups both ends of ICD v1 rely on (docs/PROTOCOL.md, "Decisions").

They live here, beside the enumerations, so the host and the pen read one definition rather
than each other's code or prose.
"""

from __future__ import annotations

from .enums import Fault

#: START needs |depth_actual_um - depth_set_um| <= this; a host waits for it before START.
#: The simulator uses it for DEPTH_ERROR too.
DEPTH_TOLERANCE_UM = 50
#: The most a pen may use as its tolerance (the +/-0.15 mm a cleared device states). A pen
#: uses one tolerance T, DEPTH_TOLERANCE_UM <= T <= this, for START and for DEPTH_ERROR.
DEPTH_TOLERANCE_MAX_UM = 150
#: The slowest depth actuator a host must expect: 5 µm/ms = 5 mm/s (the simulator's: 10 mm/s).
DEPTH_SLEW_MIN_UM_PER_MS = 5
#: INFO.watchdog_ms of a conforming pen lies in WATCHDOG_MIN_MS..WATCHDOG_MAX_MS; a host refuses
#: a pen outside it (its 100 ms heartbeat cannot feed a shorter one safely, and a longer one
#: lets a needle run on too long after the host is gone).
WATCHDOG_MIN_MS = 150
WATCHDOG_MAX_MS = 2000
#: Faults that latch the FAULT state: they stop the needle, START is refused (FAULT_LATCHED)
#: until the cause has gone and RESET 1 clears them.
LATCHING_FAULTS = Fault.OVERTEMP | Fault.MOTOR_STALL | Fault.DEPTH_ERROR | Fault.CARTRIDGE_REMOVED
#: Flags: reported in STATUS.faults, never the FAULT state. BATTERY_LOW refuses START (a running
#: needle goes on); WATCHDOG says the last session ended by the watchdog (cleared by HELLO).
FLAG_FAULTS = Fault.BATTERY_LOW | Fault.WATCHDOG


def fault_bit(fault: Fault) -> int:
    """The bit number of a single fault (EVENT FAULT_RAISED / FAULT_CLEARED detail): 0..15."""
    value = int(fault)
    if value <= 0 or value & (value - 1):
        raise ValueError(f"fault_bit needs exactly one fault bit, not {value:#x}.")
    return value.bit_length() - 1


def fault_of_bit(bit: int) -> Fault:
    """The fault whose bit number an EVENT FAULT_RAISED / FAULT_CLEARED detail carries.

    Bits the ICD does not name (6..15) come back as a `Fault` value all the same, so a host
    keeps an unknown fault rather than dropping it.
    """
    if isinstance(bit, bool) or not isinstance(bit, int) or not 0 <= bit <= 15:
        raise ValueError(f"A fault bit number is 0..15, not {bit!r}.")
    return Fault(1 << bit)
