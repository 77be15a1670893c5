"""The client's record: their courses and, per zone, the last session and the next window.

Derived from the audit store (never stored): the courses of `driver.records.courses` and, per course
zone, the last session of this client (any session, attached or not: the interval rule counts
them all) in which the pen was recorded running there. The next window runs from the last
session plus the interval's earliest day (never sooner than the policy's
min_days_between_sessions) to the last session plus its latest day. Dates are UTC days.
"""

from __future__ import annotations

import datetime as dt
import enum
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from driver.audit import AuditStore, check_client
from driver.records.courses import Course, ZoneDelivery, courses, session_delivery

if TYPE_CHECKING:
    from driver.safety.policy import Policy

__all__ = ["ClientRecord", "CourseRecord", "Timing", "ZoneRecord", "client_record"]


class Timing(enum.StrEnum):
    NOT_STARTED = "not_started"  # no session on this zone yet
    TOO_SOON = "too_soon"  # before the window opens
    DUE = "due"  # inside the window
    OVERDUE = "overdue"  # past the window's end
    FINISHED = "finished"  # the course is complete or closed: no next session planned


@dataclass(frozen=True, slots=True)
class ZoneRecord:
    zone: str
    last_date: dt.date | None
    last_depth_mm: float | None
    next_from: dt.date | None
    next_to: dt.date | None
    timing: Timing

    def to_json(self) -> dict[str, Any]:
        def iso(d: dt.date | None) -> str | None:
            return None if d is None else d.isoformat()

        return {
            "zone": self.zone,
            "last_date": iso(self.last_date),
            "last_depth_mm": self.last_depth_mm,
            "next_from": iso(self.next_from),
            "next_to": iso(self.next_to),
            "timing": self.timing.value,
        }


@dataclass(frozen=True, slots=True)
class CourseRecord:
    course: Course
    label: str
    zones: tuple[ZoneRecord, ...]

    def to_json(self) -> dict[str, Any]:
        c = self.course
        return {
            "id": c.id,
            "concern": c.concern,
            "sessions_done": c.sessions_done,
            "sessions_planned": c.sessions_planned,
            "status": c.status.value,
            "sessions": [s.session_id for s in c.done],
            "zones": [z.to_json() for z in self.zones],
        }


@dataclass(frozen=True, slots=True)
class ClientRecord:
    client: str
    courses: tuple[CourseRecord, ...]

    def to_json(self) -> dict[str, Any]:
        return {"client": self.client, "courses": [c.to_json() for c in self.courses]}


def _day(ts: float) -> dt.date:
    return dt.datetime.fromtimestamp(ts, dt.UTC).date()


def window(policy: Policy, concern: str, last: dt.date) -> tuple[dt.date, dt.date]:
    """(from, to) of the next session on a zone last treated on `last`."""
    c = policy.concerns.get(concern)
    lo, hi = (c.interval_days[0], c.interval_days[1]) if c else (0, 0)
    lo = max(lo, policy.min_days_between_sessions)
    hi = max(hi, lo)
    return last + dt.timedelta(days=lo), last + dt.timedelta(days=hi)


def timing(today: dt.date, start: dt.date | None, end: dt.date | None) -> Timing:
    if start is None or end is None:
        return Timing.NOT_STARTED
    if today < start:
        return Timing.TOO_SOON
    return Timing.OVERDUE if today > end else Timing.DUE


def _zone_record(
    policy: Policy, course: Course, zone: str, last: ZoneDelivery | None, today: dt.date
) -> ZoneRecord:
    if last is None:
        return ZoneRecord(zone, None, None, None, None, Timing.NOT_STARTED)
    day = _day(last.last_ts)
    start, end = window(policy, course.concern, day)
    return ZoneRecord(
        zone,
        day,
        last.deepest_um / 1000 if last.deepest_um else None,
        start,
        end,
        timing(today, start, end) if course.is_open else Timing.FINISHED,
    )


def client_record(
    store: AuditStore,
    policy: Policy,
    client: str,
    now: float | None = None,
    known: Sequence[Course] | None = None,
) -> ClientRecord:
    """The record of `client` (normalised as the store normalises it) as of `now`.

    `known`: every course of the store, read once by the caller (`courses(store)`), for a
    screen that shows several clients in turn; the store's whole log is read otherwise."""
    ref = check_client(client)
    if ref is None:
        raise ValueError("client_record needs a client reference")
    today = _day(time.time() if now is None else now)
    last: dict[str, ZoneDelivery] = {}
    for row in store.sessions():
        if row.client_ref != ref:
            continue
        for zone, d in session_delivery(store.records(row.id)).items():
            if zone not in last or d.last_ts >= last[zone].last_ts:
                last[zone] = d
    out = []
    mine = courses(store, ref) if known is None else [c for c in known if c.client == ref]
    for c in mine:
        concern = policy.concerns.get(c.concern)
        label = concern.label if concern else c.concern.replace("_", " ")
        zones = tuple(_zone_record(policy, c, z, last.get(z), today) for z in c.zones)
        out.append(CourseRecord(c, label, zones))
    return ClientRecord(ref, tuple(out))
