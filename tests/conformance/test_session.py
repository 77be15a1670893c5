"""Runs the shipped checks of driver.testing.conformance.checks.test_session against the pen."""

from driver.testing.conformance.checks.test_session import *  # noqa: F403
