"""The window displays of one station, built from settings: the factory honouring ``driver``.

``DisplaySettings.driver``:

* ``modbus`` — one :class:`~devices.display.modbus.ModbusBus` on ``port`` and one
  :class:`~devices.display.modbus.ModbusWindowDisplay` per entry of ``windows``
  (window id → Modbus unit address);
* ``virtual`` — one in-memory :class:`~devices.display.virtual.VirtualWindowDisplay` per
  window (nothing on the wire; kiosks without displays, demos, tests).

The controller/kiosk only sees :class:`WindowDisplay` objects either way.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from devices.display.base import DisplaySelfTest, WindowDisplay
from devices.display.modbus import ModbusBus, ModbusWindowDisplay
from devices.display.settings import DisplaySettings
from devices.display.virtual import VirtualWindowDisplay
from devices.errors import ConfigError


class DisplayGroup(Mapping[str, WindowDisplay]):
    """Window id → display; :meth:`close` releases the shared bus (if any)."""

    def __init__(self, displays: dict[str, WindowDisplay], bus: ModbusBus | None = None) -> None:
        self._displays = displays
        self.bus = bus

    def __getitem__(self, window: str) -> WindowDisplay:
        try:
            return self._displays[str(window)]
        except KeyError:
            raise ConfigError(f"no display is configured for window {window!r}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._displays)

    def __len__(self) -> int:
        return len(self._displays)

    def show(self, window: str, ticket: str, *, blink: int | None = None) -> None:
        """Show ``ticket`` on the display above ``window`` (with the window number)."""
        self[window].show(ticket, window, blink=blink)

    def self_test(self) -> dict[str, DisplaySelfTest]:
        return {window: display.self_test() for window, display in self._displays.items()}

    def close(self) -> None:
        if self.bus is not None:
            self.bus.close()

    def __enter__(self) -> DisplayGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_display_group(settings: DisplaySettings) -> DisplayGroup:
    """Build the displays ``settings.driver`` asks for (no I/O until first use)."""
    if settings.driver == "virtual":
        return DisplayGroup(
            {
                window: VirtualWindowDisplay(
                    f"display-window-{window}", digits=settings.digits, blink=settings.blink
                )
                for window in settings.windows
            }
        )
    if settings.driver == "modbus":
        bus = ModbusBus(settings)
        displays: dict[str, WindowDisplay] = {
            window: ModbusWindowDisplay(bus, unit, name=f"display-window-{window}")
            for window, unit in settings.windows.items()
        }
        return DisplayGroup(displays, bus)
    raise ConfigError(f"unknown display driver {settings.driver!r}")  # pragma: no cover
