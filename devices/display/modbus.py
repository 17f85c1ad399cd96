"""Numeric LED window displays speaking Modbus RTU (generic RS-485 modules).

No Chinese hall vendor publishes its window-display protocol (devices.md), so this is one
documented register map for generic Modbus RTU LED modules; a different module needs
only another :class:`~devices.display.base.WindowDisplay` driver.

Register map (holding registers, function 03 read, 06 / 16 write; one unit per display):

==============  ======  ================================================================
address         access  meaning
==============  ======  ================================================================
0x0000-0x0005   rw      ticket characters, left to right, one ASCII code each
                        (0x20 blank); a 4-digit module shows 0x0000-0x0003
0x0008-0x000A   rw      window characters, left to right, ASCII (0x20 blank)
0x0010          rw      blink: 0 steady, N = blink N times then stay on
0x0011          rw      brightness 0 (off) .. 7
0x0020          ro      digit count of the module (4..6)
0x0021          ro      firmware version
==============  ======  ================================================================

Characters a 7-segment digit can show: ``0-9``, ``A-Z`` (as well as 7 segments can),
``-`` and blank. :meth:`ModbusWindowDisplay.show` writes 0x0000-0x000A in one function-16
request, so a display never shows half a number, then the blink register.
"""

from __future__ import annotations

import logging
import threading

from pymodbus.client import ModbusSerialClient
from pymodbus.exceptions import ConnectionException, ModbusException
from pymodbus.framer import FramerType

from devices.display.base import DisplaySelfTest, WindowDisplay
from devices.display.settings import DisplaySettings
from devices.errors import (
    ConfigError,
    DeviceError,
    DeviceRefused,
    DeviceTimeout,
    DeviceUnavailable,
)
from devices.serialio import Backoff, ReconnectGate
from devices.state import DeviceState, StatusHolder

log = logging.getLogger(__name__)

REG_TICKET = 0x0000
TICKET_CHARS = 6
REG_WINDOW = 0x0008
WINDOW_CHARS = 3
REG_BLINK = 0x0010
REG_BRIGHTNESS = 0x0011
REG_DIGITS = 0x0020
REG_VERSION = 0x0021
REGISTER_COUNT = 0x0022
READ_ONLY = frozenset({REG_DIGITS, REG_VERSION})
BLANK = 0x20
SHOWABLE = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ- ")


def encode_chars(text: str, width: int, *, align: str = "left") -> list[int]:
    """``text`` as ``width`` ASCII registers (blank-padded). Refuses what 7 segments cannot show."""
    text = text.strip().upper()
    if len(text) > width:
        raise ConfigError(f"{text!r} does not fit in {width} digits")
    bad = sorted(set(text) - SHOWABLE)
    if bad:
        raise ConfigError(f"a numeric LED display cannot show {''.join(bad)!r}")
    padded = text.ljust(width) if align == "left" else text.rjust(width)
    return [ord(ch) for ch in padded]


def decode_chars(registers: list[int]) -> str:
    """Registers back to text (unknown codes become '?'), trailing blanks removed."""
    return "".join(chr(r) if 0x20 <= r < 0x7F else "?" for r in registers).rstrip()


def show_registers(ticket: str, window: int | str, digits: int) -> list[int]:
    """Values for 0x0000-0x000A: ticket in ``digits`` positions, window right-aligned."""
    ticket_regs = encode_chars(ticket, digits) + [BLANK] * (TICKET_CHARS - digits)
    gap = [BLANK] * (REG_WINDOW - TICKET_CHARS)
    return ticket_regs + gap + encode_chars(str(window), WINDOW_CHARS, align="right")


class ModbusBus:
    """One RS-485 bus (serial port) shared by every display on it; thread-safe.

    pymodbus opens the port with ``serial.serial_for_url`` (any pyserial URL works). When
    the port cannot be opened or dies, it is reopened on next use, but no sooner than
    the bounded exponential backoff of :attr:`gate` allows (``reconnect_initial_s`` doubling
    up to ``reconnect_max_s``); calls meanwhile fail at once with ``DeviceUnavailable``
    instead of hammering a missing adapter from the caller's thread.
    """

    def __init__(self, settings: DisplaySettings) -> None:
        self.settings = settings
        self.lock = threading.Lock()
        self.gate = ReconnectGate(
            Backoff(
                settings.reconnect_initial_s,
                2.0,
                max(settings.reconnect_max_s, settings.reconnect_initial_s),
            )
        )
        self.client = ModbusSerialClient(
            settings.port,
            framer=FramerType.RTU,
            baudrate=settings.baudrate,
            parity=settings.parity,
            stopbits=settings.stopbits,
            timeout=settings.timeout_s,
            retries=settings.retries,
        )

    def _ensure(self) -> None:
        if self.client.connected:
            return
        port = self.settings.port
        if not self.gate.ready():
            raise DeviceUnavailable(
                f"display bus {port} is unavailable; next try in {self.gate.remaining():.1f} s"
            )
        if not self.client.connect():
            delay = self.gate.failed()
            raise DeviceUnavailable(f"cannot open display bus {port}; next try in {delay:.1f} s")
        self.gate.succeeded()

    def _lost(self, unit: int, err: ConnectionException) -> DeviceUnavailable:
        """The port died under pymodbus (it closed it): reopen after the backoff."""
        self.client.close()
        delay = self.gate.failed()
        return DeviceUnavailable(
            f"display bus {self.settings.port} lost while talking to unit {unit}: {err}; "
            f"next try in {delay:.1f} s"
        )

    def write(self, unit: int, address: int, values: list[int]) -> None:
        with self.lock:
            self._ensure()
            try:
                if len(values) == 1:
                    rr = self.client.write_register(address, values[0], device_id=unit)
                else:
                    rr = self.client.write_registers(address, values, device_id=unit)
            except ConnectionException as err:
                raise self._lost(unit, err) from err
            except ModbusException as err:
                raise DeviceTimeout(f"display {unit} did not answer: {err}") from err
        if rr.isError():
            raise DeviceRefused(f"display {unit} refused the write to 0x{address:04X}")

    def read(self, unit: int, address: int, count: int) -> list[int]:
        with self.lock:
            self._ensure()
            try:
                rr = self.client.read_holding_registers(address, count=count, device_id=unit)
            except ConnectionException as err:
                raise self._lost(unit, err) from err
            except ModbusException as err:
                raise DeviceTimeout(f"display {unit} did not answer: {err}") from err
        if rr.isError():
            raise DeviceRefused(f"display {unit} refused the read of 0x{address:04X}")
        return list(rr.registers)

    def close(self) -> None:
        with self.lock:
            self.client.close()


class ModbusWindowDisplay(WindowDisplay):
    """A numeric LED module at Modbus unit ``unit`` on ``bus``."""

    def __init__(self, bus: ModbusBus, unit: int, *, name: str | None = None) -> None:
        if not 1 <= unit <= 247:
            raise ConfigError(f"Modbus unit address {unit} out of range 1..247")
        self.bus = bus
        self.unit = unit
        self.digits = bus.settings.digits
        self.holder = StatusHolder(name or f"display-{unit}")

    def _do(self, action: str, address: int, values: list[int]) -> None:
        try:
            self.bus.write(self.unit, address, values)
        except (DeviceTimeout, DeviceUnavailable) as err:
            self.holder.set(DeviceState.ABSENT, f"{action} failed: {err}")
            raise
        except DeviceRefused as err:
            self.holder.set(DeviceState.FAULT, f"{action} failed: {err}")
            raise
        self.holder.set(DeviceState.READY, "ready")

    def probe(self) -> int:
        """Read the module's digit count (checks it answers); sets the state."""
        try:
            digits, version = self.bus.read(self.unit, REG_DIGITS, 2)
        except (DeviceTimeout, DeviceUnavailable) as err:
            self.holder.set(DeviceState.ABSENT, f"display does not answer: {err}")
            raise
        if digits < self.digits:
            self.holder.set(
                DeviceState.DEGRADED, f"module has {digits} digits, settings say {self.digits}"
            )
        else:
            self.holder.set(DeviceState.READY, f"ready (firmware {version})")
        return digits

    def self_test(self) -> DisplaySelfTest:
        """Read the module's digit count and firmware version; never raises."""
        try:
            digits = self.probe()
        except DeviceError as err:
            if self.holder.status.state not in (DeviceState.ABSENT, DeviceState.FAULT):
                self.holder.set(DeviceState.FAULT, f"self-test failed: {err}")
            return DisplaySelfTest(False, self.status.state, f"self-test failed: {err}")
        ok = digits >= self.digits
        return DisplaySelfTest(ok, self.status.state, self.status.reason)

    def show(self, ticket: str, window: int | str, *, blink: int | None = None) -> None:
        self._do("show", REG_TICKET, show_registers(ticket, window, self.digits))
        count = self.bus.settings.blink if blink is None else blink
        self._do("blink", REG_BLINK, [count])

    def clear(self) -> None:
        self._do("clear", REG_TICKET, [BLANK] * (REG_WINDOW + WINDOW_CHARS))

    def set_brightness(self, level: int) -> None:
        if not 0 <= level <= 7:
            raise ConfigError(f"brightness {level} out of range 0..7")
        self._do("brightness", REG_BRIGHTNESS, [level])


def open_displays(settings: DisplaySettings) -> tuple[ModbusBus, dict[str, ModbusWindowDisplay]]:
    """The Modbus bus and one display per configured window; close the bus when done.

    This ignores ``settings.driver``; the kiosk uses
    :func:`devices.display.group.open_display_group`, which honours it."""
    bus = ModbusBus(settings)
    displays = {
        window: ModbusWindowDisplay(bus, unit, name=f"display-window-{window}")
        for window, unit in settings.windows.items()
    }
    return bus, displays
