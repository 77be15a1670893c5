"""The pen's range and the caps a role gets on a zone, in whole micrometres (governor-internal)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from protocol import DeviceClass

from ..vocabulary import DEVICE_CLASSES, ENGINEER_ROLE, HOME_CLASS, format_mm
from .decision import DeviceLimits
from .numbers import ceil_step, decimal_of, floor_step, show, um_ceil, um_floor, whole
from .policy import DEPTH_CEILING_MAX_UM, DEPTH_CEILING_MIN_UM, HOME_DEPTH_LIMIT_UM

if TYPE_CHECKING:
    from .policy import Policy

#: The most a home role ever gets, whatever else is said (below 1.0 mm, on a 1 µm grid).
HOME_CEILING_UM: Final = HOME_DEPTH_LIMIT_UM - 1


@dataclass(frozen=True, slots=True)
class Device:
    klass: str
    min_um: int  # rounded up: never shallower than the pen allows
    max_um: int  # rounded down to the step: never deeper than the pen allows
    step_um: int
    rate_min: int
    rate_max: int


def parse_device(device: object) -> Device | str:
    """The pen's limits in µm, or one sentence saying why they cannot be used."""
    if not isinstance(device, DeviceLimits):
        return "The pen's limits are missing, so nothing can be sent."
    klass: object = device.device_class
    if isinstance(klass, DeviceClass):
        klass = klass.name.lower()
    if not isinstance(klass, str) or klass not in DEVICE_CLASSES:
        return (
            f"The pen's device class {show(klass)} is neither 'home' nor 'professional', "
            "so nothing can be sent."
        )
    dmin, dmax, dstep = (
        decimal_of(device.depth_min_mm),
        decimal_of(device.depth_max_mm),
        decimal_of(device.depth_step_mm),
    )
    if dmin is None or dmax is None or dstep is None:
        return "The pen reported a depth range that is not made of finite numbers."
    step_um = dstep * 1000
    if step_um <= 0 or step_um != step_um.to_integral_value() or step_um > DEPTH_CEILING_MAX_UM:
        return (
            f"The pen reported a depth step of {show(device.depth_step_mm)} mm, which is not a "
            "whole number of micrometres between 0.001 and 3.00 mm."
        )
    step = int(step_um)
    min_um, max_um = um_ceil(dmin), floor_step(um_floor(dmax), step)
    if min_um > max_um:
        return (
            f"The pen reported a depth range ({show(device.depth_min_mm)} to "
            f"{show(device.depth_max_mm)} mm) with no setting in it."
        )
    rmin, rmax = whole(device.rate_min_hz), whole(device.rate_max_hz)
    if rmin is None or rmax is None or rmin > rmax:
        return (
            f"The pen reported a rate range ({show(device.rate_min_hz)} to "
            f"{show(device.rate_max_hz)} Hz) that is not two whole numbers in order."
        )
    return Device(klass, min_um, max_um, step, rmin, rmax)


@dataclass(frozen=True, slots=True)
class Limit:
    name: str  # what bound_by reports
    um: int
    words: str  # "the hard max for cheeks (2.00 mm)"


@dataclass(frozen=True, slots=True)
class Caps:
    floor_um: int  # the shallowest depth that may be sent (on the step)
    soft: Limit  # the cap without an override (the least limit, recommended max included)
    hard: Limit  # the cap with a clinician's override (recommended max left out)
    soft_um: int  # soft.um rounded down to the step
    hard_um: int


def _least(limits: list[Limit]) -> Limit:
    # Ties go to the first named, ordered from the most to the least specific to the request.
    return min(limits, key=lambda lim: lim.um)


def caps_for(policy: Policy, role: str, zone: str, dev: Device) -> Caps:
    """The soft and hard caps of `role` on `zone` with this pen."""
    step = dev.step_um
    role_cap = policy.role(role).max_depth_um
    z = policy.zone(zone)
    ceiling = HOME_CEILING_UM if role == HOME_CLASS else DEPTH_CEILING_MAX_UM
    hard_limits = [
        Limit("zone_hard", z.hard_max_um, f"the hard max for {zone} ({format_mm(z.hard_max_um)})"),
        Limit("role", role_cap, f"the {role} role's cap ({format_mm(role_cap)})"),
        Limit("device", dev.max_um, f"the pen's deepest setting ({format_mm(dev.max_um)})"),
        Limit("ceiling", ceiling, f"the built-in ceiling ({format_mm(ceiling)})"),
    ]
    hard = _least(hard_limits)
    if role == ENGINEER_ROLE:
        soft = hard  # the bench has no recommended limit that binds an engineer
    else:
        rec = Limit(
            "zone_recommended",
            z.recommended_max_um,
            f"the recommended max for {zone} ({format_mm(z.recommended_max_um)})",
        )
        soft = _least([rec, *hard_limits])
    floor_um = ceil_step(max(dev.min_um, DEPTH_CEILING_MIN_UM), step)
    return Caps(
        floor_um=floor_um,
        soft=soft,
        hard=hard,
        soft_um=floor_step(soft.um, step),
        hard_um=floor_step(hard.um, step),
    )
