"""The real `needlepen tui` in a kernel pty (os.openpty): driven by keystrokes, then its
terminal goes away (SIGHUP). The needle must be stopped, and the audit log must show it,
before the program exits."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sqlite3
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="needs a Linux pty")


def records(db: Path) -> list[tuple[str, dict[str, object]]]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            rows = conn.execute("SELECT kind, data FROM log ORDER BY id").fetchall()
    except sqlite3.Error:
        return []
    return [(kind, json.loads(data)) for kind, data in rows]


def wait_for(db: Path, predicate, what: str, proc: subprocess.Popen[bytes], timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        recs = records(db)
        if predicate(recs):
            return recs
        if proc.poll() is not None:
            raise AssertionError(f"needlepen tui exited ({proc.returncode}) before {what}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; last records: {records(db)[-5:]}")


def drain(fd: int) -> None:
    """Read what the app drew, so it never blocks on a full pty."""
    try:
        while True:
            import select

            ready, _, _ = select.select([fd], [], [], 0)
            if not ready or not os.read(fd, 65536):
                return
    except OSError:
        return


def test_sighup_on_the_real_program_stops_the_needle_before_it_exits(tmp_path):
    db = tmp_path / "audit.db"
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "driver.cli",
            "tui",
            "--port",
            "sim://?seed=61",
            "--role",
            "home",
            "--zone",
            "forehead",
            "--db",
            str(db),
        ],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    try:

        def keys(text: str) -> None:
            drain(master)
            os.write(master, text.encode())

        wait_for(db, lambda r: any(k == "session_start" for k, _ in r), "the session", proc)
        time.sleep(0.5)
        for _ in range(10):
            keys("n")
            time.sleep(0.05)
        keys("\r")
        wait_for(
            db,
            lambda r: any(k == "decision" and d.get("what") == "rate" for k, d in r),
            "the default rate on forehead",
            proc,
        )
        keys("+")
        wait_for(
            db,
            lambda r: any(k == "ack" and d.get("type") == "SET_DEPTH" for k, d in r),
            "the depth",
            proc,
        )
        keys(" ")
        wait_for(
            db,
            lambda r: any(k == "ack" and d.get("type") == "START" for k, d in r),
            "the needle to start",
            proc,
        )
        drain(master)
        proc.send_signal(signal.SIGHUP)  # what the kernel sends when the terminal closes
        deadline = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < deadline:
            drain(master)
            time.sleep(0.05)
        assert proc.poll() is not None, "needlepen tui did not exit after SIGHUP"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    recs = records(db)
    kinds = [k for k, _ in recs]
    start = max(i for i, (k, d) in enumerate(recs) if k == "ack" and d.get("type") == "START")
    after = recs[start:]
    assert any(k == "estop" and d.get("error") is None for k, d in after)
    # the pen itself reported the e-stop and the stopped needle, before the session ended
    events = [(k, d.get("code")) for k, d in after if k in ("pen_event", "session_end")]
    assert events.index(("pen_event", "ESTOP")) < events.index(("session_end", None))
    assert events.index(("pen_event", "STOPPED")) < events.index(("session_end", None))
    ends = [d for k, d in after if k == "session_end"]
    assert ends == [{"reason": "the terminal closed"}]
    assert kinds.index("estop", start) < kinds.index("session_end", start)


# --- through tui.testing.TuiPty: keys as a terminal sends them -----------------------------


def _home_treatment(tmp_path: Path, *extra: str, size=(80, 24), seed: int = 62):
    from tui.testing import TuiPty

    db = tmp_path / "audit.db"
    tui = TuiPty(
        "--port",
        f"sim://?seed={seed}",
        "--role",
        "home",
        "--zone",
        "forehead",
        "--db",
        db,
        *extra,
        size=size,
    )
    tui.wait_until(lambda: any(k == "session_start" for k, _ in records(db)), "the session")
    tui.wait_for_text("Screening")
    time.sleep(0.3)
    tui.type_slowly("n" * 9)
    # the last question scrolls into view, even at 80x24
    tui.wait_for_text("Recent surgery, a chemical peel")
    tui.type_slowly("n")
    tui.keys("\r")
    tui.wait_until(
        lambda: any(k == "decision" and d.get("what") == "rate" for k, d in records(db)),
        "the treatment screen's default rate",
    )
    return tui, db


def _estops(db: Path) -> int:
    return sum(1 for k, _ in records(db) if k == "estop")


def test_escape_and_f2_stop_the_pen_but_sequences_and_alt_keys_do_not(tmp_path):
    tui, db = _home_treatment(tmp_path)
    with tui:
        # arrows, Alt+d, F12, Home: every one starts with ESC; none is the e-stop
        for seq in ("\x1b[B", "\x1b[A", "\x1bd", "\x1b[24~", "\x1bOH"):
            tui.keys(seq)
            time.sleep(0.15)
        time.sleep(0.3)
        assert _estops(db) == 0
        tui.press("escape")
        recs = tui.wait_until(lambda: _estops(db) == 1, "the e-stop from Escape")
        assert recs
        tui.wait_until(
            lambda: any(k == "pen_event" and d.get("code") == "ESTOP" for k, d in records(db)),
            "the pen's ESTOP event",
        )
        tui.keys("u")
        tui.wait_until(
            lambda: any(k == "ack" and d.get("type") == "RESET" for k, d in records(db)),
            "the release",
        )
        tui.press("f2")
        tui.wait_until(lambda: _estops(db) == 2, "the e-stop from F2")


def _acked_depths(db: Path) -> list[int]:
    recs = records(db)
    acked = {d.get("seq") for k, d in recs if k == "ack" and d.get("type") == "SET_DEPTH"}
    return [
        d["depth_um"]
        for k, d in recs
        if k == "decision"
        and d.get("what") == "depth"
        and isinstance(d.get("command"), dict)
        and d["command"].get("seq") in acked
    ]


def test_at_80x24_typing_0_comma_4_sets_0_40_mm(tmp_path):
    tui, db = _home_treatment(tmp_path, size=(80, 24))
    with tui:
        # the screening's last question was on screen, and so are the treatment's keys
        mark = tui.mark()
        tui.wait_for_text("Start/Stop", since=0)
        tui.type_slowly("d")
        tui.wait_for_text("Depth in millimetres", since=mark)
        tui.type_slowly("0,4")
        tui.keys("\r")
        tui.wait_until(lambda: 400 in _acked_depths(db), "0.40 mm acknowledged by the pen")
        assert _acked_depths(db) == [400]  # nothing else was sent: not 4 mm, not 0.04 mm


def test_a_second_run_on_the_same_store_treats_again(tmp_path):
    """The first run treats and quits; the second, on the same store and the same simulated
    pen, fits a fresh cartridge with C (the first one is used) and treats another zone."""
    tui, db = _home_treatment(tmp_path, seed=63)
    with tui:
        tui.keys("+")
        tui.wait_until(lambda: _acked_depths(db), "the depth")
        tui.keys(" ")
        tui.wait_until(
            lambda: any(k == "ack" and d.get("type") == "START" for k, d in records(db)), "START"
        )
        time.sleep(0.5)
        tui.keys(" ")
        time.sleep(0.3)
        tui.press("ctrl+q")
        tui.proc.wait(timeout=10)
    from tui.testing import TuiPty

    starts = sum(1 for k, d in records(db) if k == "ack" and d.get("type") == "START")
    with TuiPty(
        "--port", "sim://?seed=63", "--role", "home", "--zone", "cheeks", "--db", db
    ) as again:
        again.wait_for_text("Screening")
        time.sleep(0.3)
        again.type_slowly("n" * 10)
        again.keys("\r")
        again.wait_for_text("Start/Stop")
        again.wait_until(
            lambda: sum(1 for k, _ in records(db) if k == "session_start") == 2, "session 2"
        )
        time.sleep(0.5)
        again.keys("c")
        time.sleep(0.5)
        again.keys("+")
        time.sleep(0.5)
        again.keys(" ")
        again.wait_until(
            lambda: (
                sum(1 for k, d in records(db) if k == "ack" and d.get("type") == "START") > starts
            ),
            "START in the second run",
        )


def test_after_sighup_the_program_always_exits_within_2_s(tmp_path):
    from tui.testing import TuiPty

    for run in range(3):
        db = tmp_path / f"hup{run}.db"
        with TuiPty("--port", f"sim://?seed={70 + run}", "--role", "home", "--db", db) as tui:
            tui.wait_until(lambda db=db: any(k == "session_start" for k, _ in records(db)), "it")
            time.sleep(0.3)
            took = tui.hangup(timeout=5)
            assert took < 2.0, f"run {run}: exited {took:.2f} s after SIGHUP"


def test_a_terminal_that_disappears_without_sighup_stops_the_needle_and_ends_the_program(
    tmp_path,
):
    """The pty closes under the program and no SIGHUP comes (it is not the controlling
    terminal, as under this harness): reading it gives end of file. The program must not spin
    on a dead terminal keeping the pen's heartbeat alive: it e-stops and exits, as on SIGHUP.
    (Before the fix it ran on at 40% of a core with the needle going.)"""
    tui, db = _home_treatment(tmp_path, seed=77)
    with tui:
        for key in "c+ ":  # fit the cartridge, one step deeper, start
            time.sleep(0.5)
            tui.keys(key)
        tui.wait_until(
            lambda: any(k == "ack" and d.get("type") == "START" for k, d in records(db)),
            "the needle to start",
        )
        os.close(tui.fd)  # the terminal goes away; TuiPty's close() then finds the fd closed
        tui.fd = os.open(os.devnull, os.O_RDWR)
        tui.proc.wait(timeout=10)
        recs = records(db)
        kinds = [k for k, _ in recs]
        started = max(i for i, (k, d) in enumerate(recs) if k == "ack" and d.get("type") == "START")
        assert "estop_confirmed" in kinds[started:], kinds[started:]
        assert kinds.index("estop", started) < kinds.index("session_end", started)
        ends = [d for k, d in recs if k == "session_end"]
        assert ends[-1].get("reason") == "the terminal closed", ends


def test_a_pin_typed_in_the_same_write_as_tab_goes_to_the_pin_field(tmp_path):
    """Tab, then the PIN and Enter in ONE write (a paste, an SSH link that batches keys): the
    focus moves before the digits are handled. Before the fix the digits joined the operator ID
    in clear on screen, and the audit log kept "c11234" for ever as an unknown operator."""
    from driver.audit import AuditStore
    from tui.testing import TuiPty

    db = tmp_path / "audit.db"
    store = AuditStore(db)
    store.add_operator("c1", "Dr Clin", "clinician", "1234")
    store.close()
    with TuiPty("--port", "sim://?seed=78", "--role", "clinician", "--db", db) as tui:
        tui.wait_for_text("Operator ID")
        time.sleep(0.5)
        tui.keys("c1")
        tui.wait_for_text("Dr Clin")
        tui.keys("\t1234\r")
        tui.wait_until(
            lambda: any(k == "operator_login" or k == "login" for k, _ in records(db))
            or any(k == "login_failed" for k, _ in records(db)),
            "the login's record",
        )
        time.sleep(0.3)
        recs = records(db)
        assert not any(k == "login_failed" for k, _ in recs), recs[-5:]
        assert all("1234" not in json.dumps(d) for _, d in recs)
        assert "c11234" not in tui.text()
