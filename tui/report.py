"""The end-of-session summary, read back from the session's audit records.

The audit log is the source of truth: a depth counts as used on a zone when its decision was
sent and the pen acknowledged the command; overrides are the decisions that carry a reason.
Time per zone comes from the Pen (its zone timer), stamps per zone from the telemetry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from driver.store import Record
from protocol import Fault


def _fault_name(bit: object) -> str:
    if isinstance(bit, int) and 0 <= bit < 16:
        try:
            return Fault(1 << bit).name or f"fault bit {bit}"
        except ValueError:
            pass
    return f"fault {bit}"


@dataclass
class ZoneSummary:
    zone: str
    seconds: float = 0.0
    stamps: int = 0
    depths_mm: list[float] = field(default_factory=list)
    clamps: int = 0
    overrides: int = 0


@dataclass(frozen=True, slots=True)
class OverrideNote:
    ts: float
    zone: str
    depth_mm: float | None
    reason: str


@dataclass
class SessionSummary:
    session_id: int
    started: float | None
    ended: float | None
    zones: dict[str, ZoneSummary]
    overrides: list[OverrideNote]
    screening: list[str]
    estops: int
    faults: list[str]

    @property
    def seconds(self) -> float:
        if self.started is None or self.ended is None:
            return 0.0
        return max(0.0, self.ended - self.started)

    @property
    def depths_used(self) -> list[float]:
        return [d for z in self.zones.values() for d in z.depths_mm]


def summarise(
    session_id: int,
    records: Iterable[Record],
    zone_seconds: Mapping[str, float],
    zone_stamps: Mapping[str, int],
) -> SessionSummary:
    recs = list(records)
    acked: set[int] = set()
    for r in recs:
        if r.kind == "ack":
            seq = r.data.get("seq")
            if isinstance(seq, int):
                acked.add(seq)
    zones: dict[str, ZoneSummary] = {}

    def zone(name: str) -> ZoneSummary:
        return zones.setdefault(name, ZoneSummary(name))

    overrides: list[OverrideNote] = []
    screening: list[str] = []
    estops = 0
    faults: list[str] = []
    for r in recs:
        d = r.data
        if r.kind == "decision" and d.get("what") == "depth":
            name = str(d.get("zone"))
            command = d.get("command")
            outcome = d.get("outcome")
            if outcome == "clamped":
                zone(name).clamps += 1
            if isinstance(command, dict) and command.get("seq") in acked:
                depth = d.get("depth_mm")
                if isinstance(depth, int | float):
                    z = zone(name)
                    if float(depth) not in z.depths_mm:
                        z.depths_mm.append(float(depth))
                reason = d.get("override_reason")
                if isinstance(reason, str) and reason:
                    zone(name).overrides += 1
                    overrides.append(
                        OverrideNote(
                            r.ts,
                            name,
                            float(depth) if isinstance(depth, int | float) else None,
                            reason,
                        )
                    )
        elif r.kind == "screening":
            event = d.get("event")
            if event == "answers":
                positives = d.get("positives")
                items = [str(p) for p in positives] if isinstance(positives, list) else []
                screening.append(
                    f"Screening: {d.get('verdict')}" + (f" ({', '.join(items)})" if items else "")
                )
            elif event == "acknowledged":
                screening.append(f"Acknowledged by clinician {d.get('by')}: {d.get('reason')}")
        elif r.kind == "estop":
            estops += 1
        elif r.kind == "pen_event" and d.get("code") == "FAULT_RAISED":
            faults.append(_fault_name(d.get("detail")))
    for name, seconds in zone_seconds.items():
        zone(name).seconds = seconds
    for name, stamps in zone_stamps.items():
        zone(name).stamps = stamps
    started = next((r.ts for r in recs if r.kind == "session_start"), None)
    ended = next((r.ts for r in reversed(recs) if r.kind == "session_end"), None)
    if ended is None and recs:
        ended = recs[-1].ts
    return SessionSummary(
        session_id=session_id,
        started=started,
        ended=ended,
        zones=zones,
        overrides=overrides,
        screening=screening,
        estops=estops,
        faults=faults,
    )
