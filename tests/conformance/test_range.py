"""Runs the shipped checks of driver.testing.conformance.checks.test_range against the pen."""

from driver.testing.conformance.checks.test_range import *  # noqa: F403
