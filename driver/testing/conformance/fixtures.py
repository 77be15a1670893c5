"""Fixtures and hooks of the conformance suite: which pen, one connection per run, a clean pen
per check. The checks' package (and the project's tests/conformance) load them from their
conftest.py with `from driver.testing.conformance.fixtures import *`, so they exist only where
the checks are collected; the options come from the plugin (driver.testing.conformance.plugin).

    --pen-url URL          the pen to check; default: the simulator twice, in-process (sim://,
                           a professional pen) and as a process on a kernel pty (a home pen)
    --pen-operator         an operator does the physical steps (cartridge, power)
    --pen-device-class C   the class the pen was built as (the simulator then simulates it)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from driver.errors import PortError
from driver.session import Pen
from protocol import DeviceClass

from .client import ConformanceError, PenClient
from .hands import PTY_TARGET, SIM_TARGET, Hands, Target, leave_safe, open_target
from .reasons import INCONCLUSIVE_REASON

__all__ = [
    "hands",
    "host_pen_class",
    "pen",
    "pen_url",
    "pytest_collection_modifyitems",
    "pytest_generate_tests",
    "pytest_runtest_makereport",
    "target",
]

TARGET_ORDER = {SIM_TARGET: 0, PTY_TARGET: 1}


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[Any]) -> None:
    """Per pen, the checks that keep the session first and those that end it last.

    A new session makes the cartridge used in the last one SPENT, so on a real pen every
    check that runs the needle after a session ended needs a fresh cartridge. Other tests in
    the run keep their places; the order is otherwise the files' own.
    """
    slots = [i for i, item in enumerate(items) if "target" in getattr(item, "fixturenames", ())]

    def key(item: Any) -> tuple[int, bool]:
        callspec = getattr(item, "callspec", None)
        which = callspec.params.get("target") if callspec is not None else None
        return TARGET_ORDER.get(str(which), 0), item.get_closest_marker("ends_session") is not None

    ordered = sorted((items[i] for i in slots), key=key)
    for i, item in zip(slots, ordered, strict=True):
        items[i] = item


def pytest_generate_tests(metafunc: Any) -> None:
    if "target" in metafunc.fixturenames:
        url = metafunc.config.getoption("--pen-url")
        params = [url] if url else [SIM_TARGET, PTY_TARGET]
        ids = ["pen"] if url else ["sim", "pty"]
        metafunc.parametrize("target", params, ids=ids, indirect=True, scope="session")


@pytest.fixture(scope="session")
def pen_url(request: Any) -> str | None:
    """The --pen-url given, or None for the built-in simulator."""
    url: str | None = request.config.getoption("--pen-url")
    return url


@pytest.fixture(scope="session")
def target(request: Any) -> Iterator[Target]:
    """One connection to the pen for the whole run (a real pen is not re-opened per check).
    With --pen-device-class, the run stops at once if the pen's INFO says another class."""
    expected: str | None = request.config.getoption("--pen-device-class", default=None)
    try:
        t = open_target(request.param, expected)
    except PortError as exc:
        pytest.exit(f"{exc} Nothing was checked.", returncode=pytest.ExitCode.USAGE_ERROR)
    try:
        if expected is not None:
            t.pen.keepalive = True
            t.pen.ensure_session()
            info = t.pen.session()
            actual = DeviceClass(info.device_class).name.lower()
            if actual != expected:
                pytest.exit(
                    f"The pen on {t.label} reports device class {actual} in its INFO, not the "
                    f"{expected} it was said to be (--pen-device-class). Nothing was checked.",
                    returncode=pytest.ExitCode.USAGE_ERROR,
                )
        yield t
    finally:
        try:
            t.pen.keepalive = True
            t.pen.ensure_session()
            t.pen.telemetry(0)
        finally:
            t.close()


def _operator_prompt(config: Any) -> Any:
    capture = config.pluginmanager.getplugin("capturemanager")
    writer = config.get_terminal_writer()

    def prompt(text: str) -> None:
        with capture.global_and_fixture_disabled():
            writer.line("")
            writer.line(f">>> OPERATOR: {text} (the check waits for it)", yellow=True, bold=True)

    return prompt


@pytest.fixture
def hands(target: Target, request: Any) -> Hands:
    """Physical steps: the simulator's hook, an operator (--pen-operator), or a clear skip."""
    operator = request.config.getoption("--pen-operator", default=False)
    prompt = _operator_prompt(request.config) if operator and target.hook is None else None
    return Hands(target.pen, target.hook, prompt)


@pytest.fixture
def pen(target: Target, hands: Hands) -> Iterator[PenClient]:
    """The pen at the start of every check: a session open, IDLE, telemetry at 200 Hz, the
    heartbeat on. Afterwards it is left stopped with the e-stop released, and the check fails
    if the pen broke a rule checked over every check on the way (answers, decodable frames,
    counter, EVENT details: see PenClient.violations)."""
    client = target.pen
    client.reset_books()
    leave_safe(client, hands)
    client.reset_books()
    yield client
    try:
        leave_safe(client, hands)
        problems = client.violations()
    except ConformanceError as exc:
        problems = [str(exc)]
    starved = client.gap_explains_a_trip()
    note = client.starvation_sentence()
    client.reset_books()
    if problems and starved:
        pytest.skip(f"{INCONCLUSIVE_REASON}: {note}")
    if problems:
        pytest.fail(" ".join(problems), pytrace=False)


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A check that failed while the suite's own client was starved (it sent nothing for
    about the pen's watchdog period with its heartbeat on) is reported as not run, saying so,
    instead of blaming the pen."""
    report: pytest.TestReport = yield
    if report.when == "call" and report.failed:
        funcargs = getattr(item, "funcargs", {})
        client = funcargs.get("pen")
        if isinstance(client, PenClient) and client.gap_explains_a_trip():
            report.outcome = "skipped"
            line = item.location[1] or 0
            reason = f"Skipped: {INCONCLUSIVE_REASON}: {client.starvation_sentence()}"
            report.longrepr = (str(item.path), line, reason)
    return report


@pytest.fixture
def host_pen_class() -> type[Pen]:
    """The host the host-compatibility checks run: needlepen's own `driver.Pen` (a conftest
    may override it, e.g. to show that the checks fail a host with a known defect)."""
    return Pen
