"""Shared test configuration: hypothesis profiles.

`ci` is the default (fast enough for `make test`); `thorough` is selected with
`--hypothesis-profile=thorough` (`make qa`). The conformance options (--pen-url, ...) come from
the needlepen-conformance pytest plugin (driver/testing/conformance/plugin.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=2000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _fresh_host_estops() -> Iterator[None]:
    """Each test is a host process of its own: e-stops another test left outstanding for a
    (simulated) pen serial do not carry over. Tests of that memory live inside one test."""
    from driver.session import forget_estops

    forget_estops()
    yield
    forget_estops()
