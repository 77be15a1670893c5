"""The books a conformance run keeps: answers owed per seq, frames that do not decode, the
pen's counter, and the client's own silences (a starved test process is not the pen's fault)."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterator

from protocol import Decoder, EventCode, Info

from . import rules
from .received import Received

#: Our silence, as a share of the pen's watchdog_ms, from which a trip is blamed on us (the
#: pen may trip a little early within its tolerance; the heartbeat period is a third of it).
STARVED_FRACTION = 0.8


class BookKeeping:
    """The accounts of a PenClient (the client fills them in; these read and reset them)."""

    _cond: threading.Condition
    _write_lock: threading.Lock
    _inbox: list[Received]
    _owed: Counter[int]
    _answered: Counter[int]
    _stray: list[str]
    _pen_errors: list[str]
    _drop_log: list[tuple[float, int, int]]
    _handover_from: int | None
    decoder: Decoder
    info: Info | None
    forgiven_drops: int
    longest_gap_s: float
    longest_gap_at: float
    last_answer_index: int

    @contextlib.contextmanager
    def hold_writes(self) -> Iterator[None]:
        """Nothing leaves the client while held, heartbeats included: a silence of our own,
        as a starved test process makes (to check that the books blame it on us)."""
        with self._write_lock:
            yield

    def violations(self) -> list[str]:
        """What broke the ICD since the last `reset_books()`, as sentences. Call it once the
        answer to the last command has arrived (the pen answers in order)."""
        with self._cond:
            problems = list(self._pen_errors) + list(self._stray)
            missing = sorted(s for s, n in self._owed.items() if self._answered[s] < n)
            if missing:
                shown = ", ".join(str(s) for s in missing[:8])
                problems.append(
                    f"The pen never answered the commands with seq {shown}"
                    + (" and more" if len(missing) > 8 else "")
                    + " (every command except HEARTBEAT is answered exactly once)."
                )
            problems += rules.event_problems(self._inbox)
            problems += rules.counter_problems(self._inbox, self._handover_from)
            drops = +self.decoder.drops
            forgiven = rules.forgivable_drops(self._inbox, self._drop_log, self._handover_from)
            if drops.total() > forgiven:
                reasons = ", ".join(f"{n} {r.value}" for r, n in sorted(drops.items(), key=str))
                problems.append(f"The pen sent frames that do not decode ({reasons}).")
            else:
                self.forgiven_drops += drops.total()
        return problems

    def gap_explains_a_trip(self) -> bool:
        """True when our own longest silence (heartbeat on) reached the pen's watchdog and the
        pen's watchdog then tripped: that trip, and everything that failed after it, is the
        test process's fault, not the pen's."""
        info = self.info
        watchdog_s = (info.watchdog_ms if info is not None else 300) / 1000.0
        if self.longest_gap_s < watchdog_s * STARVED_FRACTION:
            return False
        began = self.longest_gap_at - self.longest_gap_s
        with self._cond:
            return any(
                r.t >= began and r.event is not None and r.event.code == EventCode.WATCHDOG_TRIPPED
                for r in self._inbox
            )

    def starvation_sentence(self) -> str:
        info = self.info
        watchdog = info.watchdog_ms if info is not None else 300
        return (
            f"the suite's own client sent nothing for {self.longest_gap_s * 1000:.0f} ms with "
            f"its heartbeat on (the pen's watchdog is {watchdog} ms): this test process was "
            "starved, so a watchdog trip or a missed answer here says nothing about the pen; "
            "rerun this check"
        )

    def reset_books(self) -> None:
        """Forget the frames and the accounts so far (between tests)."""
        with self._cond:
            self._inbox.clear()
            self._owed.clear()
            self._answered.clear()
            self._stray.clear()
            self._pen_errors.clear()
            self.decoder.drops.clear()
            self._drop_log.clear()
            self._handover_from = None
            self.longest_gap_s = 0.0
            self.last_answer_index = -1
