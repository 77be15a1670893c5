"""The session facade's Workstation: the one door the TUI uses to the audit store."""

from __future__ import annotations

import io
import json

import pytest

from driver.errors import UnknownOperator
from driver.session import Workstation


def test_it_connects_pens_on_its_store_and_answers_from_it(store, tmp_path):
    ws = Workstation(store)
    assert ws.operator("c1").role == "clinician"
    with pytest.raises(UnknownOperator):
        ws.operator("nobody")
    with ws.connect("sim://?seed=51") as pen:
        pen.begin(role="clinician", operator="c1", pin="1234", client="P-9")
        pen.select_zone("cheeks")
        sid = pen.session_id
    records = ws.session_records(sid)
    assert "session_start" in [r.kind for r in records] and all(
        r.session_id == sid for r in records
    )
    out = io.StringIO()
    assert ws.export("json", out, sid) == len(records)
    exported = json.loads(out.getvalue())
    assert [r["kind"] for r in exported["records"]] == [r.kind for r in records]
    assert ws.last_treatment_days_ago("P-9", "cheeks") is None  # nothing was stamped
    assert ws.courses("P-9") == []
    assert ws.attach_delivered("P-9", sid) == []
    report = ws.write_report(sid, tmp_path / "r" / "report.html")
    assert "<html" in report.read_text(encoding="utf-8").lower()
    with pytest.raises(FileExistsError):
        ws.write_report(sid, report)  # never over an existing file
    ws.close()  # not its store: still open
    assert store.records(sid)


def test_a_workstation_that_opened_its_store_closes_it(tmp_path):
    with Workstation.open(tmp_path / "ws.db") as ws:
        assert ws.courses() == []
        assert ws.policy.min_days_between_sessions > 0
    ws.close()  # idempotent
