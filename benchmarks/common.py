"""The benchmark row, the table printer and timing helpers shared by every bench_*.py."""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Better = Literal["higher", "lower"]


@dataclass(frozen=True)
class Row:
    """One figure: ours, the same-run baseline and the target, if any.

    ratio = ours / baseline_value. A `target_ratio` is met when the ratio is at least it
    (better="higher") or at most it (better="lower"); a `target_value` likewise against `ours`.
    """

    benchmark: str
    metric: str
    ours: float
    unit: str
    baseline: str = ""
    baseline_value: float | None = None
    better: Better = "higher"
    target_ratio: float | None = None
    target_value: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline_value is None or self.baseline_value <= 0 or math.isnan(self.ours):
            return None
        return self.ours / self.baseline_value

    def _wins(self, value: float, target: float) -> bool:
        return value >= target if self.better == "higher" else value <= target

    @property
    def met(self) -> bool | None:
        """True or False against the target; None when there is no target or no figure."""
        verdicts: list[bool] = []
        if self.target_ratio is not None:
            if self.ratio is None:
                return None
            verdicts.append(self._wins(self.ratio, self.target_ratio))
        if self.target_value is not None:
            if math.isnan(self.ours):
                return None
            verdicts.append(self._wins(self.ours, self.target_value))
        return all(verdicts) if verdicts else None

    @property
    def target(self) -> str:
        sign = "≥" if self.better == "higher" else "≤"
        parts = []
        if self.target_ratio is not None:
            parts.append(f"{sign} {self.target_ratio:g}x baseline")
        if self.target_value is not None:
            parts.append(f"{sign} {fmt(self.target_value)} {self.unit}")
        return ", ".join(parts)


HEADINGS = (
    "benchmark",
    "metric",
    "ours",
    "baseline",
    "baseline figure",
    "unit",
    "ratio",
    "target",
    "met",
)


def fmt(value: float | None) -> str:
    """A figure to 3 significant digits, with thousands separators for big ones."""
    if value is None or math.isnan(value):
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def cells(row: Row) -> tuple[str, ...]:
    met = {True: "yes", False: "NO (missed)", None: "-"}[row.met]
    ratio = "-" if row.ratio is None else f"{row.ratio:.2f}x"
    return (
        row.benchmark,
        row.metric + (f" ({row.note})" if row.note else ""),
        fmt(row.ours),
        row.baseline or "-",
        fmt(row.baseline_value),
        row.unit,
        ratio,
        row.target or "-",
        met,
    )


def render(rows: Sequence[Row], markdown: bool = False) -> str:
    """ONE table of all rows, as aligned text or as a Markdown table."""
    table = [HEADINGS, *(cells(r) for r in rows)]
    if markdown:
        lines = ["| " + " | ".join(r) + " |" for r in table]
        lines.insert(1, "|" + "|".join("---" for _ in HEADINGS) + "|")
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in table) for i in range(len(HEADINGS))]
    numeric = {2, 4, 6}

    def line(r: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()

    out = [line(HEADINGS), "  ".join("-" * w for w in widths)]
    out.extend(line(r) for r in table[1:])
    return "\n".join(out)


def best_time(fn: Callable[[], object], repeat: int = 5) -> float:
    """The shortest of `repeat` runs of `fn()`, in seconds, with the garbage collector off."""
    best = math.inf
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - start)
    finally:
        if enabled:
            gc.enable()
    return best


def best_rate(fn: Callable[[], object], items: int, repeat: int = 5) -> float:
    """Items per second of the best of `repeat` runs of `fn()`, which handles `items` items."""
    return items / best_time(fn, repeat)


def chunks(data: bytes, size: int) -> list[bytes]:
    """`data` cut into pieces of `size` bytes (the last may be shorter), as a port reads it."""
    return [data[i : i + size] for i in range(0, len(data), size)]


def interleaved(
    measures: Iterable[tuple[str, Callable[[], float]]], rounds: int = 3
) -> dict[str, float]:
    """Run each named measurement `rounds` times in turn and keep the best (highest) figure,
    so a machine that gets busy half-way slows ours and the baseline alike."""
    todo = list(measures)
    best: dict[str, float] = {}
    for _ in range(rounds):
        for name, measure in todo:
            best[name] = max(best.get(name, 0.0), measure())
    return best
