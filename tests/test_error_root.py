"""One error root: every exception class that protocol/ and simulator/ define derives from
`protocol.NeedlepenError`, so one `except NeedlepenError` catches every error they raise on
purpose, and anything else is a bug. driver/ and tui/ too."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import driver
import protocol
import simulator
import tui
from protocol import EncodeError, NeedlepenError, ProtocolError, SetDepth, encode
from simulator.config import PenConfig
from simulator.errors import ConfigError, SimulatorError

PACKAGES = (protocol, simulator, driver, tui)


def defined_exceptions() -> list[type[BaseException]]:
    """Every exception class defined (not just imported) in a module of PACKAGES."""
    found: list[type[BaseException]] = []
    for package in PACKAGES:
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if info.name.startswith("driver.testing") or info.name.endswith(".__main__"):
                continue  # the test kit (its failures are assertions by design); a __main__ runs
            module = importlib.import_module(info.name)
            found.extend(
                obj
                for _, obj in inspect.getmembers(module, inspect.isclass)
                if issubclass(obj, BaseException) and obj.__module__ == module.__name__
            )
    return found


def test_every_exception_of_protocol_and_simulator_is_under_the_root() -> None:
    classes = defined_exceptions()
    assert ProtocolError in classes and SimulatorError in classes and ConfigError in classes
    outside = [
        f"{c.__module__}.{c.__qualname__}" for c in classes if not issubclass(c, NeedlepenError)
    ]
    assert outside == []


def test_the_package_bases_sit_directly_under_the_root() -> None:
    assert ProtocolError.__bases__ == (NeedlepenError,)
    assert SimulatorError.__bases__ == (NeedlepenError,)
    assert NeedlepenError.__bases__ == (Exception,)
    assert protocol.NeedlepenError is NeedlepenError


@pytest.mark.parametrize(
    "fails",
    [
        lambda: encode(SetDepth(70_000), 0),  # protocol: outside the u16 range
        lambda: PenConfig.for_device_class("veterinary"),  # simulator: no such preset
    ],
    ids=["protocol", "simulator"],
)
def test_one_except_clause_catches_what_either_package_raises(fails) -> None:
    with pytest.raises(NeedlepenError) as caught:
        fails()
    assert isinstance(caught.value, EncodeError | ConfigError)
    assert str(caught.value).endswith(".")  # one sentence
