"""The log printer of `needlepen sim`: formats, holding back until the port line, never
stalling the pen."""

from __future__ import annotations

import io
import json
import threading
import time

from protocol import State
from simulator.cli import LogPrinter, format_json, format_text
from simulator.firmware import LogRecord

RECORD = LogRecord(1234.56789, "SET_DEPTH", State.IDLE, {"seq": 3, "depth_um": 700, "x": 0.12345})


def test_json_line_has_t_event_state_first() -> None:
    line = format_json(RECORD, 1_700_000_000.123456)
    obj = json.loads(line)
    assert list(obj)[:4] == ["t", "event", "state", "pen_ms"]
    assert obj == {
        "t": 1_700_000_000.123,
        "event": "SET_DEPTH",
        "state": "IDLE",
        "pen_ms": 1234.568,
        "seq": 3,
        "depth_um": 700,
        "x": 0.123,
    }
    assert "\n" not in line


def test_json_fields_cannot_overwrite_the_core_keys() -> None:
    record = LogRecord(0.0, "STATE", State.FAULT, {"state": "bogus", "from": "IDLE"})
    obj = json.loads(format_json(record, 1.0))
    assert obj["state"] == "FAULT" and obj["from"] == "IDLE"


def test_text_line_is_readable() -> None:
    line = format_text(RECORD, 1_700_000_000.5)
    assert "SET_DEPTH" in line and "IDLE" in line and "depth_um=700" in line
    assert line.split()[0].endswith(".500")


def test_printer_holds_lines_until_released() -> None:
    out = io.StringIO()
    printer = LogPrinter(out, as_json=True)
    printer(RECORD)
    time.sleep(0.05)
    assert out.getvalue() == ""  # the port line must come first
    printer.release()
    printer.close()
    assert json.loads(out.getvalue())["event"] == "SET_DEPTH"


def test_printer_discards_when_the_port_never_came_up() -> None:
    out = io.StringIO()
    printer = LogPrinter(out, as_json=True)
    printer(RECORD)
    printer.close(discard=True)
    assert out.getvalue() == ""


class Stuck(io.StringIO):
    """A reader that stopped reading: writes block until released."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def write(self, s: str) -> int:
        self.gate.wait()
        return super().write(s)


def test_a_stuck_reader_never_blocks_the_pen() -> None:
    out = Stuck()
    printer = LogPrinter(out, as_json=False)
    printer.release()
    done = threading.Event()

    def pen_thread() -> None:
        for _ in range(1000):
            printer(RECORD)
        done.set()

    threading.Thread(target=pen_thread, daemon=True).start()
    assert done.wait(10)  # the pen finished although nothing was written
    out.gate.set()
    printer.close()
    assert out.getvalue().count("SET_DEPTH") == 1000


def test_a_vanished_reader_is_counted_not_raised() -> None:
    out = io.StringIO()
    out.close()
    printer = LogPrinter(out, as_json=True)
    printer.release()
    printer(RECORD)
    printer.close()
    assert printer.dropped == 1
