"""Options of a software pen, as the `sim://` URL and `needlepen sim` spell them.

    sim://?device_class=home&seed=1&watchdog_ms=300&fault=drop=0.05&fault=overheat@5s

device_class  home or professional (default professional)
seed          a whole number >= 0 (default 0); the same seed gives the same pen and faults
watchdog_ms   1..65535 (default 300)
fault         a fault spec (repeatable), see simulator.faults
Anything between `sim://` and `?` is a free label and is ignored. Unknown options, options
given twice (except fault) and bad values are refused with one sentence.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from .errors import ConfigError
from .faults import FaultSpec, parse_fault
from .firmware import PenConfig

DEVICE_CLASSES = ("home", "professional")
MAX_SEED = 2**64 - 1
URL_OPTIONS = ("device_class", "seed", "watchdog_ms", "fault")


@dataclass(frozen=True, slots=True)
class SimOptions:
    device_class: str = "professional"
    seed: int = 0
    watchdog_ms: int = 300
    faults: tuple[FaultSpec, ...] = ()

    def config(self) -> PenConfig:
        return PenConfig.for_device_class(self.device_class, watchdog_ms=self.watchdog_ms)


def parse_device_class(text: str) -> str:
    value = str(text).strip().lower()
    if value not in DEVICE_CLASSES:
        raise ConfigError(f"The device class must be home or professional, not {text!r}.")
    return value


def parse_seed(text: str | int) -> int:
    try:
        value = int(str(text).strip(), 10)
    except ValueError:
        raise ConfigError(f"The seed must be a whole number of 0 or more, not {text!r}.") from None
    if not 0 <= value <= MAX_SEED:
        raise ConfigError(f"The seed must be a whole number from 0 to {MAX_SEED}, not {text!r}.")
    return value


def parse_watchdog_ms(text: str | int) -> int:
    try:
        value = int(str(text).strip(), 10)
    except ValueError:
        raise ConfigError(
            f"The watchdog must be a whole number of milliseconds, not {text!r}."
        ) from None
    if not 1 <= value <= 0xFFFF:
        raise ConfigError(f"The watchdog must be from 1 to 65535 ms, not {text!r}.")
    return value


def parse_sim_url(url: str) -> SimOptions:
    """The options of a `sim://` URL (raises ConfigError or FaultSpecError, one sentence)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() != "sim":
        raise ConfigError(f"A software pen's URL starts with sim://, not {url!r}.")
    if parts.fragment:
        raise ConfigError("A sim:// URL takes no #fragment; put options after ?.")
    seen: set[str] = set()
    values: dict[str, str] = {}
    faults: list[FaultSpec] = []
    for raw_key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        key = raw_key.strip().lower().replace("-", "_")
        if key not in URL_OPTIONS:
            raise ConfigError(
                f"The sim:// option {raw_key!r} is not known; the options are device_class, "
                "seed, watchdog_ms and fault."
            )
        if key == "fault":
            faults.append(parse_fault(value))
            continue
        if key in seen:
            raise ConfigError(f"The sim:// option {key} is given twice.")
        seen.add(key)
        values[key] = value
    return SimOptions(
        device_class=parse_device_class(values.get("device_class", "professional")),
        seed=parse_seed(values.get("seed", "0")),
        watchdog_ms=parse_watchdog_ms(values.get("watchdog_ms", "300")),
        faults=tuple(faults),
    )
