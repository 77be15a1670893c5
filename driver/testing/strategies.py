"""Hypothesis strategies for needlepen: wire messages and streams, host commands at the pen's
edges, line noise, the governor's inputs (depths, rates, roles, zones, pens) and odd values.

Every strategy reaches the edges: 0, each limit, one step past it, the wire maxima, NaN,
infinities, subnormals, -0.0, huge integers and values of the wrong type (`garbage`). The
project's tests import them from here; so can a firmware team's own suite.

Wire: `seqs`, `messages_of(cls)`, `any_message`, `messages_to(direction)`, `numbered`,
`streams`, `frames_of`, `directions`, `cuts(data)`, `u16_edges(*points)`, `unknown_types`,
`payloads`, `line_noise`, `host_commands`.
Governor: `garbage`, `odd_numbers`, `edge_depths`, `good_depths`, `any_depths`, `good_rates`,
`any_rates`, `good_reasons`, `any_reasons`, `good_days`, `any_days`, `default_devices`,
`valid_devices()`, `good_devices`, `any_devices`, `known_roles`, `known_zones`, `skin_zones`.
Records: `json_values(finite=...)`, `json_objects(finite=...)`.
"""

from __future__ import annotations

import math
from itertools import pairwise
from typing import Any

from hypothesis import strategies as st

from driver.safety import DeviceLimits
from driver.vocabulary import ROLE_NAMES, ZONE_NAMES
from protocol import (
    HOST_TO_PEN,
    MAX_BODY,
    MESSAGE_TYPES,
    PEN_TO_HOST,
    Direction,
    Estop,
    Hello,
    Message,
    Reset,
    SetDepth,
    SetRate,
    SetTelemetry,
    Start,
    Stop,
    encode,
)
from protocol.messages import WIRE_RANGES

# --- the wire --------------------------------------------------------------------------------

seqs = st.integers(min_value=0, max_value=0xFFFF)


def _field(cls: type[Message], name: str, code: str) -> st.SearchStrategy[object]:
    if name in cls.ENUMS:
        return st.sampled_from(list(cls.ENUMS[name]))
    lo, hi = WIRE_RANGES[code]
    ints = st.integers(min_value=lo, max_value=hi)
    if name in cls.FLAGS:
        return ints.map(cls.FLAGS[name])
    return ints


def messages_of(cls: type[Message]) -> st.SearchStrategy[Message]:
    """Any encodable `cls` message, over the full wire range of every field."""
    fields = {
        name: _field(cls, name, code) for name, code in zip(cls.FIELDS, cls.LAYOUT, strict=True)
    }
    return st.builds(cls, **fields)


ALL_TYPES = tuple(MESSAGE_TYPES.values())
any_message = st.sampled_from(ALL_TYPES).flatmap(messages_of)


def messages_to(direction: Direction) -> st.SearchStrategy[Message]:
    """Messages the end at `direction` receives."""
    classes = HOST_TO_PEN if direction is Direction.PEN else PEN_TO_HOST
    return st.sampled_from(classes).flatmap(messages_of)


def numbered(direction: Direction) -> st.SearchStrategy[tuple[int, Message]]:
    return st.tuples(seqs, messages_to(direction))


def streams(
    direction: Direction, min_size: int = 1, max_size: int = 12
) -> st.SearchStrategy[list[tuple[int, Message]]]:
    return st.lists(numbered(direction), min_size=min_size, max_size=max_size)


def frames_of(items: list[tuple[int, Message]]) -> list[bytes]:
    return [encode(msg, seq) for seq, msg in items]


directions = st.sampled_from(list(Direction))


@st.composite
def cuts(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """`data` cut into pieces at arbitrary places: single bytes, empty pieces, or all at once."""
    if not data:
        return [b""]
    points = draw(st.lists(st.integers(min_value=0, max_value=len(data)), max_size=len(data) + 2))
    bounds = [0, *sorted(points), len(data)]
    return [data[a:b] for a, b in pairwise(bounds)]


def u16_edges(*points: int) -> st.SearchStrategy[int]:
    """Any u16, with the wire edges and each point, one below and one above it, favoured."""
    edges = {0, 1, 0xFFFF, 0xFFFE}
    for p in points:
        edges.update(v for v in (p - 1, p, p + 1) if 0 <= v <= 0xFFFF)
    return st.one_of(st.sampled_from(sorted(edges)), st.integers(0, 0xFFFF))


#: The longest payload an intact frame can carry (a body is at most 64 bytes).
MAX_PAYLOAD = MAX_BODY - 8
HOST_TYPES = frozenset(int(cls.TYPE) for cls in HOST_TO_PEN)
PAYLOAD_LEN = {int(cls.TYPE): cls.PAYLOAD_LEN for cls in HOST_TO_PEN}
unknown_types = st.integers(0, 0xFF).filter(lambda t: t not in HOST_TYPES)
payloads = st.binary(min_size=0, max_size=MAX_PAYLOAD)
#: Line noise: any bytes, delimiters (0x00) included, longer than any frame.
line_noise = st.binary(max_size=80)

#: Depth set-points (µm) at a professional and a home pen's edges, one step either side.
EDGE_DEPTHS_UM = [
    0, 1, 200, 249, 250, 251, 275, 300, 950, 951, 999, 1000, 2950, 3000, 3001, 3050, 0xFFFF,
]  # fmt: skip
#: Rates (Hz) at the pen's and the roles' edges, one either side.
EDGE_RATES_HZ = [0, 1, 24, 25, 26, 100, 119, 120, 121, 149, 150, 151, 0xFFFF]
_u16 = st.integers(0, 0xFFFF)

#: Host commands a pen must judge: every type, mostly valid, at every edge of its fields.
host_commands: st.SearchStrategy[Message] = st.one_of(
    st.builds(Hello, st.sampled_from([1, 1, 1, 0, 2, 255]), st.integers(0, 0xFFFF_FFFF)),
    st.builds(SetDepth, st.one_of(st.sampled_from(EDGE_DEPTHS_UM), _u16)),
    st.builds(SetRate, st.one_of(st.sampled_from(EDGE_RATES_HZ), _u16)),
    st.just(Start()),
    st.just(Stop()),
    st.just(Estop()),
    st.builds(Reset, st.sampled_from([0, 1, 2, 3, 255])),
    st.builds(SetTelemetry, st.sampled_from([0, 1, 20, 200, 201, 0xFFFF])),
)

# --- odd values --------------------------------------------------------------------------------

#: Values of the wrong type for any field.
garbage: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=4),
    st.binary(max_size=3),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
    st.builds(object),
    st.complex_numbers(allow_nan=True),
)
#: Numbers at the edges of every numeric type: NaN, infinities, -0.0, subnormal, float and
#: int64 extremes, beyond int64, and True (an int to Python).
ODD_NUMBERS: list[Any] = [
    math.nan, math.inf, -math.inf, -0.0, 0, -1, 1, 1e308, -1e308, 5e-324,
    2**63 - 1, -(2**63), 2**64, True,
]  # fmt: skip
odd_numbers: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(ODD_NUMBERS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(2**70), 2**70),
)

# --- the governor's inputs ---------------------------------------------------------------------

edge_depths = st.sampled_from(
    [0.5, 0.0, -0.0, 0.2, 0.2499, 0.25, 0.2501, 0.3, 0.1 + 0.2, 0.35, 0.55, 0.95, 0.999, 1.0,
     1.5, 2.999, 3.0, 3.0001, 3.05, 10.0, 1e300, -1.0, 5e-324]
)  # fmt: skip
#: Depths (mm) a person might type: on the pen's grid, at each edge, anything in range.
good_depths = st.one_of(
    st.integers(250, 3000).map(lambda um: um / 1000),
    edge_depths,
    st.floats(0.2, 3.2, allow_nan=False),
)
any_depths: st.SearchStrategy[Any] = st.one_of(
    good_depths,
    st.floats(),  # NaN, infinities, subnormals, huge
    st.integers(-(10**30), 10**30),
    st.integers(0, 4),
    garbage,
)
good_rates = st.one_of(
    st.integers(25, 150),
    st.sampled_from([100, 1, 24, 25, 26, 99, 119, 120, 121, 149, 150, 151, 200, 10**20]),
    st.integers(0, 400),
    st.floats(0, 400, allow_nan=False),
)
any_rates: st.SearchStrategy[Any] = st.one_of(good_rates, st.floats(), st.integers(), garbage)
good_reasons = st.one_of(st.none(), st.sampled_from(["deep scarring, consented", "", "   "]))
any_reasons: st.SearchStrategy[Any] = st.one_of(good_reasons, st.text(max_size=10), garbage)
good_days = st.one_of(
    st.none(),
    st.floats(0, 400, allow_nan=False),
    st.sampled_from([28, 0, 1, 27, 27.999, 28.0, 28.001, 42, 365]),
)
any_days: st.SearchStrategy[Any] = st.one_of(good_days, st.floats(), st.integers(), garbage)

default_devices = st.sampled_from([DeviceLimits(), DeviceLimits(), DeviceLimits.home()])


@st.composite
def valid_devices(draw: st.DrawFn) -> DeviceLimits:
    """A pen that reports a range (any class, step and range, edges and empty ranges included)."""
    step = draw(st.one_of(st.sampled_from([50, 1, 10, 100, 250]), st.integers(1, 600)))
    lo = draw(st.one_of(st.sampled_from([250, 0, 100, 260, 300]), st.integers(0, 3200)))
    hi = draw(st.one_of(st.sampled_from([3000, 950, 999, 1000, 2500, 3500]), st.integers(0, 3500)))
    rlo = draw(st.one_of(st.sampled_from([25, 0, 30]), st.integers(0, 200)))
    rhi = draw(st.one_of(st.sampled_from([150, 100, 200, 300]), st.integers(0, 300)))
    klass = draw(st.sampled_from(["professional", "home"]))
    return DeviceLimits(
        klass, min(lo, hi) / 1000, max(lo, hi) / 1000, step / 1000, min(rlo, rhi), max(rlo, rhi)
    )


good_devices = st.one_of(default_devices, default_devices, valid_devices())
any_devices: st.SearchStrategy[Any] = st.one_of(
    good_devices,
    st.builds(
        DeviceLimits,
        st.one_of(st.sampled_from(["home", "professional"]), garbage),
        any_depths,
        any_depths,
        any_depths,
        any_rates,
        any_rates,
    ),
    garbage,
)

known_roles = st.sampled_from(ROLE_NAMES)
known_zones = st.sampled_from(ZONE_NAMES)
#: The zones on skin (every zone but the engineers' bench).
SKIN_ZONES = [z for z in ZONE_NAMES if z != "bench"]
skin_zones = st.sampled_from(SKIN_ZONES)

# --- records -----------------------------------------------------------------------------------


def json_values(
    *, finite: bool, max_int: int = 2**70, max_leaves: int = 20
) -> st.SearchStrategy[Any]:
    """JSON-shaped values (None, bools, ints up to `max_int` either way, by default past 64
    bits, floats, text, lists, objects); `finite=False` adds NaN and the infinities."""
    leaves = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-max_int, max_value=max_int)
        | st.floats(allow_nan=not finite, allow_infinity=not finite)
        | st.text(max_size=20)
    )
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def json_objects(*, finite: bool) -> st.SearchStrategy[dict[str, Any]]:
    """A record's data: a JSON object of `json_values`."""
    return st.dictionaries(st.text(max_size=10), json_values(finite=finite), max_size=6)
