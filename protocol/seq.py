"""Sequence numbers: the host's wrapping u16 counter and the pen's 16-entry duplicate window."""

from __future__ import annotations

from collections import OrderedDict

SEQ_MOD = 1 << 16


class SeqCounter:
    """Wrapping u16 counter: 0, 1, ..., 65535, 0, ..."""

    __slots__ = ("_next",)

    def __init__(self, start: int = 0) -> None:
        self._next = start % SEQ_MOD

    def next(self) -> int:
        seq = self._next
        self._next = (seq + 1) % SEQ_MOD
        return seq

    def peek(self) -> int:
        return self._next


def seq_gap(previous: int, current: int) -> int:
    """How many numbers were skipped between two consecutive frames of a wrapping counter
    (0 when `current` directly follows `previous`)."""
    return (current - previous - 1) % SEQ_MOD


class DuplicateWindow:
    """The last `size` (seq, type) pairs the pen answered, with the answer it gave.

    A resent command (same seq and type) gets the stored answer again instead of being executed
    a second time.
    """

    def __init__(self, size: int = 16) -> None:
        if size < 1:
            raise ValueError("the duplicate window holds at least one entry")
        self.size = size
        self._answers: OrderedDict[tuple[int, int], bytes] = OrderedDict()

    def lookup(self, seq: int, type_code: int) -> bytes | None:
        return self._answers.get((seq, type_code))

    def remember(self, seq: int, type_code: int, answer: bytes) -> None:
        key = (seq, type_code)
        self._answers[key] = answer
        self._answers.move_to_end(key)
        while len(self._answers) > self.size:
            self._answers.popitem(last=False)

    def clear(self) -> None:
        self._answers.clear()

    def __len__(self) -> int:
        return len(self._answers)
