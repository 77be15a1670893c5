"""A recorded treatment session built from records alone, for report tests and benchmarks.

`recorded_session(store, ...)` writes, through the public `AuditStore` API, the records a Pen
writes in a session of the given length (zone changes, screening, depth decisions and their
ACKs, RUNNING/IDLE states, a `progress` record every 5 s while running, an override with its
reason, notes) at fixed timestamps, so a report of an 8-hour session can be rendered in a
benchmark without running a pen for 8 hours, and a test can compare a report to the records.

    python -m driver.testing.sessions --output report.html   # the committed example report
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from driver.audit import AuditStore
from driver.records.courses import attach_session, plan_course
from driver.records.notes import (
    Reaction,
    record_adverse_event,
    record_consent,
    record_note,
    record_reaction,
)
from driver.safety.policy import Policy, default_policy
from driver.safety.screening import KEYS
from driver.safety.screening import record as record_screening

__all__ = ["RecordedSession", "recorded_session"]

#: 2026-03-02T09:00:00Z: a Monday morning, fixed so that reports are reproducible.
START_TS = 1_772_442_000.0
PROGRESS_EVERY_S = 5.0


@dataclass(frozen=True, slots=True)
class RecordedSession:
    session_id: int
    course_id: int
    #: per zone, the (ts, depth µm) set-points recorded while running
    points: dict[str, list[tuple[float, int]]]
    #: per zone, the (ts, depth µm) actual depths the `progress` records report
    actual: dict[str, list[tuple[float, int]]]


def _operator(store: AuditStore) -> None:
    if not store.list_operators():
        store.add_operator("dr-lee", "Dr Lee", "clinician", "2468", now=START_TS - 3600)


def _depth(
    store: AuditStore, sid: int, zone: str, um: int, seq: int, ts: float, why: str | None
) -> None:
    store.append(
        "decision",
        {
            "what": "depth",
            "zone": zone,
            "outcome": "allowed",
            "depth_mm": um / 1000,
            "depth_um": um,
            "requested_mm": um / 1000,
            "override_reason": why,
            "command": {"type": "SET_DEPTH", "seq": seq, "depth_um": um},
        },
        session_id=sid,
        now=ts,
    )
    store.append("ack", {"type": "SET_DEPTH", "seq": seq}, session_id=sid, now=ts + 0.01)


class _Run:
    """Writes one zone's treatment: RUNNING, a depth step now and then, progress every 5 s."""

    def __init__(self, store: AuditStore, sid: int, policy: Policy) -> None:
        self.store, self.sid, self.policy = store, sid, policy
        self.seq, self.stamps = 100, 0
        self.points: dict[str, list[tuple[float, int]]] = {}
        self.actual: dict[str, list[tuple[float, int]]] = {}

    def _progress(self, zone: str, t: float, current: int) -> None:
        self.stamps += int(PROGRESS_EVERY_S * 110)
        self.store.append(
            "progress",
            {
                "zone": zone,
                "stamps": self.stamps,
                "depth_set_um": current,
                "depth_actual_um": current - 10,
                "rate_actual_hz": 110,
            },
            session_id=self.sid,
            now=t,
        )
        self.points[zone].append((t, current))
        self.actual.setdefault(zone, []).append((t, current - 10))

    def zone(self, zone: str, depths: Sequence[int], ts: float, seconds: float) -> float:
        """Treat `zone` for `seconds` from `ts`, stepping through `depths`; the end time."""
        store, sid = self.store, self.sid
        store.append("zone", {"zone": zone, "from": None}, session_id=sid, now=ts)
        current = depths[0]
        _depth(store, sid, zone, current, self.seq, ts + 1, None)
        self.seq += 1
        store.append(
            "pen_state",
            {"state": "RUNNING", "from": "IDLE", "faults": 0, "depth_set_um": current},
            session_id=sid,
            now=ts + 2,
        )
        self.points.setdefault(zone, []).append((ts + 2, current))
        end = ts + 2 + seconds
        t, step = ts + 2 + PROGRESS_EVERY_S, seconds / len(depths)
        while t < end:
            wanted = depths[min(int((t - ts - 2) / step), len(depths) - 1)]
            if wanted != current:
                rec = self.policy.zone(zone).recommended_max_um
                why = "deep rolling scars; discussed with the client" if wanted > rec else None
                _depth(store, sid, zone, wanted, self.seq, t - 1, why)
                self.points[zone].append((t - 0.99, wanted))
                self.seq, current = self.seq + 1, wanted
            self._progress(zone, t, current)
            t += PROGRESS_EVERY_S
        store.append(
            "pen_state",
            {"state": "IDLE", "from": "RUNNING", "faults": 0, "depth_set_um": current},
            session_id=sid,
            now=end,
        )
        record_reaction(store, sid, zone, Reaction.PINPOINT_BLEEDING, now=end + 1)
        return end


def recorded_session(
    store: AuditStore,
    *,
    hours: float = 0.25,
    zones: Sequence[tuple[str, Sequence[int]]] = (
        ("cheeks", (1000, 1250, 1500)),
        ("acne_scars", (1500, 1750)),
    ),
    client: str = "P-0042",
    policy: Policy | None = None,
) -> RecordedSession:
    """A clinician's acne-scars session of `hours`, split evenly over `zones`, each stepping
    through its depths (µm); the second depth of each zone above its recommended max carries
    an override reason when the policy needs one."""
    policy = policy or default_policy()
    _operator(store)
    op = store.authenticate("dr-lee", "2468", now=START_TS - 60)
    course = plan_course(
        store, policy, client=client, concern="acne_scars", by=op, now=START_TS - 30
    )
    ts = START_TS
    sid = store.begin_session(
        role="clinician",
        operator_id="dr-lee",
        client_ref=client,
        device_serial=1_000_001,
        boot_id=42,
        device_class="professional",
        now=ts,
    )
    store.append(
        "session_start",
        {
            "serial": 1_000_001,
            "firmware": "1.0.0",
            "role": "clinician",
            "operator": "dr-lee",
            "client": client,
        },
        session_id=sid,
        now=ts,
    )
    record_screening(store, sid, {k: False for k in KEYS}, "clinician", now=ts + 1)
    record_consent(store, sid, "dr-lee", now=ts + 2)
    attach_session(store, course.id, sid, now=ts + 3)
    ts += 10
    run = _Run(store, sid, policy)
    per_zone = hours * 3600 / max(len(zones), 1)
    for zone, depths in zones:
        ts = run.zone(zone, depths, ts, per_zone) + 10
    record_adverse_event(store, sid, "Mild swelling on the left cheek; cold compress.", now=ts)
    record_note(store, sid, "Client will use SPF 50 and skip retinol for a week.", now=ts + 1)
    store.append("session_end", {"reason": "closed"}, session_id=sid, now=ts + 2)
    store.end_session(sid, "closed", now=ts + 2)
    return RecordedSession(sid, course.id, run.points, run.actual)


def main(argv: Sequence[str] | None = None) -> int:
    """Write the example report of a recorded 15-minute session (a fresh in-memory store)."""
    from driver.records.report import render_report

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--output", required=True, help="the HTML file to write")
    parser.add_argument("--hours", type=float, default=0.25)
    args = parser.parse_args(argv)
    with AuditStore(":memory:", scrypt_n=2**10) as store:
        s = recorded_session(store, hours=args.hours)
        text = render_report(
            store,
            default_policy(),
            s.session_id,
            clinic="Example Skin Clinic",
            now=START_TS + args.hours * 3600 + 600,
        )
    with open(args.output, "w", encoding="utf-8") as out:
        out.write(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
