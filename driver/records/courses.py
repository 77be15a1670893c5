"""Treatment courses per client: planned, attached to sessions, moved on by what was delivered.

A course is three kinds of chained audit records written through `AuditStore.append`, so it
sits in the tamper-evident chain and works on every store backend:

- `course_planned` (no session): client, concern, zones, sessions planned, who planned it.
  The course's number is the id of this record.
- `course_session` (in the session): the session is attached to course N.
- `course_closed` (no session): course N closed early, with a reason and who closed it.

The state of a course is derived from those records and the sessions' own records, never
stored: a session counts as done only when the pen was recorded RUNNING on one of the course's
zones in it (`session_delivery`), so attaching a session in which nothing was delivered (the
screening blocked it, the pen refused START) does not move the course on.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Final

from driver.audit import PROFESSIONAL_ROLES, AuditStore, Operator, Record, check_client
from driver.errors import DriverError
from driver.safety.concerns import MAX_COURSE_SESSIONS

if TYPE_CHECKING:
    from driver.safety.policy import Policy

__all__ = [
    "Course",
    "CourseError",
    "CourseSession",
    "CourseStatus",
    "ZoneDelivery",
    "attach_session",
    "close_course",
    "courses",
    "plan_course",
    "session_delivery",
]

PLANNED: Final = "course_planned"
ATTACHED: Final = "course_session"
CLOSED: Final = "course_closed"
MAX_REASON_CHARS: Final = 200
#: Pen events after which the needle is not running (until the next RUNNING state).
_STOPPING_EVENTS: Final = frozenset(
    {"STOPPED", "ESTOP", "FAULT_RAISED", "WATCHDOG_TRIPPED", "BOOT"}
)


class CourseError(DriverError):
    """A course could not be planned, attached or closed (nothing was recorded)."""


class CourseStatus(enum.StrEnum):
    PLANNED = "planned"  # no session delivered yet
    ACTIVE = "active"
    COMPLETE = "complete"  # every planned session delivered
    CLOSED = "closed"  # closed early, with a reason


@dataclass(frozen=True, slots=True)
class ZoneDelivery:
    """What the records show the pen did on one zone in one session."""

    zone: str
    #: when the pen was first and last recorded running there (seconds since the epoch)
    first_ts: float
    last_ts: float
    #: the deepest depth recorded while running there: set-point or the pen's actual depth
    deepest_um: int
    #: (ts, depth in µm) of every set-point recorded while running there
    points: tuple[tuple[float, int], ...] = ()
    #: (ts, depth in µm) of every actual depth the pen reported (`progress`) there
    actual: tuple[tuple[float, int], ...] = ()
    #: stamps counted between `progress` records while running there (a lower bound: the
    #: stamps after a run's last progress record are not in the log)
    stamps: int = 0


@dataclass(frozen=True, slots=True)
class CourseSession:
    session_id: int
    ts: float
    delivered: Mapping[str, ZoneDelivery]


@dataclass(frozen=True, slots=True)
class Course:
    id: int
    client: str
    concern: str
    zones: tuple[str, ...]
    sessions_planned: int
    planned_ts: float
    planned_by: str
    sessions: tuple[CourseSession, ...] = ()
    closed_reason: str | None = None
    closed_by: str | None = None

    @property
    def done(self) -> tuple[CourseSession, ...]:
        """The attached sessions that delivered something on one of the course's zones."""
        return tuple(s for s in self.sessions if any(z in s.delivered for z in self.zones))

    @property
    def sessions_done(self) -> int:
        return len(self.done)

    @property
    def status(self) -> CourseStatus:
        if self.closed_reason is not None:
            return CourseStatus.CLOSED
        if self.sessions_done >= self.sessions_planned:
            return CourseStatus.COMPLETE
        return CourseStatus.ACTIVE if self.sessions_done else CourseStatus.PLANNED

    @property
    def is_open(self) -> bool:
        return self.status in (CourseStatus.PLANNED, CourseStatus.ACTIVE)

    def number_of(self, session_id: int) -> int | None:
        """Which session of the course `session_id` was (1-based), None if it delivered none."""
        ids = [s.session_id for s in self.done]
        return ids.index(session_id) + 1 if session_id in ids else None

    def line(self, label: str | None = None) -> str:
        """'acne scars, session 2 of 4' (the session under way is the next one)."""
        name = label or self.concern.replace("_", " ")
        number = min(self.sessions_done + 1, self.sessions_planned)
        if not self.is_open:
            return f"{name}, {self.status.value} ({self.sessions_done} of {self.sessions_planned})"
        return f"{name}, session {number} of {self.sessions_planned}"


# --- delivery, from one session's records --------------------------------------------------------


@dataclass
class _Zone:
    first: float
    last: float
    deepest: int = 0
    points: list[tuple[float, int]] = field(default_factory=list)
    actual: list[tuple[float, int]] = field(default_factory=list)
    stamps: int = 0


def _um(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 10_000:
        return value
    return None


def session_delivery(records: Iterable[Record]) -> dict[str, ZoneDelivery]:
    """Per zone, what the pen was recorded doing while RUNNING there in one session.

    The zone is the last `zone` record's; running starts with a `pen_state` to RUNNING (or a
    `progress` record, written while running) and ends with a `pen_state` to anything else.
    Set-points count from the `pen_state`/`progress` records and from depth decisions the pen
    acknowledged while running; actual depths from `progress`.
    """
    zone: str | None = None
    running = False
    # the pen's stamp counter where this run's count last stood: at its start (`pen_state` to
    # RUNNING carries it), then at each `progress` record; a run's end (`pen_state` from
    # RUNNING carries the counter) adds what came after the last one, so a run shorter than
    # the progress period still counts its stamps
    counter: int | None = None
    pending: dict[int, int] = {}  # seq of an unacknowledged depth command -> depth in µm
    out: dict[str, _Zone] = {}

    def note(ts: float, um: int | None, actual: bool = False) -> None:
        if zone is None:
            return
        z = out.setdefault(zone, _Zone(ts, ts))
        z.last = max(z.last, ts)
        if um is not None:
            z.deepest = max(z.deepest, um)
            (z.actual if actual else z.points).append((ts, um))

    for r in records:
        d = r.data
        if r.kind == "zone" and isinstance(d.get("zone"), str):
            zone, running, counter = str(d["zone"]), False, None
        elif r.kind == "pen_state":
            stamps = _count(d.get("stamps"))
            if d.get("state") == "RUNNING":
                running, counter = True, stamps
                note(r.ts, _um(d.get("depth_set_um")))
            else:
                _add_stamps(out, zone, counter, stamps)
                running, counter = False, None
        elif (
            r.kind == "estop"
            or (r.kind == "pen_event" and d.get("code") in _STOPPING_EVENTS)
            or (r.kind == "command" and d.get("type") in ("STOP", "ESTOP"))
        ):
            running = False  # the count goes on to the pen_state that says the needle stopped
        elif r.kind == "progress":
            running = True
            note(r.ts, _um(d.get("depth_set_um")))
            note(r.ts, _um(d.get("depth_actual_um")), actual=True)
            stamps = _count(d.get("stamps"))
            if stamps is not None and zone in out:
                _add_stamps(out, zone, counter, stamps)
                counter = stamps
        elif r.kind == "decision" and d.get("what") == "depth":
            command = d.get("command")
            if isinstance(command, dict) and isinstance(command.get("seq"), int):
                um = _um(command.get("depth_um"))
                if um is not None:
                    pending[int(command["seq"])] = um
        elif r.kind == "ack" and d.get("type") == "SET_DEPTH":
            seq = d.get("seq")
            um = pending.pop(seq, None) if isinstance(seq, int) else None
            if running:
                note(r.ts, um)
    return {
        name: ZoneDelivery(
            name, z.first, z.last, z.deepest, tuple(z.points), tuple(z.actual), z.stamps
        )
        for name, z in out.items()
    }


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _add_stamps(
    out: dict[str, _Zone], zone: str | None, since: int | None, now: int | None
) -> None:
    """Add the stamps from counter `since` to `now` to `zone` (nothing if either is unknown or
    the counter went back: a reboot)."""
    if zone in out and since is not None and now is not None and now >= since:
        out[zone].stamps += now - since


# --- deriving courses from the chain -------------------------------------------------------------


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _planned(r: Record) -> Course | None:
    d = r.data
    zones = d.get("zones")
    planned = d.get("sessions_planned")
    if not isinstance(zones, list) or not isinstance(planned, int) or isinstance(planned, bool):
        return None
    return Course(
        id=r.id,
        client=_text(d.get("client")),
        concern=_text(d.get("concern")),
        zones=tuple(str(z) for z in zones),
        sessions_planned=planned,
        planned_ts=r.ts,
        planned_by=_text(d.get("by")),
    )


def courses(store: AuditStore, client: str | None = None) -> list[Course]:
    """Every course in the store (or one client's), oldest first, with its sessions."""
    wanted = None if client is None else check_client(client)
    by_session: dict[int, list[Record]] = {}
    plans: dict[int, Course] = {}
    attached: dict[int, list[int]] = {}
    closed: dict[int, Record] = {}
    for r in store.records():
        if r.session_id is not None:
            by_session.setdefault(r.session_id, []).append(r)
        course_id = r.data.get("course")
        if r.kind == PLANNED:
            plan = _planned(r)
            if plan is not None and (wanted is None or plan.client == wanted):
                plans[r.id] = plan
        elif r.kind == ATTACHED and isinstance(course_id, int) and r.session_id is not None:
            ids = attached.setdefault(course_id, [])
            if r.session_id not in ids:
                ids.append(r.session_id)
        elif r.kind == CLOSED and isinstance(course_id, int):
            closed.setdefault(course_id, r)
    out: list[Course] = []
    for cid, plan in plans.items():
        sessions = tuple(
            CourseSession(sid, by_session[sid][0].ts, session_delivery(by_session[sid]))
            for sid in attached.get(cid, [])
            if by_session.get(sid)
        )
        end = closed.get(cid)
        out.append(
            replace(
                plan,
                sessions=sessions,
                closed_reason=None if end is None else _text(end.data.get("reason")) or "closed",
                closed_by=None if end is None else _text(end.data.get("by")),
            )
        )
    return out


def _course(store: AuditStore, course_id: object) -> Course:
    if not isinstance(course_id, int) or isinstance(course_id, bool) or course_id < 1:
        raise CourseError(f"{course_id!r} is not a course number.")
    for c in courses(store):
        if c.id == course_id:
            return c
    raise CourseError(f"There is no course {course_id} in the audit store.")


# --- writing -------------------------------------------------------------------------------------


def _check_operator(by: object) -> Operator:
    if not isinstance(by, Operator) or by.role not in PROFESSIONAL_ROLES or by.disabled:
        raise CourseError(
            "A course is planned, attached to and closed by an active, logged-in operator."
        )
    return by


def _check_zones(zones: Sequence[str] | None, allowed: Sequence[str], concern: str) -> list[str]:
    if zones is None or len(zones) == 0:
        return list(allowed)
    unknown = [z for z in zones if z not in allowed]
    if unknown:
        raise CourseError(
            f"The {concern} protocol has no guidance for {', '.join(map(repr, unknown))}; "
            f"its zones are {', '.join(allowed)}."
        )
    return [z for z in allowed if z in zones]


def plan_course(
    store: AuditStore,
    policy: Policy,
    *,
    client: str,
    concern: str,
    by: Operator,
    zones: Sequence[str] | None = None,
    sessions: int | None = None,
    now: float | None = None,
) -> Course:
    """Plan a course of `concern` for `client` on `zones` (default: all the concern's zones)
    with `sessions` sessions (default: the most the library gives). One sentence, and nothing
    recorded, for an unknown concern, a zone the concern has no guidance for, a number of
    sessions outside 1-12, an operator whose role may not use the concern, or a second open
    course of the same concern for the same client."""
    operator = _check_operator(by)
    ref = check_client(client)
    if ref is None:
        raise CourseError("A course needs a client reference.")
    library = policy.concerns
    if concern not in library:
        raise CourseError(
            f"{concern!r} is not a concern of the library; it has {', '.join(library) or 'none'}."
        )
    c = library[concern]
    if operator.role not in c.roles:
        raise CourseError(
            f"The {operator.role} role may not plan {c.label} courses (the library allows "
            f"{', '.join(c.roles) or 'no role'})."
        )
    chosen = _check_zones(zones, c.zones, concern)
    planned = c.sessions[1] if sessions is None else sessions
    if isinstance(planned, bool) or not isinstance(planned, int):
        raise CourseError("The number of sessions must be a whole number.")
    if not 1 <= planned <= MAX_COURSE_SESSIONS:
        raise CourseError(f"A course has 1 to {MAX_COURSE_SESSIONS} sessions, not {planned}.")
    if any(o.concern == concern and o.is_open for o in courses(store, ref)):
        raise CourseError(
            f"Client {ref} already has an open {c.label} course; close it before planning another."
        )
    record = store.append(
        PLANNED,
        {
            "client": ref,
            "concern": concern,
            "zones": chosen,
            "sessions_planned": planned,
            "by": operator.id,
            "interval_days": list(c.interval_days),
        },
        now=now,
    )
    return _course(store, record.id)


def attach_session(
    store: AuditStore,
    course_id: int,
    session_id: int,
    now: float | None = None,
    by: Operator | None = None,
) -> Course:
    """Attach session `session_id` to course `course_id` (once; the session's client must be
    the course's and the course open). The course moves on only if the session delivers.
    `by`: the logged-in operator who attaches it after the session (recorded); None when the
    session's own workstation attaches it at its end."""
    operator = None if by is None else _check_operator(by)
    course = _course(store, course_id)
    row = next((s for s in store.sessions() if s.id == session_id), None)
    if row is None:
        raise CourseError(f"There is no session {session_id} in the audit store.")
    if row.client_ref != course.client:
        raise CourseError(
            f"Session {session_id} is not of client {course.client}, whose course {course_id} is."
        )
    if any(s.session_id == session_id for s in course.sessions):
        return course
    if not course.is_open:
        raise CourseError(f"Course {course_id} is {course.status.value}; plan a new one.")
    data: dict[str, object] = {"course": course_id}
    if operator is not None:
        data["by"] = operator.id
    store.append(ATTACHED, data, session_id=session_id, now=now)
    return _course(store, course_id)


def close_course(
    store: AuditStore, course_id: int, reason: str, by: Operator, now: float | None = None
) -> Course:
    """Close an open course early (the client stopped, a contraindication...), with a reason."""
    operator = _check_operator(by)
    course = _course(store, course_id)
    if not course.is_open:
        raise CourseError(f"Course {course_id} is {course.status.value} already.")
    text = reason.strip() if isinstance(reason, str) else ""
    if not text or len(text) > MAX_REASON_CHARS or not text.isprintable():
        raise CourseError(
            f"The reason for closing is 1 to {MAX_REASON_CHARS} printable characters."
        )
    store.append(CLOSED, {"course": course_id, "reason": text, "by": operator.id}, now=now)
    return _course(store, course_id)
