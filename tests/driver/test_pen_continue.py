"""A session that continues an interrupted one, and one login record per login (issue 12).

After a lost link (or a pen reboot, or the pen's watchdog) the clinician starts a new session
for the same visit: `Pen.begin(continues=<the interrupted session>)`. The interval rule then
does not count that session as the last one, so the same zone may be treated on; every other
session still counts, and a session that may not be continued is refused with one sentence.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

import driver.session.pen as pen_module
from driver.audit import (
    BAD_LOGIN,
    CONTINUE_WITHIN_SECONDS,
    AuditStore,
    Interruption,
    home_client,
)
from driver.errors import CannotContinue, NotAllowed, WrongPin
from driver.safety import Outcome
from driver.session import Login, Pen
from tests.helpers import wait_for

DAY = 86_400.0


def _treat(pen: Pen, depth: float = 0.5) -> None:
    pen.set_depth(depth)
    pen.set_rate(100)
    pen.start()
    pen.stop()


def _cut(pen: Pen) -> int:
    """Lose the link (the simulated cable is pulled), close, and return the session id."""
    pen.port.pen.command("cut 3s")
    wait_for(lambda: not pen.alive, timeout=3.0, what="the link to be lost")
    sid = pen.session_id
    pen.close("a new session after the pen stopped")
    return sid


def _closed_record(store: AuditStore, sid: int) -> dict[str, object]:
    return next(r.data for r in store.records(sid) if r.kind == "session_closed")


def test_a_session_continued_after_a_lost_link_treats_the_same_zone_again(store):
    pen = Pen.open("sim://?seed=301", role="home", zone="forehead", db=store)
    _treat(pen)
    first = _cut(pen)
    assert pen.interruption is Interruption.LINK_LOST
    assert _closed_record(store, first)["interrupted"] == "link_lost"

    # without `continues` the interrupted session is the last session: refused (home role)
    with pytest.raises(NotAllowed, match="28 days"):
        Pen.open("sim://?seed=301", role="home", zone="forehead", db=store)

    again = Pen.connect("sim://?seed=301", db=store)
    try:
        again.begin(role="home", continues=first)
        assert again.continues == first
        opened = next(r.data for r in store.records(again.session_id) if r.kind == "session_opened")
        assert opened["continues"] == first
        started = next(r.data for r in store.records(again.session_id) if r.kind == "session_start")
        assert started["continues"] == first
        assert again.select_zone("forehead") is not None
        assert again.zone == "forehead"
        assert again.set_depth(0.5).outcome is Outcome.ALLOWED
        again.set_rate(100)
        again.start()  # the start rules (in the store's transaction) agree
        assert again.port.pen.firmware.needle_running
        again.stop()
    finally:
        again.close()
    assert store.verify().ok
    # the continued visit as a whole is the last session for the next one
    with pytest.raises(NotAllowed, match="28 days"):
        Pen.open("sim://?seed=301", role="home", zone="forehead", db=store)


def test_a_watchdog_end_may_be_continued_and_is_recorded_as_such(store):
    pen = Pen.open("sim://?seed=302", role="home", zone="forehead", db=store)
    pen.set_depth(0.5)
    pen.set_rate(100)
    pen.start()
    # a host whose frames stop reaching the pen: to the pen, one that stopped feeding its watchdog
    pen.port.pen.command("fault drop:host=1")
    wait_for(lambda: pen.dead is not None, timeout=3.0, what="the watchdog")
    pen.close("a new session after the pen stopped")
    assert pen.interruption in (Interruption.PEN_ENDED, Interruption.LINK_LOST)
    assert _closed_record(store, pen.session_id)["interrupted"] == pen.interruption.value
    with Pen.connect("sim://?seed=302", db=store) as again:
        again.begin(role="home", continues=pen.session_id)
        again.select_zone("forehead")
        assert again.set_depth(0.5).outcome is Outcome.ALLOWED


def test_a_session_the_operator_ended_is_not_continued(store):
    with Pen.open("sim://?seed=303", role="home", zone="forehead", db=store) as pen:
        _treat(pen)
    assert "interrupted" not in _closed_record(store, pen.session_id)
    again = Pen.connect("sim://?seed=303", db=store)
    try:
        again.flush_log()
        count = len(store.records())
        with pytest.raises(CannotContinue, match="ended by the operator"):
            again.begin(role="home", continues=pen.session_id)
        assert again.session_id < 0 and again.continues is None
        again.flush_log()
        assert len(store.records()) == count  # nothing was written by the refusal
    finally:
        again.close()


def _clinician_session(store: AuditStore, client: str, op: str = "c1", **kw: object) -> int:
    return store.begin_session(
        role="clinician",
        operator_id=op,
        client_ref=client,
        device_serial=7,
        boot_id=1,
        device_class="professional",
        **kw,  # type: ignore[arg-type]
    )


def test_refusals_are_one_sentence_and_write_nothing(store):
    store.add_operator("c2", "Dr Two", "clinician", "2222", by=("c1", "1234"))
    t0 = time.time()
    cut = _clinician_session(store, "P-1", now=t0)
    store.end_session(cut, "link lost", now=t0 + 60, interrupted=Interruption.LINK_LOST)
    ended = _clinician_session(store, "P-1", now=t0 + 70)
    store.end_session(ended, "treatment finished", now=t0 + 80)
    still_open = _clinician_session(store, "P-1", now=t0 + 90)
    cases = [
        (dict(client_ref="P-2", operator_id="c1"), "another client's"),
        (dict(operator_id="a1", role="aesthetician"), "only its operator or another clinician"),
        (dict(now=t0 + 60 + CONTINUE_WITHIN_SECONDS + 1), "more than 2 hours ago"),
    ]
    before = (len(store.records()), len(store.sessions()))
    for changes, sentence in cases:
        args: dict[str, object] = dict(
            role="clinician",
            operator_id="c1",
            client_ref="P-1",
            device_serial=7,
            boot_id=2,
            device_class="professional",
            continues=cut,
        )
        args.update(changes)
        with pytest.raises(CannotContinue, match=sentence) as err:
            store.begin_session(**args)  # type: ignore[arg-type]
        assert str(err.value).count(". ") == 0 and str(err.value).endswith(".")
    for other, sentence in (
        (ended, "ended by the operator"),
        (still_open, "has not ended"),
        (999, "no session 999"),
        (True, "not a session number"),
    ):
        with pytest.raises(CannotContinue, match=sentence):
            _clinician_session(store, "P-1", continues=other)
    assert (len(store.records()), len(store.sessions())) == before
    # another clinician may take over the visit; a second continuation of it is refused
    _clinician_session(store, "P-1", op="c2", continues=cut, now=t0 + 100)
    with pytest.raises(CannotContinue, match="continued already"):
        _clinician_session(store, "P-1", continues=cut, now=t0 + 110)
    assert store.verify().ok


def test_only_the_continued_visit_is_excluded_older_sessions_still_count(store):
    client = home_client(5)
    t0 = time.time() - 3 * DAY

    def home(**kw: object) -> int:
        return store.begin_session(
            role="home",
            operator_id=None,
            client_ref=None,
            device_serial=5,
            boot_id=1,
            device_class="home",
            **kw,  # type: ignore[arg-type]
        )

    older = home(now=t0)
    store.record_treatment(older, client, "forehead", now=t0)
    store.end_session(older, "treatment finished", now=t0 + 60)
    a = home(now=t0 + 2 * DAY)
    store.record_treatment(a, client, "forehead", now=t0 + 2 * DAY)
    store.end_session(a, "cut", now=t0 + 2 * DAY + 60, interrupted=Interruption.LINK_LOST)
    b = home(now=t0 + 2 * DAY + 120, continues=a)
    store.record_treatment(b, client, "forehead", now=t0 + 2 * DAY + 120)
    store.end_session(b, "reboot", now=t0 + 2 * DAY + 180, interrupted=Interruption.PEN_REBOOTED)
    c = home(now=t0 + 2 * DAY + 240, continues=b)
    now = t0 + 2 * DAY + 300
    # c continues b, which continued a: one visit; the older session still counts (2 days)
    days = store.last_treatment_days_ago(client, "forehead", now=now, exclude_session=c)
    assert days == pytest.approx(2.0, abs=0.01)
    # for any other session, the visit's last treatment is the last one
    days = store.last_treatment_days_ago(client, "forehead", now=now, exclude_session=older)
    assert days == pytest.approx(180 / DAY, abs=1e-6)
    assert store.last_treatment_days_ago(client, "forehead", now=now) == pytest.approx(
        180 / DAY, abs=1e-6
    )


@given(
    plan=st.lists(
        st.tuples(
            st.booleans(),  # treat the zone in this session
            st.sampled_from([None, *Interruption]),  # how it ended
            st.booleans(),  # try to continue the previous session
        ),
        min_size=1,
        max_size=6,
    )
)
def test_the_interval_never_forgets_a_session_outside_the_continued_chain(tmp_path_factory, plan):
    """Whatever the sessions and their ends: a continuation is accepted exactly when the
    previous session was interrupted, and the last treatment seen by each session is the
    latest one outside its own chain of continuations."""
    store = AuditStore(tmp_path_factory.mktemp("chain") / "audit.db")
    client = home_client(9)
    t = time.time() - DAY
    chain_of: dict[int, set[int]] = {}
    treated: dict[int, float] = {}
    previous: tuple[int, Interruption | None] | None = None
    try:
        for treat, end, cont in plan:
            t += 60
            continues = previous[0] if cont and previous is not None else None
            kw = dict(
                role="home",
                operator_id=None,
                client_ref=None,
                device_serial=9,
                boot_id=1,
                device_class="home",
                now=t,
            )
            if continues is not None and previous is not None and previous[1] is None:
                with pytest.raises(CannotContinue):
                    store.begin_session(continues=continues, **kw)  # type: ignore[arg-type]
                continues = None
            sid = store.begin_session(continues=continues, **kw)  # type: ignore[arg-type]
            chain_of[sid] = {sid} | (chain_of[continues] if continues is not None else set())
            expected = max(
                (ts for s, ts in treated.items() if s not in chain_of[sid]), default=None
            )
            got = store.last_treatment_days_ago(client, "forehead", now=t, exclude_session=sid)
            if expected is None:
                assert got is None
            else:
                assert got == pytest.approx((t - expected) / DAY, abs=1e-6)
            if treat:
                t += 1
                store.record_treatment(sid, client, "forehead", now=t)
                treated[sid] = t
            t += 1
            store.end_session(sid, "ended", now=t, interrupted=end)
            previous = (sid, end)
        assert store.verify().ok
    finally:
        store.close()


# --- one login record per login -----------------------------------------------------------


def _logins(store: AuditStore) -> list[str]:
    """The login records since the fixture added its operators (by the first one's login)."""
    added = max(r.id for r in store.records() if r.kind == "operator_added")
    return [r.kind for r in store.records() if r.kind in ("login", "login_failed") and r.id > added]


def test_login_then_begin_is_one_login_record(store):
    pen = Pen.connect("sim://?seed=310", db=store)
    try:
        login = pen.login(role="clinician", operator="c1", pin="1234")
        assert isinstance(login, Login) and login.role == "clinician"
        pen.begin(role="clinician", login=login, client="P-7")
        assert pen.operator_id == "c1" and pen.role == "clinician"
        assert _logins(store) == ["login"]
        with pytest.raises(NotAllowed, match="already begun"):
            pen.begin(role="clinician", login=login, client="P-7")
    finally:
        pen.close()
    # the one-call form authenticates once too
    with Pen.open(
        "sim://?seed=311", role="clinician", operator="c1", pin="1234", client="P-8", db=store
    ):
        pass
    assert _logins(store) == ["login", "login"]


@pytest.mark.parametrize("operator", ["c1", "nobody"])
def test_a_wrong_pin_or_unknown_id_is_one_failure_record_and_the_same_sentence(store, operator):
    pen = Pen.connect("sim://?seed=312", db=store)
    try:
        with pytest.raises(WrongPin) as err:
            pen.login(role="clinician", operator=operator, pin="0000")
        assert str(err.value) == BAD_LOGIN
        assert _logins(store) == ["login_failed"]
        assert pen.session_id < 0
    finally:
        pen.close()


def test_a_login_not_issued_by_this_pen_is_refused_and_writes_nothing(store, monkeypatch):
    pen = Pen.connect("sim://?seed=313", db=store)
    other = Pen.connect("sim://?seed=314", db=store)
    try:
        real = pen.login(role="clinician", operator="c1", pin="1234")
        pen.flush_log()
        other.flush_log()
        count = len(store.records())
        forged = Login("c1", "clinician", real.at)
        for bad in (forged, real):
            with pytest.raises(NotAllowed, match="type the PIN again"):
                other.begin(role="clinician", login=bad, client="P-9")
        with pytest.raises(NotAllowed, match="not both"):
            pen.begin(role="clinician", login=real, pin="1234", client="P-9")
        with pytest.raises(NotAllowed, match="not aesthetician"):
            pen.begin(role="aesthetician", login=real, client="P-9")
        with pytest.raises(NotAllowed, match="must name its client"):
            pen.begin(role="clinician", login=real)
        pen.flush_log()
        other.flush_log()
        assert len(store.records()) == count and pen.session_id < 0 and other.session_id < 0
        monkeypatch.setattr(pen_module, "LOGIN_VALID_S", -1.0)  # every check is too old
        with pytest.raises(NotAllowed, match="minutes ago"):
            pen.begin(role="clinician", login=real, client="P-9")
        monkeypatch.undo()
        with pytest.raises(NotAllowed, match="type the PIN again"):  # spent by the expiry
            pen.begin(role="clinician", login=real, client="P-9")
        assert _logins(store) == ["login"]
    finally:
        pen.close()
        other.close()
