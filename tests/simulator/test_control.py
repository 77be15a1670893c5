"""Engineers' runtime commands against a simulation on a virtual clock."""

from __future__ import annotations

import pytest

from protocol import CartridgeState, Fault, Hello, SetTelemetry, Start, State, encode
from simulator.control import HELP, execute
from simulator.errors import ControlError
from simulator.simulation import Simulation


def running() -> Simulation:
    sim = Simulation(seed=1)
    for seq, msg in enumerate((Hello(1, 1), SetTelemetry(10), Start())):
        sim.host_write(encode(msg, seq))
    sim.host_read()
    return sim


def test_help_lists_every_command() -> None:
    sim = Simulation()
    text = execute(sim, "help")
    assert text == HELP
    for word in (
        "status",
        "overheat",
        "cool",
        "stall",
        "jam",
        "unjam",
        "remove",
        "insert",
        "reinsert",
        "battery",
        "reboot",
        "cut",
        "fault",
        "clear",
    ):
        assert f"  {word}" in text


def test_every_command_help_lists_is_one_execute_knows() -> None:
    # The help text and the command table are written apart: each word the help shows must run
    # (with an argument where it needs one), never come back "not known".
    words = [line.split()[0] for line in HELP.splitlines()[1:]]
    assert len(words) == 16
    arguments = {"battery": "50", "cut": "10ms", "fault": "drop=0.1"}
    for word in words:
        sim = Simulation(seed=1)
        if word in ("insert", "reinsert"):
            execute(sim, "remove")
        reply = execute(sim, f"{word} {arguments.get(word, '')}".strip())
        assert isinstance(reply, str) and reply


def test_status_describes_the_pen() -> None:
    sim = running()
    text = execute(sim, "status")
    assert "state RUNNING" in text and "session open" in text and "telemetry 10 Hz" in text
    assert "link host->pen: clean" in text


def test_overheat_and_cool() -> None:
    sim = running()
    assert "48.0 °C" in execute(sim, "overheat")
    assert sim.firmware.state == State.FAULT
    assert "25.0 °C" in execute(sim, "cool")
    assert sim.firmware.latched_faults & Fault.OVERTEMP  # still latched until RESET 1


def test_stall_jam_unjam() -> None:
    sim = running()
    assert execute(sim, "stall") == "Motor jammed."
    sim2 = Simulation()
    assert execute(sim2, "stall") == "Motor will jam at the next START."
    assert "stuck" in execute(sim2, "JAM")
    assert sim2.firmware.depth_jammed
    execute(sim2, "unjam")
    assert not sim2.firmware.depth_jammed


def test_cartridge_commands() -> None:
    sim = running()
    execute(sim, "remove")
    assert sim.firmware.latched_faults & Fault.CARTRIDGE_REMOVED
    assert "SPENT" in execute(sim, "reinsert")
    execute(sim, "remove")
    assert "Fresh cartridge" in execute(sim, "insert")
    assert sim.firmware.cartridge_state == CartridgeState.FRESH


def test_battery_reboot_cut_fault_clear() -> None:
    sim = running()
    assert execute(sim, "battery 5") == "Battery at 5 %."
    old = sim.firmware.boot_id
    assert "Rebooted" in execute(sim, "reboot")
    assert sim.firmware.boot_id != old
    assert execute(sim, "cut 2s") == "Link cut for 2000 ms."
    assert sim.link.is_cut(sim.now_ms + 1999)
    assert execute(sim, "fault drop:pen=0.5") == "Link fault set: drop:pen=0.5."
    assert sim.link.pen_to_host.drop == 0.5
    assert execute(sim, "fault overheat@1s") == "Pen fault overheat in 1000 ms."
    execute(sim, "clear")
    assert sim.link.pen_to_host.drop == 0.0


def test_blank_lines_and_comments_are_ignored() -> None:
    sim = Simulation()
    assert execute(sim, "") == ""
    assert execute(sim, "   # a comment") == ""


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("explode", "not known"),
        ("battery", "battery 5"),
        ("battery lots", "battery 5"),
        ("battery 150", "0 to 100"),
        ("battery nan", "0 to 100"),
        ("cut", "needs a duration"),
        ("cut 2", "unit"),
        ("fault", "needs a spec"),
        ("fault drop=7", "from 0 to 1"),
        ("overheat now", "takes no argument"),
        ("insert", "already inserted"),
    ],
)
def test_bad_commands_are_refused_and_change_nothing(line: str, words: str) -> None:
    sim = running()
    before = (sim.firmware.status(), sim.firmware.cartridge_id, sim.link.describe())
    with pytest.raises(ControlError, match=words) as info:
        execute(sim, line)
    assert str(info.value).endswith(".")
    assert (sim.firmware.status(), sim.firmware.cartridge_id, sim.link.describe()) == before
