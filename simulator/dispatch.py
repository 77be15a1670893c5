"""Frames in, answers out: the duplicate window, and one handler per host command chosen by
table (`_HANDLERS`), each answering ACK or NACK."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from protocol import (
    Ack,
    CartridgeState,
    Estop,
    EventCode,
    Fault,
    Frame,
    Heartbeat,
    Hello,
    Info,
    InvalidFrame,
    Message,
    MsgType,
    Nack,
    NackError,
    Reset,
    ResetWhat,
    SetDepth,
    SetRate,
    SetTelemetry,
    Start,
    Stop,
    encode,
    message_type_name,
)

from .config import U16
from .core import LATCHING
from .records import Applied, StopCause
from .watchdog import Watchdog

#: STATUS streams at 1..TELEMETRY_MAX_HZ (0 = off).
TELEMETRY_MAX_HZ = 200


class Dispatch(Watchdog):
    """The commands of the ICD and their answers."""

    def feed(self, data: bytes) -> None:
        """Bytes from the host, received at the current pen time (the last tick)."""
        for item in self.decoder.feed(data):
            if isinstance(item, InvalidFrame):
                self._on_invalid(item)
            else:
                self._on_frame(item)
        # A command may have made something due now (the first STATUS after SET_TELEMETRY).
        self._process_due()

    def _on_invalid(self, item: InvalidFrame) -> None:
        stored = self._window.lookup(item.seq, item.type_code)
        if stored is not None:
            self._send(stored)
            self.duplicates[(item.seq, item.type_code)] += 1
            self._flush(("DUPLICATE", {"of": message_type_name(item.type_code), "seq": item.seq}))
            return
        detail = 0
        if item.error == NackError.BAD_LENGTH:
            known = _HOST_TYPES.get(item.type_code)
            detail = known.PAYLOAD_LEN if known is not None else 0
        answer = Nack(item.type_code, item.error, detail)
        self._answer(item.seq, item.type_code, None, answer)

    def _on_frame(self, frame: Frame) -> None:
        msg = frame.message
        self._last_rx_ms = self._now  # any valid frame feeds the watchdog
        if isinstance(msg, Heartbeat):
            return
        code = int(msg.TYPE)
        stored = self._window.lookup(frame.seq, code)
        if isinstance(msg, Hello) and self._hello_nonces.get(frame.seq) != msg.nonce:
            stored = None  # same seq, other nonce: a restarted host's handshake, not a resend
        if stored is not None:
            self._send(stored)
            self.duplicates[(frame.seq, code)] += 1
            self._flush(("DUPLICATE", {"of": msg.TYPE.name, "seq": frame.seq}))
            return
        handler = _HANDLERS[type(msg)]
        answer = handler(self, msg)
        if isinstance(msg, Hello):
            self._hello_nonces[frame.seq] = msg.nonce
            if len(self._hello_nonces) > self._window.size:
                self._hello_nonces = {
                    seq: nonce
                    for seq, nonce in self._hello_nonces.items()
                    if self._window.lookup(seq, MsgType.HELLO) is not None or seq == frame.seq
                }
        self._answer(frame.seq, code, msg, answer)

    def _answer(self, seq: int, code: int, msg: Message | None, answer: Message) -> None:
        data = encode(answer, seq)
        self._window.remember(seq, code, data)
        self._send(data)
        self.executions[(seq, code)] += 1
        self.applied.append(Applied(self._now, seq, code, msg, answer))
        fields: dict[str, object] = {"seq": seq}
        if msg is not None:
            fields.update(_COMMAND_FIELDS.get(type(msg), _no_fields)(msg))
        if isinstance(answer, Nack):
            fields = {"of": message_type_name(code), **fields}
            fields["error"] = answer.error.name
            fields["detail"] = answer.detail
            self._flush(("NACK", fields))
        else:
            if isinstance(answer, Info):
                fields["boot_id"] = answer.boot_id
            self._flush((message_type_name(code), fields))

    def _no_session(self, code: MsgType) -> Nack | None:
        if not self.session_open:
            return Nack(code, NackError.NO_SESSION, 0)
        return None

    def _hello(self, msg: Hello) -> Message:
        if msg.proto != self.PROTO:
            return Nack(MsgType.HELLO, NackError.UNSUPPORTED_VERSION, self.PROTO)
        self._stop_needle(StopCause.NEW_SESSION)
        if self.session_open:
            self._end_session_cartridge()
        self.session_open = True
        self.session_count += 1
        self._flags &= ~Fault.WATCHDOG
        self._reset_setpoints()
        self._window.clear()
        self._hello_nonces.clear()
        return self.info(msg.nonce)

    def _set_depth(self, msg: SetDepth) -> Message:
        refused = self._no_session(MsgType.SET_DEPTH)
        if refused:
            return refused
        c = self.config
        value = msg.depth_um
        bound = None
        if value < c.depth_min_um:
            bound = c.depth_min_um
        elif value > c.depth_max_um:
            bound = c.depth_max_um
        elif value % c.depth_step_um:
            bound = c.depth_step_um
        if bound is not None:
            return Nack(MsgType.SET_DEPTH, NackError.OUT_OF_RANGE, bound)
        self.depth_set_um = value
        self._schedule_depth_check()
        return Ack(MsgType.SET_DEPTH)

    def _set_rate(self, msg: SetRate) -> Message:
        refused = self._no_session(MsgType.SET_RATE)
        if refused:
            return refused
        c = self.config
        if msg.rate_hz < c.rate_min_hz:
            return Nack(MsgType.SET_RATE, NackError.OUT_OF_RANGE, c.rate_min_hz)
        if msg.rate_hz > c.rate_max_hz:
            return Nack(MsgType.SET_RATE, NackError.OUT_OF_RANGE, c.rate_max_hz)
        self.rate_set_hz = msg.rate_hz
        return Ack(MsgType.SET_RATE)

    def _start(self, msg: Start) -> Message:
        t = MsgType.START
        refused = self._no_session(t)
        if refused:
            return refused
        if self.estop_latched:
            return Nack(t, NackError.ESTOP_LATCHED, 0)
        if self._latched & LATCHING:
            return Nack(t, NackError.FAULT_LATCHED, int(self._latched & LATCHING))
        if self._running:
            return Ack(t)  # already running: changes nothing (no STARTED, cartridge untouched)
        if self.cartridge_state == CartridgeState.NONE:
            return Nack(t, NackError.NO_CARTRIDGE, 0)
        if self.cartridge_state == CartridgeState.SPENT:
            return Nack(t, NackError.CARTRIDGE_USED, self.cartridge_id & U16)
        if self.battery_pct < self._p.battery_low_pct:
            return Nack(t, NackError.BATTERY_LOW, self._p.battery_low_pct)
        if self._depth_off():  # still moving (e.g. up to a shallower set-point): not yet
            return Nack(t, NackError.BAD_STATE, self.depth_actual_um)
        self._running = True
        self._rate_actual = 0.0
        self.cartridge_state = CartridgeState.IN_USE
        self._used_ids.add(self.cartridge_id)
        if self._stall_armed:
            self._stall_armed = False
            self._stall_since = self._now
        self._event(
            EventCode.STARTED,
            self.depth_set_um,
            depth_um=self.depth_set_um,
            rate_hz=self.rate_set_hz,
        )
        return Ack(t)

    def _stop(self, msg: Stop) -> Message:
        self._stop_needle(StopCause.COMMAND)
        return Ack(MsgType.STOP)

    def _estop(self, msg: Estop) -> Message:
        was_running = self._running
        self._running = False  # the needle stops before anything else happens
        self._rate_actual = 0.0
        self._stall_since = None
        self.estop_latched = True
        self._event(EventCode.ESTOP, 0, was_running=was_running)
        if was_running:
            self._event(EventCode.STOPPED, StopCause.ESTOP, cause=StopCause.ESTOP.name)
        return Ack(MsgType.ESTOP)

    def _reset(self, msg: Reset) -> Message:
        refused = self._no_session(MsgType.RESET)
        if refused:
            return refused
        action = _RESETS.get(msg.what)
        if action is None:
            return Nack(MsgType.RESET, NackError.OUT_OF_RANGE, 1 if msg.what < 1 else 2)
        return action(self)

    def _clear_fault(self) -> Message:
        """RESET 1: clear the latched faults, unless a cause is still there."""
        persisting = self._latched & self._conditions()
        if persisting:
            return Nack(MsgType.RESET, NackError.FAULT_LATCHED, int(persisting))
        cleared = self._latched
        self._latched = Fault(0)
        for f in _single_faults(cleared):
            self._event(EventCode.FAULT_CLEARED, self._fault_detail(f), fault=f.name)
        return Ack(MsgType.RESET)

    def _release_estop(self) -> Message:
        """RESET 2: release the e-stop latch."""
        self.estop_latched = False
        return Ack(MsgType.RESET)

    def _set_telemetry(self, msg: SetTelemetry) -> Message:
        t = MsgType.SET_TELEMETRY
        refused = self._no_session(t)
        if refused:
            return refused
        if msg.rate_hz > TELEMETRY_MAX_HZ:
            return Nack(t, NackError.OUT_OF_RANGE, TELEMETRY_MAX_HZ)
        self.telemetry_hz = msg.rate_hz
        self._next_status = self._now if msg.rate_hz else math.inf
        return Ack(t)


def _no_fields(msg: Message) -> dict[str, object]:
    return {}


def _single_faults(mask: Fault) -> list[Fault]:
    return [f for f in Fault if f & mask]


_Handler = Callable[[Dispatch, Any], Message]

#: The handler of each host command (HEARTBEAT is not answered: it only feeds the watchdog).
_HANDLERS: dict[type[Message], _Handler] = {
    Hello: Dispatch._hello,
    SetDepth: Dispatch._set_depth,
    SetRate: Dispatch._set_rate,
    Start: Dispatch._start,
    Stop: Dispatch._stop,
    Estop: Dispatch._estop,
    Reset: Dispatch._reset,
    SetTelemetry: Dispatch._set_telemetry,
}

#: What RESET does for each `what` the ICD defines (any other is NACKed OUT_OF_RANGE).
_RESETS: dict[int, Callable[[Dispatch], Message]] = {
    ResetWhat.CLEAR_FAULT: Dispatch._clear_fault,
    ResetWhat.RELEASE_ESTOP: Dispatch._release_estop,
}

#: The fields of each command that its log record carries (others carry none).
_COMMAND_FIELDS: dict[type[Message], Callable[[Any], dict[str, object]]] = {
    Hello: lambda msg: {"proto": msg.proto, "nonce": msg.nonce},
    SetDepth: lambda msg: {"depth_um": msg.depth_um},
    SetRate: lambda msg: {"rate_hz": msg.rate_hz},
    SetTelemetry: lambda msg: {"telemetry_hz": msg.rate_hz},
    Reset: lambda msg: {"what": msg.what},
}

_HOST_CLASSES: tuple[type[Message], ...] = (Hello, Heartbeat, *_HANDLERS)
_HOST_TYPES: dict[int, type[Message]] = {int(cls.TYPE): cls for cls in _HOST_CLASSES}
