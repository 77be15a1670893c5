"""A session's report for the client's file: one self-contained, printable HTML page.

Everything comes from the audit store: the session's records (read back through
`AuditStore.records`), the operators and sessions tables, the courses the session is attached
to. The page needs no network (inline CSS, inline SVG plots, no scripts) and prints on A4. It
ends with the session's last record hash and the store's head hash when it was written, so
the file can be checked against the store (`needlepen log verify --anchor HASH`).

No PDF: the small PDF libraries (fpdf2, reportlab's core) would each be a new dependency with
a font and layout layer of their own for one page the browser already prints; the HTML is
printable as it is (print to PDF from any browser).
"""

from __future__ import annotations

import datetime as dt
import html
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from driver.audit import AuditStore, Record, SessionRow
from driver.records.client import window
from driver.records.courses import Course, ZoneDelivery, courses, session_delivery
from driver.records.notes import Note, notes_of
from driver.safety.aftercare import Delivered, delivered_instructions
from driver.safety.screening import Verdict, session_verdict
from driver.vocabulary import mm_number

if TYPE_CHECKING:
    from driver.safety.policy import Policy

__all__ = ["PLOT_HEIGHT", "PLOT_WIDTH", "render_report", "svg_plot"]

PLOT_WIDTH: Final = 640
PLOT_HEIGHT: Final = 160
_MARGIN_L: Final = 48
_MARGIN_R: Final = 12
_MARGIN_T: Final = 12
_MARGIN_B: Final = 28
#: At most this many points per zone and series are drawn (only where the depth changes, so an
#: 8-hour session's steady stretches do not make the file huge).
MAX_LINE_POINTS: Final = 4000

_CSS: Final = """
body { font: 11pt/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 46em; color: #111; }
h1 { font-size: 16pt; margin-bottom: 0; } h2 { font-size: 12pt; border-bottom: 1px solid #999; }
table { border-collapse: collapse; width: 100%; } td, th { text-align: left; padding: 2px 6px; }
th { border-bottom: 1px solid #999; } .mono { font-family: monospace; font-size: 9pt; }
svg { width: 100%; height: auto; } .axis { stroke: #444; } .line { fill: none; stroke: #036; }
.pt { fill: #036; } .muted { color: #555; }
@media print { body { margin: 0; max-width: none; } h2 { break-after: avoid; } }
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True, slots=True)
class _Scale:
    t0: float
    t1: float
    top_um: int

    def x(self, ts: float) -> float:
        span = max(self.t1 - self.t0, 1e-6)
        return _MARGIN_L + (ts - self.t0) / span * (PLOT_WIDTH - _MARGIN_L - _MARGIN_R)

    def y(self, um: int) -> float:
        inner = PLOT_HEIGHT - _MARGIN_T - _MARGIN_B
        return PLOT_HEIGHT - _MARGIN_B - um / max(self.top_um, 1) * inner


def _thin(points: Sequence[tuple[float, int]]) -> list[tuple[float, int]]:
    """The points where the depth changes (and the first and last), at most MAX_LINE_POINTS."""
    kept = [
        p for i, p in enumerate(points) if i in (0, len(points) - 1) or p[1] != points[i - 1][1]
    ]
    if len(kept) > MAX_LINE_POINTS:
        step = len(kept) / MAX_LINE_POINTS
        kept = [kept[int(i * step)] for i in range(MAX_LINE_POINTS - 1)] + [kept[-1]]
    return kept


def svg_plot(delivery: ZoneDelivery, t0: float, t1: float) -> str:
    """The depth on one zone over the session's time, as an inline SVG: the set-points as a
    step line (`class="line"`, one vertex per change) and the pen's reported actual depths as
    markers (`class="pt"`, with data-ts and data-um), each thinned to where the depth changes."""
    sets, actual = sorted(delivery.points), sorted(delivery.actual)
    deepest = max((um for _, um in (*sets, *actual)), default=0)
    top = max(1000, -(-deepest // 500) * 500)
    s = _Scale(t0, max(t1, t0 + 1.0), top)
    steps: list[str] = []
    for i, (ts, um) in enumerate(_thin(sets)):
        if i:
            steps.append(f"{s.x(ts):.2f},{float(steps[-1].split(',')[1]):.2f}")
        steps.append(f"{s.x(ts):.2f},{s.y(um):.2f}")
    if sets:
        steps.append(f"{s.x(delivery.last_ts):.2f},{s.y(sets[-1][1]):.2f}")
    marks = "".join(
        f'<circle class="pt" cx="{s.x(ts):.2f}" cy="{s.y(um):.2f}" r="2" '
        f'data-ts="{ts:.6f}" data-um="{um}"/>'
        for ts, um in _thin(actual)
    )
    base = PLOT_HEIGHT - _MARGIN_B
    ticks = "".join(
        f'<text x="{_MARGIN_L - 4}" y="{s.y(um) + 4:.2f}" text-anchor="end" font-size="10">'
        f"{mm_number(um)}</text>"
        for um in range(0, top + 1, 500)
    )
    minutes = (s.t1 - s.t0) / 60
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {PLOT_WIDTH} {PLOT_HEIGHT}" '
        f'role="img" data-zone="{_e(delivery.zone)}" data-t0="{s.t0:.6f}" data-t1="{s.t1:.6f}" '
        f'data-top-um="{top}"><title>Depth on {_e(delivery.zone)} over the session (mm): '
        f"set-point line, actual-depth dots</title>"
        f'<line class="axis" x1="{_MARGIN_L}" y1="{base}" x2="{PLOT_WIDTH - _MARGIN_R}" '
        f'y2="{base}"/><line class="axis" x1="{_MARGIN_L}" y1="{_MARGIN_T}" x2="{_MARGIN_L}" '
        f'y2="{base}"/>{ticks}<text x="{_MARGIN_L}" y="{PLOT_HEIGHT - 8}" font-size="10">0 min'
        f'</text><text x="{PLOT_WIDTH - _MARGIN_R}" y="{PLOT_HEIGHT - 8}" font-size="10" '
        f'text-anchor="end">{minutes:.1f} min</text>'
        f'<polyline class="line" points="{" ".join(steps)}"/>{marks}</svg>'
    )


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _overrides(records: Sequence[Record]) -> list[tuple[str, str, str, str]]:
    acked = {r.data.get("seq") for r in records if r.kind == "ack"}
    out = []
    for r in records:
        d = r.data
        reason = d.get("override_reason")
        command = d.get("command")
        if r.kind == "decision" and isinstance(reason, str) and reason:
            sent = isinstance(command, dict) and command.get("seq") in acked
            depth = d.get("depth_mm")
            out.append(
                (
                    _when(r.ts),
                    str(d.get("zone", "")),
                    f"{depth} mm" if depth else "-",
                    reason + ("" if sent else " (not sent)"),
                )
            )
    return out


def _screening(records: Sequence[Record]) -> str:
    verdict = session_verdict([r.data for r in records if r.kind == "screening"])
    lines = [f"Verdict: {verdict.value if verdict else 'not screened'}."]
    for r in records:
        if r.kind != "screening":
            continue
        if r.data.get("event") == "answers":
            positives = r.data.get("positives")
            items = ", ".join(map(str, positives)) if isinstance(positives, list) else ""
            lines.append(f"Answers recorded {_when(r.ts)}: {items or 'no contraindication'}.")
        elif r.data.get("event") == "acknowledged":
            lines.append(f"Acknowledged by {r.data.get('by')}: {r.data.get('reason')}.")
    return "".join(f"<p>{_e(line)}</p>" for line in lines)


def _notes(notes: Sequence[Note]) -> str:
    if not notes:
        return "<p class='muted'>No notes were recorded.</p>"
    names = {
        "note_consent": "Consent",
        "note_reaction": "End-point reaction",
        "note_adverse": "Adverse event",
        "note_free": "Note",
    }
    rows = [
        (
            _when(n.ts),
            names.get(n.kind, n.kind),
            (f"{n.zone}: " if n.zone else "") + n.text + (f" (recorded by {n.by})" if n.by else ""),
        )
        for n in notes
    ]
    return _table(("When", "What", "Note"), rows)


def _next_windows(
    policy: Policy, attached: Sequence[Course], delivered: dict[str, ZoneDelivery]
) -> list[tuple[str, str, str, str]]:
    out = []
    for zone, d in delivered.items():
        if zone == "bench":
            continue
        course = next((c for c in attached if zone in c.zones), None)
        day = dt.datetime.fromtimestamp(d.last_ts, dt.UTC).date()
        start, end = window(policy, course.concern if course else "", day)
        to = end.isoformat() if course else "-"
        out.append((zone, course.line() if course else "no course", start.isoformat(), to))
    return out


def _courses(attached: Sequence[Course], session_id: int) -> str:
    out = []
    for c in attached:
        n = c.number_of(session_id)
        name = c.concern.replace("_", " ")
        this = f"session {n} of {c.sessions_planned}" if n else "nothing delivered on its zones"
        out.append(
            f"<p>{_e(name)}, {_e(this)} (course {c.id} on {_e(', '.join(c.zones))}; now "
            f"{c.sessions_done} of {c.sessions_planned} done, {c.status.value})</p>"
        )
    return "".join(out) or "<p class='muted'>Not attached to a course.</p>"


def _header(row: SessionRow, start: dict[str, object], store: AuditStore, clinic: str) -> str:
    names = {op.id: op.name for op in store.list_operators()}
    operator = row.operator_id or "-"
    who = f"{operator} ({names[operator]}), {row.role}" if operator in names else operator
    facts = [
        ("Clinic", clinic or "not given"),
        ("Operator", who),
        ("Client (pseudonymous)", row.client_ref or "-"),
        (
            "Pen",
            f"serial {start.get('serial', row.device_serial)}, firmware "
            f"{start.get('firmware', '?')}, {row.device_class}",
        ),
        ("Started", _when(row.started)),
        ("Ended", f"{_when(row.ended)} ({row.end_reason})" if row.ended else "still open"),
    ]
    return _table(("", ""), facts)


def render_report(
    store: AuditStore,
    policy: Policy,
    session_id: int,
    *,
    clinic: str = "",
    now: float | None = None,
) -> str:
    """The report of session `session_id` as one HTML document (StoreError: no such session)."""
    records = store.records(session_id)  # raises StoreError for an unknown session
    row = next(s for s in store.sessions() if s.id == session_id)
    head = store.head()
    start = next((r.data for r in records if r.kind == "session_start"), {})
    delivered = session_delivery(records)
    attached = (
        [
            c
            for c in courses(store, row.client_ref)
            if any(s.session_id == session_id for s in c.sessions)
        ]
        if row.client_ref
        else []
    )
    t0 = records[0].ts if records else row.started
    t1 = records[-1].ts if records else t0
    zone_rows = [
        (z, mm_number(d.deepest_um), f"at least {d.stamps:,}", _when(d.first_ts), _when(d.last_ts))
        for z, d in delivered.items()
    ]
    plots = "".join(f"<h3>{_e(z)}</h3>{svg_plot(d, t0, t1)}" for z, d in delivered.items())
    aftercare = delivered_instructions(
        [Delivered(z, max(d.stamps, 1), d.deepest_um / 1000) for z, d in delivered.items()],
        policy.min_days_between_sessions,
        blocked=session_verdict([r.data for r in records if r.kind == "screening"])
        is Verdict.BLOCKED,
    )
    written = time.time() if now is None else now
    last_hash = records[-1].hash if records else "-"
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>needlepen session {session_id}</title><style>{_CSS}</style></head><body>",
        f"<h1>Treatment session {session_id}</h1>",
        f"<p class='muted'>Report written {_e(_when(written))} from the audit store.</p>",
        _header(row, start, store, clinic),
        "<h2>Courses</h2>",
        _courses(attached, session_id),
        "<h2>Screening</h2>",
        _screening(records),
        "<h2>Delivered per zone</h2>",
        _table(("Zone", "Deepest (mm)", "Stamps", "First running", "Last running"), zone_rows)
        if zone_rows
        else "<p class='muted'>The pen was not recorded running in this session.</p>",
        plots,
        "<h2>Overrides</h2>",
        _table(("When", "Zone", "Depth", "Reason"), _overrides(records))
        if _overrides(records)
        else "<p class='muted'>No override.</p>",
        "<h2>Notes</h2>",
        _notes(notes_of(records)),
        "<h2>Aftercare</h2>",
        "<ul>" + "".join(f"<li>{_e(line)}</li>" for line in aftercare) + "</ul>"
        if aftercare
        else "<p class='muted'>No client aftercare: nothing was delivered to skin.</p>",
        "<h2>Next session</h2>",
        _table(("Zone", "Course", "From", "To"), _next_windows(policy, attached, delivered)),
        "<h2>Audit</h2>",
        f"<p>Session records: {len(records)}; last record hash "
        f"<span class='mono' id='session-hash'>{_e(last_hash)}</span>.</p>",
        f"<p>Store head hash when written: <span class='mono' id='head-hash'>{_e(head)}</span>. "
        "Check this file against the store with <span class='mono'>needlepen log verify "
        "--anchor HASH</span>.</p>",
        "</body></html>\n",
    ]
    return "".join(parts)
