"""The suite's fixtures and hooks, where the checks are collected (nowhere else)."""

from driver.testing.conformance.fixtures import *  # noqa: F403
