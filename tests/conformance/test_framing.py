"""Runs the shipped checks of driver.testing.conformance.checks.test_framing against the pen."""

from driver.testing.conformance.checks.test_framing import *  # noqa: F403
