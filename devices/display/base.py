"""The window display interface every display driver implements."""

from __future__ import annotations

import abc

from devices.state import DeviceStatus, SelfTest, StatusHolder

#: what :meth:`WindowDisplay.self_test` returns (the common :class:`~devices.state.SelfTest`)
DisplaySelfTest = SelfTest


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
        """Blank the display."""

    @abc.abstractmethod
    def set_brightness(self, level: int) -> None:
        """Brightness 0 (off) .. 7."""

    @abc.abstractmethod
    def self_test(self) -> DisplaySelfTest:
        """Check the display answers (never raises; the outcome is also in :attr:`status`)."""

    def close(self) -> None:
        """Release the connection (the bus may be shared; see the driver)."""
        return None
