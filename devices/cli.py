"""``python -m devices``: the technician's tool. Plain words out, exit code 0 = all good.

Commands: ``ports``, ``probe PORT``, ``selftest``, ``read-card PORT``, ``scan PORT``,
``simulate idcard|scanner|printer|display --listen 127.0.0.1:PORT``, plus the printer,
display and voice commands (``test-page``, ``voice-pack --ensure`` …) when those
packages are installed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from devices.errors import ConfigError, DeviceError, DeviceTimeout, ProtocolError
from devices.idcard import protocol as idp
from devices.idcard.driver import IdCardReader
from devices.scanner.driver import ScanMode, SerialScanner
from devices.scanner.protocol import TRIGGERS, Deframer, Framing
from devices.serialio import open_port

log = logging.getLogger(__name__)

#: Modules of other device packages that may add their own sub-commands.
PLUGIN_CLI_MODULES = ("devices.printer.cli", "devices.display.cli", "devices.voice.cli")


# -- ports -------------------------------------------------------------------------------
def cmd_ports(args: argparse.Namespace) -> int:
    from serial.tools import list_ports

    ports = sorted(list_ports.comports(), key=lambda p: p.device)
    if not ports:
        print("no serial ports found (is the USB cable in? are you in the dialout group?)")
        return 1
    for p in ports:
        usb = (
            f"USB {p.vid:04X}:{p.pid:04X}" if p.vid is not None and p.pid is not None else "not USB"
        )
        desc = p.description if p.description and p.description != "n/a" else ""
        maker = f" by {p.manufacturer}" if p.manufacturer else ""
        print(f"{p.device}  {usb}  {desc}{maker}".rstrip())
        if p.vid is not None and p.pid is not None:
            print(f"    stable URL for the config: hwgrep://{p.vid:04X}:{p.pid:04X}")
    return 0


# -- probe -------------------------------------------------------------------------------
Heard = list[str]
"""What a probe heard that it could not understand (garbled replies), in plain words."""


IDCARD_BAD_CHECKSUMS = "ID card reader frames with bad checksums"


def _bauds(bauds: Sequence[int]) -> str:
    return ", ".join(str(b) for b in bauds) + " bit/s"


def probe_idcard(
    url: str,
    bauds: Sequence[int] = (115200, 57600, 38400, 19200, 9600),
    heard: Heard | None = None,
) -> str | None:
    """SAM id at each speed; returns a description or None (garbled answers go to ``heard``)."""
    bad_checksum: list[int] = []
    noise: list[int] = []
    try:
        for baud in bauds:
            reader = IdCardReader(url, baud, retries=0)
            try:
                reader.open()
                reply = reader.transact(idp.Command.SAM_ID, 0.3)
                if reply.ok:
                    return f"ID card reader at {baud} bit/s, SAM {idp.parse_sam_id(reply.data)}"
                return f"ID card reader at {baud} bit/s (SAM id refused: {reply.words[1]})"
            except ProtocolError as err:  # an ID card frame, but with a bad checksum
                log.debug("garbled ID card reply at %d: %s", baud, err)
                bad_checksum.append(baud)
            except DeviceError as err:
                log.debug("no ID card reader at %d: %s", baud, err)
                if reader.ignored_bytes:
                    noise.append(baud)
            finally:
                reader.close()
    finally:
        if heard is not None and bad_checksum:
            heard.append(f"{IDCARD_BAD_CHECKSUMS} at {_bauds(bad_checksum)}")
        if heard is not None and noise:
            heard.append(f"bytes that form no ID card frame at {_bauds(noise)}")
    return None


def probe_printer(
    url: str, bauds: Sequence[int] = (9600, 19200, 38400, 115200), heard: Heard | None = None
) -> str | None:
    """ESC/POS ``DLE EOT 1``: a valid reply has bits 1 and 4 set, bits 0 and 7 clear."""
    invalid: list[int] = []
    for baud in bauds:
        try:
            port = open_port(url, baud, timeout=0.3)
        except DeviceError as err:
            log.debug("printer probe: %s", err)
            return None
        try:
            port.reset_input_buffer()
            port.write(b"\x10\x04\x01")
            reply = port.read(1)
        except Exception as err:  # pyserial errors on a dead port
            log.debug("printer probe at %d: %s", baud, err)
            reply = b""
        finally:
            port.close()
        if len(reply) == 1 and reply[0] & 0x12 == 0x12 and reply[0] & 0x81 == 0:
            return f"ESC/POS receipt printer at {baud} bit/s (status byte {reply[0]:02X})"
        if reply:
            invalid.append(baud)
    if heard is not None and invalid:
        heard.append(f"bytes that are no printer status at {_bauds(invalid)}")
    return None


def probe_scanner(
    url: str,
    bauds: Sequence[int] = (9600, 115200),
    listen: float = 1.0,
    heard: Heard | None = None,
) -> str | None:
    """Send each trigger dialect and listen for a framed code."""
    unframed: list[int] = []
    for baud in bauds:
        for dialect, commands in TRIGGERS.items():
            try:
                port = open_port(url, baud, timeout=0.1)
            except DeviceError:
                return None
            try:
                port.write(commands.start)
                deframer = Deframer(Framing.SUFFIX)
                stx = Deframer(Framing.STX_ETX)
                deadline = time.monotonic() + listen
                while time.monotonic() < deadline:
                    data = port.read(256)
                    if data and (deframer.feed(data) or stx.feed(data)):
                        port.write(commands.stop)
                        return f"barcode scanner at {baud} bit/s ({dialect} trigger commands)"
                    if data and baud not in unframed:
                        unframed.append(baud)
                port.write(commands.stop)
            except Exception as err:
                log.debug("scanner probe: %s", err)
            finally:
                port.close()
    if heard is not None and unframed:
        heard.append(f"bytes that form no barcode at {_bauds(unframed)}")
    return None


GARBLED_ADVICE = (
    "That is a wrong baud rate or noise on the line: check the baud rate set in the device"
    " and in the config, then the cable (length, a loose plug, shielding and ground) and"
    " the power supply, and probe again."
)


def cmd_probe(args: argparse.Namespace) -> int:
    print(f"probing {args.port} …")
    probes: list[tuple[str, Callable[..., str | None]]] = [
        ("ID card reader", probe_idcard),
        ("receipt printer", probe_printer),
        ("barcode scanner", probe_scanner),
    ]
    heard: Heard = []
    for what, probe in probes:
        found = probe(args.port, heard=heard)
        if found:
            print(f"found: {found}")
            return 0
        if any(line.startswith(IDCARD_BAD_CHECKSUMS) for line in heard):
            # ID card frames (right preamble, wrong checksum): it is an ID card reader,
            # no other device needs asking
            print("  an ID card reader answered, but its frames are garbled")
            break
        print(f"  not a {what} (or it did not answer)")
    if heard:
        print(f"something answered on {args.port}, but garbled:")
        for line in heard:
            print(f"  - {line}")
        print(GARBLED_ADVICE)
        return 1
    print("nothing answered; check the cable, the power and the port")
    return 1


# -- selftest ----------------------------------------------------------------------------
def cmd_selftest(args: argparse.Namespace) -> int:
    from devices.config import DevicesSettings

    settings = DevicesSettings()
    if args.config:
        try:
            import yaml

            raw = yaml.safe_load(Path(args.config).read_text(encoding="utf-8")) or {}
            settings = DevicesSettings.model_validate(raw.get("devices", raw))
        except (OSError, ValueError) as err:
            print(f"cannot use the config {args.config}: {err}")
            return 2
    idcard_url = args.idcard or (settings.idcard.port if settings.idcard else None)
    scanner_url = args.scanner or (settings.scanner.port if settings.scanner else None)
    printer_settings = settings.printer
    if args.printer:
        from devices.printer.settings import PrinterSettings

        printer_settings = PrinterSettings(port=args.printer)
    display_settings = settings.display
    if args.display:
        from devices.display.settings import DisplaySettings

        display_settings = DisplaySettings(port=args.display, windows={"1": 1})
    if not (idcard_url or scanner_url or printer_settings or display_settings):
        print("nothing to test: give --idcard/--scanner/--printer/--display or a --config")
        return 2
    ok = True
    if printer_settings is not None:
        from devices.printer.driver import Printer

        printer = Printer(printer_settings.model_copy(update={"poll_interval_s": 0}))
        try:
            printer.open()
            presult = printer.self_test()
            print(f"receipt printer: {'OK' if presult.ok else 'FAILED'} – {presult.reason}")
            ok &= presult.ok
        finally:
            printer.close()
    if display_settings is not None:
        from devices.display.group import open_display_group

        with open_display_group(display_settings) as group:
            for window, dresult in group.self_test().items():
                print(
                    f"window display {window}: {'OK' if dresult.ok else 'FAILED'} – {dresult.reason}"
                )
                ok &= dresult.ok
    if idcard_url:
        baud = settings.idcard.baudrate if settings.idcard else 115200
        reader = IdCardReader(idcard_url, baud)
        try:
            reader.open()
            result = reader.self_test()
            print(
                f"ID card reader: {'OK' if result.ok else 'FAILED'} – {result.reason}"
                + (f" (SAM {result.sam_id})" if result.sam_id else "")
            )
            ok &= result.ok
        except DeviceError as err:
            print(f"ID card reader: FAILED – {err}")
            ok = False
        finally:
            reader.close()
    if scanner_url:
        baud = settings.scanner.baudrate if settings.scanner else 9600
        scanner = SerialScanner(scanner_url, baud)
        try:
            scanner.open()
            print("barcode scanner: port opens (scan a code with `scan` to check decoding)")
        except DeviceError as err:
            print(f"barcode scanner: FAILED – {err}")
            ok = False
        finally:
            scanner.close()
    return 0 if ok else 1


# -- read-card / scan ------------------------------------------------------------------
def cmd_read_card(args: argparse.Namespace) -> int:
    reader = IdCardReader(args.port, args.baudrate)
    try:
        reader.open()
        deadline = time.monotonic() + args.wait
        while True:
            identity = reader.read_card()
            if identity is not None:
                break
            if time.monotonic() >= deadline:
                print(f"no card on the reader within {args.wait:.0f} s")
                return 1
            reader.link.wait(reader.poll_interval)
    except DeviceError as err:
        print(f"reading the card failed: {err}")
        return 1
    finally:
        reader.close()
    print(f"card read: {identity}")
    print(f"  type: {identity.card_type.name.lower()}, sex: {identity.sex.zh}")
    valid = "长期 (no expiry)" if identity.long_term else str(identity.valid_to)
    print(f"  valid to: {valid}; photo: {'present' if identity.has_photo else 'missing'}")
    print("  (name and ID number are masked on purpose)")
    identity.wipe()
    return 0


def cmd_scan(args: argparse.Namespace) -> int:
    mode = ScanMode.TRIGGERED if args.trigger else ScanMode.CONTINUOUS
    suffix = bytes.fromhex(args.suffix) if args.suffix else None
    scanner = SerialScanner(
        args.port,
        args.baudrate,
        mode=mode,
        dialect=args.dialect,
        framing=Framing(args.framing),
        suffix=suffix,
    )
    try:
        scanner.open()
        if args.trigger:
            event = scanner.trigger(args.timeout)
        else:
            print(f"waiting {args.timeout:.0f} s for a scan …", flush=True)
            event = scanner.wait_for_scan(args.timeout)
    except DeviceTimeout:
        print("no code was scanned in time (serial mode on? right suffix?)")
        return 1
    except DeviceError as err:
        print(f"scanner failed: {err}")
        return 1
    finally:
        scanner.close()
    print(f"scanned ({event.encoding or 'unknown encoding'}, {len(event.raw)} bytes): {event.text}")
    return 0


# -- simulate ----------------------------------------------------------------------------
def _listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError("use HOST:PORT, e.g. 127.0.0.1:7001 (port 0 = any free)")
    if host not in ("127.0.0.1", "localhost"):
        raise argparse.ArgumentTypeError("simulators listen on 127.0.0.1 only")
    return host, int(port)


def cmd_simulate(args: argparse.Namespace) -> int:
    host, port = args.listen
    opts: dict[str, Any] = {}
    if args.device == "idcard":
        from devices.idcard.simulator import serve

        opts = {
            "baud": args.baud or None,
            "card_present": not args.no_card,
            "samples": args.samples,
        }
    elif args.device == "scanner":
        from devices.scanner.simulator import serve

        opts = {"framing": args.framing, "dialect": args.dialect, "encoding": args.encoding}
    else:
        module = f"devices.{args.device}.simulator"
        try:
            serve = importlib.import_module(module).serve
        except (ImportError, AttributeError) as err:
            print(f"the {args.device} simulator is not installed ({err})")
            return 1
        opts = {"preview_dir": args.preview_dir}
        if args.device == "printer":
            opts |= {
                "width_mm": args.width,
                "paper": "out" if args.paper_out else args.paper,
                "cover_open": args.cover_open,
                "cutter_error": args.cutter_error,
            }
    try:
        serve(host, port, **opts)
    except DeviceError as err:
        print(f"simulator failed: {err}")
        return 1
    return 0


# -- parser ------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devices", description="Hall device checks for technicians."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show hex frames (DEBUG)")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("ports", help="list serial ports with their USB ids").set_defaults(
        func=cmd_ports
    )

    p = sub.add_parser("probe", help="find out which device answers on a port")
    p.add_argument("port", help="device path or pyserial URL")
    p.set_defaults(func=cmd_probe)

    p = sub.add_parser(
        "selftest", help="self-test the configured ID card reader, scanner, printer, displays"
    )
    p.add_argument("--config", help="YAML file with a devices section")
    p.add_argument("--idcard", help="ID card reader port (overrides the config)")
    p.add_argument("--scanner", help="scanner port (overrides the config)")
    p.add_argument("--printer", help="ESC/POS printer port (overrides the config)")
    p.add_argument("--display", help="Modbus display bus port, unit 1 (overrides the config)")
    p.set_defaults(func=cmd_selftest)

    p = sub.add_parser("read-card", help="read an ID card and print it masked")
    p.add_argument("port")
    p.add_argument("--baudrate", type=int, default=115200)
    p.add_argument("--wait", type=float, default=10.0, help="seconds to wait for a card")
    p.set_defaults(func=cmd_read_card)

    p = sub.add_parser("scan", help="wait for one barcode/QR scan")
    p.add_argument("port")
    p.add_argument("--baudrate", type=int, default=9600)
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--trigger", action="store_true", help="send the trigger command first")
    p.add_argument("--dialect", choices=sorted(TRIGGERS), default="honeywell")
    p.add_argument("--framing", choices=[f.value for f in Framing], default="suffix")
    p.add_argument("--suffix", help="suffix as hex, e.g. 0D0A (default: CR, LF or CR LF)")
    p.set_defaults(func=cmd_scan)

    p = sub.add_parser("simulate", help="run a device simulator on 127.0.0.1")
    p.add_argument("device", choices=["idcard", "scanner", "printer", "display"])
    p.add_argument(
        "--listen", type=_listen, default=("127.0.0.1", 0), help="HOST:PORT (port 0 = any)"
    )
    p.add_argument("--baud", type=int, default=115200, help="idcard: line timing (0 = none)")
    p.add_argument("--no-card", action="store_true", help="idcard: start with no card on it")
    p.add_argument("--samples", type=int, default=3, help="idcard: sample holders")
    p.add_argument("--framing", choices=[f.value for f in Framing], default="suffix")
    p.add_argument("--dialect", choices=sorted(TRIGGERS), default="honeywell")
    p.add_argument("--encoding", choices=["utf-8", "gb18030"], default="utf-8")
    p.add_argument("--preview-dir", help="printer: folder for PNG previews")
    p.add_argument(
        "--width", type=int, choices=[58, 80], default=58, help="printer: paper width in mm"
    )
    p.add_argument(
        "--paper", choices=["ok", "near_end", "out"], default="ok", help="printer: paper state"
    )
    p.add_argument("--paper-out", action="store_true", help="printer: start out of paper")
    p.add_argument("--cover-open", action="store_true", help="printer: start with the cover open")
    p.add_argument("--cutter-error", action="store_true", help="printer: start with a cutter error")
    p.set_defaults(func=cmd_simulate)

    for name in PLUGIN_CLI_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError as err:
            if err.name is None or not name.startswith(err.name):
                log.warning("%s cannot be loaded (%s); its commands are missing", name, err)
            continue  # that device package is not installed
        add = getattr(module, "add_commands", None)
        if add is not None:
            add(sub)
    return parser


@contextlib.contextmanager
def _logging_to_stderr(verbose: bool) -> Iterator[None]:
    """Our log format and level on stderr while a command runs; the root logger as it was
    afterwards (``main`` is also called in-process, by tests and other tools).

    Not a plain ``logging.basicConfig()``: python-escpos calls ``basicConfig()`` when it is
    imported (by the printer commands), after which ours did nothing and ``-v`` showed no
    DEBUG lines. So the root's handlers are replaced, like ``basicConfig(force=True)``,
    but put back (not closed) when the command ends.
    """
    root = logging.getLogger()
    saved_level, saved_handlers = root.level, root.handlers[:]
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    for old in saved_handlers:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
        for old in saved_handlers:
            root.addHandler(old)
        root.setLevel(saved_level)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    with _logging_to_stderr(args.verbose):
        try:
            result: int = args.func(args)
        except ConfigError as err:
            print(f"setting problem: {err}")
            return 2
        except DeviceError as err:
            print(f"device problem: {err}")
            return 1
        except KeyboardInterrupt:
            return 130
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
