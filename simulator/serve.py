"""Serving a live software pen on a kernel pty or a TCP port (for `socket://`).

PTY: `os.openpty()`, the slave in raw mode (bytes pass unchanged, no echo, no line editing).
The server keeps its own handle on the slave, so a client may close the port and open it again
(the master never sees a hang-up), and the pen goes on regardless: with nobody reading, what it
sends is lost as on a real UART once the pty's buffer is full, and its watchdog ends the
session.

TCP: one client at a time, as with a serial port. A second client is refused (its connection
is closed at once) until the first one leaves; without a client the pen's output is lost.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import tty
from collections.abc import Callable

from .errors import ServeError
from .live import LivePen

#: How long to wait for a slow reader before dropping what the pen sent (a full line buffer).
WRITE_PATIENCE_S = 0.05
POLL_S = 0.05

Note = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


class PtyServer:
    """A live pen behind a kernel pty; clients open `path` like a serial device."""

    def __init__(self, pen: LivePen, on_note: Note = _quiet) -> None:
        self.pen = pen
        self._note = on_note
        try:
            self._master, self._slave = os.openpty()
            tty.setraw(self._slave)
            self.path = os.ttyname(self._slave)
        except OSError as exc:
            raise ServeError(f"Cannot create a pty: {exc.strerror or exc}.") from exc
        os.set_blocking(self._master, False)
        self._wake_r, self._wake_w = os.pipe()
        self._stop = threading.Event()
        #: held while bytes taken from the pen are written to the master, so they stay in order
        self._out_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.bytes_in = 0
        self.bytes_out = 0
        self.bytes_lost = 0

    def start(self) -> str:
        """Start moving bytes; returns the slave's path."""
        for target, name in ((self._pump_in, "pty-in"), (self._pump_out, "pty-out")):
            thread = threading.Thread(target=target, name=f"needlepen-sim-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self.path

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")
        for thread in self._threads:
            thread.join(timeout=2.0)
        for fd in (self._master, self._slave, self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> PtyServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _pump_in(self) -> None:
        """Host -> pen: what clients write to the slave."""
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._master, self._wake_r], [], [], 0.5)
            except (OSError, ValueError):
                return
            if self._wake_r in ready:
                return
            if self._master not in ready:
                continue
            try:
                data = os.read(self._master, 4096)
            except BlockingIOError:
                continue
            except OSError:  # EIO: no slave open at the moment (cannot happen while we hold it)
                self._stop.wait(POLL_S)
                continue
            if data:
                self.bytes_in += len(data)
                self._handle(data)

    def _handle(self, data: bytes) -> None:
        """Give the host's bytes to the pen and write its immediate answer to the master from
        this thread (a hand-off to pty-out would cost a thread wake-up per command). Only what
        fits at once is written here: whatever would have to wait for a slow reader goes back
        to pty-out, so this thread is never held up and the next command (an e-stop) is read
        at once. Bytes reach the master in the pen's order: taking and writing happen under
        `_out_lock`, and while pty-out holds it the answer is left to pty-out."""
        if not self._out_lock.acquire(blocking=False):
            self.pen.write(data)
            return
        try:
            out = self.pen.exchange(data, 4096)
            if not out:
                return
            try:
                n = os.write(self._master, out)
            except BlockingIOError:
                n = 0
            except OSError:
                self.bytes_lost += len(out)
                return
            self.bytes_out += n
            if n < len(out):
                self.pen.unread(out[n:])  # pty-out waits for room
        finally:
            self._out_lock.release()

    def _pump_out(self) -> None:
        """Pen -> host: what the pen sends on its own (and what did not fit at once), to the
        slave's readers."""
        while not self._stop.is_set():
            if not self.pen.wait_output(POLL_S):
                if self.pen.closed:
                    self._stop.wait(POLL_S)
                continue
            with self._out_lock:
                data = self.pen.read_available(4096, 0)
                if data:
                    self._write_patiently(data)

    def _write_patiently(self, data: bytes) -> None:
        """Write `data`, waiting up to WRITE_PATIENCE_S for room before dropping the rest."""
        view = memoryview(data)
        while view:
            try:
                n = os.write(self._master, view)
            except BlockingIOError:
                try:
                    _, ready, _ = select.select([], [self._master], [], WRITE_PATIENCE_S)
                except (OSError, ValueError):
                    ready = []
                if not ready:
                    self.bytes_lost += len(view)
                    break
                continue
            except OSError:
                self.bytes_lost += len(view)
                break
            self.bytes_out += n
            view = view[n:]


def parse_host_port(text: str) -> tuple[str, int]:
    """`HOST:PORT` (IPv6 hosts in brackets) -> (host, port); PORT 0 picks a free one."""
    host, sep, port_text = str(text).strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host:
        raise ServeError(f"The TCP address must be HOST:PORT, e.g. 127.0.0.1:5555, not {text!r}.")
    try:
        port = int(port_text, 10)
    except ValueError:
        raise ServeError(
            f"The TCP port must be a number from 0 to 65535, not {port_text!r}."
        ) from None
    if not 0 <= port <= 65535:
        raise ServeError(f"The TCP port must be a number from 0 to 65535, not {port_text!r}.")
    return host, port


class TcpServer:
    """A live pen behind a TCP port, for pyserial's `socket://HOST:PORT`."""

    def __init__(self, pen: LivePen, host: str, port: int, on_note: Note = _quiet) -> None:
        self.pen = pen
        self._note = on_note
        try:
            self._server = socket.create_server((host, port), reuse_port=False)
        except OSError as exc:
            raise ServeError(f"Cannot listen on {host}:{port}: {exc.strerror or exc}.") from exc
        self._server.settimeout(0.2)
        bound = self._server.getsockname()
        self.host: str = host
        self.port: int = int(bound[1])
        self._client: socket.socket | None = None
        self._client_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.clients_served = 0
        self.clients_refused = 0
        self.bytes_lost = 0

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"socket://{host}:{self.port}"

    def start(self) -> str:
        """Start accepting; returns the `socket://` URL."""
        for target, name in ((self._accept_loop, "tcp-accept"), (self._pump_out, "tcp-out")):
            thread = threading.Thread(target=target, name=f"needlepen-sim-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self.url

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept() on Linux
        with contextlib.suppress(OSError):
            self._server.close()
        self._drop_client()
        for thread in self._threads:
            thread.join(timeout=2.0)

    def __enter__(self) -> TcpServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _drop_client(self, which: socket.socket | None = None) -> None:
        with self._client_lock:
            client = self._client
            if client is None or (which is not None and client is not which):
                return
            self._client = None
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            client.close()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._client_lock:
                busy = self._client is not None
                if not busy:
                    self._client = conn
            if busy:
                self.clients_refused += 1
                self._note(f"refused a second client from {peer[0]}:{peer[1]} (one at a time)")
                with contextlib.suppress(OSError):
                    conn.close()
                continue
            self.clients_served += 1
            self.pen.reset_input_buffer()  # what the pen said to nobody is not for this client
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.settimeout(0.2)
            self._note(f"client connected from {peer[0]}:{peer[1]}")
            thread = threading.Thread(
                target=self._pump_in, args=(conn,), name="needlepen-sim-tcp-in", daemon=True
            )
            thread.start()

    def _pump_in(self, conn: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                data = conn.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            self.pen.write(data)
        if not self._stop.is_set():
            self._note("client disconnected")
        self._drop_client(conn)

    def _pump_out(self) -> None:
        while not self._stop.is_set():
            data = self.pen.read_available(4096, POLL_S)
            if not data:
                if self.pen.closed:
                    self._stop.wait(POLL_S)
                continue
            with self._client_lock:
                client = self._client
            if client is None:
                self.bytes_lost += len(data)
                continue
            try:
                client.sendall(data)
            except OSError:
                self.bytes_lost += len(data)
                self._drop_client(client)
