"""What the host accepts of a pen's INFO, one step either side of each bound (found untested
by `make mutate`; docs/QA.md). A pen outside a bound is refused at the handshake with one
sentence; a pen at the bound is used."""

from __future__ import annotations

import dataclasses

import pytest

import protocol
from driver.errors import CommandRefused, HandshakeError
from driver.safety.policy import load_policy
from driver.session import check_info, nack_error, telemetry_for_line, usable_limits
from protocol import DeviceClass, MsgType, NackError

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


# --- the pen's NACKs, in words ---------------------------------------------------------------


@pytest.mark.parametrize("error", list(NackError))
def test_every_nack_is_one_sentence_naming_the_command_and_keeping_the_pens_answer(
    error: NackError,
) -> None:
    exc = nack_error("SET_DEPTH", protocol.Nack(int(MsgType.SET_DEPTH), error, 2950))
    assert isinstance(exc, CommandRefused)
    assert (exc.command, exc.error, exc.detail) == ("SET_DEPTH", error, 2950)
    text = str(exc)
    assert text.startswith("The pen refused SET_DEPTH: ") and text.endswith(".")
    assert "\n" not in text and "None" not in text
    assert not text.split(": ", 1)[1].startswith("error")  # its own words, not a number


def test_each_nack_has_its_own_sentence_and_the_limits_are_the_pens() -> None:
    texts = {
        error: str(nack_error("START", protocol.Nack(int(MsgType.START), error, 2)))
        for error in NackError
    }
    assert len(set(texts.values())) == len(NackError)
    assert "(its limit is 2)" in texts[NackError.OUT_OF_RANGE]
    assert "speaks protocol version 2 only" in texts[NackError.UNSUPPORTED_VERSION]
    assert "no session" in texts[NackError.NO_SESSION]


def test_a_nack_this_host_has_no_words_for_is_named_by_its_number() -> None:
    # a later protocol's error code: the sentence names the number, the error is kept as sent
    exc = nack_error("START", protocol.Nack(int(MsgType.START), 12, 7))  # type: ignore[arg-type]
    assert str(exc) == "The pen refused START: error 12."
    assert (exc.command, exc.error, exc.detail) == ("START", 12, 7)


# --- the STATUS rate a serial line can carry -------------------------------------------------


class _Port:
    def __init__(self, **attrs: object) -> None:
        self.__dict__.update(attrs)


@pytest.mark.parametrize(
    "port",
    [
        _Port(),
        _Port(baudrate=None),
        _Port(baudrate=0),
        _Port(baudrate=-9600),
        _Port(baudrate="9600"),
    ],
)
def test_a_device_whose_line_speed_is_unknown_gets_the_rate_asked_for(port: _Port) -> None:
    assert telemetry_for_line(200, "/dev/ttyUSB0", port) == 200


@pytest.mark.parametrize(("baud", "asked"), [(1, 5), (779, 5), (780, 5), (3900, 5), (4680, 6)])
def test_a_line_too_slow_for_5_hz_still_gets_the_5_hz_the_link_check_needs(
    baud: int, asked: int
) -> None:
    assert telemetry_for_line(200, "/dev/ttyUSB0", _Port(baudrate=baud)) == asked
