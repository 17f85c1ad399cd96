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
0x000B          rw      fixed legend lit: 0 none, 1 暂停服务 ("service paused"); the
                        module's printed, backlit Chinese legends (7 segments cannot
                        draw Chinese); other codes are module-specific, refused here
0x0010          rw      blink: 0 steady, N = blink N times then stay on (writing it
                        again, even the same N, starts the blinking anew: a recall)
0x0011          rw      brightness 0 (off) .. 7
0x0020          ro      digit count of the module (4..6)
0x0021          ro      firmware version
==============  ======  ================================================================

Characters a 7-segment digit can show: ``0-9``, ``A-Z`` (as well as 7 segments can),
``-`` and blank. :meth:`ModbusWindowDisplay.show` writes 0x0000-0x000B (number, window,
legend off) in one function-16 request, so a display never shows half a number, nor a
number under the "paused" legend, then the blink register.
:meth:`~ModbusWindowDisplay.show_legend` writes the same block with blank digits and the
legend lit; :meth:`~ModbusWindowDisplay.clear` blanks all of it.
:meth:`~ModbusWindowDisplay.read_back` reads 0x0000-0x0011 (what the module shows now: a
module that lost power comes back blank, which a caller can notice and repair).
"""

from __future__ import annotations

import array
import contextlib
import logging
import threading

from pymodbus.client import ModbusSerialClient
from pymodbus.exceptions import ConnectionException, ModbusException
from pymodbus.framer import FramerType

from devices.display.base import DisplayContent, DisplaySelfTest, WindowDisplay
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
REG_LEGEND = 0x000B
#: Register count of the block :meth:`ModbusWindowDisplay.show` writes (0x0000-0x000B).
SHOW_BLOCK = REG_LEGEND + 1
REG_BLINK = 0x0010
REG_BRIGHTNESS = 0x0011
REG_DIGITS = 0x0020
REG_VERSION = 0x0021
REGISTER_COUNT = 0x0022
READ_ONLY = frozenset({REG_DIGITS, REG_VERSION})
BLANK = 0x20
#: Legend codes of register 0x000B: the module's fixed, lit Chinese legends.
LEGEND_NONE = 0
LEGEND_PAUSED = 1
LEGENDS: dict[int, str] = {LEGEND_NONE: "", LEGEND_PAUSED: "暂停服务"}
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


def check_legend(legend: int) -> int:
    """``legend`` if it is a legend code of the register map (0 = none), else ConfigError."""
    if legend not in LEGENDS:
        raise ConfigError(f"legend code {legend} is not one of {sorted(LEGENDS)}")
    return legend


def legend_registers(legend: int, window: int | str = "") -> list[int]:
    """Values for 0x0000-0x000B: blank digits, the window, legend ``legend`` lit."""
    return [*show_registers("", window, TICKET_CHARS), check_legend(legend)]


def content_of(registers: list[int], digits: int) -> DisplayContent:
    """What registers 0x0000-0x0011 mean (read back from a module)."""
    return DisplayContent(
        ticket=decode_chars(registers[REG_TICKET : REG_TICKET + digits]).strip(),
        window=decode_chars(registers[REG_WINDOW : REG_WINDOW + WINDOW_CHARS]).strip(),
        legend=registers[REG_LEGEND],
        brightness=registers[REG_BRIGHTNESS],
    )


#: Shortest write timeout of the port (pymodbus gives it the reply timeout).
MIN_WRITE_TIMEOUT_S = 2.0


class _SerialClient(ModbusSerialClient):
    """pymodbus' serial client with two fixes for short reply timeouts.

    * pyserial's ``socket://`` ``in_waiting`` is 1 for "some bytes", so pymodbus read a
      reply one byte per poll, sleeping four character times between polls: about 5 ms a
      byte, 0.2 s for an 18-register reply, past a short timeout. The socket's FIONREAD
      gives the real count (a serial port or pty already reports it).
    * pymodbus opens the port with the reply timeout as its write timeout too, and a
      write that outlasts it (a busy CPU, not a dead display) closes the port as lost. A
      frame is written into the driver's buffer at once: the write gets at least
      :data:`MIN_WRITE_TIMEOUT_S`.
    """

    def connect(self) -> bool:
        ok = bool(super().connect())
        if ok and self.socket is not None:
            with contextlib.suppress(ValueError, OSError):
                current = self.socket.write_timeout
                self.socket.write_timeout = max(current or 0.0, MIN_WRITE_TIMEOUT_S)
        return ok

    def _in_waiting(self) -> int:
        waiting = int(super()._in_waiting())
        sock = getattr(self.socket, "_socket", None)
        if waiting and sock is not None:
            with contextlib.suppress(OSError, ValueError, ImportError):
                import fcntl
                import termios

                buf = array.array("i", [0])
                fcntl.ioctl(sock.fileno(), termios.FIONREAD, buf)
                waiting = max(waiting, buf[0])
        return waiting


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
        self.client = _SerialClient(
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
        regs = [*show_registers(ticket, window, self.digits), LEGEND_NONE]
        self._do("show", REG_TICKET, regs)
        count = self.bus.settings.blink if blink is None else blink
        self._do("blink", REG_BLINK, [count])

    def show_legend(self, legend: int, window: int | str = "") -> None:
        """Light fixed legend ``legend`` (1 暂停服务) with blank digits and the window."""
        self._do("legend", REG_TICKET, legend_registers(legend, window))

    def clear(self) -> None:
        self._do("clear", REG_TICKET, [BLANK] * (SHOW_BLOCK - 1) + [LEGEND_NONE])

    def read_back(self) -> DisplayContent:
        """Read what the module shows now (ticket, window, legend, brightness)."""
        try:
            regs = self.bus.read(self.unit, REG_TICKET, REG_BRIGHTNESS + 1)
        except (DeviceTimeout, DeviceUnavailable) as err:
            self.holder.set(DeviceState.ABSENT, f"read back failed: {err}")
            raise
        except DeviceRefused as err:
            self.holder.set(DeviceState.FAULT, f"read back failed: {err}")
            raise
        if self.holder.status.state not in (DeviceState.READY, DeviceState.DEGRADED):
            self.holder.set(DeviceState.READY, "ready")
        return content_of(regs, self.digits)

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
