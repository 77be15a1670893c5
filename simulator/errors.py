"""Exceptions of the simulator package.

Every message is one sentence a person can act on: the CLI prints it as `needlepen: <message>`
and the `sim://` handler passes it on inside a `serial.SerialException`.
"""

from __future__ import annotations

from protocol import NeedlepenError


class SimulatorError(NeedlepenError):
    """Base class of every error the simulator raises on purpose (under the distribution's
    root, `protocol.NeedlepenError`)."""


class ConfigError(SimulatorError, ValueError):
    """A pen configuration or a `sim://` option that cannot describe a pen."""


class FaultSpecError(SimulatorError, ValueError):
    """A `--fault` spec (or `fault=` URL option) that is not understood."""


class ControlError(SimulatorError, ValueError):
    """A runtime control command (typed on stdin) that is not understood."""


class ServeError(SimulatorError, OSError):
    """The pty or TCP server could not be set up."""


class InjectError(SimulatorError, ValueError):
    """A fault injection that makes no sense in the pen's present state (nothing was changed)."""
