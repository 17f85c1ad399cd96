"""A Modbus RTU window-display simulator on a pty or a TCP socket (RTU frames, as on RS-485).

The wire side is :class:`devices.sim.SimServer` like every simulator: the driver reaches
it with ``port = "socket://127.0.0.1:PORT"`` or the pty path, with optional real line
timing and the common faults (``sim.faults.inject(Fault.CORRUPT)`` flips a reply's CRC
byte, ``NO_REPLY``, ``PARTIAL``, ``SLOW``, ``UNPLUG``). Each unit address in
``units`` is one LED module following the register map of :mod:`devices.display.modbus`;
every change of what a module shows is recorded in :attr:`DisplaySimulator.history`.
One module can be unplugged alone (:meth:`DisplaySimulator.unplug_unit`: it stops
answering, the rest of the bus goes on) and plugged back in, powered up blank like a real
module (:meth:`~DisplaySimulator.replug_unit`); :meth:`~DisplaySimulator.unplug` pulls
the whole bus (the RS-485 adapter).
Frames are decoded and built with pymodbus' RTU framer and PDU classes.
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pymodbus.exceptions import ModbusException
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU, ExceptionResponse, ModbusPDU
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersRequest,
    ReadHoldingRegistersResponse,
    WriteMultipleRegistersRequest,
    WriteMultipleRegistersResponse,
    WriteSingleRegisterRequest,
    WriteSingleRegisterResponse,
)

from devices.display import modbus as m
from devices.sim import FaultPlan, SimServer

log = logging.getLogger(__name__)

ILLEGAL_FUNCTION, ILLEGAL_ADDRESS = 1, 2


@dataclass(frozen=True)
class Displayed:
    unit: int
    ticket: str
    window: str
    blink: int
    brightness: int
    legend: int = 0
    """Lit legend code (0 none, 1 暂停服务)."""


class LedModule:
    """Registers of one simulated module (pure state machine over register writes)."""

    def __init__(self, unit: int, digits: int = 4, version: int = 100) -> None:
        self.unit = unit
        self.digits = digits
        self.version = version
        self.registers: list[int] = []
        self.power_on()

    def power_on(self) -> None:
        """The power-up state: dark (blank digits and window, no legend), brightness 5."""
        self.registers = [m.BLANK] * m.REGISTER_COUNT
        self.registers[m.REG_LEGEND] = m.LEGEND_NONE
        self.registers[m.REG_BLINK] = 0
        self.registers[m.REG_BRIGHTNESS] = 5
        self.registers[m.REG_DIGITS] = self.digits
        self.registers[m.REG_VERSION] = self.version

    def displayed(self) -> Displayed:
        r = self.registers
        digits = r[m.REG_DIGITS]
        return Displayed(
            self.unit,
            m.decode_chars(r[m.REG_TICKET : m.REG_TICKET + digits]).strip(),
            m.decode_chars(r[m.REG_WINDOW : m.REG_WINDOW + m.WINDOW_CHARS]).strip(),
            r[m.REG_BLINK],
            r[m.REG_BRIGHTNESS],
            r[m.REG_LEGEND],
        )

    def read(self, address: int, count: int) -> list[int] | None:
        if count < 1 or address + count > len(self.registers):
            return None
        return self.registers[address : address + count]

    def write(self, address: int, values: list[int]) -> bool:
        span = range(address, address + len(values))
        if not values or span.stop > len(self.registers) or any(a in m.READ_ONLY for a in span):
            return False
        if m.REG_LEGEND in span and values[m.REG_LEGEND - address] not in m.LEGENDS:
            return False  # a legend this module does not have
        self.registers[address : address + len(values)] = values
        return True


class RtuHandler:
    """:class:`devices.sim.Handler` of the bus: RTU frames in, RTU replies out.

    Bytes are collected until they form a frame (pymodbus' RTU framer checks the CRC);
    a silence longer than ``gap_s`` ends a frame, as on a real RS-485 line, so a partial
    or garbled request never poisons the next one.
    """

    def __init__(self, sim: DisplaySimulator, gap_s: float = 0.05) -> None:
        self.sim = sim
        self.gap_s = gap_s
        self._framer = FramerRTU(DecodePDU(is_server=True))
        self._buf = b""
        self._last = 0.0

    def on_data(self, data: bytes) -> list[bytes]:
        now = time.monotonic()
        if now - self._last > self.gap_s:
            self._buf = b""
        self._last = now
        self._buf += data
        replies: list[bytes] = []
        while self._buf:
            try:
                used, pdu = self._framer.handleFrame(self._buf, 0, 0)
            except (ModbusException, ValueError, IndexError, struct.error) as err:
                log.debug("display simulator: bad frame (%d bytes): %s", len(self._buf), err)
                self._buf = b""
                break
            self._buf = self._buf[used:]
            if pdu is None:
                break
            reply = self.sim.handle(pdu)
            if reply is not None:
                replies.append(framer_bytes(self._framer, reply))
        return replies


def framer_bytes(framer: FramerRTU, pdu: ModbusPDU) -> bytes:
    return bytes(framer.buildFrame(pdu))


class DisplaySimulator:
    """Modules at ``units`` on a simulated RS-485 bus, reachable over TCP."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        units: Iterable[int] = (1, 2, 3),
        digits: int = 4,
        transport: str = "tcp",
        link_path: str | None = None,
        baud: int | None = None,
    ) -> None:
        self.modules = {u: LedModule(u, digits) for u in units}
        self.history: list[Displayed] = []
        #: every write a module accepted: (unit, address, values), also those that change
        #: nothing visible (writing the blink register again restarts the blinking)
        self.writes: list[tuple[int, int, list[int]]] = []
        self.unplugged_units: set[int] = set()
        self._cond = threading.Condition()
        self.host = host
        self.port = port
        self.transport = transport
        self.link_path = link_path
        self.server = SimServer(RtuHandler(self), baud=baud, name="display-sim")

    # -- protocol ----------------------------------------------------------------------
    def handle(self, pdu: ModbusPDU) -> ModbusPDU | None:
        module = self.modules.get(pdu.dev_id)
        if module is None or pdu.dev_id in self.unplugged_units:
            return None  # nobody at that address: silence, like a real bus
        reply: ModbusPDU
        if isinstance(pdu, ReadHoldingRegistersRequest):
            values = module.read(pdu.address, pdu.count)
            if values is None:
                return ExceptionResponse(pdu.function_code, ILLEGAL_ADDRESS, device_id=pdu.dev_id)
            reply = ReadHoldingRegistersResponse(registers=values, dev_id=pdu.dev_id)
            return reply
        if isinstance(pdu, WriteSingleRegisterRequest | WriteMultipleRegistersRequest):
            values = list(pdu.registers)
            with self._cond:
                before = module.displayed()
                ok = module.write(pdu.address, values)
                after = module.displayed()
                if ok:
                    self.writes.append((pdu.dev_id, pdu.address, values))
                    if after != before:
                        self.history.append(after)
                    self._cond.notify_all()
            if not ok:
                return ExceptionResponse(pdu.function_code, ILLEGAL_ADDRESS, device_id=pdu.dev_id)
            if isinstance(pdu, WriteSingleRegisterRequest):
                return WriteSingleRegisterResponse(
                    address=pdu.address, registers=values, dev_id=pdu.dev_id
                )
            return WriteMultipleRegistersResponse(
                address=pdu.address, count=len(values), dev_id=pdu.dev_id
            )
        return ExceptionResponse(pdu.function_code, ILLEGAL_FUNCTION, device_id=pdu.dev_id)

    def displayed(self, unit: int) -> Displayed:
        with self._cond:
            return self.modules[unit].displayed()

    def wait_for(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` display changes were recorded."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self.history) >= count, timeout)

    def wait_displayed(
        self, unit: int, predicate: Callable[[Displayed], bool], timeout: float
    ) -> bool:
        """Wait until what module ``unit`` shows satisfies ``predicate``."""
        return self.wait_until(lambda: predicate(self.modules[unit].displayed()), timeout)

    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate`` (called with the simulator's lock held, after every
        accepted write and replug) holds."""
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    # -- one module ---------------------------------------------------------------------
    def unplug_unit(self, unit: int) -> None:
        """Unplug module ``unit`` alone: it stops answering; the others go on."""
        with self._cond:
            if unit not in self.modules:
                raise KeyError(f"no module at unit {unit}")
            self.unplugged_units.add(unit)

    def replug_unit(self, unit: int) -> None:
        """Plug module ``unit`` back in: it powers up dark (what it showed is gone)."""
        with self._cond:
            if unit not in self.unplugged_units:
                return
            self.unplugged_units.discard(unit)
            module = self.modules[unit]
            before = module.displayed()
            module.power_on()
            after = module.displayed()
            if after != before:
                self.history.append(after)
            self._cond.notify_all()

    # -- server ------------------------------------------------------------------------
    @property
    def faults(self) -> FaultPlan:
        """Faults for the next replies (no_reply, partial, corrupt CRC, slow, unplug)."""
        return self.server.faults

    @property
    def address(self) -> tuple[str, int]:
        return self.server.host, self.server.port

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> DisplaySimulator:
        if self.transport == "pty":
            self.server.start_pty(self.link_path)
        else:
            self.server.start_tcp(self.host, self.port)
        return self

    def unplug(self) -> None:
        self.server.unplug()

    def replug(self) -> None:
        self.server.replug()

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> DisplaySimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(host: str, port: int, **opts: Any) -> None:
    """Serve until interrupted. Options: ``units`` (addresses, default 1-3), ``digits``.
    Prints the bound port (``port`` 0 allowed) and every change of a display."""
    units = opts.get("units") or (1, 2, 3)
    digits = opts.get("digits") or 4
    sim = DisplaySimulator(host, port, units=units, digits=digits).start()
    bound_host, bound_port = sim.address
    print(
        f"display simulator listening on {bound_host}:{bound_port} ({sim.url}), units {list(units)}",
        flush=True,
    )
    seen = 0
    try:
        while True:
            if sim.wait_for(seen + 1, timeout=1.0):
                for shown in sim.history[seen:]:
                    print(
                        f"unit {shown.unit}: {shown.ticket or '(blank)'} → window {shown.window or '-'} "
                        f"blink {shown.blink} brightness {shown.brightness}"
                        + (
                            f" legend {m.LEGENDS.get(shown.legend, shown.legend)}"
                            if shown.legend
                            else ""
                        ),
                        flush=True,
                    )
                seen = len(sim.history)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
