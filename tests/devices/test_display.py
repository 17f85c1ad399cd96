"""Modbus RTU window display driver <-> simulator over TCP on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.display.base import DisplayContent
from devices.display.group import open_display_group
from devices.display.modbus import (
    LEGEND_PAUSED,
    LEGENDS,
    REG_BRIGHTNESS,
    REG_LEGEND,
    ModbusBus,
    ModbusWindowDisplay,
    decode_chars,
    encode_chars,
    legend_registers,
    open_displays,
    show_registers,
)
from devices.display.settings import DisplaySettings
from devices.display.simulator import Displayed, DisplaySimulator, LedModule, RtuHandler
from devices.display.virtual import Shown, VirtualWindowDisplay
from devices.errors import ConfigError, DeviceRefused, DeviceTimeout, DeviceUnavailable
from devices.serialio import ReconnectGate
from devices.sim import Fault
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


# -- the factory honours DisplaySettings.driver --------------------------------------------
def test_display_group_virtual_driver_puts_nothing_on_the_wire() -> None:
    settings = DisplaySettings(driver="virtual", port="/dev/does-not-exist", windows={"3": 3})
    with open_display_group(settings) as group:
        assert group.bus is None and list(group) == ["3"]
        display = group["3"]
        assert isinstance(display, VirtualWindowDisplay)
        group.show("3", "A001")
        assert display.current == Shown("A001", "3", 3, 5)
        assert group.self_test()["3"].ok
        with pytest.raises(ConfigError):
            group["9"]


def test_display_group_modbus_driver_talks_to_the_modules(sim: DisplaySimulator) -> None:
    settings = DisplaySettings(
        driver="modbus", port=sim.url, timeout_s=0.3, retries=0, windows={"3": 3, "12": 1}
    )
    with open_display_group(settings) as group:
        assert isinstance(group["12"], ModbusWindowDisplay) and group.bus is not None
        results = group.self_test()
        assert results["3"].ok and results["12"].ok
        group.show("12", "B7")
        assert sim.displayed(1) == Displayed(1, "B7", "12", 3, 5)


def test_self_test_of_a_missing_module_fails_without_raising(bus: ModbusBus) -> None:
    result = ModbusWindowDisplay(bus, 9).self_test()
    assert not result.ok and result.state is DeviceState.ABSENT
    assert "did not answer" in result.reason


# -- faults over the wire ----------------------------------------------------------------
@pytest.mark.parametrize("fault", [Fault.NO_REPLY, Fault.CORRUPT, Fault.PARTIAL])
def test_lost_corrupt_or_partial_reply_is_a_timeout_then_recovers(
    sim: DisplaySimulator, bus: ModbusBus, fault: Fault
) -> None:
    display = ModbusWindowDisplay(bus, 3)
    sim.faults.inject(fault)
    with pytest.raises(DeviceTimeout):
        display.show("A001", 3)  # the module may have shown it; the driver cannot know
    assert display.status.state is DeviceState.ABSENT
    display.show("A002", 3)
    assert sim.displayed(3).ticket == "A002" and display.status.state is DeviceState.READY


def test_round_trip_over_a_pty_at_a_real_baud_rate() -> None:
    with DisplaySimulator(units=(2,), transport="pty", baud=9600) as sim:
        bus = ModbusBus(DisplaySettings(port=sim.url, baudrate=9600, timeout_s=0.5, retries=0))
        try:
            display = ModbusWindowDisplay(bus, 2)
            assert display.self_test().ok
            display.show("C33", 5)
            assert sim.displayed(2) == Displayed(2, "C33", "5", 3, 5)
        finally:
            bus.close()


def test_bus_reopens_after_unplug_only_after_the_backoff(sim: DisplaySimulator) -> None:
    settings = DisplaySettings(
        port=sim.url, timeout_s=0.3, retries=0, reconnect_initial_s=0.2, reconnect_max_s=0.4
    )
    bus = ModbusBus(settings)
    try:
        display = ModbusWindowDisplay(bus, 1)
        display.show("A1", 1)
        sim.unplug()
        with pytest.raises(DeviceUnavailable):
            display.show("A2", 1)  # the port dies under pymodbus
        assert display.status.state is DeviceState.ABSENT
        with pytest.raises(DeviceUnavailable, match="next try in"):
            display.show("A2", 1)  # within the backoff: fails at once, no open attempt
        sim.replug()
        reopened = threading.Event()
        # wait for the gate on an event, not a sleep: a timer fires when it opens
        timer = threading.Timer(bus.gate.remaining(), reopened.set)
        timer.start()
        assert reopened.wait(5)
        timer.join()
        display.show("A3", 1)
        assert sim.displayed(1).ticket == "A3" and display.status.state is DeviceState.READY
        assert bus.gate.failures == 0
    finally:
        bus.close()


def test_missing_port_backs_off_exponentially() -> None:
    now = [0.0]
    bus = ModbusBus(
        DisplaySettings(
            port="/dev/does-not-exist-hallkit", reconnect_initial_s=1, reconnect_max_s=4
        )
    )
    bus.gate = ReconnectGate(bus.gate.backoff, clock=lambda: now[0])
    display = ModbusWindowDisplay(bus, 1)
    delays = []
    for _ in range(4):
        with pytest.raises(DeviceUnavailable, match="cannot open display bus"):
            display.show("A1", 1)
        delays.append(bus.gate.remaining())
        with pytest.raises(DeviceUnavailable, match="unavailable; next try in"):
            display.show("A1", 1)  # too early: no second open attempt
        now[0] += delays[-1]
    assert delays == [1, 2, 4, 4]
    bus.close()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=8))
def test_fuzz_rtu_handler_never_raises(chunks: list[bytes]) -> None:
    sim = DisplaySimulator(units=(1,))  # not started: only the frame handler is used
    try:
        handler = RtuHandler(sim, gap_s=60)
        for chunk in chunks:
            for reply in handler.on_data(chunk):
                assert reply[0] == 1 and len(reply) >= 5  # an RTU frame from unit 1
    finally:
        sim.stop()


# -- the fixed legend, reading back, one module unplugged -------------------------------
def test_legend_register_lights_the_paused_legend_over_blank_digits(
    sim: DisplaySimulator, bus: ModbusBus
) -> None:
    display = ModbusWindowDisplay(bus, 3)
    display.show("A001", 3, blink=2)
    display.show_legend(LEGEND_PAUSED, 3)
    assert sim.displayed(3) == Displayed(3, "", "3", 2, 5, LEGEND_PAUSED)
    assert LEGENDS[LEGEND_PAUSED] == "暂停服务"
    display.show("A002", 3, blink=0)  # a number puts the legend out, in the same write
    assert sim.displayed(3) == Displayed(3, "A002", "3", 0, 5, 0)
    assert [d.legend for d in sim.history] == [0, 0, LEGEND_PAUSED, 0, 0]
    display.show_legend(LEGEND_PAUSED)
    display.clear()
    assert sim.displayed(3) == Displayed(3, "", "", 0, 5, 0)
    with pytest.raises(ConfigError, match="legend code 7"):
        display.show_legend(7, 3)  # refused before anything goes on the wire


def test_a_module_refuses_a_legend_it_does_not_have() -> None:
    module = LedModule(1)
    assert not module.write(REG_LEGEND, [9])
    assert module.write(REG_LEGEND, [LEGEND_PAUSED]) and module.displayed().legend == 1
    assert legend_registers(LEGEND_PAUSED, 12) == [0x20] * 8 + [0x20, 0x31, 0x32, 1]


def test_read_back_reports_what_the_module_shows(sim: DisplaySimulator, bus: ModbusBus) -> None:
    display = ModbusWindowDisplay(bus, 1)
    assert display.read_back() == DisplayContent("", "", 0, 5)
    display.show("b12", 7)
    display.set_brightness(3)
    assert display.read_back() == DisplayContent("B12", "7", 0, 3)
    assert display.status.state is DeviceState.READY
    with pytest.raises(DeviceTimeout):
        ModbusWindowDisplay(bus, 9).read_back()


def test_a_long_reply_over_socket_is_read_whole_not_a_byte_per_poll(
    sim: DisplaySimulator,
) -> None:
    """pyserial's socket:// says 1 byte waits whatever waits; read byte by byte, an
    18-register reply took ~0.2 s, past this timeout."""
    bus = ModbusBus(DisplaySettings(port=sim.url, timeout_s=0.1, retries=0))
    try:
        for _ in range(5):
            assert len(bus.read(1, 0, REG_BRIGHTNESS + 1)) == REG_BRIGHTNESS + 1
    finally:
        bus.close()


def test_one_module_unplugged_goes_silent_and_comes_back_dark(
    sim: DisplaySimulator, bus: ModbusBus
) -> None:
    one, three = ModbusWindowDisplay(bus, 1), ModbusWindowDisplay(bus, 3)
    one.show("A001", 1)
    sim.unplug_unit(1)
    with pytest.raises(DeviceTimeout):
        one.read_back()
    assert one.status.state is DeviceState.ABSENT
    three.show("C3", 3)  # the rest of the bus goes on
    assert sim.displayed(3).ticket == "C3"
    sim.replug_unit(1)
    assert sim.history[-1] == Displayed(1, "", "", 0, 5, 0)  # powered up dark
    assert one.read_back() == DisplayContent("", "", 0, 5)
    assert one.status.state is DeviceState.READY
    assert sim.wait_displayed(3, lambda d: d.ticket == "C3", 1)


def test_virtual_display_legend_and_read_back() -> None:
    display = VirtualWindowDisplay()
    assert display.read_back() == DisplayContent("", "", 0, 5)
    display.show_legend(LEGEND_PAUSED, 4)
    assert display.current == Shown("", "4", 0, 5, LEGEND_PAUSED)
    assert display.read_back() == DisplayContent("", "4", 1, 5)
    display.show("A1", 4)
    assert display.read_back() == DisplayContent("A1", "4", 0, 5)
    with pytest.raises(ConfigError):
        display.show_legend(3)
