"""The firmware state machine (driver.testing.firmware_machine, where its invariants are
listed) run on the simulator's own firmware."""

from __future__ import annotations

from driver.testing.firmware_machine import default_firmware, firmware_machine_for

TestPenMachine = firmware_machine_for(default_firmware).TestCase
