"""The sim:// URL options: all documented ones, and a clear refusal of anything else."""

from __future__ import annotations

import pytest

from protocol import DeviceClass
from simulator.errors import ConfigError, FaultSpecError
from simulator.faults import LinkFault, PenFault
from simulator.options import SimOptions, parse_sim_url


def test_defaults() -> None:
    assert parse_sim_url("sim://") == SimOptions("professional", 0, 300, ())
    assert parse_sim_url("sim://") == parse_sim_url("sim://pen-a")  # a free label


def test_all_options() -> None:
    options = parse_sim_url(
        "sim://?device_class=home&seed=7&watchdog_ms=500&fault=drop=0.05&fault=overheat@5s"
    )
    assert options.device_class == "home" and options.seed == 7 and options.watchdog_ms == 500
    assert isinstance(options.faults[0], LinkFault) and isinstance(options.faults[1], PenFault)
    config = options.config()
    assert config.device_class == DeviceClass.HOME and config.watchdog_ms == 500


def test_percent_encoded_fault() -> None:
    options = parse_sim_url("sim://?fault=delay%3D0.1%3A20ms")
    assert options.faults[0] == LinkFault(
        "delay", options.faults[0].senders, 0.1, 20.0, "delay=0.1:20ms"
    )  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("url", "error", "words"),
    [
        ("sim://?foo=1", ConfigError, "not known"),
        ("sim://?seed=1&seed=2", ConfigError, "given twice"),
        ("sim://?seed=-1", ConfigError, "seed"),
        ("sim://?seed=abc", ConfigError, "seed"),
        ("sim://?seed=", ConfigError, "seed"),
        ("sim://?seed=99999999999999999999999", ConfigError, "seed"),
        ("sim://?device_class=clinic", ConfigError, "home or professional"),
        ("sim://?watchdog_ms=0", ConfigError, "1 to 65535"),
        ("sim://?watchdog_ms=65536", ConfigError, "1 to 65535"),
        ("sim://?watchdog_ms=1.5", ConfigError, "whole number"),
        ("sim://?fault=explode", FaultSpecError, "not understood"),
        ("sim://?fault=", FaultSpecError, "empty"),
        ("loop://", ConfigError, "sim://"),
        ("sim://#x", ConfigError, "fragment"),
    ],
)
def test_bad_urls_refused_with_one_sentence(url: str, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words) as info:
        parse_sim_url(url)
    assert str(info.value).endswith(".")
