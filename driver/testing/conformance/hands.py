"""The pens the suite can check, and the physical steps some checks need.

A target is one open connection for the whole run: the in-process simulator (`sim://`), the
simulator as a separate process on a kernel pty (`needlepen sim --pty`), or whatever URL
`--pen-url` names (a real pen). Physical steps (pull the cartridge, power-cycle the pen, ...)
are done by the simulator's control hook when the pen is the simulator, by an operator when
one was asked for (`--pen-operator`), and otherwise the check is skipped with the sentence
"needs an operator on a real pen: ..." so that it is reported, never silently passed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from driver.link.transport import open_port
from driver.testing.sim import SimProcess
from protocol import (
    DEPTH_TOLERANCE_UM,
    CartridgeState,
    EventCode,
    Fault,
    Reset,
    Start,
    State,
    Status,
    Stop,
)

from .client import (
    READ_TIMEOUT_S,
    ConformanceError,
    PenClient,
    Predicate,
    Received,
    is_event,
    status_where,
)
from .reasons import OPERATOR_REASON

#: The two simulator targets of a run without --pen-url.
SIM_TARGET = "sim"
PTY_TARGET = "pty"
#: How long an operator has for one physical step.
OPERATOR_TIMEOUT_S = 120.0

Hook = Callable[[str], str]
Prompt = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Action:
    """A physical step: the simulator's control commands for it, what an operator does, and
    how telemetry shows it was done (None: an operator cannot do it without a fault bench)."""

    commands: tuple[str, ...]
    instruction: str
    done: Predicate | None


def _cartridge(*states: CartridgeState) -> Predicate:
    return status_where(lambda st: st.cartridge_state in states)


ACTIONS: dict[str, Action] = {
    "remove_cartridge": Action(
        ("remove",), "pull the cartridge out of the pen", _cartridge(CartridgeState.NONE)
    ),
    "insert_fresh_cartridge": Action(
        ("insert",), "fit a fresh, never used cartridge", _cartridge(CartridgeState.FRESH)
    ),
    "replace_cartridge": Action(
        ("remove", "insert"),
        "replace the cartridge with a fresh, never used one",
        _cartridge(CartridgeState.FRESH),
    ),
    "put_cartridge_back": Action(
        ("reinsert",),
        "put the cartridge you just pulled out back in",
        _cartridge(CartridgeState.FRESH, CartridgeState.IN_USE, CartridgeState.SPENT),
    ),
    "reboot": Action(
        ("reboot",),
        "switch the pen off and on again, keeping its serial port connected",
        is_event(EventCode.BOOT),
    ),
    "overheat": Action(("overheat",), "heat the pen past its over-temperature limit", None),
    "cool": Action(("cool",), "cool the pen down to room temperature", None),
    "jam_depth": Action(("jam",), "jam the depth actuator off its set-point", None),
    "free_depth": Action(("unjam",), "free the depth actuator", None),
    "stall_motor": Action(("stall",), "jam the motor", None),
    "battery_low": Action(("battery 5",), "run the battery down to 5 %", None),
    "battery_full": Action(("battery 100",), "charge the battery full", None),
}


class Hands:
    """Does physical steps on the pen under test, or says clearly that it cannot."""

    def __init__(self, pen: PenClient, hook: Hook | None, prompt: Prompt | None) -> None:
        self.pen = pen
        self.hook = hook
        self.prompt = prompt

    @property
    def simulator(self) -> bool:
        return self.hook is not None

    def do(self, name: str) -> None:
        action = ACTIONS[name]
        if self.hook is not None:
            for command in action.commands:
                self.hook(command)
            self.pen.probe()  # from here on, STATUS shows the pen after the action
            return
        if self.prompt is None or action.done is None:
            bench = "" if action.done is not None else " with a fault bench"
            hint = (
                " (run with --operator, or --pen-operator under pytest, to be asked)"
                if action.done is not None
                else ""
            )
            pytest.skip(f"{OPERATOR_REASON}{bench}: {action.instruction}{hint}")
        mark = self.pen.mark()
        self.prompt(f"Please {action.instruction}.")
        self.pen.wait_for(
            action.done,
            since=mark,
            timeout=OPERATOR_TIMEOUT_S,
            what=f"sign that the operator did this: {action.instruction}",
        )
        self.pen.probe()  # from here on, STATUS shows the pen after the action

    def fresh_cartridge(self) -> None:
        """A cartridge START will take: fresh, or already in use in this session."""
        st = self.pen.status()
        if st.cartridge_state in (CartridgeState.FRESH, CartridgeState.IN_USE):
            return
        if st.cartridge_state == CartridgeState.NONE:
            self.do("insert_fresh_cartridge")
        else:
            self.do("replace_cartridge")

    def unused_cartridge(self) -> None:
        """A cartridge never used: FRESH (a new session makes one IN_USE in this session
        SPENT, so a check that opens one first needs this)."""
        st = self.pen.status()
        if st.cartridge_state == CartridgeState.FRESH:
            return
        if st.cartridge_state == CartridgeState.NONE:
            self.do("insert_fresh_cartridge")
        else:
            self.do("replace_cartridge")


# --- opening targets ------------------------------------------------------------------------


@dataclass
class Target:
    """One pen for the whole run: its client, its hook (simulator only) and how to close."""

    label: str
    pen: PenClient
    hook: Hook | None
    closer: Callable[[], None]

    def close(self) -> None:
        self.pen.close()
        self.closer()


def open_url(url: str) -> Any:
    """Open a device path (with exclusive access) or any pyserial URL, `sim://` included, as
    the driver opens it (115200 8N1); a port that cannot be opened raises
    driver.errors.PortError with one sentence."""
    port: Any = open_port(url, timeout=READ_TIMEOUT_S)
    return port


def _nothing() -> None:
    pass


def open_target(which: str, device_class: str | None = None) -> Target:
    """SIM_TARGET, PTY_TARGET, or a URL given with --pen-url. `device_class` (home or
    professional) makes the simulator targets simulate that class (by default the in-process
    one is professional and the pty one home), and a sim:// URL without one too."""
    if which == SIM_TARGET:
        cls = device_class or "professional"
        port = open_url(f"sim://conformance?seed=7&device_class={cls}")
        label = f"sim:// (in-process simulator, {cls} pen)"
        return _with_client(label, port, _sim_hook(port), _nothing)
    if which == PTY_TARGET:
        return _pty_target(device_class or "home")
    if device_class is not None and which.startswith("sim://") and "device_class" not in which:
        which += ("&" if "?" in which else "?") + f"device_class={device_class}"
    port = open_url(which)
    hook = _sim_hook(port) if which.startswith("sim://") else None
    return _with_client(which, port, hook, _nothing)


def _with_client(label: str, port: Any, hook: Hook | None, closer: Callable[[], None]) -> Target:
    port.reset_input_buffer()
    pen = PenClient(port, label).start()
    return Target(label, pen, hook, closer)


def _sim_hook(port: object) -> Hook | None:
    live = getattr(port, "pen", None)
    command = getattr(live, "command", None)
    if command is None:
        return None

    def hook(line: str) -> str:
        return str(command(line))

    return hook


def _pty_target(device_class: str) -> Target:
    sim = SimProcess("--pty", "--device-class", device_class, "--seed", "11")
    try:
        port = open_url(sim.path)
    except BaseException:
        sim.close()
        raise
    label = f"{sim.path} (needlepen sim --pty, {device_class} pen)"
    return _with_client(label, port, sim.control, sim.close)


# --- steps many checks share ----------------------------------------------------------------


#: How long the needle may take to reach its set-point (the whole travel at the slowest slew
#: a conforming pen may have is 0.55 s; docs/PROTOCOL.md "Depth tolerance and slew speed").
SETTLE_TIMEOUT_S = 2.0


def settle(pen: PenClient) -> Status:
    """Wait until STATUS shows the needle at its set-point (within DEPTH_TOLERANCE_UM), as a
    host does before START (the pen refuses START with BAD_STATE until then)."""
    r = pen.wait_status(
        lambda s: abs(s.depth_actual_um - s.depth_set_um) <= DEPTH_TOLERANCE_UM,
        timeout=SETTLE_TIMEOUT_S,
        what=f"depth_actual_um within {DEPTH_TOLERANCE_UM} µm of depth_set_um",
    )
    return _require_status(r)


def run_needle(pen: PenClient, hands: Hands) -> Status:
    """START from IDLE with a cartridge START accepts, once the needle is at its set-point;
    returns the first RUNNING STATUS."""
    hands.fresh_cartridge()
    settle(pen)
    pen.ack(Start(), why="START from IDLE with a fresh cartridge, the e-stop released")
    return _require_status(pen.wait_status(lambda s: s.state == State.RUNNING, what="RUNNING"))


@dataclass(frozen=True, slots=True)
class Trip:
    """A watchdog trip we caused: when we went quiet, where, and the EVENT it raised."""

    quiet_at: float  # time.monotonic() of our last valid frame
    mark: int  # inbox index when we went quiet
    event: Received

    @property
    def seconds(self) -> float:
        """From our last valid frame to the arrival of EVENT WATCHDOG_TRIPPED."""
        return self.event.t - self.quiet_at


def trip_watchdog(pen: PenClient) -> Trip:
    """Send nothing until the pen's watchdog trips (EVENT WATCHDOG_TRIPPED arrives)."""
    mark = pen.mark()
    quiet_at = pen.go_quiet()
    info = pen.info
    assert info is not None
    event = pen.wait_for(
        is_event(EventCode.WATCHDOG_TRIPPED),
        since=mark,
        timeout=info.watchdog_ms / 1000.0 + 2.0,
        what=f"EVENT WATCHDOG_TRIPPED after {info.watchdog_ms} ms of silence (and 2 s more)",
    )
    pen.last_answer_index = event.index  # STATUS from here on shows the pen after the trip
    return Trip(quiet_at, mark, event)


def _require_status(r: object) -> Status:
    st = getattr(r, "status", None)
    assert isinstance(st, Status)
    return st


def leave_safe(pen: PenClient, hands: Hands) -> None:
    """After each check: a session open, the needle stopped, the e-stop released, no fault
    latched (the simulator's hook undoes injected conditions). Fails if it cannot."""
    pen.keepalive = True
    pen.ensure_session()
    pen.request(Reset(2))  # any answer: a pen may refuse when nothing is latched
    pen.ack(Stop(), why="STOP is always ACKed")
    if pen.telemetry_hz == 0:
        pen.telemetry(200)
    st = pen.status()
    if hands.simulator and (st.state == State.FAULT or st.cartridge_state == CartridgeState.NONE):
        for name in ("cool", "free_depth", "battery_full"):
            hands.do(name)
        if st.cartridge_state == CartridgeState.NONE:
            hands.do("insert_fresh_cartridge")
        pen.pause(0.3)  # let a depth actuator that was jammed settle on its set-point
    if st.state == State.FAULT or st.faults & Fault.BATTERY_LOW:
        pen.request(Reset(1))
    st = pen.status()
    if st.state == State.IDLE:
        settle(pen)  # a check may START at once: the needle is where the set-point says
    if st.state != State.IDLE:
        raise ConformanceError(
            f"The pen could not be left stopped and released after the check: it reports "
            f"{st.state.name} (faults {int(st.faults):#06x}) after HELLO, RESET 2, STOP and "
            "RESET 1."
        )
