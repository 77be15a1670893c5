"""Runs the shipped checks of driver.testing.conformance.checks.test_telemetry against the pen."""

from driver.testing.conformance.checks.test_telemetry import *  # noqa: F403
