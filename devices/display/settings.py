"""Settings of the window displays (validated config data, no I/O)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class DisplaySettings(BaseModel):
    """An RS-485 bus of numeric LED window displays.

    ``driver``: ``modbus`` (Modbus RTU LED modules, see :mod:`devices.display.modbus`) or
    ``virtual`` (in memory, nothing on the wire; for kiosks without displays and tests).
    ``port`` is a pyserial URL: ``/dev/ttyUSB1``, or ``socket://127.0.0.1:PORT`` for the
    simulator.
    """

    model_config = ConfigDict(extra="forbid")

    driver: Literal["modbus", "virtual"] = "modbus"
    port: str = "/dev/ttyUSB1"
    """pyserial URL of the RS-485 adapter."""
    baudrate: int = Field(default=9600, gt=0)
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    timeout_s: float = Field(default=0.5, gt=0)
    """Reply timeout of one Modbus request."""
    retries: int = Field(default=1, ge=0, le=5)
    reconnect_initial_s: float = Field(default=0.5, gt=0)
    """After the bus port failed to open or died, wait this long before reopening it,
    doubling after each failure up to ``reconnect_max_s``."""
    reconnect_max_s: float = Field(default=30.0, gt=0)
    """Upper bound of the reconnect delay."""
    windows: dict[str, int] = Field(default_factory=dict)
    """Window id → Modbus unit address (1..247) of the display above it, e.g. {"3": 3}."""
    digits: int = Field(default=4, ge=4, le=6)
    """Ticket digits of the LED modules (4..6)."""
    blink: int = Field(default=3, ge=0, le=20)
    """How many times a new number blinks (0: steady)."""
    brightness: int = Field(default=5, ge=0, le=7)
    """Brightness 0 (off) .. 7."""
