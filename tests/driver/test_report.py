"""Issue 16: the session report for the client's file (self-contained HTML, inline SVG)."""

from __future__ import annotations

import itertools
import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from driver import Pen
from driver.audit import AuditStore
from driver.errors import StoreError
from driver.records.courses import attach_session, plan_course
from driver.records.report import PLOT_HEIGHT, PLOT_WIDTH, render_report
from driver.safety.policy import default_policy
from driver.testing.sessions import recorded_session

SVG = "{http://www.w3.org/2000/svg}"
ROOT = Path(__file__).resolve().parent.parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "report_example.html"


@pytest.fixture
def recorded(tmp_path: Path):
    store = AuditStore(tmp_path / "audit.db", scrypt_n=2**10)
    session = recorded_session(store, hours=0.1)
    yield store, session
    store.close()


def _plots(text: str) -> dict[str, ET.Element]:
    out = {}
    for chunk in re.findall(r"<svg .*?</svg>", text, re.S):
        svg = ET.fromstring(chunk)
        out[svg.attrib["data-zone"]] = svg
    return out


def _changes(points: list[tuple[float, int]]) -> list[tuple[float, int]]:
    pts = sorted(points)
    return [p for i, p in enumerate(pts) if i in (0, len(pts) - 1) or p[1] != pts[i - 1][1]]


def test_the_report_plot_matches_the_recorded_depths(recorded) -> None:
    store, session = recorded
    text = render_report(store, default_policy(), session.session_id)
    plots = _plots(text)
    assert set(plots) == set(session.points) == {"cheeks", "acne_scars"}
    for zone, svg in plots.items():
        t0, t1 = float(svg.attrib["data-t0"]), float(svg.attrib["data-t1"])
        top = int(svg.attrib["data-top-um"])

        def xy(
            ts: float, um: int, t0: float = t0, t1: float = t1, top: int = top
        ) -> tuple[float, float]:
            inner_w = PLOT_WIDTH - 48 - 12
            inner_h = PLOT_HEIGHT - 12 - 28
            return 48 + (ts - t0) / (t1 - t0) * inner_w, PLOT_HEIGHT - 28 - um / top * inner_h

        recorded_sets, recorded_actual = session.points[zone], session.actual[zone]
        # the markers are the recorded actual depths where they change, at the right place
        dots = [
            (float(c.attrib["data-ts"]), int(c.attrib["data-um"]), c)
            for c in svg.iter(f"{SVG}circle")
        ]
        expected = _changes(recorded_actual)
        assert [(round(ts, 3), um) for ts, um, _ in dots] == [
            (round(ts, 3), um) for ts, um in expected
        ]
        for ts, um, c in dots:
            x, y = xy(ts, um)
            assert abs(float(c.attrib["cx"]) - x) < 0.01 and abs(float(c.attrib["cy"]) - y) < 0.01
        # the step line's levels are exactly the recorded set-points, in order
        line = next(svg.iter(f"{SVG}polyline")).attrib["points"].split()
        ys = [float(p.split(",")[1]) for p in line]
        levels = [ys[0]] + [b for a, b in itertools.pairwise(ys) if b != a]
        want = [xy(0, um)[1] for _, um in _changes(recorded_sets)]
        want = [w for i, w in enumerate(want) if i == 0 or w != want[i - 1]]
        assert [round(v, 2) for v in levels] == [round(v, 2) for v in want]
        assert max(int(c.attrib["data-um"]) for c in svg.iter(f"{SVG}circle")) <= top


def test_the_report_head_hash_verifies_against_the_store(recorded) -> None:
    store, session = recorded
    text = render_report(store, default_policy(), session.session_id)
    head = re.search(r"id='head-hash'>([0-9a-f]{64})<", text)
    last = re.search(r"id='session-hash'>([0-9a-f]{64})<", text)
    assert head and last
    assert head.group(1) == store.head()
    assert store.verify(anchor=head.group(1)).ok
    assert last.group(1) == store.records(session.session_id)[-1].hash
    store.append("note", {"text": "a later record"})  # the store moves on: the anchor still holds
    assert store.verify(anchor=head.group(1)).ok
    forged = head.group(1)[::-1]
    assert not store.verify(anchor=forged).ok


def test_the_report_is_self_contained_and_holds_what_the_issue_lists(recorded) -> None:
    store, session = recorded
    text = render_report(store, default_policy(), session.session_id, clinic="Example <Clinic>")
    assert not re.search(r"<script|<link|<img|src=|href=|@import|url\(", text, re.I)
    for words in (
        "Example &lt;Clinic&gt;",  # escaped, never markup
        "dr-lee (Dr Lee), clinician",
        "p-0042",
        "serial 1000001, firmware 1.0.0",
        "acne scars, session 1 of 4",
        "Verdict: clear.",
        "deep rolling scars; discussed with the client",  # the override's reason
        "Consent",
        "pinpoint_bleeding",
        "Mild swelling on the left cheek",
        "expect about 6 to 7 days of downtime",  # aftercare for 1.75 mm delivered
        "2026-03-30",  # the next window: 28 days after 2026-03-02
        "2026-04-13",
    ):
        assert words in text, words


def test_a_report_of_an_unknown_session_is_one_sentence(recorded) -> None:
    store, _ = recorded
    with pytest.raises(StoreError, match="There is no session 99"):
        render_report(store, default_policy(), 99)


def test_a_report_of_a_real_simulator_session(tmp_path: Path) -> None:
    store = AuditStore(tmp_path / "audit.db", scrypt_n=2**10)
    store.add_operator("c1", "Dr Clin", "clinician", "1234")
    course = plan_course(
        store,
        default_policy(),
        client="P-5",
        concern="acne_scars",
        by=store.authenticate("c1", "1234"),
    )
    with Pen.open(
        "sim://?seed=9",
        role="clinician",
        operator="c1",
        pin="1234",
        client="P-5",
        zone="cheeks",
        db=store,
    ) as pen:
        attach_session(store, course.id, pen.session_id)
        pen.set_depth(1.0)
        pen.set_rate(100)
        pen.start()
        time.sleep(0.1)
        pen.set_depth(1.25, override_reason="rolling scars, discussed")
        time.sleep(0.1)
        pen.stop()
    text = render_report(store, default_policy(), pen.session_id)
    plot = _plots(text)["cheeks"]
    line = next(plot.iter(f"{SVG}polyline")).attrib["points"].split()
    assert len({p.split(",")[1] for p in line}) == 2  # 1.00 then 1.25 mm
    assert "rolling scars, discussed" in text
    assert "acne scars, session 1 of 4" in text
    assert store.verify(anchor=re.findall(r"[0-9a-f]{64}", text)[-1]).ok
    store.close()


def test_the_committed_example_report_is_what_the_command_writes(tmp_path: Path) -> None:
    from driver.testing.sessions import main

    out = tmp_path / "example.html"
    assert main(["--output", str(out)]) == 0

    def stable(text: str) -> str:  # hashes differ by the PIN's random salt; the rest must not
        return re.sub(r"[0-9a-f]{64}", "HASH", text)

    assert stable(out.read_text(encoding="utf-8")) == stable(FIXTURE.read_text(encoding="utf-8"))
    assert "Example Skin Clinic" in FIXTURE.read_text(encoding="utf-8")
