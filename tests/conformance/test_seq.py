"""Runs the shipped checks of driver.testing.conformance.checks.test_seq against the pen."""

from driver.testing.conformance.checks.test_seq import *  # noqa: F403
