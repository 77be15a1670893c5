"""Runs the shipped checks of driver.testing.conformance.checks.test_host against the pen."""

from driver.testing.conformance.checks.test_host import *  # noqa: F403
