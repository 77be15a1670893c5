"""`needlepen sim`: serve a software pen on a pty or a TCP port.

    needlepen sim --pty [--device-class home|professional] [--seed N] [--fault SPEC]...
                        [--watchdog-ms MS] [--rate-min-hz HZ] [--depth-step-um UM] ...
                        [--log-json]
    needlepen sim --tcp 127.0.0.1:5555 ...

The first line of stdout is the port (a pty path, or socket://HOST:PORT) alone, flushed. With
--log-json every later stdout line is one JSON object: each command the pen applies, each EVENT
and each state change; without it, readable lines go to stderr. Commands typed on stdin inject
faults at run time (type help); stdin at its end leaves the server running. SIGINT and SIGTERM
stop it cleanly with exit code 0.
"""

from __future__ import annotations

import argparse
import json
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any, TextIO

from .control import HELP, execute
from .errors import ControlError
from .faults import FAULT_HELP, parse_faults
from .live import LivePen
from .options import OPTIONS, build_options
from .records import LogRecord
from .serve import PtyServer, TcpServer, parse_host_port

#: Lines the log may hold back for a slow reader before it drops (and counts) the rest.
LOG_QUEUE_LIMIT = 100_000


def register(subparsers: Any) -> None:
    """Add `needlepen sim` to the dispatcher."""
    p = subparsers.add_parser(
        "sim",
        help="run the software pen on a pty or a TCP port",
        description=(
            "Run a software pen that keeps every promise of the pen's ICD, on a kernel pty "
            "(--pty) or a TCP port for socket:// (--tcp). The first line of stdout is the "
            "port. Type help on stdin for run-time fault commands."
        ),
        epilog=FAULT_HELP + ". Example: needlepen sim --pty --fault drop=0.05 --fault overheat@5s",
    )
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--pty", action="store_true", help="serve on a new kernel pty (prints its path)"
    )
    where.add_argument(
        "--tcp", metavar="HOST:PORT", help="serve on TCP for socket://HOST:PORT (port 0: any free)"
    )
    for option in OPTIONS:  # one table for these flags and the sim:// URL keys
        p.add_argument(option.flag, dest=option.key, metavar=option.metavar, help=option.help)
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="inject a fault (repeatable), e.g. drop=0.05, corrupt:pen=0.01, overheat@5s",
    )
    p.add_argument(
        "--log-json",
        action="store_true",
        help="one JSON object per line on stdout for every command, event and state change",
    )
    p.set_defaults(handler=run)


class LogPrinter:
    """Prints log records from a queue on its own thread, so a slow reader never stalls the pen.

    The time stamp `t` is taken when the pen produced the record, not when it is printed.
    """

    def __init__(self, out: TextIO, as_json: bool) -> None:
        self.out = out
        self.as_json = as_json
        self.dropped = 0
        self._queue: queue.Queue[str | None] = queue.Queue(LOG_QUEUE_LIMIT)
        self._released = threading.Event()
        self._discard = False
        self._thread = threading.Thread(target=self._run, name="needlepen-sim-log", daemon=True)
        self._thread.start()

    def __call__(self, record: LogRecord) -> None:
        now = time.time()
        line = format_json(record, now) if self.as_json else format_text(record, now)
        self.put(line)

    def put(self, line: str) -> None:
        try:
            self._queue.put_nowait(line)
        except queue.Full:
            self.dropped += 1

    def release(self) -> None:
        """Start printing (records are held until the port line is out)."""
        self._released.set()

    def close(self, discard: bool = False) -> None:
        """Print what is queued (or drop it, when the port line never went out), then stop."""
        self._discard = discard
        self._released.set()
        self._queue.put(None)
        self._thread.join(timeout=2.0)

    def _run(self) -> None:
        self._released.wait()
        while True:
            line = self._queue.get()
            if line is None:
                return
            if self._discard:
                continue
            try:
                self.out.write(line + "\n")
                self.out.flush()
            except (OSError, ValueError):  # the reader went away: keep the pen running
                self.dropped += 1


def _plain(value: object) -> object:
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return round(value, 3)
    return value


def format_json(record: LogRecord, unix_s: float) -> str:
    """One JSON line: t (Unix seconds, ms precision), event, state, pen_ms, then the fields."""
    obj: dict[str, object] = {
        "t": round(unix_s, 3),
        "event": record.event,
        "state": record.state.name,
        "pen_ms": round(record.t_ms, 3),
    }
    for key, value in record.fields.items():
        obj.setdefault(key, _plain(value))
    return json.dumps(obj, separators=(",", ":"))


def format_text(record: LogRecord, unix_s: float) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(unix_s)) + f".{int(unix_s * 1000) % 1000:03d}"
    fields = " ".join(f"{k}={_plain(v)}" for k, v in record.fields.items())
    return f"{stamp} {record.event:<17} {record.state.name:<10} {fields}".rstrip()


def _stdin_loop(pen: LivePen, say: Callable[[str], None], stop: threading.Event) -> None:
    """Engineers' commands, one per line; the end of stdin only ends this loop."""
    stream = sys.stdin
    if stream is None:
        return
    while not stop.is_set():
        try:
            line = stream.readline()
        except (OSError, ValueError):
            return
        if not line:
            return
        try:
            answer = pen.command(line)
        except ControlError as exc:
            answer = str(exc)
        if answer:
            say(answer)


def run(args: argparse.Namespace) -> int:
    """The handler of `needlepen sim`."""
    faults = parse_faults(tuple(args.fault))
    options = build_options({o.key: getattr(args, o.key) for o in OPTIONS}, faults)
    tcp = parse_host_port(args.tcp) if args.tcp else None
    seed = options.seed
    err = sys.stderr
    printer = LogPrinter(sys.stdout if args.log_json else err, as_json=bool(args.log_json))

    def say(text: str) -> None:
        for line in text.splitlines():
            print(f"sim: {line}", file=err, flush=True)

    cfg = options.config()
    pen = LivePen(
        cfg,
        seed=seed,
        faults=faults,
        listeners=[printer],
        cartridge_id=options.cartridge,
        uptime_ms=options.uptime_ms,
        baud=options.baud,
    )
    pen.reset_input_buffer()  # what it said at boot, before anyone listened
    server: PtyServer | TcpServer
    try:
        if tcp is not None:
            server = TcpServer(pen, tcp[0], tcp[1], on_note=say)
        else:
            server = PtyServer(pen, on_note=say)
    except BaseException:
        pen.close()
        printer.close(discard=True)
        raise

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():  # signals reach the main thread
        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        address = server.start()
        pen.start()
        print(address, flush=True)
        printer.release()
        say(
            f"{options.device_class} pen (serial {cfg.serial}, {cfg.depth_min_um}-"
            f"{cfg.depth_max_um} µm in {cfg.depth_step_um} µm steps, {cfg.rate_min_hz}-"
            f"{cfg.rate_max_hz} Hz, watchdog {cfg.watchdog_ms} ms, seed {seed}"
            f"{f', UART {options.baud} baud 8N1' if options.baud else ''}) "
            f"on {address}; type help for fault commands"
        )
        threading.Thread(
            target=_stdin_loop, args=(pen, say, stop), name="needlepen-sim-stdin", daemon=True
        ).start()
        while not stop.wait(0.2):
            pass
    finally:
        server.close()
        pen.close()
        printer.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    say("stopped")
    return 0


__all__ = ["HELP", "LogPrinter", "execute", "format_json", "format_text", "register", "run"]
