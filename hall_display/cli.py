"""``python -m hall_display run --config display.yaml`` (and ``check-config``)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from devices.errors import DeviceError
from hall_contract.client import TlsSetupError
from hall_contract.yamlconf import ConfigFileError
from hall_display import settings as settings_module
from hall_display.program import DisplayProgram, check, led_device

log = logging.getLogger("hall_display")


def cmd_check_config(args: argparse.Namespace) -> int:
    cfg = settings_module.load(args.config)
    hall = settings_module.load_hall(cfg)
    problems = check(cfg, hall)
    for p in problems:
        print(f"{args.config}: {p}", file=sys.stderr)
    if problems:
        return 1
    leds = cfg.leds
    print(f"display {cfg.terminal_id} of hall {hall.hall.id}, broker {cfg.broker_url_for(hall)}")
    if leds is not None:
        for wid, unit in leds.windows.items():
            print(f"  {led_device(wid)}: unit {unit} on {leds.port} ({leds.driver})")
    else:
        print("  no LEDs")
    if cfg.speaker is not None:
        said = ", ".join(cfg.speaker.windows) if cfg.speaker.windows is not None else "all"
        print(
            f"  speaker: {cfg.speaker.driver}, pack {cfg.speaker.pack}"
            f"{f' + {cfg.speaker.dialect}' if cfg.speaker.dialect else ''}, "
            f"repeat {cfg.speaker.repeat}, windows {said}"
        )
    else:
        print("  no speaker")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run until SIGTERM / SIGINT / SIGHUP."""
    cfg = settings_module.load(args.config)
    hall = settings_module.load_hall(cfg)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    prog = DisplayProgram(cfg, hall)
    try:
        prog.start(wait=None)
        print(f"display {cfg.terminal_id} running", flush=True)
        stop.wait()
    finally:
        prog.stop()
    print(f"display {cfg.terminal_id} stopped", flush=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m hall_display",
        description="The display program: window LEDs (Modbus RTU) and voice calls",
    )
    p.add_argument("--log-level", default="info", help="debug, info, warning, error")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="drive the LEDs and the speaker until stopped")
    r.add_argument("--config", required=True, help="display.yaml")
    r.set_defaults(func=cmd_run)
    c = sub.add_parser("check-config", help="check display.yaml against its hall config")
    c.add_argument("--config", required=True, help="display.yaml")
    c.set_defaults(func=cmd_check_config)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.log_level.lower() != "debug":
        # pymodbus logs every unanswered request as an error; the LEDs' own warnings say
        # which display failed, once, and when it answers again
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    try:
        return int(args.func(args))
    except ConfigFileError as err:
        print(str(err), file=sys.stderr)
        return 1
    except (DeviceError, TlsSetupError) as err:
        print(f"{args.config}: {err}", file=sys.stderr)
        return 1
