"""PenConfig presets and validation (a pen that cannot exist is refused in one sentence)."""

from __future__ import annotations

from typing import Any

import pytest

from protocol import DeviceClass
from simulator.errors import ConfigError
from simulator.firmware import PenConfig


def test_professional_preset() -> None:
    c = PenConfig.professional()
    assert c.device_class == DeviceClass.PROFESSIONAL
    assert (c.depth_min_um, c.depth_max_um, c.depth_step_um) == (250, 3000, 50)
    assert (c.rate_min_hz, c.rate_max_hz, c.watchdog_ms) == (25, 150, 300)


def test_home_preset_stays_below_one_millimetre() -> None:
    c = PenConfig.home()
    assert c.device_class == DeviceClass.HOME
    assert (c.depth_min_um, c.depth_max_um, c.depth_step_um) == (250, 950, 50)
    assert c.depth_max_um < 1000
    assert (c.rate_min_hz, c.rate_max_hz) == (25, 120)


def test_presets_by_name() -> None:
    assert PenConfig.for_device_class("HOME") == PenConfig.home()
    assert PenConfig.for_device_class("professional", watchdog_ms=50).watchdog_ms == 50
    with pytest.raises(ConfigError, match="home or professional"):
        PenConfig.for_device_class("clinic")


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"depth_max_um": 1000}, "below 1000"),
        ({"depth_min_um": 1000, "depth_max_um": 950}, "not be above"),
        ({"depth_step_um": 0}, "from 1 to 65535"),
        ({"depth_step_um": 30}, "multiples"),
        ({"rate_min_hz": 200}, "rate_min_hz"),
        ({"watchdog_ms": 0}, "watchdog_ms"),
        ({"watchdog_ms": 70_000}, "watchdog_ms"),
        ({"watchdog_ms": 300.5}, "watchdog_ms"),
        ({"depth_min_um": True}, "depth_min_um"),
        ({"serial": -1}, "serial"),
        ({"fw_version": (1, 2)}, "firmware version"),
        ({"fw_version": (1, 2, 300)}, "firmware version"),
    ],
)
def test_impossible_pens_are_refused(changes: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError, match=words) as info:
        PenConfig.home(**changes)
    text = str(info.value)
    assert text.endswith(".") and "\n" not in text


def test_config_is_immutable() -> None:
    c = PenConfig.home()
    with pytest.raises(AttributeError):
        c.depth_max_um = 3000  # type: ignore[misc]
