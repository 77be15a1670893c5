"""What the safety suites ran (examples, steps, faults injected, invariants checked, errors
the driver raised), for a pytest terminal summary (the project's tests/safety/conftest.py)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["COUNTS", "Counts"]


@dataclass
class Counts:
    examples: int = 0
    steps: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    invariants: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)

    @property
    def faults_injected(self) -> int:
        return sum(self.faults.values())

    @property
    def invariants_checked(self) -> int:
        return sum(self.invariants.values())

    def summary(self) -> list[str]:
        lines = [
            f"safety machine: {self.examples} examples, {self.steps} steps, "
            f"{self.faults_injected} faults injected, {self.invariants_checked} invariant checks",
        ]
        if self.faults:
            lines.append(
                "  faults: " + ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items()))
            )
        if self.invariants:
            lines.append(
                "  invariants: " + ", ".join(f"{k} {v}" for k, v in sorted(self.invariants.items()))
            )
        if self.refusals:
            lines.append(
                "  errors the driver raised (one sentence each): "
                + ", ".join(f"{k} {v}" for k, v in sorted(self.refusals.items()))
            )
        return lines


COUNTS = Counts()
