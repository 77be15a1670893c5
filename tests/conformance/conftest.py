"""Fixtures of the conformance suite: which pen, one connection per run, a clean pen per check.

    pytest tests/conformance                            the simulator, twice: in-process
                                                        (sim://, a professional pen) and as a
                                                        process on a kernel pty (a home pen)
    pytest tests/conformance --pen-url /dev/ttyUSB0     a real pen
    pytest tests/conformance --pen-url /dev/ttyUSB0 --pen-operator
                                                        ... with an operator for the physical
                                                        steps (cartridge, power)

`--pen-url` is registered in tests/conftest.py; `--pen-operator` here (so it works when
tests/conformance is named on the command line).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .client import PenClient
from .hands import OPERATOR_REASON, PTY_TARGET, SIM_TARGET, Hands, Target, leave_safe, open_target

MANUAL = (
    "manual: needs a physical action on the pen (cartridge, power, heat, a fault); done by the "
    "simulator's control hook, by an operator with --pen-operator, else reported as skipped"
)


def pytest_addoption(parser: Any) -> None:
    parser.addoption(
        "--pen-operator",
        action="store_true",
        default=False,
        help=(
            "conformance on a real pen: ask an operator (on this terminal) for the physical "
            "steps some checks need, and wait until telemetry shows they were done"
        ),
    )


ENDS_SESSION = (
    "ends_session: the check ends the pen's session (HELLO, watchdog or reboot); such checks "
    "run last, so that a real pen needs fewer fresh cartridges"
)
TARGET_ORDER = {SIM_TARGET: 0, PTY_TARGET: 1}


def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", MANUAL)
    config.addinivalue_line("markers", ENDS_SESSION)


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
    """One connection to the pen for the whole run (a real pen is not re-opened per check)."""
    t = open_target(request.param)
    try:
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
    if the pen broke a framing or numbering rule on the way (see PenClient.violations)."""
    client = target.pen
    client.reset_books()
    leave_safe(client, hands)
    client.reset_books()
    yield client
    leave_safe(client, hands)
    problems = client.violations()
    client.reset_books()
    if problems:
        pytest.fail(" ".join(problems), pytrace=False)


# --- reporting the checks that need an operator ---------------------------------------------

_needs_operator: list[str] = []


def pytest_runtest_logreport(report: Any) -> None:
    if report.skipped and report.when in ("setup", "call"):
        reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else ""
        if OPERATOR_REASON in reason:
            _needs_operator.append(f"{report.nodeid}: {reason.removeprefix('Skipped: ')}")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _needs_operator:
        return
    terminalreporter.section("conformance checks not run", sep="=", yellow=True, bold=True)
    terminalreporter.line(
        f"{len(_needs_operator)} check(s) {OPERATOR_REASON} and were NOT run (not passed):"
    )
    for line in _needs_operator:
        terminalreporter.line(f"  {line}")
