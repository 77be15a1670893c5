"""The conformance kit itself: the host-compatibility group bites, EVENT details are judged
against STATUS, the suite does not blame the pen for its own starvation or for a frame cut by
a power cycle, the report, and the pytest plugin leaves other projects' runs alone."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import protocol
from driver.errors import NotAllowed
from driver.safety import Outcome, Request
from driver.session import Pen
from driver.testing.conformance.checks.test_host import (
    test_a_fault_event_names_the_fault_that_status_shows,
)
from driver.testing.conformance.checks.test_session import (
    test_info_describes_a_pen_that_can_keep_its_promises,
)
from driver.testing.conformance.client import ConformanceError, PenClient
from driver.testing.conformance.hands import Hands, Target, leave_safe, open_target
from driver.testing.conformance.host import roles_for, treat_with_role
from driver.testing.conformance.meanings import MEANINGS
from protocol import DeviceClass, Event, EventCode, State, Status

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def open_pen() -> Iterator[Any]:
    """open_pen(url) -> (client, hands) on a fresh simulated pen, left safe and IDLE."""
    opened: list[Target] = []

    def open_(url: str) -> tuple[PenClient, Hands]:
        t = open_target(url)
        opened.append(t)
        hands = Hands(t.pen, t.hook, None)
        leave_safe(t.pen, hands)
        t.pen.reset_books()
        return t.pen, hands

    yield open_
    for t in opened:
        t.close()


class IdleRateHost(Pen):
    """The host defect of issue 13: zone selection judges the pen's idle (post-HELLO) rate
    set-point as the operator's request, so a pen whose idle rate is below the governor's
    lowest allowed rate cannot be given a zone at all."""

    def select_zone(self, zone: str, override_reason: str | None = None) -> Any:
        st = self.status
        if self.rate_decision is None and st is not None:
            decision = self.governor.decide(
                Request(
                    role=self.role,
                    zone=zone,
                    depth_mm=self.device.depth_min_mm,
                    rate_hz=st.rate_set_hz,
                    device=self.device,
                )
            )
            if decision.outcome is Outcome.REJECTED:
                raise NotAllowed(f"Zone {zone} is not available: {' '.join(decision.reasons)}")
        return super().select_zone(zone, override_reason)


# --- host compatibility ---------------------------------------------------------------------


@pytest.mark.parametrize("device_class", ["professional", "home"])
def test_the_host_group_passes_a_pen_whose_idle_rate_is_its_20_hz_minimum(
    open_pen: Any, device_class: str
) -> None:
    client, hands = open_pen(f"sim://?device_class={device_class}&rate_min_hz=20&seed=3")
    info = client.session()
    assert info.rate_min_hz == 20
    assert client.status().rate_set_hz == 20  # the pen is like the independent one
    for role in roles_for(info.device_class):
        run = treat_with_role(client, hands, role)
        assert run.rate_hz is not None and run.rate_hz >= 25
        assert run.estop_status is not None and run.estop_status.state == State.ESTOP
        assert len(run.running) >= 10  # about a second of RUNNING telemetry
        leave_safe(client, hands)
        assert client.violations() == []
        client.reset_books()


def test_the_host_group_fails_a_host_that_judges_the_pens_idle_rate(open_pen: Any) -> None:
    client, hands = open_pen("sim://?rate_min_hz=20&seed=4")
    with pytest.raises(ConformanceError, match="could not log in and choose a zone as clinician"):
        treat_with_role(client, hands, "clinician", pen_class=IdleRateHost)
    leave_safe(client, hands)
    # the same host is fine with a pen whose idle rate is one the governor allows
    client2, hands2 = open_pen("sim://?seed=5")
    treat_with_role(client2, hands2, "clinician", pen_class=IdleRateHost)


def test_a_pen_with_a_60_ms_watchdog_fails_info_and_the_host_group(open_pen: Any) -> None:
    client, hands = open_pen("sim://?watchdog_ms=60&seed=8")
    with pytest.raises(AssertionError, match="INFO says watchdog_ms 60; a pen reports 150 to 2000"):
        test_info_describes_a_pen_that_can_keep_its_promises(client)
    with pytest.raises(ConformanceError, match=r"could not connect .* as clinician"):
        treat_with_role(client, hands, "clinician")


def test_the_host_group_check_fails_that_host_through_pytest(tmp_path: Path) -> None:
    """The shipped check, run by pytest with its fixture overridden to that host: it fails
    on the pen whose idle rate is 20 Hz, and says which step and why."""
    (tmp_path / "conftest.py").write_text(
        "import pytest\n"
        "from driver.testing.conformance.fixtures import *  # noqa: F403\n"
        "from tests.conformance.test_kit import IdleRateHost\n\n"
        "@pytest.fixture\n"
        "def host_pen_class():\n"
        "    return IdleRateHost\n"
    )
    (tmp_path / "test_host_run.py").write_text(
        "from driver.testing.conformance.checks.test_host import *  # noqa: F403\n"
    )
    out = _pytest(
        tmp_path, "--pen-url", "sim://?rate_min_hz=20", "-k", "clinician", "-p", "no:randomly"
    )
    assert out.returncode == 1, out.stdout[-3000:]
    assert "1 failed" in out.stdout, out.stdout[-3000:]
    assert "below the lowest allowed" in out.stdout, out.stdout[-3000:]


# --- EVENT details against STATUS -----------------------------------------------------------


def test_a_pen_whose_fault_event_carries_a_mask_fails(open_pen: Any) -> None:
    client, hands = open_pen("sim://?fault_detail=mask&seed=6")
    with pytest.raises(AssertionError, match="detail 32"):
        test_a_fault_event_names_the_fault_that_status_shows(client, hands)
    problems = " ".join(client.violations())
    assert "FAULT_RAISED with detail 32" in problems  # the rule checked after every check
    leave_safe(client, hands)


def test_a_pen_whose_fault_event_carries_the_bit_number_passes(open_pen: Any) -> None:
    client, hands = open_pen("sim://?seed=6")
    test_a_fault_event_names_the_fault_that_status_shows(client, hands)
    leave_safe(client, hands)
    assert client.violations() == []


# --- no false failures ----------------------------------------------------------------------


class ScriptedPort:
    """A port whose pen side is a script: bytes queued by the test arrive on read."""

    def __init__(self) -> None:
        self.incoming = bytearray()
        self.written = bytearray()
        self.stall_s = 0.0
        self._lock = threading.Lock()

    def give(self, data: bytes) -> None:
        with self._lock:
            self.incoming += data

    @property
    def in_waiting(self) -> int:
        with self._lock:
            return len(self.incoming)

    def read(self, size: int = 1) -> bytes:
        if self.stall_s:
            stall, self.stall_s = self.stall_s, 0.0
            time.sleep(stall)  # the test process starved: the reader thread did not run
        with self._lock:
            data = bytes(self.incoming[:size])
            del self.incoming[:size]
        if not data:
            time.sleep(0.002)
        return data

    def write(self, data: bytes, /) -> int:
        self.written += data
        return len(data)

    def close(self) -> None:
        pass


def _status(seq: int) -> bytes:
    st = Status(State.IDLE, protocol.Fault(0), 250, 250, 25, 0, 0, 0, 250, 100, 1, 1, seq * 5)
    return protocol.encode(st, seq)


def _settle(client: PenClient, n: int) -> None:
    deadline = time.monotonic() + 2.0
    while len(client.received()) < n and time.monotonic() < deadline:
        time.sleep(0.005)
    assert len(client.received()) == n


def test_a_frame_cut_by_a_power_cycle_is_forgiven_around_event_boot() -> None:
    port = ScriptedPort()
    client = PenClient(port, "scripted").start()
    try:
        cut = _status(41)[:9]  # the pen lost power half-way through a STATUS
        port.give(_status(40) + cut + b"\x00" + protocol.encode(Event(EventCode.BOOT, 0), 0))
        port.give(_status(1))
        _settle(client, 3)
        assert client.violations() == []
        assert client.forgiven_drops == 1
        client.reset_books()
        port.give(_status(2) + cut + b"\x00" + _status(3))  # the same cut, no reboot
        _settle(client, 2)
        assert client.violations() == ["The pen sent frames that do not decode (1 crc)."]
    finally:
        client.close()


def test_a_starved_client_is_named_instead_of_the_pen() -> None:
    port = ScriptedPort()
    client = PenClient(port, "scripted").start()
    try:
        client.keepalive = True
        time.sleep(0.25)
        assert not client.gap_explains_a_trip()  # heartbeats every 100 ms
        port.stall_s = 0.45  # longer than 0.8 x the (assumed) 300 ms watchdog
        time.sleep(0.7)
        assert client.longest_gap_s >= 0.4
        assert not client.gap_explains_a_trip()  # the pen did not trip: nothing to explain
        port.give(protocol.encode(Event(EventCode.WATCHDOG_TRIPPED, 0), 7))
        _settle(client, 1)
        assert client.gap_explains_a_trip()  # the trip that followed our silence
        assert "this test process was starved" in client.starvation_sentence()
    finally:
        client.close()


def test_a_check_that_fails_while_the_client_starved_is_reported_not_run(tmp_path: Path) -> None:
    """Through pytest: the check fails (a watchdog trip we caused by starving), and the report
    says it was not run, naming our own silence, instead of failing the pen."""
    (tmp_path / "conftest.py").write_text(
        "from driver.testing.conformance.fixtures import *  # noqa: F403\n"
    )
    (tmp_path / "test_starved.py").write_text(
        "import time\n"
        "from protocol import SetRate\n\n"
        "def test_starved(pen):\n"
        "    info = pen.session()\n"
        "    with pen.hold_writes():  # the client cannot write: as if the process starved\n"
        "        time.sleep(info.watchdog_ms / 1000 + 0.3)\n"
        "    pen.ack(SetRate(info.rate_min_hz))  # NO_SESSION: the pen's watchdog tripped\n"
    )
    out = _pytest(tmp_path, "--pen-url", "sim://", "-p", "no:randomly", "-rs")
    assert out.returncode == 0, out.stdout
    assert "1 skipped" in out.stdout
    assert "inconclusive, not the pen's fault" in out.stdout
    assert "conformance checks not run" in out.stdout


# --- the report and the plugin --------------------------------------------------------------


def test_needlepen_conformance_reports_a_failure_with_what_it_means(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "driver.cli",
            "conformance",
            "--port",
            "sim://?fault_detail=mask",
            "-k",
            "fault_event or bad_crc",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    report = out.stdout[out.stdout.index("Conformance of the pen on") :]
    assert report.startswith(
        "Conformance of the pen on sim://?fault_detail=mask: 1 passed, 1 failed, 0 not run"
    )
    meaning = MEANINGS["test_a_fault_event_names_the_fault_that_status_shows"]
    assert f"Means: {meaning}." in report
    assert "detail 32" in report
    assert report.rstrip().endswith("Verdict: FAIL.")
    assert list(tmp_path.iterdir()) == []  # nothing written into the current directory


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (
            ["--port", "sim://?device_class=home", "--device-class", "professional"],
            "reports device class home in its INFO, not the professional it was said to be",
        ),
        (["--port", "/dev/no-such-pen"], "Cannot open /dev/no-such-pen: no such device"),
    ],
    ids=["wrong-class", "no-port"],
)
def test_needlepen_conformance_stops_at_once_with_one_sentence(
    tmp_path: Path, args: list[str], sentence: str
) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "driver.cli", "conformance", *args, "-k", "bad_crc"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1
    assert "The run stopped: " in out.stdout and sentence in out.stdout
    assert "Nothing was checked." in out.stdout
    assert "0 passed, 0 failed" in out.stdout


def test_every_check_has_a_meaning() -> None:
    import ast

    checks = ROOT / "driver" / "testing" / "conformance" / "checks"
    names = {
        node.name
        for path in checks.glob("test_*.py")
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    }
    assert names - set(MEANINGS) == set()
    assert set(MEANINGS) - names == set()


def test_the_plugin_adds_options_and_nothing_else_to_other_projects(
    tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    (tmp_path / "test_other.py").write_text(
        "def test_uses_its_own_pen(pen):\n    pass\n\ndef test_plain():\n    assert True\n"
    )
    out = _pytest(tmp_path, "-p", "no:randomly")
    assert "fixture 'pen' not found" in out.stdout  # no fixture of ours leaks in
    assert "1 passed" in out.stdout and "1 error" in out.stdout
    assert "conformance" not in out.stdout
    # registered by its entry point, with its options, in every run (this one included)
    assert pytestconfig.pluginmanager.has_plugin("needlepen-conformance")
    assert pytestconfig.getoption("--pen-device-class") is None
    assert pytestconfig.getoption("--pen-operator") is False


def _pytest(where: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """pytest in a subprocess on `where`, with no configuration file of this repository."""
    isolated = ["-c", os.devnull, "--rootdir", str(where), "-p", "no:cacheprovider"]
    return subprocess.run(
        [sys.executable, "-m", "pytest", *isolated, str(where), *args],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_device_class_roles() -> None:
    assert roles_for(DeviceClass.HOME) == ("home",)
    assert roles_for(DeviceClass.PROFESSIONAL) == ("aesthetician", "clinician", "engineer")


def test_conformance_md_lists_every_check_with_the_meaning_the_report_prints() -> None:
    doc = (ROOT / "docs" / "CONFORMANCE.md").read_text(encoding="utf-8")
    listed: dict[str, list[str]] = {}
    for line in doc.splitlines():
        if line.startswith("| `test_"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            listed[cells[0].strip("`")] = cells[1:]
    operator_mode = {name for name in MEANINGS if "operator" in name and "step" in name}
    operator_mode |= {
        "test_an_operator_is_asked_and_the_check_waits_until_telemetry_shows_it",
        "test_an_operator_who_does_nothing_fails_the_check_with_a_sentence",
    }
    assert set(MEANINGS) - set(listed) == operator_mode  # the suite's own mode: one sentence
    physical = ROOT / "driver" / "testing" / "conformance" / "checks" / "test_physical.py"
    for name, cells in listed.items():
        if f"def {name}(" not in physical.read_text():
            assert cells[1] == MEANINGS[name], name


# --- the counter on a line the pen's STATUS does not fit ------------------------------------


def _frames(*items: tuple[str, int]) -> list[Any]:
    from driver.testing.conformance.client import Received

    out = []
    for i, (kind, seq) in enumerate(items):
        msg: Any
        if kind == "S":
            msg = Status(State.IDLE, protocol.Fault(0), 250, 250, 25, 0, 0, 0, 250, 100, 1, 1, i)
        elif kind == "BOOT":
            msg = Event(EventCode.BOOT, 0)
        else:
            msg = Event(EventCode.STARTED, 0)
        out.append(Received(i, float(i), protocol.Frame(seq, msg)))
    return out


def test_the_counter_rule_allows_what_a_pen_on_a_full_line_does() -> None:
    from driver.testing.conformance.rules import counter_problems

    shed = _frames(("S", 10), ("S", 11), ("S", 13), ("S", 14))  # 12 was replaced by 13
    overtaken = _frames(("S", 20), ("E", 22), ("S", 21), ("S", 23))  # EVENT before waiting 21
    waited_at_start = _frames(("S", 31), ("S", 30), ("S", 32))  # 30 waited as the books began
    rebooted = _frames(("S", 500), ("BOOT", 0), ("S", 1))
    for frames in (shed, overtaken, waited_at_start, rebooted):
        assert counter_problems(frames) == [], frames


def test_the_counter_rule_fails_what_no_conforming_pen_does() -> None:
    from driver.testing.conformance.rules import counter_problems

    twice = counter_problems(_frames(("S", 10), ("S", 11), ("S", 11)))
    assert twice == ["The pen sent its STATUS/EVENT counter value 11 twice."]
    late_event = counter_problems(_frames(("S", 20), ("S", 22), ("E", 21)))
    assert late_event and "EVENT STARTED with counter 21 came after 22" in late_event[0]
    back = counter_problems(_frames(("S", 40), ("S", 41), ("S", 42), ("S", 36)))
    assert back and "STATUS with counter 36 came after 42" in back[0]
    jump = counter_problems(_frames(("S", 100), ("S", 300)))
    assert jump and "jumped from 100 to 300" in jump[0]
