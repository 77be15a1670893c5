"""The safety rig and the safety state machine, parameterised by what they test.

`Rig` is the real driver `Pen` on the simulated pen with a virtual clock and an audit store
(from a `StoreFactory`); its `check_*` methods are the safety case's invariants.
`SafetyMachine` / `machine_for(make_rig)` is the hypothesis state machine over a rig; `COUNTS`
what the machine ran. tests/safety holds the runners.
"""

from .counters import COUNTS, Counts
from .machine import RigFactory, SafetyMachine, machine_for
from .parts import (
    HOME_LIMIT_UM,
    OPERATORS,
    TEST_SCRYPT_N,
    Session,
    StoreFactory,
    default_store,
    one_sentence,
)
from .rig import Rig

__all__ = [
    "COUNTS",
    "HOME_LIMIT_UM",
    "OPERATORS",
    "TEST_SCRYPT_N",
    "Counts",
    "Rig",
    "RigFactory",
    "SafetyMachine",
    "Session",
    "StoreFactory",
    "default_store",
    "machine_for",
    "one_sentence",
]
