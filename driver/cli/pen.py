"""`needlepen info` and `needlepen ports`: look at a pen and at the serial ports."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "info",
        help="shake hands with a pen and print its device information",
        description="Open the port, send HELLO and print the pen's INFO (no session is kept).",
    )
    p.add_argument("--port", default="sim://", help="device path or pyserial URL (default sim://)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=_info)

    p = subparsers.add_parser(
        "ports",
        help="list serial ports (with USB vid, pid and serial number)",
        description="List the serial ports this machine has, as pyserial sees them.",
    )
    p.add_argument("--json", action="store_true", help="print JSON lines")
    p.set_defaults(handler=_ports)


def read_info(url: str) -> dict[str, Any]:
    """HELLO on `url` and return INFO as a dict (the link is closed afterwards)."""
    from ..link import Link
    from ..link.transport import open_port
    from ..session import Pen

    link = Link(open_port(url), on_message=lambda m, s: None, on_lost=lambda e: None)
    link.start()
    try:
        info = Pen._handshake(link, url)
    finally:
        link.close()
    out: dict[str, Any] = {name: getattr(info, name) for name in info.FIELDS}
    out["device_class"] = info.device_class.name.lower()
    out["firmware"] = f"{info.fw_major}.{info.fw_minor}.{info.fw_patch}"
    return out


def _info(args: argparse.Namespace) -> int:
    info = read_info(args.port)
    if args.json:
        print(json.dumps(info, sort_keys=True))
        return 0
    print(f"Pen on {args.port}")
    print(f"  device class   {info['device_class']}")
    print(f"  serial         {info['serial']}")
    print(f"  firmware       {info['firmware']}")
    print(f"  protocol       {info['proto']}")
    print(f"  boot id        {info['boot_id']:08x}")
    print(
        f"  depth          {info['depth_min_um'] / 1000:.2f}-{info['depth_max_um'] / 1000:.2f} mm"
        f" in steps of {info['depth_step_um'] / 1000:.2f} mm"
    )
    print(f"  stamp rate     {info['rate_min_hz']}-{info['rate_max_hz']} Hz")
    print(f"  watchdog       {info['watchdog_ms']} ms")
    return 0


def _ports(args: argparse.Namespace) -> int:
    from serial.tools import list_ports

    ports = sorted(list_ports.comports(), key=lambda p: p.device)
    rows = [
        {
            "device": p.device,
            "description": p.description,
            "vid": f"{p.vid:04x}" if p.vid is not None else None,
            "pid": f"{p.pid:04x}" if p.pid is not None else None,
            "serial_number": p.serial_number,
        }
        for p in ports
    ]
    if args.json:
        for row in rows:
            print(json.dumps(row, sort_keys=True))
        return 0
    if not rows:
        print("No serial ports found. The built-in simulator is always available as sim://.")
        return 0
    print(f"{'DEVICE':<24} {'VID':<5} {'PID':<5} {'SERIAL':<16} DESCRIPTION")
    for r in rows:
        print(
            f"{r['device']:<24} {r['vid'] or '-':<5} {r['pid'] or '-':<5} "
            f"{r['serial_number'] or '-':<16} {r['description']}"
        )
    return 0
