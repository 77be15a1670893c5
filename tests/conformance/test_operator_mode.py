"""Runs the shipped checks of driver.testing.conformance.checks.test_operator_mode."""

from driver.testing.conformance.checks.test_operator_mode import *  # noqa: F403
