"""Pens we did not write (issue 13 section 1) and pens that contradict the host (issue 11
item 4): the host never depends on the pen's post-HELLO set-points, refuses an INFO it cannot
work with, and answers telemetry that contradicts it with an e-stop."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

import protocol
from driver.audit import AuditStore
from driver.errors import HandshakeError
from driver.safety.policy import load_policy
from driver.session import Pen, check_info, usable_limits
from protocol import DeviceClass, State
from simulator.firmware import PenConfig
from simulator.simulation import Simulation
from simulator.virtual import VirtualClock, VirtualPort


class Bench:
    """A simulated pen of any configuration on a virtual clock, and a store with operators."""

    def __init__(self, tmp_path, config: PenConfig, seed: int = 3) -> None:  # type: ignore[no-untyped-def]
        self.store = AuditStore(tmp_path / "audit.db", scrypt_n=16)
        self.store.add_operator("c1", "Dr C", "clinician", "1234")
        self.clock = VirtualClock()
        self.sim = Simulation(config, seed=seed)
        self.port = LyingPort(VirtualPort(self.sim, self.clock))

    def connect(self) -> Pen:
        return Pen.connect(
            "virtual://interop",
            db=self.store,
            port=self.port,
            clock=self.clock.now,
            idle=self.clock.advance,
        )

    def run(self, pen: Pen, seconds: float) -> None:
        end = self.clock.now() + seconds
        while self.clock.now() < end:
            self.clock.advance(0.005)
            pen.poll()


class LyingPort:
    """A port that passes everything through and can slip frames of its own to the host."""

    def __init__(self, inner: VirtualPort) -> None:
        self.inner = inner
        self.extra = bytearray()

    def inject(self, msg: protocol.Message, seq: int) -> None:
        self.extra += protocol.encode(msg, seq)

    @property
    def in_waiting(self) -> int:
        return len(self.extra) + self.inner.in_waiting

    def read(self, size: int = 1) -> bytes:
        if self.extra:
            out = bytes(self.extra[:size])
            del self.extra[:size]
            return out
        return self.inner.read(size)

    def write(self, data: bytes, /) -> int:
        return self.inner.write(data)

    def close(self) -> None:
        self.inner.close()


def independent_pen(**changes: object) -> PenConfig:
    """A professional pen like the independently built one: post-HELLO rate 20 Hz (its own
    minimum), 25 µm depth steps."""
    base = PenConfig.for_device_class("professional")
    return dataclasses.replace(base, rate_min_hz=20, depth_step_um=25, **changes)  # type: ignore[arg-type]


@pytest.fixture
def bench(tmp_path) -> Iterator[Bench]:  # type: ignore[no-untyped-def]
    b = Bench(tmp_path, independent_pen())
    yield b
    b.store.close()


@pytest.mark.parametrize(
    ("role", "zone", "kwargs"),
    [
        ("home", "forehead", {}),
        ("clinician", "cheeks", {"operator": "c1", "pin": "1234", "client": "P-7"}),
    ],
)
def test_a_pen_whose_idle_rate_is_20hz_can_be_treated_with(
    bench: Bench, role: str, zone: str, kwargs: dict[str, str]
) -> None:
    pen = bench.connect()
    pen.begin(role=role, **kwargs)
    assert bench.sim.firmware.rate_set_hz == 20  # the pen's own idle set-point
    pen.select_zone(zone)  # not judged as the operator's request
    pen.set_depth(0.5)
    pen.set_rate(100)
    pen.start()
    bench.run(pen, 0.2)
    assert bench.sim.firmware.needle_running
    assert bench.sim.firmware.rate_set_hz == 100
    pen.close()


def test_a_rate_can_be_set_before_any_depth_on_such_a_pen(bench: Bench) -> None:
    pen = bench.connect()
    pen.begin(role="home")
    pen.select_zone("forehead")
    decision = pen.set_rate(90)
    assert decision.sendable and bench.sim.firmware.rate_set_hz == 90
    pen.close()


def test_depths_go_on_the_pens_25um_steps(bench: Bench) -> None:
    pen = bench.connect()
    pen.begin(role="home")
    pen.select_zone("cheeks")
    decision = pen.set_depth(0.275)
    assert decision.depth_um == 275 and bench.sim.firmware.depth_set_um == 275
    pen.close()


@pytest.mark.parametrize("watchdog_ms", [60, 149, 2001])
def test_a_pen_whose_watchdog_the_host_cannot_feed_is_refused(tmp_path, watchdog_ms: int) -> None:  # type: ignore[no-untyped-def]
    b = Bench(tmp_path, independent_pen(watchdog_ms=watchdog_ms))
    with pytest.raises(HandshakeError, match="watchdog") as err:
        b.connect()
    assert str(err.value).count(".") >= 1 and "\n" not in str(err.value)
    b.store.close()


@pytest.mark.parametrize("watchdog_ms", [150, 2000])
def test_watchdogs_at_the_bounds_are_accepted(tmp_path, watchdog_ms: int) -> None:  # type: ignore[no-untyped-def]
    b = Bench(tmp_path, independent_pen(watchdog_ms=watchdog_ms))
    b.connect().close()
    b.store.close()


def _info(**changes: int) -> protocol.Info:
    base = protocol.Info(
        proto=1,
        nonce=1,
        device_class=DeviceClass.PROFESSIONAL,
        fw_major=1,
        fw_minor=0,
        fw_patch=0,
        serial=5,
        boot_id=9,
        depth_min_um=250,
        depth_max_um=3000,
        depth_step_um=50,
        rate_min_hz=25,
        rate_max_hz=150,
        watchdog_ms=300,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"depth_max_um": 3050}, "deepest depth"),
        ({"depth_max_um": 200, "depth_min_um": 100}, "deepest depth"),
        ({"depth_min_um": 900, "depth_max_um": 800}, "impossible depth range"),
        ({"depth_step_um": 0}, "impossible depth range"),
        ({"device_class": DeviceClass.HOME, "depth_max_um": 1000}, "home pen"),
        ({"rate_min_hz": 151, "rate_max_hz": 200}, "stamp rates"),
        ({"rate_min_hz": 0, "rate_max_hz": 10}, "stamp rates"),
    ],
)
def test_insane_info_is_refused_at_the_handshake(changes: dict[str, int], words: str) -> None:
    with pytest.raises(HandshakeError, match=words):
        check_info(_info(**changes), "test://", load_policy(None))


def test_a_pen_reaching_below_the_policy_is_used_within_it() -> None:
    info = _info(depth_min_um=100, depth_step_um=25, rate_min_hz=0)
    check_info(info, "test://", load_policy(None))
    limits = usable_limits(info)
    assert limits.depth_min_mm == 0.25 and limits.rate_min_hz == 1


def test_a_pen_with_a_shallow_minimum_can_treat_every_zone(tmp_path) -> None:  # type: ignore[no-untyped-def]
    b = Bench(tmp_path, independent_pen(depth_min_um=100))
    pen = b.connect()
    pen.begin(role="clinician", operator="c1", pin="1234", client="P-1")
    for zone in ("forehead", "cheeks", "neck"):
        pen.select_zone(zone)
    pen.set_depth(0.25)
    assert b.sim.firmware.depth_set_um == 250
    pen.close()
    b.store.close()


# --- the host distrusts a pen that contradicts it -------------------------------------------


def _status(fw_state: State, depth_set: int, faults: int = 0) -> protocol.Status:
    return protocol.Status(
        state=fw_state,
        faults=protocol.Fault(faults),
        depth_set_um=depth_set,
        depth_actual_um=depth_set,
        rate_set_hz=100,
        rate_actual_hz=100,
        stamps=0,
        motor_ma=200,
        temp_dc=250,
        battery_pct=90,
        cartridge_id=1,
        cartridge_state=protocol.CartridgeState.FRESH,
        uptime_ms=10**6,
    )


def _ready(bench: Bench) -> Pen:
    pen = bench.connect()
    pen.begin(role="home")
    pen.select_zone("forehead")
    pen.set_depth(0.5)
    pen.set_rate(100)
    bench.run(pen, 0.1)
    return pen


@pytest.mark.parametrize(
    ("state", "depth", "faults", "words"),
    [
        (State.RUNNING, 500, 0, "did not start"),
        (State.IDLE, 750, 0, "did not approve"),
    ],
)
def test_telemetry_that_contradicts_the_host_is_answered_with_an_estop(
    bench: Bench, state: State, depth: int, faults: int, words: str
) -> None:
    pen = _ready(bench)
    updates: list[str] = []
    pen.subscribe(lambda u: updates.append(f"{u.kind}: {u.message}"))
    bench.port.inject(_status(state, depth, faults), seq=60000)
    bench.run(pen, 0.1)
    assert bench.sim.firmware.estop_latched
    assert any(u.startswith("contradiction:") and words in u for u in updates), updates
    pen.flush_log()
    assert any(r.kind == "pen_contradiction" for r in bench.store.records())
    pen.close()


def test_running_with_a_latched_fault_is_answered_with_an_estop(bench: Bench) -> None:
    pen = _ready(bench)
    pen.start()
    bench.run(pen, 0.1)
    bench.port.inject(_status(State.RUNNING, 500, int(protocol.Fault.OVERTEMP)), seq=60001)
    bench.run(pen, 0.1)
    assert bench.sim.firmware.estop_latched and not bench.sim.firmware.needle_running
    pen.close()


def test_the_pens_own_telemetry_while_treating_raises_no_alarm(bench: Bench) -> None:
    pen = _ready(bench)
    pen.start()
    bench.run(pen, 0.3)
    pen.set_depth(0.45)
    pen.set_depth(0.5)
    pen.stop()
    bench.run(pen, 0.3)
    assert not bench.sim.firmware.estop_latched
    pen.close()


def test_status_is_not_shown_as_current_after_a_reboot(bench: Bench) -> None:
    pen = _ready(bench)
    pen.start()
    bench.run(pen, 0.1)
    assert pen.status is not None and pen.status.state == State.RUNNING
    bench.sim.apply("reboot@0ms", from_now=True)
    bench.run(pen, 0.05)
    assert pen.dead is not None
    assert pen.status is None or pen.status.state != State.RUNNING
    pen.close()


class _Line:
    def __init__(self, baud: int) -> None:
        self.baudrate = baud


@pytest.mark.parametrize(
    ("url", "baud", "wanted", "asked"),
    [
        ("/dev/ttyUSB0", 115200, 200, 147),
        ("/dev/ttyUSB0", 115200, 20, 20),
        ("/dev/ttyUSB0", 9600, 20, 12),
        ("/dev/ttyUSB0", 1200, 20, 5),
        ("/dev/pts/3", 9600, 200, 200),  # a pty has no line speed
        ("sim://?baud=9600", 9600, 200, 200),  # the simulator sheds STATUS itself
        ("socket://127.0.0.1:5555", 9600, 200, 200),
    ],
)
def test_telemetry_is_lowered_only_on_a_serial_line_known_to_be_slow(
    url: str, baud: int, wanted: int, asked: int
) -> None:
    from driver.session import telemetry_for_line

    assert telemetry_for_line(wanted, url, _Line(baud)) == asked
