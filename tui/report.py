"""The end-of-session summary, read back from the session's audit records.

The audit log is the source of truth: a depth counts as used on a zone when its decision was
sent and the pen acknowledged the command; overrides are the decisions that carry a reason.
Time per zone comes from the Pen (its zone timer), stamps per zone from the telemetry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from driver.session import Record, Verdict
from protocol import Fault

from .screening_text import verdict_text


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
    #: every fault bit the pen's STATUS showed (from the `pen_state` records)
    faults: Fault
    #: how the session ended (the `session_end` record's reason), None while it runs
    end_reason: str | None = None
    #: the screening blocked treatment (no client aftercare)
    blocked: bool = False

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
    acked = {  # the commands the pen took
        seq for r in recs if r.kind == "ack" and isinstance(seq := r.data.get("seq"), int)
    }
    zones: dict[str, ZoneSummary] = {}

    def zone(name: str) -> ZoneSummary:
        return zones.setdefault(name, ZoneSummary(name))

    overrides: list[OverrideNote] = []
    screening: list[str] = []
    estops = 0
    faults = Fault(0)
    blocked = False
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
            line, blocks = _screening_line(d)
            if line is not None:
                screening.append(line)
            blocked = blocked or blocks
        elif r.kind == "estop":
            estops += 1
        elif r.kind == "pen_state":
            mask = d.get("faults")
            if isinstance(mask, int) and not isinstance(mask, bool) and 0 <= mask < 1 << 16:
                faults |= Fault(mask)
    for name, seconds in zone_seconds.items():
        zone(name).seconds = seconds
    for name, stamps in zone_stamps.items():
        zone(name).stamps = stamps
    started = next((r.ts for r in recs if r.kind == "session_start"), None)
    end = next((r for r in reversed(recs) if r.kind == "session_end"), None)
    ended = end.ts if end is not None else None
    end_reason = str(end.data.get("reason")) if end is not None else None
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
        end_reason=end_reason,
        blocked=blocked,
    )


def _screening_line(d: Mapping[str, object]) -> tuple[str | None, bool]:
    """The summary's line for one screening record, and whether it blocks treatment."""
    event = d.get("event")
    if event == "answers":
        positives = d.get("positives")
        items = tuple(str(p) for p in positives) if isinstance(positives, list) else ()
        try:
            verdict = Verdict(str(d.get("verdict")))
        except ValueError:
            return "Screening: recorded (an unknown verdict).", False
        return f"Screening: {verdict_text(verdict, items)}", verdict is Verdict.BLOCKED
    if event == "acknowledged":
        return f"Acknowledged by clinician {d.get('by')}: {d.get('reason')}", False
    return None, False
