"""Runs the shipped checks of driver.testing.conformance.checks.test_start against the pen."""

from driver.testing.conformance.checks.test_start import *  # noqa: F403
