"""Opening a pen's port from a pyserial URL or a device path, with errors in one sentence.

`sim://` is served by the simulator package's pyserial URL handler. The driver registers that
handler by package *name* (pyserial imports `simulator.protocol_sim` on demand), so it never
imports the simulator itself.
"""

from __future__ import annotations

import errno
import os
import select
from typing import Protocol

import serial

from ..errors import PortError

BAUDRATE = 115200
SIM_HANDLER_PACKAGE = "simulator"
#: read() timeout of the reader thread: short, so heartbeats and link checks stay on time.
READ_TIMEOUT_S = 0.005


class Port(Protocol):
    """What the driver needs of a pyserial port."""

    @property
    def in_waiting(self) -> int: ...

    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes, /) -> int | None: ...

    def close(self) -> None: ...


class FdPort:
    """Direct reads and writes on the file descriptor of a local device or pty opened by
    pyserial (its own `read`/`write` cost a second pass per frame and extra system calls).
    Only for pyserial's plain POSIX port; anything else goes through pyserial."""

    def __init__(self, port: Port) -> None:
        self.port = port
        self.fd: int = port.fileno()  # type: ignore[attr-defined]
        timeout = getattr(port, "timeout", None)
        self.timeout: float = READ_TIMEOUT_S if timeout is None else float(timeout)

    @staticmethod
    def of(port: Port) -> FdPort | None:
        posix = getattr(serial, "serialposix", None)
        if posix is None or type(port) is not posix.Serial:
            return None
        try:
            return FdPort(port)
        except (AttributeError, OSError, ValueError, serial.SerialException):
            return None

    def read(self, timeout: float | None = None) -> bytes:
        """What has arrived (up to 4096 bytes), waiting up to `timeout` (default: the port's
        timeout; 0: not at all) for it."""
        wait = self.timeout if timeout is None else timeout
        ready, _, _ = select.select([self.fd], [], [], wait)
        if not ready:
            return b""
        try:
            data = os.read(self.fd, 4096)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError as exc:
            raise serial.SerialException(f"read failed: {exc}") from exc
        if not data:
            raise serial.SerialException(
                "the port reports data to read but gives none (was the device unplugged?)"
            )
        return data

    def write(self, data: bytes) -> None:
        """Write at once; what does not fit goes through pyserial's write (which waits up to
        its write timeout)."""
        try:
            n = os.write(self.fd, data)
        except (BlockingIOError, InterruptedError):
            n = 0
        except OSError as exc:
            raise serial.SerialException(f"write failed: {exc}") from exc
        if n < len(data):
            self.port.write(data[n:])


def register_sim_handler() -> None:
    """Make `sim://` URLs resolvable by pyserial (idempotent)."""
    if SIM_HANDLER_PACKAGE not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append(SIM_HANDLER_PACKAGE)


def open_port(url: str, *, timeout: float = READ_TIMEOUT_S) -> Port:
    """Open `url` (a device or pty path, `socket://host:port`, `sim://...`, any pyserial URL).

    A device path is opened with exclusive access, so two programs cannot drive one pen.
    """
    if not isinstance(url, str) or not url.strip():
        raise PortError("No port was given: name a device path or a URL such as sim://.")
    url = url.strip()
    register_sim_handler()
    try:
        if "://" in url:
            return serial.serial_for_url(url, baudrate=BAUDRATE, timeout=timeout, write_timeout=1.0)
        return serial.Serial(
            url, baudrate=BAUDRATE, timeout=timeout, write_timeout=1.0, exclusive=True
        )
    except ValueError as exc:
        raise PortError(f"Cannot open {url}: {_sentence(exc)}") from exc
    except (serial.SerialException, OSError) as exc:
        raise PortError(f"Cannot open {url}: {_reason(url, exc)}") from exc


def _sentence(exc: BaseException) -> str:
    text = str(exc).strip().rstrip(".") or type(exc).__name__
    return text[0].upper() + text[1:] + "." if text else "unknown error."


def _reason(url: str, exc: BaseException) -> str:
    err = getattr(exc, "errno", None)
    text = str(exc)
    if err == errno.ENOENT or (
        "://" not in url and not os.path.exists(url) and "No such file" in text
    ):
        return "no such device (is the pen plugged in? see 'needlepen ports')."
    if err in (errno.EACCES, errno.EPERM) or "Permission denied" in text:
        return "permission denied (add your user to the dialout group, or check the device's mode)."
    if err in (errno.EBUSY, errno.EAGAIN) or "busy" in text.lower() or "lock" in text.lower():
        return "the port is busy (another program has it open)."
    if "Connection refused" in text or err == errno.ECONNREFUSED:
        return "the connection was refused (is the simulator or bridge running?)."
    return _sentence(exc)
