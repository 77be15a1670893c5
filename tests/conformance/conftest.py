"""tests/conformance runs the shipped suite (driver.testing.conformance.checks) with its own
fixtures and hooks; the options (--pen-url, --pen-operator, --pen-device-class) come from the
needlepen-conformance pytest plugin."""

from driver.testing.conformance.fixtures import *  # noqa: F403
