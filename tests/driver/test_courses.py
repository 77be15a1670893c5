"""Issue 16: the concern library, courses, the client's record and session notes."""

from __future__ import annotations

import datetime as dt
import time
import unicodedata
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driver import Pen
from driver.audit import AuditStore
from driver.records.client import Timing, client_record, timing, window
from driver.records.courses import (
    CourseError,
    CourseStatus,
    attach_session,
    close_course,
    courses,
    plan_course,
    session_delivery,
)
from driver.records.notes import (
    MAX_NOTE_CHARS,
    NoteError,
    Reaction,
    notes_of,
    record_adverse_event,
    record_consent,
    record_note,
    record_reaction,
)
from driver.safety import DeviceLimits, Governor
from driver.safety.policy import PolicyError, default_policy, load_policy_text, policy_to_toml

DAY = 86_400.0
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def _concern(depth: str, roles: str = '["clinician"]', extra: str = "") -> str:
    return (
        "[concerns.test]\nlabel = 'test'\n"
        f"roles = {roles}\nsessions = [3, 4]\ninterval_days = [28, 42]\nrate_hz = [90, 120]\n"
        f"depth_mm = {{ {depth} }}\n{extra}"
    )


# --- the library ---------------------------------------------------------------------------------


def test_the_default_library_holds_the_domain_concerns_inside_every_cap() -> None:
    p = default_policy()
    assert set(p.concerns) == {
        "fine_lines",
        "acne_scars",
        "enlarged_pores",
        "stretch_marks",
        "skin_laxity",
        "pigmentation",
        "hair_loss",
    }
    assert p.concerns["acne_scars"].depth_mm["cheeks"] == [1.0, 1.5]
    assert p.concerns["stretch_marks"].sessions == [4, 6]
    assert load_policy_text(policy_to_toml(p)) == p


@pytest.mark.parametrize(
    "text, words",
    [
        # above the clinician's hard max for the periorbital zone (0.50 mm)
        (
            _concern("periorbital = [0.25, 0.55]"),
            "periorbital goes to 0.55 mm, above the clinician",
        ),
        # the aesthetician's cap is the recommended max (cheeks 1.00 mm)
        (_concern("cheeks = [1.0, 1.25]", '["aesthetician"]'), "above the aesthetician role's cap"),
        # the home role's cap is 0.50 mm
        (_concern("forehead = [0.25, 0.6]", '["home"]'), "above the home role's cap"),
        # a clinic lowers the default acne_scars guidance's role... by naming an aesthetician
        ("[concerns.acne_scars]\nroles = ['aesthetician', 'clinician']\n", "acne_scars.depth_mm"),
    ],
)
def test_the_library_refuses_a_concern_whose_guidance_passes_a_cap(text: str, words: str) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy_text(text, "clinic.toml")
    assert any(words in p for p in info.value.problems), info.value.problems
    assert all("governor" in p for p in info.value.problems if "above" in p)


def test_a_concern_the_file_names_is_checked_against_the_file_s_own_caps() -> None:
    with pytest.raises(PolicyError, match=r"cheeks goes to 1\.50 mm"):
        load_policy_text(
            "[zones.cheeks]\nhard_max_mm = 1.25\n[concerns.acne_scars]\nsessions = [3, 4]\n"
        )


def test_tightening_a_cap_drops_inherited_concerns_that_no_longer_fit() -> None:
    p = load_policy_text("[zones.cheeks]\nhard_max_mm = 1.25\n")
    assert "acne_scars" not in p.concerns  # its cheeks guidance reaches 1.50 mm
    assert "fine_lines" in p.concerns  # cheeks 0.50-1.00 still fits


def test_an_inherited_concern_keeps_the_roles_whose_caps_it_still_fits() -> None:
    p = load_policy_text("[roles.aesthetician]\nmax_depth_mm = 0.8\n")
    assert p.concerns["fine_lines"].roles == ["clinician"]  # cheeks 1.00 mm > 0.80 mm
    assert p.concerns["pigmentation"].roles == ["aesthetician", "clinician"]  # 0.50 mm fits


@settings(max_examples=40, deadline=None)
@given(
    role=st.sampled_from(["home", "aesthetician", "clinician"]),
    zone=st.sampled_from(["forehead", "periorbital", "cheeks", "neck", "scalp", "stretch_marks"]),
    top_um=st.integers(250, 3000).map(lambda um: um - um % 10),
)
def test_guidance_is_accepted_exactly_when_the_governor_s_cap_allows_it(
    role: str, zone: str, top_um: int
) -> None:
    cap = Governor(default_policy()).cap_for(role, zone, DeviceLimits.professional(), override=True)
    text = _concern(f"{zone} = [0.25, {top_um / 1000}]", f'["{role}"]')
    if cap is not None and top_um <= round(cap * 1000):
        assert load_policy_text(text).concerns["test"].depth_mm[zone][1] == top_um / 1000
    else:
        with pytest.raises(PolicyError):
            load_policy_text(text)


@pytest.mark.parametrize(
    "text, words",
    [
        (_concern("cheeks = [0.5, 1.0]").replace("[28, 42]", "[21, 42]"), "interval_days"),
        (_concern("cheeks = [0.5, 1.0]").replace("[28, 42]", "[42, 28]"), "interval_days"),
        (_concern("cheeks = [1.0, 0.5]"), "must run upwards"),
        (_concern("bench = [1.0, 1.0]"), "not a treatment zone of skin"),
        (_concern("cheeks = [0.5, 1.0]").replace("[90, 120]", "[90, 160]"), "rate_hz"),
        (_concern("cheeks = [0.5]"), "pair"),
        ("[concerns.Bad-Name]\n" + _concern("cheeks = [0.5, 1.0]").split("\n", 1)[1], "name"),
    ],
)
def test_malformed_concerns_are_refused_in_one_sentence_each(text: str, words: str) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy_text(text)
    assert any(words in p for p in info.value.problems), info.value.problems
    assert all(p.endswith(".") or p.endswith(")") for p in info.value.problems)


# --- the interval window -------------------------------------------------------------------------


@given(
    last=st.dates(dt.date(2020, 1, 1), dt.date(2035, 12, 31)),
    lo=st.integers(28, 120),
    span=st.integers(0, 60),
    min_days=st.integers(28, 90),
    offset=st.integers(-5, 200),
)
def test_the_next_window_follows_the_interval_rule(
    last: dt.date, lo: int, span: int, min_days: int, offset: int
) -> None:
    text = f"min_days_between_sessions = {min_days}\n" + _concern("cheeks = [0.5, 1.0]").replace(
        "[28, 42]", f"[{lo}, {lo + span}]"
    )
    policy = load_policy_text(text)
    start, end = window(policy, "test", last)
    earliest = max(lo, min_days)
    assert start == last + dt.timedelta(days=earliest)  # never sooner than the policy allows
    assert end == last + dt.timedelta(days=max(lo + span, earliest))
    today = last + dt.timedelta(days=offset)
    flag = timing(today, start, end)
    if today < start:
        assert flag is Timing.TOO_SOON
    elif today > end:
        assert flag is Timing.OVERDUE
    else:
        assert flag is Timing.DUE


def test_the_window_edges_are_inclusive() -> None:
    last = dt.date(2026, 1, 1)
    start, end = window(default_policy(), "acne_scars", last)
    assert (start, end) == (dt.date(2026, 1, 29), dt.date(2026, 2, 12))
    assert timing(start - dt.timedelta(days=1), start, end) is Timing.TOO_SOON
    assert timing(start, start, end) is Timing.DUE
    assert timing(end, start, end) is Timing.DUE
    assert timing(end + dt.timedelta(days=1), start, end) is Timing.OVERDUE


# --- courses from records ------------------------------------------------------------------------


def _session(store: AuditStore, client: str, ts: float) -> int:
    return store.begin_session(
        role="clinician",
        operator_id="c1",
        client_ref=client,
        device_serial=7,
        boot_id=1,
        device_class="professional",
        now=ts,
    )


def _run(store: AuditStore, sid: int, zone: str, ts: float, depths_um: list[int]) -> None:
    """Records of the pen running on `zone` at these set-points, one per second."""
    store.append("zone", {"zone": zone, "from": None}, session_id=sid, now=ts)
    store.append(
        "pen_state",
        {"state": "RUNNING", "from": "IDLE", "faults": 0, "depth_set_um": depths_um[0]},
        session_id=sid,
        now=ts + 1,
    )
    for i, um in enumerate(depths_um):
        store.append(
            "progress",
            {
                "zone": zone,
                "stamps": 500 * i,
                "depth_actual_um": um - 10,
                "depth_set_um": um,
                "rate_actual_hz": 100,
            },
            session_id=sid,
            now=ts + 2 + i,
        )
    store.append(
        "pen_state",
        {"state": "IDLE", "from": "RUNNING", "faults": 0, "depth_set_um": depths_um[-1]},
        session_id=sid,
        now=ts + 3 + len(depths_um),
    )


def _clinician(store: AuditStore) -> Any:
    return store.authenticate("c1", "1234")


def test_attaching_moves_a_course_on_only_when_something_was_delivered(store: AuditStore) -> None:
    c = plan_course(
        store,
        default_policy(),
        client="P-0042",
        concern="acne_scars",
        by=_clinician(store),
        now=T0,
    )
    assert (c.sessions_planned, c.status, c.zones) == (
        4,
        CourseStatus.PLANNED,
        ("cheeks", "acne_scars"),
    )
    empty = _session(store, "P-0042", T0 + DAY)  # screening blocked it: nothing ran
    store.append("zone", {"zone": "cheeks", "from": None}, session_id=empty, now=T0 + DAY)
    c = attach_session(store, c.id, empty)
    assert (c.sessions_done, c.status) == (0, CourseStatus.PLANNED)
    assert c.line() == "acne scars, session 1 of 4"
    elsewhere = _session(store, "P-0042", T0 + 2 * DAY)  # ran, but on no zone of the course
    _run(store, elsewhere, "forehead", T0 + 2 * DAY, [500])
    assert attach_session(store, c.id, elsewhere).sessions_done == 0
    ran = _session(store, "P-0042", T0 + 3 * DAY)
    _run(store, ran, "cheeks", T0 + 3 * DAY, [1000, 1250])
    c = attach_session(store, c.id, ran)
    assert (c.sessions_done, c.status) == (1, CourseStatus.ACTIVE)
    assert c.line() == "acne scars, session 2 of 4"
    assert attach_session(store, c.id, ran).sessions_done == 1  # attaching twice changes nothing


def test_a_real_session_on_the_simulator_moves_the_course_only_once_the_pen_ran(
    store: AuditStore,
) -> None:
    course = plan_course(
        store, default_policy(), client="P-7", concern="fine_lines", by=_clinician(store)
    )
    with Pen.open(
        "sim://?seed=3",
        role="clinician",
        operator="c1",
        pin="1234",
        client="p-7",
        zone="cheeks",
        db=store,
    ) as pen:
        pen.set_depth(0.75)  # set, never started
    assert attach_session(store, course.id, pen.session_id).sessions_done == 0
    with Pen.open(
        "sim://?seed=4",
        role="clinician",
        operator="c1",
        pin="1234",
        client="P-7 ",
        zone="cheeks",
        db=store,
    ) as pen:
        pen.set_depth(0.75)
        pen.set_rate(100)
        pen.start()
        time.sleep(0.1)
        pen.stop()
    c = attach_session(store, course.id, pen.session_id)
    assert c.sessions_done == 1
    assert c.done[0].delivered["cheeks"].deepest_um == 750


def test_a_course_refuses_what_the_library_does_not_allow(store: AuditStore) -> None:
    p = default_policy()
    aesth = store.authenticate("a1", "5678")
    with pytest.raises(CourseError, match="aesthetician role may not plan acne scars"):
        plan_course(store, p, client="P-1", concern="acne_scars", by=aesth)
    with pytest.raises(CourseError, match="not a concern"):
        plan_course(store, p, client="P-1", concern="tattoos", by=aesth)
    with pytest.raises(CourseError, match="no guidance for 'neck'"):
        plan_course(store, p, client="P-1", concern="fine_lines", by=aesth, zones=["neck"])
    with pytest.raises(CourseError, match="1 to 12 sessions"):
        plan_course(store, p, client="P-1", concern="fine_lines", by=aesth, sessions=0)
    assert courses(store) == []  # nothing was recorded


def test_client_references_are_normalised_as_the_store_does(store: AuditStore) -> None:
    p = default_policy()
    by = _clinician(store)
    c = plan_course(store, p, client=" P-0042 ", concern="fine_lines", by=by, now=T0)
    assert c.client == "p-0042"
    fullwidth = unicodedata.normalize("NFKC", "Ｐ-0042")  # fullwidth P folds to the same client
    with pytest.raises(CourseError, match="already has an open fine lines course"):
        plan_course(store, p, client="Ｐ-0042", concern="fine_lines", by=by)
    assert fullwidth.casefold() == "p-0042"
    sid = _session(store, "P-0042", T0 + DAY)
    _run(store, sid, "forehead", T0 + DAY, [400, 500])
    attach_session(store, c.id, sid)
    assert client_record(store, p, "p-0042", now=T0) == client_record(store, p, "P-0042", now=T0)
    other = _session(store, "P-0043", T0 + DAY)
    with pytest.raises(CourseError, match="not of client p-0042"):
        attach_session(store, c.id, other)
    with pytest.raises(Exception, match="control characters"):
        plan_course(store, p, client="p-\u202e0042", concern="fine_lines", by=by)


def test_the_client_record_has_the_issue_s_json_shape_and_windows(store: AuditStore) -> None:
    p = default_policy()
    c = plan_course(store, p, client="P-9", concern="acne_scars", by=_clinician(store), now=T0)
    sid = _session(store, "P-9", T0 + 10)
    _run(store, sid, "cheeks", T0 + 10, [1000, 1500, 1250])
    attach_session(store, c.id, sid)
    record = client_record(store, p, "P-9", now=T0 + 20 * DAY).to_json()
    assert record["client"] == "p-9"
    (course,) = record["courses"]
    assert {k: course[k] for k in ("concern", "sessions_done", "sessions_planned", "status")} == {
        "concern": "acne_scars",
        "sessions_done": 1,
        "sessions_planned": 4,
        "status": "active",
    }
    cheeks, scars = course["zones"]
    assert cheeks == {
        "zone": "cheeks",
        "last_date": "2026-01-01",
        "last_depth_mm": 1.5,
        "next_from": "2026-01-29",
        "next_to": "2026-02-12",
        "timing": "too_soon",
    }
    assert scars["last_date"] is None and scars["timing"] == "not_started"
    later = client_record(store, p, "P-9", now=T0 + 50 * DAY).to_json()
    assert later["courses"][0]["zones"][0]["timing"] == "overdue"
    closed = close_course(store, c.id, "client moved away", _clinician(store))
    assert closed.status is CourseStatus.CLOSED
    assert client_record(store, p, "P-9").to_json()["courses"][0]["status"] == "closed"
    with pytest.raises(CourseError, match="closed already"):
        close_course(store, c.id, "again", _clinician(store))


def test_session_delivery_reads_set_points_and_actual_depths(store: AuditStore) -> None:
    sid = _session(store, "P-1", T0)
    _run(store, sid, "neck", T0, [500, 750])
    d = session_delivery(store.records(sid))["neck"]
    assert d.deepest_um == 750
    assert [um for _, um in d.points] == [500, 500, 750]  # the RUNNING state, then progress
    assert [um for _, um in d.actual] == [490, 740]
    assert d.stamps == 500


# --- notes ---------------------------------------------------------------------------------------


def test_notes_are_chained_records_read_back_in_order(store: AuditStore) -> None:
    sid = _session(store, "P-1", T0)
    record_consent(store, sid, "c1", now=T0 + 1)
    record_reaction(store, sid, "cheeks", Reaction.PINPOINT_BLEEDING, now=T0 + 2)
    record_adverse_event(store, sid, "Brief dizziness; settled after 5 minutes.", now=T0 + 3)
    record_note(store, sid, "Client asked about sunscreen.", now=T0 + 4)
    notes = notes_of(store.records(sid))
    assert [(n.kind, n.text, n.zone, n.by) for n in notes] == [
        ("note_consent", "consent given", None, "c1"),
        ("note_reaction", "pinpoint_bleeding", "cheeks", None),
        ("note_adverse", "Brief dizziness; settled after 5 minutes.", None, None),
        ("note_free", "Client asked about sunscreen.", None, None),
    ]
    assert store.verify().ok


@pytest.mark.parametrize(
    "call",
    [
        lambda s, sid: record_note(s, sid, "   "),
        lambda s, sid: record_note(s, sid, "x" * (MAX_NOTE_CHARS + 1)),
        lambda s, sid: record_note(s, sid, "hidden \u202e text"),
        lambda s, sid: record_adverse_event(s, sid, "bell \x07"),
        lambda s, sid: record_reaction(s, sid, "cheeks", "blistering"),
        lambda s, sid: record_reaction(s, sid, "elbow", "none"),
        lambda s, sid: record_consent(s, sid, ""),
    ],
)
def test_bad_notes_are_one_sentence_and_record_nothing(store: AuditStore, call: Any) -> None:
    sid = _session(store, "P-1", T0)
    before = len(store.records())
    with pytest.raises(NoteError) as info:
        call(store, sid)
    assert str(info.value).endswith(".") and "\n" not in str(info.value)
    assert len(store.records()) == before


def test_a_run_shorter_than_the_progress_period_counts_its_stamps(store: AuditStore) -> None:
    """A 4 s run leaves no `progress` record (they come every 5 s): the stamps still count,
    from the pen's counter at the run's start and end (a new user's report said 'at least 0'
    for 399 stamps; a 2,852-stamp session said 2,507). A STOP command in between does not
    lose the run's last stamps, and a reboot (the counter going back) adds nothing."""

    sid = _session(store, "P-0043", T0)

    def state(to: str, frm: str, stamps: int, ts: float) -> None:
        store.append(
            "pen_state",
            {"state": to, "from": frm, "faults": 0, "depth_set_um": 500, "stamps": stamps},
            session_id=sid,
            now=ts,
        )

    store.append("zone", {"zone": "cheeks", "from": None}, session_id=sid, now=T0)
    state("RUNNING", "IDLE", 0, T0 + 1)
    store.append("command", {"type": "STOP", "seq": 9}, session_id=sid, now=T0 + 4.9)
    state("IDLE", "RUNNING", 399, T0 + 5)
    state("RUNNING", "IDLE", 399, T0 + 6)  # a second run, with a progress record
    store.append(
        "progress",
        {"zone": "cheeks", "stamps": 899, "depth_actual_um": 490, "depth_set_um": 500},
        session_id=sid,
        now=T0 + 11,
    )
    state("ESTOP", "RUNNING", 1000, T0 + 12)
    state("RUNNING", "IDLE", 5, T0 + 20)  # after a reboot: the counter starts again
    state("IDLE", "RUNNING", 3, T0 + 21)  # went back: nothing added
    delivered = session_delivery(store.records(sid))
    assert delivered["cheeks"].stamps == 399 + 601
