"""Runs the shipped checks of driver.testing.conformance.checks.test_physical against the pen."""

from driver.testing.conformance.checks.test_physical import *  # noqa: F403
