"""An in-memory window display (driver ``virtual``): records what it would show."""

from __future__ import annotations

from dataclasses import dataclass

from devices.display.base import DisplayContent, DisplaySelfTest, WindowDisplay
from devices.display.modbus import check_legend, encode_chars
from devices.errors import ConfigError
from devices.state import DeviceState, StatusHolder


@dataclass(frozen=True)
class Shown:
    ticket: str
    window: str
    blink: int
    brightness: int
    legend: int = 0
    """Lit legend code (0 none, 1 暂停服务)."""


class VirtualWindowDisplay(WindowDisplay):
    def __init__(self, name: str = "display-virtual", digits: int = 4, blink: int = 3) -> None:
        self.holder = StatusHolder(name)
        self.holder.set(DeviceState.READY, "virtual display")
        self.digits = digits
        self.default_blink = blink
        self.brightness = 5
        self.history: list[Shown] = []

    @property
    def current(self) -> Shown | None:
        return self.history[-1] if self.history else None

    def show(self, ticket: str, window: int | str, *, blink: int | None = None) -> None:
        encode_chars(ticket, self.digits)  # same validation as the real module
        encode_chars(str(window), 3)
        self.history.append(
            Shown(
                ticket.upper(),
                str(window),
                self.default_blink if blink is None else blink,
                self.brightness,
            )
        )

    def self_test(self) -> DisplaySelfTest:
        return DisplaySelfTest(True, self.status.state, "virtual display (nothing on the wire)")

    def clear(self) -> None:
        self.history.append(Shown("", "", 0, self.brightness))

    def show_legend(self, legend: int, window: int | str = "") -> None:
        encode_chars(str(window), 3)
        self.history.append(Shown("", str(window), 0, self.brightness, check_legend(legend)))

    def read_back(self) -> DisplayContent:
        now = self.current
        if now is None:
            return DisplayContent("", "", 0, self.brightness)
        return DisplayContent(now.ticket, now.window, now.legend, self.brightness)

    def set_brightness(self, level: int) -> None:
        if not 0 <= level <= 7:
            raise ConfigError(f"brightness {level} out of range 0..7")
        self.brightness = level
