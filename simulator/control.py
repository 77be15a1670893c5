"""Runtime fault injection by an engineer: one command per line (stdin of `needlepen sim`).

The same commands work in tests through `LivePen.command(line)` (which takes the pen's lock)
or `execute(simulation, line)` with a virtual clock. Each returns the text to show the engineer;
a command that is not understood raises `ControlError` with one sentence, and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from .errors import ControlError, FaultSpecError, InjectError
from .faults import MAX_CUT_MS, LinkFault, PenFault, parse_duration, parse_fault
from .firmware import Firmware
from .simulation import Simulation

HELP = """\
commands (one per line):
  status               the pen's state, set-points, faults, cartridge and link counters
  overheat             heat the pen past its OVERTEMP threshold
  cool                 cool the pen to ambient at once (so RESET 1 can clear OVERTEMP)
  stall                jam the motor (MOTOR_STALL now if running, else at the next START)
  jam                  the depth actuator slips and sticks (DEPTH_ERROR)
  unjam                free the depth actuator again
  remove               pull the cartridge out (CARTRIDGE_REMOVED if running)
  insert               insert a fresh cartridge
  reinsert             put the last removed cartridge back (SPENT if it was used)
  fresh-cartridge      take the cartridge out (if one is in) and fit a fresh one (new id)
  battery PCT          set the battery level, 0 to 100
  reboot               power-cycle the firmware (new boot_id)
  cut DURATION         cut the link for a while, e.g. cut 2s
  fault SPEC           any --fault spec, timed from now, e.g. fault drop:pen=0.1
  clear                remove every link fault probability
  help                 this text"""

_ALIASES = {
    "depth-fault": "jam",
    "fix-depth": "unjam",
    "remove-cartridge": "remove",
    "insert-cartridge": "insert",
    "reinsert-cartridge": "reinsert",
    "fresh": "fresh-cartridge",
    "new-cartridge": "fresh-cartridge",
    "?": "help",
}


def execute(sim: Simulation, line: str) -> str:
    """Run one command line against `sim` and return what to show (may be empty)."""
    text = line.split("#", 1)[0].strip()
    if not text:
        return ""
    word, _, rest = text.partition(" ")
    word = _ALIASES.get(word.lower(), word.lower())
    command = _COMMANDS.get(word)
    if command is None:
        raise ControlError(f"The command {word!r} is not known; type help for the list.")
    try:
        return command(sim, word, rest.strip(), text)
    except (InjectError, FaultSpecError) as exc:
        raise ControlError(str(exc)) from exc


#: One command: (simulation, its word, the rest of the line, the whole line) -> the reply.
_Command = Callable[[Simulation, str, str, str], str]


def _on_pen(action: Callable[[Firmware], str]) -> _Command:
    """A command without an argument that acts on the firmware and says what it did."""

    def run(sim: Simulation, word: str, rest: str, text: str) -> str:
        _no_argument(word, rest)
        return action(sim.firmware)

    return run


def _overheat(fw: Firmware) -> str:
    fw.inject_overheat()
    return f"Overheated: {fw.temperature_dc / 10:.1f} °C."


def _cool(fw: Firmware) -> str:
    fw.set_temperature(fw.config.physics.ambient_dc)
    return f"Cooled to {fw.temperature_dc / 10:.1f} °C."


def _stall(fw: Firmware) -> str:
    fw.inject_stall()
    return "Motor jammed." if fw.needle_running else "Motor will jam at the next START."


def _jam(fw: Firmware) -> str:
    fw.inject_depth_fault()
    return f"Depth actuator stuck at {fw.depth_actual_um} µm."


def _unjam(fw: Firmware) -> str:
    fw.clear_depth_fault()
    return "Depth actuator free again."


def _remove(fw: Firmware) -> str:
    fw.remove_cartridge()
    return "Cartridge removed."


def _insert(fw: Firmware) -> str:
    return f"Fresh cartridge 0x{fw.insert_cartridge(fresh=True):08x} inserted."


def _fresh_cartridge(fw: Firmware) -> str:
    return f"Fresh cartridge 0x{fw.fit_fresh_cartridge():08x} fitted."


def _reinsert(fw: Firmware) -> str:
    cid = fw.insert_cartridge(fresh=False)
    return f"Cartridge 0x{cid:08x} put back ({fw.cartridge_state.name})."


def _reboot(fw: Firmware) -> str:
    fw.reboot()
    return f"Rebooted (boot_id 0x{fw.boot_id:08x})."


def _help(sim: Simulation, word: str, rest: str, text: str) -> str:
    return HELP


def _status(sim: Simulation, word: str, rest: str, text: str) -> str:
    return describe(sim)


def _battery(sim: Simulation, word: str, rest: str, text: str) -> str:
    try:
        pct = float(rest)
    except ValueError:
        raise ControlError(
            "The battery command needs a level from 0 to 100, e.g. battery 5."
        ) from None
    sim.firmware.set_battery(pct)
    return f"Battery at {sim.firmware.battery_pct} %."


def _cut(sim: Simulation, word: str, rest: str, text: str) -> str:
    if not rest:
        raise ControlError("The cut command needs a duration, e.g. cut 2s.")
    duration = parse_duration(rest, f"cut {rest}", "the duration", MAX_CUT_MS)
    sim.perform(PenFault("cut", duration_ms=duration, spec=text))
    return f"Link cut for {duration:g} ms."


def _fault(sim: Simulation, word: str, rest: str, text: str) -> str:
    if not rest:
        raise ControlError("The fault command needs a spec, e.g. fault drop=0.1.")
    spec = parse_fault(rest)
    sim.apply(spec, from_now=True)
    if isinstance(spec, LinkFault):
        return f"Link fault set: {spec.spec}."
    return f"Pen fault {spec.kind} in {spec.at_ms:g} ms."


def _clear(sim: Simulation, word: str, rest: str, text: str) -> str:
    sim.link.clear()
    sim.firmware.note("INJECT", what="clear_link_faults")
    return "Link faults cleared."


#: Every command word (aliases resolved) and what it runs; HELP lists them.
_COMMANDS: dict[str, _Command] = {
    "help": _help,
    "status": _status,
    "overheat": _on_pen(_overheat),
    "cool": _on_pen(_cool),
    "stall": _on_pen(_stall),
    "jam": _on_pen(_jam),
    "unjam": _on_pen(_unjam),
    "remove": _on_pen(_remove),
    "insert": _on_pen(_insert),
    "reinsert": _on_pen(_reinsert),
    "fresh-cartridge": _on_pen(_fresh_cartridge),
    "battery": _battery,
    "reboot": _on_pen(_reboot),
    "cut": _cut,
    "fault": _fault,
    "clear": _clear,
}


def _no_argument(word: str, rest: str) -> None:
    if rest:
        raise ControlError(f"The {word} command takes no argument.")


def describe(sim: Simulation) -> str:
    """A few readable lines about the pen's present state."""
    fw = sim.firmware
    st = fw.status()
    faults = ", ".join(f.name or "" for f in type(st.faults) if f & st.faults) or "none"
    cart = (
        f"0x{st.cartridge_id:08x} {st.cartridge_state.name}"
        if st.cartridge_id
        else st.cartridge_state.name
    )
    c = fw.config
    lines = [
        f"{c.device_class.name.lower()} pen, serial {c.serial}, boot_id 0x{fw.boot_id:08x}, "
        f"uptime {st.uptime_ms / 1000:.1f} s, seed {sim.seed}",
        f"state {st.state.name}, session {'open' if fw.session_open else 'none'}, "
        f"faults {faults}, e-stop {'latched' if fw.estop_latched else 'released'}",
        f"depth {st.depth_set_um} set / {st.depth_actual_um} actual µm "
        f"({c.depth_min_um}-{c.depth_max_um} step {c.depth_step_um})"
        f"{', actuator jammed' if fw.depth_jammed else ''}",
        f"rate {st.rate_set_hz} set / {st.rate_actual_hz} actual Hz ({c.rate_min_hz}-"
        f"{c.rate_max_hz}), {st.stamps} stamps, motor {st.motor_ma} mA",
        f"temperature {st.temp_dc / 10:.1f} °C, battery {st.battery_pct} %, cartridge {cart}",
        f"telemetry {fw.telemetry_hz or 'off'}{' Hz' if fw.telemetry_hz else ''}, "
        f"watchdog {c.watchdog_ms} ms",
        f"link {sim.link.describe()}",
    ]
    pending = sim.pending_faults
    if pending:
        lines.append("scheduled: " + ", ".join(f.spec or f.kind for f in pending))
    return "\n".join(lines)
