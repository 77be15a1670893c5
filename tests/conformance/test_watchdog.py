"""Runs the shipped checks of driver.testing.conformance.checks.test_watchdog against the pen."""

from driver.testing.conformance.checks.test_watchdog import *  # noqa: F403
