"""The ticket and the printed guide carry the hall's time in the hall's zone, whatever
zone the kiosk's machine clock is set to (issue 11, item 10): printed through the printer
simulator (the real ESC/POS path) and read back from its receipts."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hall_contract.messages import PriorityClass
from kiosk.flows import TicketFlow
from kiosk.settings import DevicesSettings
from tests.kiosk.helpers import MONDAY_10, FakeLink, make_kiosk


@pytest.fixture
def machine_in_utc() -> Iterator[None]:
    """The kiosk PC's clock zone is UTC (as many images ship); the hall is in +08:00."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def devices() -> DevicesSettings:
    return DevicesSettings.model_validate(
        {
            "idcard": {"driver": "fake"},
            "scanner": {"driver": "fake"},
            "printer": {"driver": "simulator"},
            "voice": {"driver": "log"},
        }
    )


def test_ticket_time_is_hall_time(tmp_path: Path, machine_in_utc: None) -> None:
    k, ui, hw = make_kiosk(tmp_path, FakeLink(), devices=devices())
    try:
        k.start_ticket()
        k.ticket_choose("service", "idcard_reissue")
        k.ticket_skip_identify()
        ui.pump_until(lambda: isinstance(k.flow, TicketFlow) and k.flow.step == "priority")
        k.ticket_priority(PriorityClass.NORMAL)
        ui.pump_until(lambda: isinstance(k.flow, TicketFlow) and k.flow.printed is not None)
        assert k.flow.printed is True
        virtual = hw.printer.virtual  # kiosk.fakes.SimulatedPrinter
        assert virtual.wait_for_receipts(1, 10)
        lines = virtual.receipts[-1].text_lines
        when = MONDAY_10.astimezone(k.hall.tz).strftime("%Y-%m-%d %H:%M:%S")
        assert f"取号时间：{when}" in lines, lines
    finally:
        hw.stop()


def test_notice_time_is_hall_time(tmp_path: Path, machine_in_utc: None) -> None:
    k, ui, hw = make_kiosk(tmp_path, FakeLink(), devices=devices())
    try:
        k.open_guide("service", k.hall.services[0].id)
        k.print_notice()
        ui.pump_until(lambda: k.params.get("printed") in ("ok", "failed"))
        assert k.params["printed"] == "ok"
        virtual = hw.printer.virtual
        assert virtual.wait_for_receipts(1, 10)
        lines = virtual.receipts[-1].text_lines
        when = MONDAY_10.astimezone(k.hall.tz).strftime("%Y-%m-%d %H:%M")
        assert any(x.startswith(f"打印时间：{when}") for x in lines), lines
    finally:
        hw.stop()
