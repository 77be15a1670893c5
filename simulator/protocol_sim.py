"""pyserial URL handler for `sim://`: an in-process software pen that behaves like a port.

After `import simulator` (or `serial.protocol_handler_packages.append("simulator")`):

    port = serial.serial_for_url("sim://?device_class=home&seed=1", timeout=0.05)
    port.write(frame)
    answer = port.read(64)
    port.pen.command("overheat")       # the live pen (simulator.live.LivePen)

Opening the port switches the pen on (a fresh boot; what it said before anyone listened is
discarded, as a real port does on open); closing it switches the pen off. Options: see
simulator.options (device_class, seed, watchdog_ms, the pen's ranges, cartridge, fault, ...).
"""

from __future__ import annotations

from typing import Any

from serial.serialutil import PortNotOpenError, SerialBase, SerialException

from .errors import SimulatorError
from .live import LivePen
from .options import SimOptions, parse_sim_url


class Serial(SerialBase):
    """A serial port whose other end is a software pen running on its own thread."""

    BAUDRATES = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.pen: LivePen | None = None
        self.options: SimOptions | None = None
        super().__init__(*args, **kwargs)

    def open(self) -> None:
        if self.is_open:
            raise SerialException("The sim:// port is already open.")
        if self.port is None:
            raise SerialException("The port must be set to a sim:// URL before it is opened.")
        self.options = self.from_url(self.portstr or "")
        self.pen = LivePen(
            self.options.config(),
            seed=self.options.seed,
            faults=self.options.faults,
            cartridge_id=self.options.cartridge,
            uptime_ms=self.options.uptime_ms,
            baud=self.options.baud,
            shares_process=True,
        ).start()
        self.is_open = True
        self.pen.reset_input_buffer()

    def from_url(self, url: str) -> SimOptions:
        """Parse the URL's options (a bad one raises SerialException with one sentence)."""
        try:
            return parse_sim_url(url)
        except SimulatorError as exc:
            raise SerialException(str(exc)) from exc

    def close(self) -> None:
        pen = self.pen
        self.is_open = False
        if pen is not None:
            pen.close()

    def _reconfigure_port(self, force_update: bool = False) -> None:
        """Line settings are accepted as they are: the pace is the URL's `baud` option (a real
        UART's two ends must agree on it; this one has only the pen's)."""

    def _live(self) -> LivePen:
        if not self.is_open or self.pen is None:
            raise PortNotOpenError()
        return self.pen

    # -------------------------------------------------------------------- port interface ----

    @property
    def in_waiting(self) -> int:
        return self._live().in_waiting

    @property
    def out_waiting(self) -> int:
        self._live()
        return 0

    def read(self, size: int = 1) -> bytes:
        pen = self._live()
        if size <= 0:
            return b""
        return pen.read(size, self.timeout)

    def write(self, data: Any) -> int:
        pen = self._live()
        return pen.write(bytes(memoryview(data)))

    def flush(self) -> None:
        """Writes reach the pen before write() returns, so there is nothing to wait for."""
        self._live()

    def reset_input_buffer(self) -> None:
        self._live().reset_input_buffer()

    def reset_output_buffer(self) -> None:
        self._live()

    def cancel_read(self) -> None:
        if self.pen is not None:
            self.pen.cancel_read()

    def cancel_write(self) -> None:
        """Writes never block, so there is nothing to cancel."""

    def send_break(self, duration: float = 0.25) -> None:
        self._live()

    def _update_break_state(self) -> None:
        pass

    def _update_rts_state(self) -> None:
        pass

    def _update_dtr_state(self) -> None:
        pass

    @property
    def cts(self) -> bool:
        self._live()
        return True

    @property
    def dsr(self) -> bool:
        self._live()
        return True

    @property
    def ri(self) -> bool:
        self._live()
        return False

    @property
    def cd(self) -> bool:
        self._live()
        return True
