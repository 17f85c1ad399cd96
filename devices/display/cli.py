"""Display command for ``python -m devices``: ``display-show PORT ADDR TEXT``."""

from __future__ import annotations

import argparse
from typing import Any

from devices.display.modbus import ModbusBus, ModbusWindowDisplay
from devices.display.settings import DisplaySettings


def cmd_display_show(args: argparse.Namespace) -> int:
    settings = DisplaySettings(
        port=args.port, baudrate=args.baudrate, digits=args.digits, timeout_s=args.timeout
    )
    bus = ModbusBus(settings)
    try:
        display = ModbusWindowDisplay(bus, args.addr)
        if args.text == "-":
            display.clear()
        else:
            display.show(args.text, args.window or "", blink=args.blink)
    finally:
        bus.close()
    print(f"display {args.addr}: {args.text} (window {args.window or '-'})")
    return 0


def add_commands(subparsers: Any) -> None:
    """Add the display command to an ``argparse`` sub-parser collection."""
    p = subparsers.add_parser(
        "display-show", help="show a ticket number on a Modbus LED window display"
    )
    p.add_argument("port", help="pyserial URL, e.g. /dev/ttyUSB1 or socket://127.0.0.1:PORT")
    p.add_argument("addr", type=int, help="Modbus unit address of the display")
    p.add_argument("text", help="ticket number, e.g. A001 ('-' clears)")
    p.add_argument("--window", default="", help="window number shown next to it")
    p.add_argument("--blink", type=int, default=3)
    p.add_argument("--digits", type=int, default=4)
    p.add_argument("--baudrate", type=int, default=9600)
    p.add_argument("--timeout", type=float, default=0.5)
    p.set_defaults(func=cmd_display_show)
