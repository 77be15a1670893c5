"""Hypothesis settings and strategies for checks that talk to a live pen.

Every example costs a round trip to the pen, so these checks run a quarter of the profile's
examples (25 under `ci`, 500 under `thorough`), at least 10.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings

from driver.testing.strategies import (
    HOST_TYPES,
    MAX_PAYLOAD,
    PAYLOAD_LEN,
    payloads,
    u16_edges,
    unknown_types,
)

__all__ = [
    "EXAMPLES",
    "HOST_TYPES",
    "MAX_PAYLOAD",
    "PAYLOAD_LEN",
    "live",
    "payloads",
    "u16_edges",
    "unknown_types",
]

EXAMPLES = max(10, settings().max_examples // 4)


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
