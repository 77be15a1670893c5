"""A hypothesis state machine over the firmware core: random valid and invalid commands, resends,
raw frames, clock advances and injected faults, with the ICD's invariants after every step.

Invariants:
- the needle runs only in RUNNING (and RUNNING means the needle runs);
- the depth set-point stays in the device's range and on its step;
- rate_actual is 0 outside RUNNING;
- silence longer than the watchdog always ends with the needle stopped and no session
  (state NO_SESSION, or ESTOP/FAULT while a latch is set);
- every intact host command but HEARTBEAT is answered exactly once, with its seq, by the
  right kind of answer; a resend gets the very same answer and is not executed again.

Parameterised by a `FirmwareFactory` (device class, seed, watchdog_ms -> a `Firmware`), as the
safety machine is by its rig: `firmware_machine_for(make)` is a machine class whose `.TestCase`
is the test; tests/simulator/test_stateful.py runs it on the simulator's default firmware.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from driver.testing.host import IcdHost, is_answer
from driver.testing.strategies import host_commands, line_noise
from protocol import (
    Ack,
    Decoder,
    Direction,
    Estop,
    Frame,
    Heartbeat,
    Hello,
    Info,
    Message,
    MsgType,
    Nack,
    NackError,
    SetDepth,
    SetRate,
    Start,
    State,
    Stop,
    encode,
)
from protocol.codec import encode_raw
from simulator.errors import InjectError
from simulator.firmware import Firmware, PenConfig

__all__ = ["FirmwareFactory", "PenMachine", "default_firmware", "firmware_machine_for"]

#: Makes the firmware under test: (device class name, seed, watchdog_ms) -> Firmware.
FirmwareFactory = Callable[[str, int, int], Firmware]


def default_firmware(device: str, seed: int, watchdog_ms: int) -> Firmware:
    """The simulator's firmware as `needlepen sim` builds it for that class and watchdog."""
    return Firmware(PenConfig.for_device_class(device, watchdog_ms=watchdog_ms), seed=seed)


class PenMachine(RuleBasedStateMachine):
    """The firmware core under random host traffic, faults and time (see the module)."""

    fw: Firmware
    now: float

    def __init__(self, make_firmware: FirmwareFactory | None = None) -> None:
        super().__init__()
        self.make_firmware: FirmwareFactory = make_firmware or default_firmware

    @initialize(
        device=st.sampled_from(["home", "professional"]),
        seed=st.integers(0, 2**32),
        watchdog_ms=st.sampled_from([50, 300]),
    )
    def boot(self, device: str, seed: int, watchdog_ms: int) -> None:
        self.fw = self.make_firmware(device, seed, watchdog_ms)
        self.host = IcdHost()
        self.seq = self.host.seq
        self.now = 0.0
        self.last_rx = 0.0
        self.last_frame: bytes | None = None
        self.last_type = 0
        self.last_answer: Message | None = None
        self.fw.take_output()

    # --- helpers ---------------------------------------------------------------------------

    def _answers(self) -> list[Frame]:
        return [f for f in self.host.decode(self.fw.take_output()) if is_answer(f)]

    def _one_answer(self, seq: int, type_code: int) -> Message:
        answers = self._answers()
        assert len(answers) == 1, f"expected one answer, got {answers}"
        frame = answers[0]
        assert frame.seq == seq
        msg = frame.message
        if isinstance(msg, Info):
            assert type_code == MsgType.HELLO
        else:
            assert isinstance(msg, Ack | Nack)
            assert msg.of_type == type_code
        return msg

    # --- rules -----------------------------------------------------------------------------

    @rule(cmd=host_commands)
    def send(self, cmd: Message) -> None:
        fw = self.fw
        before_depth, before_rate, before_running = (
            fw.depth_set_um,
            fw.rate_set_hz,
            fw.needle_running,
        )
        seq = self.seq.next()
        frame = encode(cmd, seq)
        fw.feed(frame)
        self.last_rx = self.now
        answer = self._one_answer(seq, cmd.TYPE)
        self.last_frame, self.last_type, self.last_answer = frame, int(cmd.TYPE), answer
        c = fw.config
        if isinstance(cmd, Stop | Estop):
            assert isinstance(answer, Ack)
            assert not fw.needle_running
            if isinstance(cmd, Estop):
                assert fw.state == State.ESTOP
        if isinstance(cmd, SetDepth):
            if isinstance(answer, Ack):
                assert fw.depth_set_um == cmd.depth_um
            else:
                assert isinstance(answer, Nack)
                assert fw.depth_set_um == before_depth  # refused, never clamped
                assert answer.error in (NackError.NO_SESSION, NackError.OUT_OF_RANGE)
                if answer.error == NackError.OUT_OF_RANGE:
                    assert answer.detail in (c.depth_min_um, c.depth_max_um, c.depth_step_um)
        if isinstance(cmd, SetRate) and isinstance(answer, Nack):
            assert fw.rate_set_hz == before_rate
        if isinstance(cmd, Start):
            if isinstance(answer, Ack):
                assert fw.state == State.RUNNING
            else:
                assert fw.needle_running == before_running
        if isinstance(cmd, Hello) and isinstance(answer, Info):
            assert answer.nonce == cmd.nonce and answer.boot_id == fw.boot_id
            assert not fw.needle_running

    @rule()
    def resend_last(self) -> None:
        """The host did not hear the answer and resends the same bytes."""
        if self.last_frame is None:
            return
        fw = self.fw
        executed = sum(fw.executions.values())
        seq = Decoder(Direction.PEN).feed(self.last_frame)[0].seq
        fw.feed(self.last_frame)
        self.last_rx = self.now
        answers = self._answers()
        assert len(answers) == 1 and answers[0].seq == seq
        if sum(fw.executions.values()) == executed:  # answered from the window
            assert answers[0].message == self.last_answer
        else:  # it fell out of the window (a new session or a watchdog trip cleared it)
            assert fw.executions[(seq, self.last_type)] >= 2
            self.last_answer = answers[0].message

    @rule()
    def heartbeat(self) -> None:
        self.fw.feed(encode(Heartbeat(), self.seq.next()))
        self.last_rx = self.now
        assert self._answers() == []

    @rule(type_code=st.integers(0, 255), payload=st.binary(max_size=12))
    def raw(self, type_code: int, payload: bytes) -> None:
        """An intact frame of any type and length: a valid command, or a NACK of its own."""
        seq = self.seq.next()
        self.fw.feed(encode_raw(type_code, seq, payload))
        answers = self._answers()
        if type_code == MsgType.HEARTBEAT and not payload:
            self.last_rx = self.now
            assert answers == []
            return
        assert len(answers) == 1 and answers[0].seq == seq
        valid = Decoder(Direction.PEN).feed(encode_raw(type_code, seq, payload))
        if isinstance(valid[0], Frame):
            self.last_rx = self.now
        else:
            msg = answers[0].message
            assert isinstance(msg, Nack)
            assert msg.error in (NackError.UNKNOWN_TYPE, NackError.BAD_LENGTH)

    @rule(data=line_noise)
    def noise(self, data: bytes) -> None:
        """Line noise then a 0x00: nothing answers it unless it happens to be intact."""
        self.fw.feed(data + b"\x00")
        intact = [x for x in Decoder(Direction.PEN).feed(data + b"\x00")]
        answers = self._answers()
        assert len(answers) <= len(intact)
        if any(isinstance(x, Frame) for x in intact):
            self.last_rx = self.now

    @rule(ms=st.one_of(st.sampled_from([1.0, 49.0, 50.0, 299.0, 300.0, 301.0]), st.floats(0, 3000)))
    def advance(self, ms: float) -> None:
        self.now += ms
        self.fw.tick(self.now)
        assert self._answers() == []

    @rule(ms=st.integers(1, 3000))
    def advance_with_heartbeats(self, ms: int) -> None:
        end = self.now + ms
        while self.now < end:
            self.now = min(end, self.now + 40)
            self.fw.tick(self.now)
            self.fw.feed(encode(Heartbeat(), self.seq.next()))
            self.last_rx = self.now
        assert self._answers() == []

    @rule(
        fault=st.sampled_from(
            ["overheat", "cool", "stall", "jam", "unjam", "remove", "insert", "reinsert", "reboot"]
        )
    )
    def inject(self, fault: str) -> None:
        fw = self.fw
        try:
            if fault == "overheat":
                fw.inject_overheat()
            elif fault == "cool":
                fw.set_temperature(250)
            elif fault == "stall":
                fw.inject_stall()
            elif fault == "jam":
                fw.inject_depth_fault()
            elif fault == "unjam":
                fw.clear_depth_fault()
            elif fault == "remove":
                fw.remove_cartridge()
            elif fault == "insert":
                fw.insert_cartridge(fresh=True)
            elif fault == "reinsert":
                fw.insert_cartridge(fresh=False)
            elif fault == "reboot":
                fw.reboot()
        except InjectError:
            pass
        assert self._answers() == []

    @rule(pct=st.one_of(st.sampled_from([0, 9, 9.4, 9.5, 10, 100]), st.floats(0, 100)))
    def battery(self, pct: float) -> None:
        self.fw.set_battery(pct)

    # --- invariants ------------------------------------------------------------------------

    @invariant()
    def needle_runs_only_in_running(self) -> None:
        assert self.fw.needle_running == (self.fw.state == State.RUNNING)

    @invariant()
    def depth_set_point_in_range(self) -> None:
        c = self.fw.config
        assert c.depth_min_um <= self.fw.depth_set_um <= c.depth_max_um
        assert self.fw.depth_set_um % c.depth_step_um == 0
        assert c.rate_min_hz <= self.fw.rate_set_hz <= c.rate_max_hz

    @invariant()
    def no_rate_outside_running(self) -> None:
        if self.fw.state != State.RUNNING:
            assert self.fw.rate_actual_hz == 0
            assert self.fw.motor_ma == 0

    @invariant()
    def silence_ends_the_session(self) -> None:
        if self.now - self.last_rx >= self.fw.config.watchdog_ms:
            assert not self.fw.session_open
            assert not self.fw.needle_running
            assert self.fw.state in (State.NO_SESSION, State.ESTOP, State.FAULT)

    @invariant()
    def latches_show_in_the_state(self) -> None:
        if self.fw.estop_latched:
            assert self.fw.state == State.ESTOP
        elif self.fw.latched_faults:
            assert self.fw.state == State.FAULT


def firmware_machine_for(make_firmware: FirmwareFactory) -> type[PenMachine]:
    """A `PenMachine` class whose firmware comes from `make_firmware` (`.TestCase` is a test)."""

    class Bound(PenMachine):
        def __init__(self) -> None:
            super().__init__(make_firmware)

    name = getattr(make_firmware, "__name__", "firmware")
    Bound.__name__ = Bound.__qualname__ = f"PenMachine[{name}]"
    return Bound
