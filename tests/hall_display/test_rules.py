"""The display program's rules without I/O: board and events in, LED contents and calls out."""

from __future__ import annotations

import pytest

from devices.display.modbus import LEGEND_PAUSED
from hall_contract import events as ev
from hall_contract.messages import WindowBoard, WindowBoardEntry, read
from hall_display.rules import DARK, CallEvent, HallView, LedContent, fit, window_number


def entry(
    window: str = "win01",
    *,
    name: str = "1号窗口",
    open: bool = False,
    paused: bool = False,
    current: str | None = None,
) -> WindowBoardEntry:
    return WindowBoardEntry(
        window=window,
        name=name,
        open=open,
        paused=paused,
        pause_reason="break" if paused else None,
        current=current,
        state="called" if current else None,
    )


def board(*entries: WindowBoardEntry) -> WindowBoard:
    return WindowBoard(list(entries))


def call(seq: int, number: str, window: str = "win01", recall: int = 0) -> CallEvent:
    """A call event as the controller publishes it, read the way the program reads it."""
    if recall:
        e: ev.Event = ev.TicketRecalled(f"2026-11-18-{number}", number, window, recall)
    else:
        e = ev.TicketCalled(f"2026-11-18-{number}", number, window, "general", "normal")
    return read(CallEvent, ev.envelope(seq, 1_800_000_000.0, e))


@pytest.mark.parametrize(
    ("window", "name", "numbers", "expected"),
    [
        ("win03", "3号综合窗口", {}, "3"),
        ("win12", "12号不动产窗口", {}, "12"),
        ("win07", "综合窗口", {}, "7"),  # no number in the name: the id's digits
        ("w-a", "综合窗口", {}, ""),
        ("win01", "01号窗口", {}, "1"),
        ("win01", "1号窗口", {"win01": "A1"}, "A1"),
    ],
)
def test_window_number(window: str, name: str, numbers: dict[str, str], expected: str) -> None:
    assert window_number(window, name, numbers) == expected


def test_led_rules_in_order_legend_number_dark_idle() -> None:
    view = HallView(digits=4)
    assert view.content("win01") is None  # no board yet: leave the display alone
    view.on_board(board(entry()))
    assert view.content("win01") == DARK  # not signed on
    assert view.content("win09") is None  # not on the board
    view.on_board(board(entry(open=True)))
    assert view.content("win01") == LedContent("----", "1")
    view.on_board(board(entry(open=True, paused=True)))
    assert view.content("win01") == LedContent("", "1", LEGEND_PAUSED)
    view.on_board(board(entry(open=True, paused=True, current="A001")))
    assert view.content("win01") == LedContent("", "1", LEGEND_PAUSED)  # paused wins
    view.on_board(board(entry(open=True, current="A001")))
    assert view.content("win01") == LedContent("A001", "1")
    view.on_board(board(entry(current="A001")))  # called without signing on: shown
    assert view.content("win01") == LedContent("A001", "1")
    blank = HallView(digits=5, idle="blank")
    blank.on_board(board(entry(open=True)))
    assert blank.content("win01") == DARK
    dashes = HallView(digits=5)
    dashes.on_board(board(entry(open=True)))
    assert dashes.content("win01") == LedContent("-----", "1")


def test_a_number_carries_its_call_serial_only_once_the_board_shows_it() -> None:
    view = HallView()
    view.on_board(board(entry(current="A001")))
    assert view.content("win01") == LedContent("A001", "1", 0, 0)  # from the board: steady
    first = view.on_call(call(10, "A002"))
    assert first is not None and (first.number, first.label, first.recall) == ("A002", "1", 0)
    # the event comes just before the board that shows it: the old number stays steady
    assert view.content("win01") == LedContent("A001", "1", 0, 0)
    view.on_board(board(entry(current="A002")))
    serial = view.content("win01")
    assert serial is not None and serial.call > 0 and serial.is_number
    again = view.on_call(call(11, "A002", recall=1))
    assert again is not None and again.recall == 1
    recalled = view.content("win01")
    assert recalled is not None and recalled.visual == serial.visual
    assert recalled.call > serial.call  # a recall blinks again
    assert first.text == "请A002号到1号窗口办理"


def test_a_call_seen_before_is_dropped_and_memory_is_bounded() -> None:
    view = HallView(memory=3)
    view.on_board(board(entry()))
    assert view.on_call(call(5, "A001")) is not None
    assert view.on_call(call(5, "A001")) is None  # redelivered
    for seq in (6, 7, 8):
        assert view.on_call(call(seq, f"A00{seq}")) is not None
    assert view.on_call(call(7, "A007")) is None
    assert view.on_call(call(5, "A001")) is not None  # long forgotten (memory 3)


def test_an_old_call_delivered_after_a_newer_board_does_not_blink_the_number() -> None:
    view = HallView()
    view.on_board(board(entry(current="A005")))
    assert view.on_call(call(3, "A004")) is not None  # queued while away
    assert view.content("win01") == LedContent("A005", "1", 0, 0)


def test_names_come_from_the_board_and_numbers_from_the_settings() -> None:
    view = HallView(names={"win01": "1号窗口"}, numbers={"win02": "8"})
    assert view.label("win01") == "1" and view.label("win02") == "8"
    view.on_board(board(entry(name="5号窗口"), entry("win02", name="2号窗口")))
    assert view.label("win01") == "5" and view.label("win02") == "8"


def test_call_events_are_read_leniently() -> None:
    payload = (
        b'{"seq": 9, "type": "ticket.called", "at": 1.5, "data": {"number": "b012", '
        b'"window": "win02", "queue": "q", "pick": "normal", "new_field": 1}}'
    )
    view = HallView(names={"win02": "2号窗口"})
    c = view.on_call(read(CallEvent, payload))
    assert c is not None and (c.seq, c.number, c.window, c.label) == (9, "B012", "win02", "2")


def test_a_number_too_long_for_the_modules_shows_its_last_digits() -> None:
    assert fit("a1000", 4) == "1000" and fit("A001", 4) == "A001" and fit("A1000", 5) == "A1000"
    view = HallView(digits=4)
    view.on_board(board(entry(current="A1000")))
    assert view.content("win01") == LedContent("1000", "1")
