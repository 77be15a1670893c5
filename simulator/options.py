"""Options of a software pen, as the `sim://` URL and `needlepen sim` spell them.

    sim://?device_class=home&seed=1&watchdog_ms=300&fault=drop=0.05&fault=overheat@5s
    sim://?rate_min_hz=20&depth_step_um=25&watchdog_ms=60&fault_detail=mask   # "a pen like that"

One table (`OPTIONS`) names every option once: the URL key, the CLI flag (`--rate-min-hz`), its
parser and its help, so the two spellings can never drift apart. Options left out take the
device class's preset (simulator.config.PenConfig). Anything between `sim://` and `?` is a
free label and is ignored. Unknown options, options given twice (except fault) and bad values
are refused with one sentence; so is a combination no pen could have (a home pen at 1 mm).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from protocol import DeviceClass

from .config import FAULT_DETAILS, PenConfig
from .errors import ConfigError
from .faults import FaultSpec, parse_fault

DEVICE_CLASSES = tuple(c.name.lower() for c in DeviceClass)
MAX_SEED = 2**64 - 1
U16 = 0xFFFF
U32 = 0xFFFF_FFFF
#: The UART speeds `baud` accepts (8N1: 10 bits a byte on the wire).
BAUD_MIN = 300
BAUD_MAX = 4_000_000


@dataclass(frozen=True, slots=True)
class SimOptions:
    """A software pen's options. None means "the device class's preset"."""

    device_class: str = "professional"
    seed: int = 0
    watchdog_ms: int = 300
    faults: tuple[FaultSpec, ...] = ()
    depth_min_um: int | None = None
    depth_max_um: int | None = None
    depth_step_um: int | None = None
    rate_min_hz: int | None = None
    rate_max_hz: int | None = None
    serial: int | None = None
    fault_detail: str = "bit"
    #: The cartridge fitted at power-on (None: a fresh one with a new id every boot).
    cartridge: int | None = None
    #: The pen's uptime_ms at power-on (to meet the u32 wrap at 49.7 days soon).
    uptime_ms: int = 0
    #: Pace both directions as an 8N1 UART at this speed (None: no pacing, bytes arrive at once).
    baud: int | None = None

    def config(self) -> PenConfig:
        """The PenConfig these options describe (ConfigError if no pen could have it)."""
        changes: dict[str, Any] = {"watchdog_ms": self.watchdog_ms}
        for name in PRESET_FIELDS:
            value = getattr(self, name)
            if value is not None:
                changes[name] = value
        if self.fault_detail != "bit":
            changes["fault_detail"] = self.fault_detail
        return PenConfig.for_device_class(self.device_class, **changes)


#: Options that change the device class's preset when given.
PRESET_FIELDS = (
    "depth_min_um",
    "depth_max_um",
    "depth_step_um",
    "rate_min_hz",
    "rate_max_hz",
    "serial",
)


def parse_device_class(text: str) -> str:
    value = str(text).strip().lower()
    if value not in DEVICE_CLASSES:
        raise ConfigError(f"The device class must be home or professional, not {text!r}.")
    return value


def _whole(text: str | int, what: str, low: int, high: int) -> int:
    try:
        value = int(str(text).strip(), 10)
    except ValueError:
        raise ConfigError(
            f"The {what} must be a whole number from {low} to {high}, not {text!r}."
        ) from None
    if not low <= value <= high:
        raise ConfigError(f"The {what} must be from {low} to {high}, not {text!r}.")
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
    if not 1 <= value <= U16:
        raise ConfigError(f"The watchdog must be from 1 to 65535 ms, not {text!r}.")
    return value


def parse_cartridge(text: str | int) -> int:
    """A cartridge id in hex (`d82c07ce` or `0xd82c07ce`), 1 to ffffffff."""
    raw = str(text).strip().lower()
    digits = raw[2:] if raw.startswith("0x") else raw
    try:
        if not digits or not all(c in "0123456789abcdef" for c in digits):
            raise ValueError
        value = int(digits, 16)
    except ValueError:
        raise ConfigError(
            f"The cartridge must be an id in hex from 1 to ffffffff, e.g. d82c07ce, not {text!r}."
        ) from None
    if not 1 <= value <= U32:
        raise ConfigError(f"The cartridge must be an id in hex from 1 to ffffffff, not {text!r}.")
    return value


def parse_baud(text: str | int) -> int:
    return _whole(text, "baud rate", BAUD_MIN, BAUD_MAX)


def parse_fault_detail(text: str) -> str:
    value = str(text).strip().lower()
    if value not in FAULT_DETAILS:
        raise ConfigError(
            f"The fault detail must be bit (what the ICD says) or mask, not {text!r}."
        )
    return value


def _u16_option(name: str) -> Callable[[str], int]:
    return lambda text: _whole(text, f"pen's {name}", 1, U16)


@dataclass(frozen=True, slots=True)
class Option:
    """One option: its URL key (= SimOptions field), parser, value name and help."""

    key: str
    parse: Callable[[str], Any]
    metavar: str
    help: str

    @property
    def flag(self) -> str:
        return "--" + self.key.replace("_", "-")


OPTIONS: tuple[Option, ...] = (
    Option(
        "device_class",
        parse_device_class,
        "{home,professional}",
        "home (250-950 µm, 25-120 Hz) or professional (250-3000 µm, 25-150 Hz; default)",
    ),
    Option(
        "seed",
        parse_seed,
        "N",
        "random seed (default 0): link faults and boot ids (cartridges are new every run)",
    ),
    Option(
        "watchdog_ms",
        parse_watchdog_ms,
        "MS",
        "pen watchdog, 1-65535 ms (default 300; a conforming pen reports 150-2000)",
    ),
    Option("depth_min_um", _u16_option("depth_min_um"), "UM", "shallowest depth (preset: 250)"),
    Option("depth_max_um", _u16_option("depth_max_um"), "UM", "deepest depth (preset by class)"),
    Option("depth_step_um", _u16_option("depth_step_um"), "UM", "depth step (preset: 50)"),
    Option("rate_min_hz", _u16_option("rate_min_hz"), "HZ", "lowest rate (preset: 25)"),
    Option("rate_max_hz", _u16_option("rate_max_hz"), "HZ", "highest rate (preset by class)"),
    Option(
        "serial",
        lambda text: _whole(text, "pen's serial number", 0, U32),
        "N",
        "INFO.serial (preset by class)",
    ),
    Option(
        "fault_detail",
        parse_fault_detail,
        "{bit,mask}",
        "EVENT FAULT_RAISED/CLEARED detail: bit number (ICD, default) or mask (a pen that "
        "got it wrong)",
    ),
    Option(
        "cartridge",
        parse_cartridge,
        "HEX",
        "pin the id of the cartridge fitted at power-on, in hex (default: a fresh one with a "
        "new id in every run)",
    ),
    Option(
        "uptime_ms",
        lambda text: _whole(text, "uptime at power-on", 0, U32),
        "MS",
        "uptime_ms at power-on, e.g. 4294960000 to see the 49.7-day wrap in 7 s (default 0)",
    ),
    Option(
        "baud",
        parse_baud,
        "N",
        f"pace both directions as an 8N1 UART at N baud, 10 bits a byte ({BAUD_MIN}-{BAUD_MAX}; "
        "default: no pacing)",
    ),
)
OPTION_BY_KEY: Mapping[str, Option] = {o.key: o for o in OPTIONS}
URL_OPTIONS = (*OPTION_BY_KEY, "fault")
_FIELDS = {f.name for f in fields(SimOptions)}
assert set(OPTION_BY_KEY) <= _FIELDS, "every option is a SimOptions field"


def build_options(values: Mapping[str, str | None], faults: tuple[FaultSpec, ...]) -> SimOptions:
    """SimOptions from raw texts by key (None or missing: the default); checks the pen."""
    parsed: dict[str, Any] = {}
    for key, text in values.items():
        if text is None:
            continue
        parsed[key] = OPTION_BY_KEY[key].parse(text)
    options = SimOptions(faults=faults, **parsed)
    options.config()  # a combination no pen could have is refused here, with one sentence
    return options


def parse_sim_url(url: str) -> SimOptions:
    """The options of a `sim://` URL (raises ConfigError or FaultSpecError, one sentence)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() != "sim":
        raise ConfigError(f"A software pen's URL starts with sim://, not {url!r}.")
    if parts.fragment:
        raise ConfigError("A sim:// URL takes no #fragment; put options after ?.")
    seen: set[str] = set()
    values: dict[str, str | None] = {}
    faults: list[FaultSpec] = []
    for raw_key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        key = raw_key.strip().lower().replace("-", "_")
        if key not in URL_OPTIONS:
            raise ConfigError(
                f"The sim:// option {raw_key!r} is not known; the options are "
                f"{', '.join(URL_OPTIONS[:-1])} and fault."
            )
        if key == "fault":
            faults.append(parse_fault(value))
            continue
        if key in seen:
            raise ConfigError(f"The sim:// option {key} is given twice.")
        seen.add(key)
        values[key] = value
    return build_options(values, tuple(faults))
