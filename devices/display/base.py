"""The window display interface every display driver implements."""

from __future__ import annotations

import abc
from dataclasses import dataclass

from devices.errors import DeviceRefused
from devices.state import DeviceStatus, SelfTest, StatusHolder

#: what :meth:`WindowDisplay.self_test` returns (the common :class:`~devices.state.SelfTest`)
DisplaySelfTest = SelfTest


@dataclass(frozen=True)
class DisplayContent:
    """What a display shows, as read back from it: the ticket digits and window characters
    (blank-stripped, "" when dark), the lit legend code (0 none, 1 暂停服务; see
    :mod:`devices.display.modbus`) and the brightness."""

    ticket: str
    window: str
    legend: int
    brightness: int


class WindowDisplay(abc.ABC):
    """One display above one service window."""

    holder: StatusHolder

    @property
    def status(self) -> DeviceStatus:
        return self.holder.status

    @abc.abstractmethod
    def show(self, ticket: str, window: int | str, *, blink: int | None = None) -> None:
        """Show a called ticket number and the window number."""

    @abc.abstractmethod
    def clear(self) -> None:
        """Blank the display (digits, window and legend)."""

    def show_legend(self, legend: int, window: int | str = "") -> None:
        """Light fixed legend ``legend`` (1: 暂停服务) with the digits blank. A driver whose
        module has no legends refuses (this default)."""
        raise DeviceRefused(f"{self.status.device} has no fixed legends")

    def read_back(self) -> DisplayContent | None:
        """What the display shows now, read from it; ``None`` when the driver cannot read
        its display back (this default)."""
        return None

    @abc.abstractmethod
    def set_brightness(self, level: int) -> None:
        """Brightness 0 (off) .. 7."""

    @abc.abstractmethod
    def self_test(self) -> DisplaySelfTest:
        """Check the display answers (never raises; the outcome is also in :attr:`status`)."""

    def close(self) -> None:
        """Release the connection (the bus may be shared; see the driver)."""
        return None
