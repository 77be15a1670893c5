"""What the host accepts of a pen's INFO, one step either side of each bound (found untested
by `make mutate`; docs/QA.md). A pen outside a bound is refused at the handshake with one
sentence; a pen at the bound is used."""

from __future__ import annotations

import dataclasses

import pytest

import protocol
from driver.errors import HandshakeError
from driver.safety.policy import load_policy
from driver.session import check_info, usable_limits
from protocol import DeviceClass

POLICY = load_policy(None)


def _info(**changes: object) -> protocol.Info:
    base = protocol.Info(
        proto=1,
        nonce=1,
        device_class=DeviceClass.PROFESSIONAL,
        fw_major=1,
        fw_minor=0,
        fw_patch=0,
        serial=5,
        boot_id=9,
        depth_min_um=250,
        depth_max_um=3000,
        depth_step_um=50,
        rate_min_hz=25,
        rate_max_hz=150,
        watchdog_ms=300,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _refusal(info: protocol.Info) -> str:
    with pytest.raises(HandshakeError) as err:
        check_info(info, "test://pen", POLICY)
    text = str(err.value)
    assert text.startswith("The pen on test://pen ") and "\n" not in text
    return text


@pytest.mark.parametrize(
    "changes",
    [
        {"depth_max_um": 3000},
        {"depth_min_um": 250, "depth_max_um": 250},  # one setting, at the shallowest allowed
        {"device_class": DeviceClass.HOME, "depth_max_um": 999, "depth_step_um": 1},
        {"depth_min_um": 0, "depth_max_um": 300, "depth_step_um": 300},
        {"rate_min_hz": 150, "rate_max_hz": 150},  # a rate only the professional roles get
        {"rate_min_hz": 1, "rate_max_hz": 25},  # 25 Hz is every role's lowest
        {"watchdog_ms": protocol.WATCHDOG_MIN_MS},
        {"watchdog_ms": protocol.WATCHDOG_MAX_MS},
    ],
)
def test_a_pen_at_each_bound_is_accepted(changes: dict[str, object]) -> None:
    check_info(_info(**changes), "test://pen", POLICY)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"depth_max_um": 3001}, "deepest depth of 3001 µm"),
        ({"depth_min_um": 100, "depth_max_um": 249}, "deepest depth of 249 µm"),
        ({"device_class": DeviceClass.HOME, "depth_max_um": 1000}, "home pen that reports 1000"),
        ({"depth_min_um": 300, "depth_max_um": 299}, "impossible depth range (300-299 µm"),
        ({"depth_step_um": 0}, "impossible depth range (250-3000 µm in 0 µm steps)"),
        ({"depth_min_um": 260, "depth_max_um": 290}, "no depth step between 250 and 3000"),
        ({"rate_min_hz": 151, "rate_max_hz": 151}, "stamp rates 151-151 Hz"),
        ({"rate_min_hz": 1, "rate_max_hz": 24}, "stamp rates 1-24 Hz"),
        ({"watchdog_ms": protocol.WATCHDOG_MIN_MS - 1}, "watchdog of"),
        ({"watchdog_ms": protocol.WATCHDOG_MAX_MS + 1}, "watchdog of"),
    ],
)
def test_a_pen_one_step_past_a_bound_is_refused_saying_which(
    changes: dict[str, object], words: str
) -> None:
    assert words in _refusal(_info(**changes))


def test_a_home_pen_is_refused_at_1_mm_but_a_professional_one_is_not() -> None:
    check_info(_info(depth_max_um=1000), "test://pen", POLICY)
    _refusal(_info(device_class=DeviceClass.HOME, depth_max_um=1000))


@pytest.mark.parametrize(
    ("min_um", "step_um", "floor_mm"),
    [(250, 50, 0.25), (100, 30, 0.27), (0, 25, 0.25), (251, 1, 0.251), (400, 50, 0.4)],
)
def test_the_governor_uses_a_pen_from_its_first_step_at_or_above_the_policys_floor(
    min_um: int, step_um: int, floor_mm: float
) -> None:
    limits = usable_limits(_info(depth_min_um=min_um, depth_step_um=step_um))
    assert limits.depth_min_mm == floor_mm
    assert limits.depth_max_mm == 3.0 and limits.depth_step_mm == step_um / 1000


@pytest.mark.parametrize(("rate_min", "used"), [(0, 1), (1, 1), (2, 2), (25, 25)])
def test_a_pen_that_reaches_0_hz_is_used_from_1_hz(rate_min: int, used: int) -> None:
    limits = usable_limits(_info(rate_min_hz=rate_min))
    assert (limits.rate_min_hz, limits.rate_max_hz) == (used, 150)
