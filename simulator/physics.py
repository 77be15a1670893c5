"""Plausible physics of the pen: depth actuator, motor, heat and battery.

Plausible rather than exact: enough for the driver, the UI and the QA suites to see a pen that
behaves like hardware (a depth that slews, a motor that spins up, a temperature that rises while
running and falls at rest, a battery that drains). Every function is pure and takes time in ms,
so the firmware can step it with a virtual clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from protocol import DEPTH_TOLERANCE_UM


@dataclass(frozen=True, slots=True)
class PhysicsParams:
    """Constants of the physical model (units in the names)."""

    #: Depth actuator speed: 10 µm/ms is 10 mm/s.
    slew_um_per_ms: float = 10.0
    #: depth_actual must settle within this many µm of depth_set (DEPTH_ERROR otherwise), and
    #: START needs it within this (protocol.DEPTH_TOLERANCE_UM .. DEPTH_TOLERANCE_MAX_UM).
    depth_tolerance_um: int = DEPTH_TOLERANCE_UM
    #: Time allowed on top of the travel time before a depth difference is a DEPTH_ERROR.
    depth_settle_margin_ms: float = 100.0
    #: How far a faulty actuator slips away from its set-point (an injected depth fault).
    depth_fault_offset_um: int = 150
    #: Motor spin-up (and rate change) slope: 1.5 Hz/ms reaches 150 Hz in 100 ms.
    spin_up_hz_per_ms: float = 1.5
    #: A stalled motor is detected after its current has been over the limit this long.
    stall_detect_ms: float = 20.0
    #: Motor current: base plus a share per stamp per second, times the skin load.
    motor_base_ma: float = 90.0
    motor_ma_per_hz: float = 1.6
    motor_load: float = 1.0
    motor_stall_ma: int = 1800
    #: Temperatures in tenths of °C.
    ambient_dc: float = 250.0
    #: Temperature rise at equilibrium per stamp per second while running (150 Hz: +13.5 °C).
    heat_dc_per_hz: float = 0.9
    heat_tau_ms: float = 120_000.0
    cool_tau_ms: float = 60_000.0
    overtemp_dc: int = 450
    #: OVERTEMP can be cleared (RESET 1) once the pen is at or below this.
    overtemp_clear_dc: int = 400
    #: Temperature an injected overheat jumps to.
    overheat_inject_dc: int = 480
    #: Battery drain, % per minute: at rest, and while running (base plus per Hz).
    battery_rest_pct_per_min: float = 0.02
    battery_run_pct_per_min: float = 0.2
    battery_run_pct_per_min_per_hz: float = 0.004
    #: START is refused below this battery level (and BATTERY_LOW is raised).
    battery_low_pct: int = 10
    #: Longest physics step of one tick; deadlines (watchdog, telemetry, ...) are met exactly.
    max_step_ms: float = 100.0


def slew(actual: float, target: float, dt_ms: float, speed_per_ms: float) -> float:
    """Move `actual` toward `target` by at most `speed_per_ms * dt_ms`, never overshooting."""
    step = speed_per_ms * dt_ms
    if actual < target:
        return min(target, actual + step)
    if actual > target:
        return max(target, actual - step)
    return actual


def approach(value: float, target: float, dt_ms: float, tau_ms: float) -> float:
    """First-order (exponential) approach of `value` to `target` with time constant `tau_ms`."""
    if tau_ms <= 0:
        return target
    return target + (value - target) * math.exp(-dt_ms / tau_ms)


def travel_ms(distance_um: float, p: PhysicsParams) -> float:
    """Time the actuator needs to travel `distance_um`."""
    return abs(distance_um) / p.slew_um_per_ms


def motor_current_ma(rate_actual_hz: float, running: bool, stalled: bool, p: PhysicsParams) -> int:
    """Motor current: zero at rest, the stall current when jammed, else base plus load."""
    if not running:
        return 0
    if stalled:
        return p.motor_stall_ma
    return round((p.motor_base_ma + p.motor_ma_per_hz * rate_actual_hz) * p.motor_load)


def heat_target_dc(rate_actual_hz: float, running: bool, p: PhysicsParams) -> float:
    """The temperature the pen tends to: ambient at rest, warmer the faster it runs."""
    if not running:
        return p.ambient_dc
    return p.ambient_dc + p.heat_dc_per_hz * rate_actual_hz


def next_temperature(
    temp_dc: float, rate_actual_hz: float, running: bool, dt_ms: float, p: PhysicsParams
) -> float:
    target = heat_target_dc(rate_actual_hz, running, p)
    tau = p.heat_tau_ms if target > temp_dc else p.cool_tau_ms
    return approach(temp_dc, target, dt_ms, tau)


def battery_drain_pct(
    dt_ms: float, running: bool, rate_actual_hz: float, p: PhysicsParams
) -> float:
    """Charge used in `dt_ms`, in percent."""
    per_min = p.battery_rest_pct_per_min
    if running:
        per_min = p.battery_run_pct_per_min + p.battery_run_pct_per_min_per_hz * rate_actual_hz
    return per_min * dt_ms / 60_000.0


def ramp(value: float, target: float, dt_ms: float, slope_per_ms: float) -> tuple[float, float]:
    """Ramp `value` toward `target` at `slope_per_ms` for `dt_ms`.

    Returns the new value and the area under the curve (value x ms), exact for the linear ramp,
    so stamps counted from it do not depend on how time was cut into steps.
    """
    if dt_ms <= 0:
        return value, 0.0
    gap = abs(target - value)
    reach = gap / slope_per_ms if slope_per_ms > 0 else math.inf
    if reach >= dt_ms:
        new = slew(value, target, dt_ms, slope_per_ms)
        return new, (value + new) / 2.0 * dt_ms
    area = (value + target) / 2.0 * reach + target * (dt_ms - reach)
    return target, area
