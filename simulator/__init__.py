"""The software pen: a sans-IO firmware model of ICD v1, its transports and fault injection.

Importing the package registers the `sim://` URL handler with pyserial (the driver does the
same by name, without importing this package). The modules:

    firmware     the sans-IO pen core (Firmware), in layers: core, motion, latch,
                 cartridge, watchdog, dispatch
    config       what kind of pen it is (PenConfig)
    records      what it reports besides the wire (LogRecord, Applied, StopCause)
    physics      depth actuator, motor, heat and battery models
    faults       the --fault SPEC language
    link         the wire with seeded drop/corrupt/duplicate/delay/cut
    simulation   firmware + link + fault schedule, still sans-IO
    live         a Simulation on its own real-time thread (LivePen)
    protocol_sim the pyserial `sim://` handler
    serve        the pty and TCP servers of `needlepen sim`
    control      engineers' runtime commands (overheat, remove, cut 2s, ...)
    cli          the `needlepen sim` command
"""

from __future__ import annotations

import serial

if "simulator" not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append("simulator")
