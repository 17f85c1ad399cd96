"""Printer commands for ``python -m devices``: ``test-page PORT`` and ``printer-status PORT``."""

from __future__ import annotations

import argparse
from typing import Any

from devices.errors import DeviceError
from devices.printer.driver import Printer, status_lines
from devices.printer.settings import PrinterSettings


def _settings(args: argparse.Namespace) -> PrinterSettings:
    return PrinterSettings(
        driver=args.driver,
        port=args.port,
        baudrate=args.baudrate,
        kanji_mode=args.kanji_mode,
        width_chars=args.width,
        status_timeout_s=args.timeout,
        poll_interval_s=0,
    )


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("port", help="pyserial URL: /dev/ttyUSB0, socket://127.0.0.1:9100, spy://…")
    parser.add_argument("--driver", default="escpos", choices=["escpos", "file", "virtual"])
    parser.add_argument("--baudrate", type=int, default=9600)
    parser.add_argument("--kanji-mode", action="store_true", help="wrap Chinese in FS & … FS .")
    parser.add_argument("--width", type=int, default=32, help="columns: 32 (58 mm) or 48 (80 mm)")
    parser.add_argument("--timeout", type=float, default=0.5, help="status reply timeout, s")


def cmd_test_page(args: argparse.Namespace) -> int:
    printer = Printer(_settings(args))
    try:
        printer.open()
        printer.print_test_page()
    except DeviceError as err:
        print(f"test page failed: {err}")
        return 1
    finally:
        printer.close()
    print("test page sent")
    return 0


def cmd_printer_status(args: argparse.Namespace) -> int:
    printer = Printer(_settings(args))
    try:
        printer.open()
        result = printer.self_test()
    finally:
        printer.close()
    for line in status_lines(result.status):
        print(line)
    print(f"state: {result.state.value} – {result.reason}")
    return 0 if result.ok else 1


def add_commands(subparsers: Any) -> None:
    """Add the printer commands to an ``argparse`` sub-parser collection."""
    test_page = subparsers.add_parser("test-page", help="print the technician test page")
    _common(test_page)
    test_page.set_defaults(func=cmd_test_page)
    status = subparsers.add_parser("printer-status", help="read the printer's DLE EOT status")
    _common(status)
    status.set_defaults(func=cmd_printer_status)
