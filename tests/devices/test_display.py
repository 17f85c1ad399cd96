"""Modbus RTU window display driver <-> simulator over TCP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devices.display.modbus import (
    ModbusBus,
    ModbusWindowDisplay,
    decode_chars,
    encode_chars,
    open_displays,
    show_registers,
)
from devices.display.settings import DisplaySettings
from devices.display.simulator import Displayed, DisplaySimulator, LedModule
from devices.display.virtual import VirtualWindowDisplay
from devices.errors import ConfigError, DeviceRefused, DeviceTimeout
from devices.state import DeviceState


def test_register_encoding() -> None:
    assert encode_chars("a01", 4) == [0x41, 0x30, 0x31, 0x20]
    assert encode_chars("7", 3, align="right") == [0x20, 0x20, 0x37]
    assert show_registers("A001", 12, 4) == [
        0x41,
        0x30,
        0x30,
        0x31,
        0x20,
        0x20,
        0x20,
        0x20,
        0x20,
        0x31,
        0x32,
    ]
    assert decode_chars([0x41, 0x31, 0x20, 0x20]) == "A1"
    with pytest.raises(ConfigError):
        encode_chars("A0001", 4)
    with pytest.raises(ConfigError):
        encode_chars("号1", 4)


def test_module_refuses_read_only_and_out_of_range() -> None:
    module = LedModule(1, digits=6)
    assert not module.write(0x20, [4])
    assert not module.write(0x21, [1, 2])
    assert module.read(0x20, 2) == [6, 100]
    assert module.read(0x21, 5) is None


@pytest.fixture
def sim() -> Iterator[DisplaySimulator]:
    with DisplaySimulator(units=(1, 3)) as simulator:
        yield simulator


@pytest.fixture
def bus(sim: DisplaySimulator) -> Iterator[ModbusBus]:
    bus = ModbusBus(DisplaySettings(port=sim.url, timeout_s=0.3, retries=0, windows={"3": 3}))
    yield bus
    bus.close()


def test_show_round_trip(sim: DisplaySimulator, bus: ModbusBus) -> None:
    display = ModbusWindowDisplay(bus, 3)
    assert display.probe() == 4
    display.show("b012", "7", blink=5)
    assert sim.displayed(3) == Displayed(3, "B012", "7", 5, 5)
    assert sim.history[0] == Displayed(3, "B012", "7", 0, 5)  # number first, in one write
    assert sim.displayed(1).ticket == ""
    assert display.status.state is DeviceState.READY


def test_brightness_and_clear(sim: DisplaySimulator, bus: ModbusBus) -> None:
    display = ModbusWindowDisplay(bus, 1)
    display.show("A001", 12)
    display.set_brightness(2)
    display.clear()
    shown = sim.displayed(1)
    assert (shown.ticket, shown.window, shown.brightness) == ("", "", 2)
    with pytest.raises(ConfigError):
        display.set_brightness(8)


def test_missing_unit_times_out_and_is_absent(bus: ModbusBus) -> None:
    display = ModbusWindowDisplay(bus, 9)
    with pytest.raises(DeviceTimeout):
        display.show("A1", 1)
    assert display.status.state is DeviceState.ABSENT


def test_refused_write_is_a_fault(bus: ModbusBus) -> None:
    display = ModbusWindowDisplay(bus, 1)
    with pytest.raises(DeviceRefused):
        display._do("poke", 0x20, [1])
    assert display.status.state is DeviceState.FAULT


def test_open_displays_maps_windows(sim: DisplaySimulator) -> None:
    bus, displays = open_displays(
        DisplaySettings(port=sim.url, timeout_s=0.3, windows={"3": 3, "1": 1})
    )
    try:
        displays["3"].show("C9", 3)
        assert sim.wait_for(2, timeout=5)
        assert sim.displayed(3).ticket == "C9"
    finally:
        bus.close()


def test_virtual_display_records() -> None:
    display = VirtualWindowDisplay()
    display.show("a001", 3)
    assert display.current is not None and (display.current.ticket, display.current.window) == (
        "A001",
        "3",
    )
    with pytest.raises(ConfigError):
        display.show("号", 3)
