"""Hypothesis settings and strategies for checks that talk to a live pen.

Every example costs a round trip to the pen, so these checks run a quarter of the profile's
examples (25 under `ci`, 500 under `thorough`), at least 10.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from protocol import HOST_TO_PEN, MAX_BODY

EXAMPLES = max(10, settings().max_examples // 4)
#: The longest payload an intact frame can carry (a body is at most 64 bytes).
MAX_PAYLOAD = MAX_BODY - 8
HOST_TYPES = frozenset(int(cls.TYPE) for cls in HOST_TO_PEN)
PAYLOAD_LEN = {int(cls.TYPE): cls.PAYLOAD_LEN for cls in HOST_TO_PEN}


def live(**changes: Any) -> settings:
    """Settings for a property checked against the live pen (the fixture is shared by all
    examples on purpose: it is the pen, not a per-example value)."""
    return settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[
            *settings().suppress_health_check,
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
        ],
        **changes,
    )


def u16_edges(*points: int) -> st.SearchStrategy[int]:
    """Any u16, with the wire edges and each point, one below and one above it, favoured."""
    edges = {0, 1, 0xFFFF, 0xFFFE}
    for p in points:
        edges.update(v for v in (p - 1, p, p + 1) if 0 <= v <= 0xFFFF)
    return st.one_of(st.sampled_from(sorted(edges)), st.integers(0, 0xFFFF))


unknown_types = st.integers(0, 0xFF).filter(lambda t: t not in HOST_TYPES)
payloads = st.binary(min_size=0, max_size=MAX_PAYLOAD)
