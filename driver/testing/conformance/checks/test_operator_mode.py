"""The suite's own operator mode (--pen-operator), proven on the simulator: an "operator" who
acts a little after being asked, through the simulator's hook, and the check that waits until
telemetry shows the action was done. On a real pen this check does not apply (it needs the
hook to play the operator) and says so."""

from __future__ import annotations

import threading

import pytest

from driver.testing.conformance.client import ConformanceError, PenClient
from driver.testing.conformance.hands import ACTIONS, Hands, Target
from protocol import CartridgeState, State


def operator_played_by(target: Target, asked: list[str]) -> Hands:
    hook = target.hook
    if hook is None:
        pytest.skip("the operator mode is checked on the simulator, whose hook plays the operator")
    by_instruction = {f"Please {a.instruction}.": a.commands for a in ACTIONS.values()}

    def prompt(text: str) -> None:
        asked.append(text)
        commands = by_instruction[text]

        def act() -> None:
            for command in commands:
                hook(command)

        threading.Timer(0.05, act).start()

    return Hands(target.pen, None, prompt)


def test_an_operator_is_asked_and_the_check_waits_until_telemetry_shows_it(
    pen: PenClient, target: Target
) -> None:
    asked: list[str] = []
    operator = operator_played_by(target, asked)
    pen.session()
    operator.do("remove_cartridge")
    assert pen.status(since=pen.mark()).cartridge_state == CartridgeState.NONE
    operator.do("insert_fresh_cartridge")
    assert pen.status(since=pen.mark()).cartridge_state == CartridgeState.FRESH
    assert asked == [
        "Please pull the cartridge out of the pen.",
        "Please fit a fresh, never used cartridge.",
    ]


def test_an_operator_who_does_nothing_fails_the_check_with_a_sentence(
    pen: PenClient, target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    if target.hook is None:
        pytest.skip("the operator mode is checked on the simulator")
    monkeypatch.setattr("driver.testing.conformance.hands.OPERATOR_TIMEOUT_S", 0.2)
    idle = Hands(target.pen, None, lambda text: None)
    pen.session()
    with pytest.raises(ConformanceError, match="sign that the operator did this"):
        idle.do("remove_cartridge")
    assert pen.status().state == State.IDLE


def test_without_an_operator_a_physical_step_is_reported_not_passed(
    pen: PenClient, target: Target
) -> None:
    nobody = Hands(target.pen, None, None)
    with pytest.raises(pytest.skip.Exception, match="needs an operator on a real pen: pull"):
        nobody.do("remove_cartridge")
    with pytest.raises(pytest.skip.Exception, match="with a fault bench: heat"):
        nobody.do("overheat")
