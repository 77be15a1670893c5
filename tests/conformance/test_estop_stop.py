"""Runs the shipped checks of driver.testing.conformance.checks.test_estop_stop against the pen."""

from driver.testing.conformance.checks.test_estop_stop import *  # noqa: F403
