"""The safety property suite: the shipped safety machine (driver.testing.safety.machine, where
its rules and invariants are listed) run against the SQLite store on the simulated pen.

Profiles: `ci` (the default, in `make test`) runs short programs; `thorough` (`make qa`) runs
more and longer ones. NEEDLEPEN_SAFETY_EXAMPLES / _STEPS override both. The counts of what ran
are printed at the end of the pytest run.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from driver.testing.safety import Rig, machine_for

CI_EXAMPLES = 200
CI_STEPS = 30
THOROUGH_STEPS = 50


def _thorough() -> bool:
    """True under the `thorough` profile (`make qa`)."""
    return settings.default.max_examples >= 1000


def _env_int(name: str) -> int | None:
    text = os.environ.get(name, "").strip()
    return int(text) if text else None


#: ci: short programs, enough to meet every rule and fault each run; thorough: the profile's
#: example count with longer programs. NEEDLEPEN_SAFETY_EXAMPLES / _STEPS override both.
EXAMPLES = _env_int("NEEDLEPEN_SAFETY_EXAMPLES") or (
    settings.default.max_examples if _thorough() else CI_EXAMPLES
)
STEPS = _env_int("NEEDLEPEN_SAFETY_STEPS") or (THOROUGH_STEPS if _thorough() else CI_STEPS)
LONG_RUN = _thorough() or EXAMPLES > CI_EXAMPLES or STEPS > CI_STEPS

# A long run is bounded by its example count, not by the suite's per-test timeout.
pytestmark = pytest.mark.timeout(0 if LONG_RUN else 120)

TestSafetyMachine = machine_for(Rig).TestCase
TestSafetyMachine.settings = settings(
    settings.default,
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    # long programs of many draws are the point here, and a step may take milliseconds
    suppress_health_check=[
        *settings.default.suppress_health_check,
        HealthCheck.data_too_large,
        HealthCheck.too_slow,
    ],
)
