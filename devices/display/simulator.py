"""A Modbus RTU window-display simulator on a TCP socket (RTU frames over TCP).

The driver reaches it with ``port = "socket://127.0.0.1:PORT"``. Each unit address in
``units`` is one LED module following the register map of :mod:`devices.display.modbus`;
every change of what a module shows is recorded in :attr:`DisplaySimulator.history`.
Frames are decoded and built with pymodbus' RTU framer and PDU classes.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
from collections.abc import Iterable
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

log = logging.getLogger(__name__)

ILLEGAL_FUNCTION, ILLEGAL_ADDRESS = 1, 2


@dataclass(frozen=True)
class Displayed:
    unit: int
    ticket: str
    window: str
    blink: int
    brightness: int


class LedModule:
    """Registers of one simulated module (pure state machine over register writes)."""

    def __init__(self, unit: int, digits: int = 4, version: int = 100) -> None:
        self.unit = unit
        self.registers = [m.BLANK] * m.REGISTER_COUNT
        self.registers[m.REG_BLINK] = 0
        self.registers[m.REG_BRIGHTNESS] = 5
        self.registers[m.REG_DIGITS] = digits
        self.registers[m.REG_VERSION] = version

    def displayed(self) -> Displayed:
        r = self.registers
        digits = r[m.REG_DIGITS]
        return Displayed(
            self.unit,
            m.decode_chars(r[m.REG_TICKET : m.REG_TICKET + digits]).strip(),
            m.decode_chars(r[m.REG_WINDOW : m.REG_WINDOW + m.WINDOW_CHARS]).strip(),
            r[m.REG_BLINK],
            r[m.REG_BRIGHTNESS],
        )

    def read(self, address: int, count: int) -> list[int] | None:
        if count < 1 or address + count > len(self.registers):
            return None
        return self.registers[address : address + count]

    def write(self, address: int, values: list[int]) -> bool:
        span = range(address, address + len(values))
        if not values or span.stop > len(self.registers) or any(a in m.READ_ONLY for a in span):
            return False
        self.registers[address : address + len(values)] = values
        return True


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(0.2)
        framer = FramerRTU(DecodePDU(is_server=True))
        buf = b""
        while not self.server.stopping.is_set():
            try:
                data = sock.recv(4096)
            except TimeoutError:
                buf = b""  # RTU: a silent gap ends a frame
                continue
            except OSError:
                break
            if not data:
                break
            buf += data
            while buf:
                try:
                    used, pdu = framer.handleFrame(buf, 0, 0)
                except ModbusException as err:
                    log.debug("display simulator: bad frame %s: %s", buf.hex(" "), err)
                    buf = b""
                    break
                buf = buf[used:]
                if pdu is None:
                    break
                reply = self.server.sim.handle(pdu)
                if reply is not None:
                    try:
                        sock.sendall(framer.buildFrame(reply))
                    except OSError:
                        return


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    block_on_close = True

    def __init__(self, address: tuple[str, int], sim: DisplaySimulator) -> None:
        self.sim = sim
        self.stopping = threading.Event()
        super().__init__(address, _Handler)


class DisplaySimulator:
    """Modules at ``units`` on a simulated RS-485 bus, reachable over TCP."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        units: Iterable[int] = (1, 2, 3),
        digits: int = 4,
    ) -> None:
        self.modules = {u: LedModule(u, digits) for u in units}
        self.history: list[Displayed] = []
        self._cond = threading.Condition()
        self._server = _Server((host, port), self)
        self._thread: threading.Thread | None = None

    # -- protocol ----------------------------------------------------------------------
    def handle(self, pdu: ModbusPDU) -> ModbusPDU | None:
        module = self.modules.get(pdu.dev_id)
        if module is None:
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
                if ok and after != before:
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

    # -- server ------------------------------------------------------------------------
    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"socket://{host}:{port}"

    def start(self) -> DisplaySimulator:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="display-sim"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> DisplaySimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(host: str, port: int, **opts: Any) -> None:
    """Serve until interrupted. Options: ``units`` (addresses, default 1-3), ``digits``.
    Prints the bound port (``port`` 0 allowed) and every change of a display."""
    units = opts.get("units") or (1, 2, 3)
    digits = opts.get("digits") or 4
    sim = DisplaySimulator(host, port, units=units, digits=digits)
    bound_host, bound_port = sim.address
    print(
        f"display simulator listening on {bound_host}:{bound_port} (socket://{bound_host}:{bound_port}), units {list(units)}",
        flush=True,
    )
    sim.start()
    seen = 0
    try:
        while True:
            if sim.wait_for(seen + 1, timeout=1.0):
                for shown in sim.history[seen:]:
                    print(
                        f"unit {shown.unit}: {shown.ticket or '(blank)'} → window {shown.window or '-'} "
                        f"blink {shown.blink} brightness {shown.brightness}",
                        flush=True,
                    )
                seen = len(sim.history)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
