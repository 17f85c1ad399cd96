"""Printer driver <-> simulator over a real TCP socket on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from escpos.printer import Dummy
from PIL import Image

from devices.errors import DeviceRefused, DeviceUnavailable
from devices.printer import virtual
from devices.printer.driver import Printer
from devices.printer.escpos_parser import EscPosParser, Init, StatusRequest
from devices.printer.escpos_serial import SerialUrlPrinter, make_escpos
from devices.printer.layouts import TicketReceipt, ticket_bytes
from devices.printer.settings import PrinterSettings
from devices.printer.simulator import PrinterSimulator
from devices.printer.virtual import Receipt, VirtualEscpos
from devices.sim import Fault
from devices.state import ERROR_STATES, DeviceState, DeviceStatus

TICKET = TicketReceipt(
    "市民中心", "综合窗口", "B012", 4, datetime(2024, 5, 1, 10, 0), status_url="q:B012"
)


@pytest.fixture
def sim() -> Iterator[PrinterSimulator]:
    with PrinterSimulator() as simulator:
        yield simulator


def settings_for(sim: PrinterSimulator, **kw: object) -> PrinterSettings:
    base: dict[str, object] = {"port": sim.url, "status_timeout_s": 0.2, "poll_interval_s": 0}
    base.update(kw)
    return PrinterSettings(**base)  # type: ignore[arg-type]


def wait_for_state(printer: Printer, state: DeviceState, timeout: float = 5.0) -> bool:
    reached = threading.Event()

    def listener(status: DeviceStatus) -> None:
        if status.state is state:
            reached.set()

    unsubscribe = printer.subscribe(listener)
    try:
        return printer.status.state is state or reached.wait(timeout)
    finally:
        unsubscribe()


def test_print_ticket_round_trip(sim: PrinterSimulator) -> None:
    with Printer(settings_for(sim)) as printer:
        assert printer.status.state is DeviceState.READY
        printer.print_ticket(TICKET)
        assert sim.virtual.wait_for_receipts(1, timeout=5)
    [receipt] = sim.virtual.receipts
    assert receipt.text_lines[:4] == ["市民中心", "综合窗口", "B012", "前面还有 4 人等候"]
    assert receipt.qr_codes == ["q:B012"]
    assert receipt.cut == "partial"
    assert sim.virtual.status_requests >= 8  # before and after the job


def test_status_after_a_print_is_answered_while_the_preview_renders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The simulator answers DLE EOT right after a print within the driver's normal status
    timeout, even while the receipt's PNG preview is still being rendered (held here)."""
    real_render = virtual.render_receipt
    rendering = threading.Event()
    release = threading.Event()

    def held_render(receipt: Receipt, width_chars: int = 32) -> Image.Image:
        rendering.set()
        release.wait(10)
        return real_render(receipt, width_chars)

    monkeypatch.setattr(virtual, "render_receipt", held_render)
    settings = PrinterSettings(port="socket://127.0.0.1:1", poll_interval_s=0)
    assert settings.status_timeout_s == 0.5  # the default the kiosk uses, not a longer one
    with PrinterSimulator(preview_dir=tmp_path) as sim:
        settings = settings.model_copy(update={"port": sim.url})
        try:
            with Printer(settings) as printer:
                printer.print_ticket(TICKET)  # refreshes the status after the job
                assert rendering.wait(10)
                assert printer.status.state is DeviceState.READY, printer.status.reason
                assert printer.last_printer_status.known
                assert printer.refresh_status().known  # and again, preview still pending
                assert sim.virtual.receipts[0].preview is None
        finally:
            release.set()
        assert sim.virtual.wait_for_previews(10)
    assert sim.virtual.receipts[0].preview == tmp_path / "receipt-0001.png"


def test_paper_near_end_still_prints_but_degraded(sim: PrinterSimulator) -> None:
    sim.virtual.paper = "near_end"
    with Printer(settings_for(sim)) as printer:
        assert printer.status.state is DeviceState.DEGRADED
        assert "paper near end" in printer.status.reason
        printer.print_ticket(TICKET)
        assert sim.virtual.wait_for_receipts(1, timeout=5)


@pytest.mark.parametrize(
    ("fault", "words"), [("paper", "paper out"), ("cover", "cover open"), ("cutter", "cutter")]
)
def test_refuses_when_printer_cannot_print(sim: PrinterSimulator, fault: str, words: str) -> None:
    with Printer(settings_for(sim)) as printer:
        if fault == "paper":
            sim.virtual.paper = "out"
        elif fault == "cover":
            sim.virtual.cover_open = True
        else:
            sim.virtual.cutter_error = True
        with pytest.raises(DeviceRefused, match=words):
            printer.print_ticket(TICKET)
        assert printer.status.state is DeviceState.FAULT
        assert words in printer.status.reason
    assert sim.virtual.receipts == []


def test_polling_notices_paper_changes_and_close_stops_thread(sim: PrinterSimulator) -> None:
    printer = Printer(settings_for(sim, poll_interval_s=0.05))
    printer.open()
    try:
        assert printer.status.state is DeviceState.READY
        sim.virtual.paper = "near_end"
        assert wait_for_state(printer, DeviceState.DEGRADED)
        sim.virtual.paper = "out"
        assert wait_for_state(printer, DeviceState.FAULT)
        assert printer.last_printer_status.paper_out is True
        sim.virtual.paper = "ok"
        assert wait_for_state(printer, DeviceState.READY)
    finally:
        printer.close()
    assert not any(t.name == "printer-status" for t in threading.enumerate())
    assert printer.status.state is DeviceState.ABSENT


def test_silent_printer_is_unknown_and_printing_is_not_attempted(sim: PrinterSimulator) -> None:
    sim.virtual.silent = True
    with Printer(settings_for(sim)) as printer:
        status = printer.refresh_status()
        assert not status.known and status.paper_out is None
        assert printer.status.state is DeviceState.ABSENT
        with pytest.raises(DeviceUnavailable, match="does not answer"):
            printer.print_ticket(TICKET)
        result = printer.self_test()
        assert not result.ok
    assert sim.virtual.receipts == []


def test_unreachable_port_is_absent_not_an_exception() -> None:
    printer = Printer(PrinterSettings(port="socket://127.0.0.1:1", poll_interval_s=0))
    try:
        assert printer.open().state is DeviceState.ABSENT
        with pytest.raises(DeviceUnavailable):
            printer.print_ticket(TICKET)
    finally:
        printer.close()


def test_serial_url_printer_on_loop_url() -> None:
    p = SerialUrlPrinter("loop://", read_timeout_s=0.05)
    try:
        p._raw(b"\x10\x04\x01")
        assert p._read() == b"\x10"  # loop:// echoes
        p.discard_input()
        assert p._read() == b""
    finally:
        p.close()


def test_transport_without_reads_is_degraded_and_prints() -> None:
    dummy = Dummy()
    with Printer(PrinterSettings(driver="dummy", poll_interval_s=0), escpos=dummy) as printer:
        assert printer.status.state is DeviceState.DEGRADED
        assert "cannot be read" in printer.status.reason
        printer.print_ticket(TICKET)
    assert dummy.output.endswith(ticket_bytes(TICKET))


def test_virtual_driver_in_process() -> None:
    escpos = make_escpos(PrinterSettings(driver="virtual", poll_interval_s=0))
    assert isinstance(escpos, VirtualEscpos)
    with Printer(PrinterSettings(driver="virtual", poll_interval_s=0), escpos=escpos) as printer:
        assert printer.self_test(print_page=True).ok
    [page] = escpos.virtual.receipts
    assert page.text_lines[0] == "打印机测试页"
    assert any(line.startswith("状态：ready") for line in page.text_lines)


# no reply to DLE EOT 1 stops the round (1 fault); corrupt bytes are read for all 4
@pytest.mark.parametrize(("fault", "count"), [(Fault.NO_REPLY, 1), (Fault.CORRUPT, 4)])
def test_lost_or_corrupt_status_reply_is_unknown_never_paper_ok(
    sim: PrinterSimulator, fault: Fault, count: int
) -> None:
    with Printer(settings_for(sim)) as printer:
        assert printer.status.state is DeviceState.READY
        sim.faults.inject(fault, count)  # the next answers are lost / not status bytes
        status = printer.refresh_status()
        assert not status.known and status.paper_out is None and status.paper_near_end is None
        assert printer.status.state is not DeviceState.READY
        assert printer.refresh_status().known  # the next answer is fine again


def test_one_corrupt_status_byte_makes_only_its_part_unknown(sim: PrinterSimulator) -> None:
    with Printer(settings_for(sim)) as printer:
        sim.faults.inject(Fault.CORRUPT)  # DLE EOT 1 (online/offline) only
        status = printer.refresh_status()
        assert status.online is None and status.paper_out is False
        assert printer.status.state is not DeviceState.READY


def test_slow_status_reply_at_a_real_baud_rate(sim: PrinterSimulator) -> None:
    sim.server.slow_baud = 20  # one status byte takes 0.5 s on the line
    with Printer(settings_for(sim, status_timeout_s=0.1)) as printer:
        sim.faults.inject(Fault.SLOW)
        assert not printer.refresh_status().known  # too slow for the timeout: unknown
        assert sim.server.wait_replies(5, timeout=5)  # let the late byte arrive …
        assert printer.refresh_status().known  # … and be discarded before the next request


def test_print_over_a_pty_like_a_serial_printer() -> None:
    with PrinterSimulator(transport="pty") as sim:
        assert sim.url.startswith("/dev/")
        with Printer(settings_for(sim, baudrate=115200)) as printer:
            assert printer.status.state is DeviceState.READY
            printer.print_ticket(TICKET)
            assert sim.virtual.wait_for_receipts(1, timeout=5)
    assert sim.virtual.receipts[0].qr_codes == ["q:B012"]


def test_poll_thread_reconnects_with_backoff_after_unplug(sim: PrinterSimulator) -> None:
    # the poll interval is far away: coming back can only be the backoff's doing
    printer = Printer(
        settings_for(sim, poll_interval_s=60, reconnect_initial_s=0.05, reconnect_max_s=0.2)
    )
    printer.open()
    try:
        assert printer.status.state is DeviceState.READY
        sim.unplug()
        with pytest.raises(DeviceUnavailable):
            printer.print_ticket(TICKET)
        assert printer.status.state is DeviceState.ABSENT
        assert printer.gate.failures >= 1
        sim.replug()
        assert wait_for_state(printer, DeviceState.READY, timeout=5)
        assert printer.gate.failures == 0
        printer.print_ticket(TICKET)
        assert sim.virtual.wait_for_receipts(1, timeout=5)
    finally:
        printer.close()


def test_serial_printer_unplugged_and_replugged_on_a_pty(tmp_path: Path) -> None:
    """A serial printer (a real pty behind a stable symlink, like /dev/serial/by-id/…) is
    unplugged: the hung-up tty makes ``reset_input_buffer()`` raise ``termios.error``. The
    poll thread must notice (not die), a print must fail with a DeviceError (not a raw
    termios.error), and once a new pty is at the same path everything works again."""
    link = str(tmp_path / "ttyPRINTER")
    states: list[DeviceState] = []
    with PrinterSimulator(transport="pty", link_path=link) as sim:
        assert sim.url == link
        printer = Printer(
            settings_for(sim, poll_interval_s=0.05, reconnect_initial_s=0.05, reconnect_max_s=0.2)
        )
        printer.subscribe(lambda status: states.append(status.state))
        printer.open()
        try:
            assert printer.status.state is DeviceState.READY
            sim.unplug()
            assert wait_for_state(printer, DeviceState.ABSENT), printer.status
            assert printer.status.state in ERROR_STATES
            assert "check the printer's cable and power" in printer.status.reason
            with pytest.raises(DeviceUnavailable):
                printer.print_ticket(TICKET)
            sim.replug()
            assert wait_for_state(printer, DeviceState.READY), printer.status
            printer.print_ticket(TICKET)
            assert sim.virtual.wait_for_receipts(1, timeout=5)
        finally:
            printer.close()
    assert sim.virtual.receipts[0].qr_codes == ["q:B012"]
    assert DeviceState.ABSENT in states[states.index(DeviceState.READY) :]


@pytest.mark.parametrize("driver", ["dummy", "file"])
def test_sinks_that_cannot_answer_get_no_status_queries(driver: str, tmp_path: Path) -> None:
    """A file or dummy sink has no device to answer DLE EOT: its output is the receipts
    only (was: a stray ``10 04 01`` first), read back with our ESC/POS parser."""
    out = tmp_path / "receipts.bin"
    settings = PrinterSettings(driver=driver, port=str(out), poll_interval_s=0)  # type: ignore[arg-type]
    escpos = make_escpos(settings)
    with Printer(settings, escpos=escpos) as printer:
        assert printer.status.state is DeviceState.DEGRADED
        printer.print_ticket(TICKET)
        printer.print_ticket(TICKET)
        if driver == "dummy":
            data = bytes(escpos.output)  # type: ignore[attr-defined]
    if driver == "file":
        data = out.read_bytes()
    assert data == ticket_bytes(TICKET) * 2
    events = EscPosParser().feed(data)
    assert isinstance(events[0], Init)
    assert not any(isinstance(e, StatusRequest) for e in events)
