"""Rules the suite checks over everything the pen sent during one check, as pure functions of
the frames received (in order), so they are read and tested apart from the client's threads.

- `event_problems`: EVENT details against the STATUS that follows them (docs/PROTOCOL.md,
  EVENT codes). FAULT_RAISED's detail is the bit number of a fault the next STATUS shows in
  `faults` (unless a FAULT_CLEARED of it came first); CARTRIDGE_INSERTED's detail is the low
  16 bits of the id the next STATUS with a cartridge reports. A host names faults and
  cartridges from these details, so a pen that means something else misleads the operator
  (a mask read as a bit number names DEPTH_ERROR as WATCHDOG).
- `counter_problems`: the pen's own STATUS/EVENT counter (docs/PROTOCOL.md, "When STATUS does
  not fit the line"). Each value comes once. A pen sheds a STATUS that waited for the line
  when a newer one falls due (its value is skipped, lost telemetry a host counts), and
  answers and EVENTs overtake the one waiting STATUS (so that STATUS may come after a newer
  value). Anything else out of order, or a jump of more than MAX_SHED values at once, breaks
  the counter a host counts lost frames with. EVENT BOOT starts it afresh.
- `forgivable_drops`: decode drops that are not the pen's fault. A frame the pen was sending
  when it lost power is cut on the wire: the drop comes right before its EVENT BOOT, or right
  after it (the garbage ends at the pen's first 0x00 after boot). A frame half read by the
  other host when the port was lent is cut for this one: the drop comes before the first frame
  on return.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import protocol
from protocol import CartridgeState, EventCode, Fault, Status

if TYPE_CHECKING:
    from .client import Received

#: The most STATUS values a pen may skip at once by shedding (a line busy for 64 telemetry
#: periods); a longer jump is a counter that restarted or lost frames.
MAX_SHED = 64
#: (arrival time, inbox index of the next frame, how many frames were dropped)
Drop = tuple[float, int, int]


def event_problems(inbox: Sequence[Received]) -> list[str]:
    """One sentence per EVENT whose detail contradicts the STATUS after it."""
    problems: list[str] = []
    for r in inbox:
        ev = r.event
        if ev is None:
            continue
        if ev.code == EventCode.FAULT_RAISED:
            problems += _fault_event_problem(inbox, r.index, ev.detail)
        elif ev.code == EventCode.CARTRIDGE_INSERTED:
            st = _next_status(inbox, r.index, lambda s: s.cartridge_state != CartridgeState.NONE)
            if st is not None and st.cartridge_id & 0xFFFF != ev.detail:
                problems.append(
                    f"The pen sent EVENT CARTRIDGE_INSERTED with detail {ev.detail}, but its "
                    f"STATUS then reports cartridge {st.cartridge_id:08x} (low 16 bits "
                    f"{st.cartridge_id & 0xFFFF}); the detail is the low 16 bits of the id."
                )
    return problems


def _fault_event_problem(inbox: Sequence[Received], index: int, detail: int) -> list[str]:
    try:
        fault = protocol.fault_of_bit(detail)
    except ValueError:
        return [
            f"The pen sent EVENT FAULT_RAISED with detail {detail}, which is no fault bit "
            "number (0..15): the detail is the fault's bit number, not its mask."
        ]
    for r in inbox[index + 1 :]:
        ev = r.event
        if ev is not None and ev.code == EventCode.FAULT_CLEARED and ev.detail == detail:
            return []  # cleared before any STATUS showed it
        st = r.status
        if st is None:
            continue
        if st.faults & fault:
            return []
        return [
            f"The pen sent EVENT FAULT_RAISED with detail {detail} ({_fault_name(fault)}), "
            f"but its next STATUS shows faults {int(st.faults):#06x} without bit {detail}: "
            "a host would name the wrong fault (the detail is the fault's bit number, "
            "docs/PROTOCOL.md)."
        ]
    return []


def _next_status(
    inbox: Sequence[Received], index: int, test: Callable[[Status], bool]
) -> Status | None:
    for r in inbox[index + 1 :]:
        st = r.status
        if st is not None and test(st):
            return st
    return None


def _fault_name(fault: Fault) -> str:
    return fault.name or f"bit {int(fault).bit_length() - 1}"


def forgivable_drops(
    inbox: Sequence[Received], drops: Sequence[Drop], handover_from: int | None
) -> int:
    """How many of the decode drops a power cycle or a port hand-over explains."""
    boots = [r.index for r in inbox if r.event is not None and r.event.code == EventCode.BOOT]
    forgiven = 0
    for _t, index, n in drops:
        near_boot = any(b in (index, index - 1) for b in boots)
        if near_boot or index == handover_from:
            forgiven += n
    return forgiven


def counter_problems(inbox: Sequence[Received], restart_at: int | None = None) -> list[str]:
    """One sentence per break of the pen's STATUS/EVENT counter (see the module docstring).
    `restart_at`: an inbox index from which the counter is judged afresh (a port hand-over)."""
    problems: list[str] = []
    newest: int | None = None
    seen: set[int] = set()
    waiting: set[int] = set()  # skipped values: shed, or a STATUS still waiting for the line
    for r in inbox:
        msg = r.message
        if not isinstance(msg, Status | protocol.Event):
            continue
        boot = isinstance(msg, protocol.Event) and msg.code == EventCode.BOOT
        if boot or r.index == restart_at:
            newest, seen, waiting = None, set(), set()
        seq = r.seq
        if newest is None:
            # the STATUS that was waiting when the books started may still come
            newest, seen, waiting = seq, {seq}, {(seq - 1) % 0x10000, (seq - 2) % 0x10000}
            continue
        if seq in seen:
            problems.append(f"The pen sent its STATUS/EVENT counter value {seq} twice.")
            continue
        ahead = (seq - newest) % 0x10000
        if ahead < 0x8000:
            if ahead - 1 > MAX_SHED:
                problems.append(
                    f"The pen's STATUS/EVENT counter jumped from {newest} to {seq} "
                    f"({ahead - 1} values skipped, more than shedding STATUS explains)."
                )
            waiting.update((newest + k) % 0x10000 for k in range(1, min(ahead, MAX_SHED + 1)))
            newest = seq
        elif isinstance(msg, Status) and seq in waiting:
            waiting.discard(seq)  # the STATUS that waited while answers and EVENTs went first
        else:
            kind = "STATUS" if isinstance(msg, Status) else f"EVENT {msg.code.name}"
            problems.append(
                f"The pen's {kind} with counter {seq} came after {newest}: only a STATUS that "
                "waited for the line may come after a newer frame."
            )
        seen.add(seq)
    return problems
