"""The LED thread against the Modbus simulator over socket:// (no broker): only changes are
written, a dead display holds up no other, and what cannot be shown is not retried."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from devices.display import modbus as m
from devices.display.settings import DisplaySettings
from devices.display.simulator import DisplaySimulator
from devices.state import DeviceState, DeviceStatus
from hall_display.leds import LedBus
from hall_display.rules import DARK, LedContent
from hall_display.settings import LedRules


class Statuses:
    def __init__(self) -> None:
        self.seen: list[tuple[str, DeviceState]] = []
        self.cond = threading.Condition()

    def __call__(self, window: str, status: DeviceStatus) -> None:
        with self.cond:
            self.seen.append((window, status.state))
            self.cond.notify_all()

    def wait(self, window: str, state: DeviceState, timeout: float = 5.0) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: (window, state) in self.seen, timeout)


@pytest.fixture
def sim() -> Iterator[DisplaySimulator]:
    with DisplaySimulator(units=(1, 2)) as s:
        yield s


def led_bus(sim: DisplaySimulator, statuses: Statuses | None = None, **rules: float) -> LedBus:
    settings = DisplaySettings(
        port=sim.url, timeout_s=0.3, retries=0, brightness=6, windows={"win01": 1, "win02": 2}
    )
    values = {"verify_s": 30.0, "retry_initial_s": 0.1, "retry_max_s": 0.2} | rules
    return LedBus(settings, LedRules(**values), on_status=statuses).start()


def writes_to(sim: DisplaySimulator, unit: int) -> list[tuple[int, list[int]]]:
    return [(a, v) for u, a, v in list(sim.writes) if u == unit]


def test_only_changes_are_written(sim: DisplaySimulator) -> None:
    bus = led_bus(sim)
    try:
        number = LedContent("A001", "1", 0, 1)
        bus.set("win01", number)
        assert sim.wait_displayed(
            1, lambda d: (d.ticket, d.blink, d.brightness) == ("A001", 3, 6), 5
        )
        first = writes_to(sim, 1)
        assert [a for a, _v in first] == [m.REG_TICKET, m.REG_BLINK, m.REG_BRIGHTNESS]
        bus.set("win01", number)  # the same again (a board republished): nothing to do
        bus.set("win01", LedContent("A001", "1", 0, 1))
        bus.set("win02", DARK)  # a barrier: written after anything pending for win01
        assert sim.wait_until(lambda: len(writes_to(sim, 2)) == 2, 5)  # clear + brightness
        assert writes_to(sim, 1) == first
        bus.set("win01", LedContent("A001", "1", 0, 2))  # a recall: blink again, no brightness
        assert sim.wait_until(lambda: len(writes_to(sim, 1)) == 5, 5)
        assert [a for a, _v in writes_to(sim, 1)[3:]] == [m.REG_TICKET, m.REG_BLINK]
        bus.set("win01", LedContent("", "1", m.LEGEND_PAUSED))
        assert sim.wait_displayed(1, lambda d: (d.ticket, d.legend) == ("", 1), 5)
        assert len(writes_to(sim, 1)) == 6  # the legend is one write
    finally:
        bus.stop()


def test_a_dead_display_holds_up_no_other_and_is_restored(sim: DisplaySimulator) -> None:
    statuses = Statuses()
    bus = led_bus(sim, statuses, retry_max_s=0.8)
    try:
        sim.unplug_unit(1)
        bus.set("win01", LedContent("A001", "1", 0, 1))
        assert statuses.wait("win01", DeviceState.ABSENT)
        # window 2 keeps changing while window 1 is tried again and again, backing off
        for i in range(1, 500):
            t0 = time.monotonic()
            bus.set("win02", LedContent(f"B{i:03d}", "2", 0, i))
            assert sim.wait_displayed(2, lambda d, i=i: d.ticket == f"B{i:03d}", 5)
            assert time.monotonic() - t0 < 0.9  # at worst one timed-out try of window 1
            if bus.slots["win01"].failures >= 3:
                break
        assert bus.slots["win01"].failures >= 3
        sim.replug_unit(1)
        assert sim.wait_displayed(
            1, lambda d: (d.ticket, d.blink, d.brightness) == ("A001", 3, 6), 5
        )
        assert statuses.wait("win01", DeviceState.READY)
        t0 = time.monotonic()  # answered again: no back-off left for the next change
        bus.set("win01", LedContent("A002", "1", 0, 2))
        assert sim.wait_displayed(1, lambda d: d.ticket == "A002", 5)
        assert time.monotonic() - t0 < 0.3  # (a back-off would be 0.4 s or more by now)
    finally:
        bus.stop()


def test_a_content_the_module_cannot_show_is_a_fault_not_a_loop(sim: DisplaySimulator) -> None:
    statuses = Statuses()
    bus = led_bus(sim, statuses)
    try:
        bus.set("win01", LedContent("A001", "1234", 0, 1))  # 4 characters in a 3-digit field
        assert statuses.wait("win01", DeviceState.FAULT)
        bus.set("win02", LedContent("A002", "2", 0, 1))
        assert sim.wait_displayed(2, lambda d: d.ticket == "A002", 5)
        assert writes_to(sim, 1) == [] and bus.slots["win01"].refused is not None
        bus.set("win01", LedContent("A001", "1", 0, 1))
        assert sim.wait_displayed(1, lambda d: d.ticket == "A001", 5)
    finally:
        bus.stop()


def test_the_virtual_driver_needs_no_wire() -> None:
    settings = DisplaySettings(driver="virtual", port="/dev/none", windows={"win01": 1})
    statuses = Statuses()
    bus = LedBus(settings, LedRules(verify_s=0.05), on_status=statuses).start()
    try:
        assert statuses.wait("win01", DeviceState.READY)
        bus.set("win01", LedContent("", "1", m.LEGEND_PAUSED))
        display = bus.slots["win01"].display
        done = threading.Event()

        def shown() -> None:
            while not done.is_set():
                content = display.read_back()
                if content is not None and content.legend == m.LEGEND_PAUSED:
                    done.set()
                done.wait(0.01)

        t = threading.Thread(target=shown)
        t.start()
        assert done.wait(5)
        t.join()
    finally:
        bus.stop()
