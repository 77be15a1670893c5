"""What kind of pen the simulator is (`PenConfig`: ranges, watchdog, identity, physics), and
the value checks the firmware's modules share."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from protocol import (
    DEPTH_SLEW_MIN_UM_PER_MS,
    DEPTH_TOLERANCE_MAX_UM,
    DEPTH_TOLERANCE_UM,
    DeviceClass,
)

from .errors import ConfigError
from .physics import PhysicsParams

#: What EVENT FAULT_RAISED / FAULT_CLEARED carry as detail: "bit", the fault's bit number
#: (docs/PROTOCOL.md), or "mask", its mask value (a pen that read the ICD the other way; for
#: testing that a host names faults from STATUS.faults).
FAULT_DETAILS = ("bit", "mask")
U16 = 0xFFFF
U32 = 0xFFFF_FFFF


@dataclass(frozen=True, slots=True)
class PenConfig:
    """What kind of pen this is: its ranges, watchdog and identity. Validated on creation."""

    device_class: DeviceClass
    depth_min_um: int
    depth_max_um: int
    depth_step_um: int
    rate_min_hz: int
    rate_max_hz: int
    watchdog_ms: int = 300
    serial: int = 1
    fw_version: tuple[int, int, int] = (1, 0, 0)
    physics: PhysicsParams = field(default_factory=PhysicsParams)
    fault_detail: str = "bit"

    def __post_init__(self) -> None:
        def need(ok: bool, sentence: str) -> None:
            if not ok:
                raise ConfigError(sentence)

        for name in (
            "depth_min_um",
            "depth_max_um",
            "depth_step_um",
            "rate_min_hz",
            "rate_max_hz",
            "watchdog_ms",
        ):
            value = getattr(self, name)
            need(
                isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= U16,
                f"The pen's {name} must be a whole number from 1 to 65535, not {value!r}.",
            )
        need(
            isinstance(self.device_class, DeviceClass),
            f"The device class must be home or professional, not {self.device_class!r}.",
        )
        need(
            self.depth_min_um <= self.depth_max_um,
            "The pen's depth_min_um must not be above its depth_max_um.",
        )
        need(
            self.depth_min_um % self.depth_step_um == 0
            and self.depth_max_um % self.depth_step_um == 0,
            "The pen's depth limits must be multiples of its depth_step_um.",
        )
        need(
            self.rate_min_hz <= self.rate_max_hz,
            "The pen's rate_min_hz must not be above its rate_max_hz.",
        )
        need(
            self.device_class != DeviceClass.HOME or self.depth_max_um < 1000,
            "A home pen's depth_max_um must stay below 1000 µm.",
        )
        tolerance = self.physics.depth_tolerance_um
        need(
            DEPTH_TOLERANCE_UM <= tolerance <= DEPTH_TOLERANCE_MAX_UM,
            f"The pen's depth tolerance must be from {DEPTH_TOLERANCE_UM} to "
            f"{DEPTH_TOLERANCE_MAX_UM} µm, not {tolerance!r}.",
        )
        need(
            self.physics.slew_um_per_ms >= DEPTH_SLEW_MIN_UM_PER_MS,
            f"The pen's depth actuator must slew at least {DEPTH_SLEW_MIN_UM_PER_MS} µm/ms.",
        )
        need(
            isinstance(self.serial, int) and 0 <= self.serial <= U32,
            f"The pen's serial number must fit in 32 bits, not {self.serial!r}.",
        )
        need(
            self.fault_detail in FAULT_DETAILS,
            f"The fault detail must be bit or mask, not {self.fault_detail!r}.",
        )
        need(
            len(self.fw_version) == 3 and all(0 <= int(v) <= 0xFF for v in self.fw_version),
            "The firmware version must be three numbers from 0 to 255.",
        )

    @classmethod
    def professional(cls, **changes: Any) -> PenConfig:
        """A professional pen: 250-3000 µm in 50 µm steps, 25-150 Hz."""
        base: dict[str, Any] = {
            "device_class": DeviceClass.PROFESSIONAL,
            "depth_min_um": 250,
            "depth_max_um": 3000,
            "depth_step_um": 50,
            "rate_min_hz": 25,
            "rate_max_hz": 150,
            "serial": 1_000_001,
        }
        base.update(changes)
        return cls(**base)

    @classmethod
    def home(cls, **changes: Any) -> PenConfig:
        """A home pen: 250-950 µm in 50 µm steps (always below 1 mm), 25-120 Hz."""
        base: dict[str, Any] = {
            "device_class": DeviceClass.HOME,
            "depth_min_um": 250,
            "depth_max_um": 950,
            "depth_step_um": 50,
            "rate_min_hz": 25,
            "rate_max_hz": 120,
            "serial": 2_000_001,
        }
        base.update(changes)
        return cls(**base)

    @classmethod
    def for_device_class(cls, name: str, **changes: Any) -> PenConfig:
        """The preset named `home` or `professional` (as the CLI and `sim://` spell it)."""
        key = str(name).strip().lower()
        if key == "home":
            return cls.home(**changes)
        if key in ("professional", "pro"):
            return cls.professional(**changes)
        raise ConfigError(f"The device class must be home or professional, not {name!r}.")


def cartridge_id_ok(value: object) -> bool:
    """A cartridge id the wire can carry: a whole number from 1 to 2**32 - 1."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= U32


def is_finite(value: object) -> bool:
    """A finite int or float (not a bool): a usable time, temperature or level."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )
