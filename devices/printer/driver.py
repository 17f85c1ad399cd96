"""The receipt printer driver the kiosk uses.

:class:`Printer` owns one python-escpos printer object (see
:func:`~devices.printer.escpos_serial.make_escpos`), polls its real-time status
(``DLE EOT 1..4``) on a background thread, publishes it through a
:class:`~devices.state.StatusHolder`, and prints the layouts of
:mod:`devices.printer.layouts`. Before each job it asks the printer for its status and
refuses with :class:`~devices.errors.DeviceRefused` (plain-words reason) when the paper
is out, the cover is open or the printer reports an error.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from escpos.escpos import Escpos

from devices.errors import DeviceError, DeviceRefused, DeviceUnavailable
from devices.printer import layouts
from devices.printer.escpos_serial import answers_status, make_escpos
from devices.printer.settings import PrinterSettings
from devices.printer.status import (
    ALL_QUERIES,
    UNKNOWN,
    Assessment,
    PrinterStatus,
    assess,
    decode_status,
    status_request,
)
from devices.serialio import Backoff, ReconnectGate
from devices.state import USABLE_STATES, DeviceState, DeviceStatus, StatusHolder

log = logging.getLogger(__name__)

SOFTWARE_VERSION = "hallkit 0.1.0"


@dataclass(frozen=True)
class SelfTestResult:
    ok: bool
    state: DeviceState
    reason: str
    status: PrinterStatus


class Printer:
    """An ESC/POS receipt printer. Use as a context manager or call :meth:`open`/:meth:`close`."""

    def __init__(
        self,
        settings: PrinterSettings | None = None,
        *,
        escpos: Escpos | None = None,
        name: str = "printer",
    ) -> None:
        self.settings = settings or PrinterSettings()
        self.layout = layouts.LayoutOptions.from_settings(self.settings)
        self.holder = StatusHolder(name)
        self._escpos = escpos
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._kick = threading.Event()
        s = self.settings
        self.gate = ReconnectGate(
            Backoff(s.reconnect_initial_s, 2.0, max(s.reconnect_max_s, s.reconnect_initial_s))
        )
        """Bounded exponential backoff of the poll thread's reconnect attempts."""
        self._thread: threading.Thread | None = None
        self._last = UNKNOWN
        self._readable = self.settings.status_supported

    # -- state -------------------------------------------------------------------------
    @property
    def status(self) -> DeviceStatus:
        return self.holder.status

    @property
    def last_printer_status(self) -> PrinterStatus:
        return self._last

    def subscribe(self, listener: Callable[[DeviceStatus], None]) -> Callable[[], None]:
        return self.holder.subscribe(listener)

    # -- life cycle --------------------------------------------------------------------
    def open(self) -> DeviceStatus:
        """Connect, read the status once and start polling. Errors end up in the state."""
        self.holder.set(DeviceState.CONNECTING, "opening printer")
        with self._lock:
            if self._escpos is None:
                self._escpos = make_escpos(self.settings)
            if self._readable and not answers_status(self._escpos):
                # a file/dummy sink: a status request would only be written into it
                log.info("printer transport cannot read replies; status checks disabled")
                self._readable = False
        try:
            self.refresh_status()
        except DeviceError as err:
            log.warning("printer not reachable: %s", err)
        if self.settings.poll_interval_s > 0 and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._poll, name="printer-status", daemon=True)
            self._thread.start()
        return self.status

    def close(self) -> None:
        """Stop the poll thread and close the transport."""
        self._stop.set()
        self._kick.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=self.settings.status_timeout_s * 8 + 5)
        with self._lock:
            if self._escpos is not None:
                self._close_transport()
        self.holder.set(DeviceState.ABSENT, "closed")

    def __enter__(self) -> Printer:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _poll(self) -> None:
        """Poll every ``poll_interval_s``; while unreachable, retry with bounded backoff."""
        while True:
            reconnecting = self.gate.failures > 0
            self._kick.wait(
                self.gate.remaining() if reconnecting else self.settings.poll_interval_s
            )
            self._kick.clear()
            if self._stop.is_set():
                return
            if self.gate.failures > 0 and not self.gate.ready():
                continue  # woken by a failure elsewhere: wait out the backoff first
            try:
                self.refresh_status()
            except DeviceError as err:
                log.debug("status poll failed (next try in %.1f s): %s", self.gate.remaining(), err)
            except Exception as err:  # a bug must not end polling and freeze a stale state
                log.exception("printer status poll failed unexpectedly")
                self.holder.set(DeviceState.FAULT, f"printer status check failed: {err}")
                self.gate.failed()

    def _close_transport(self) -> None:
        assert self._escpos is not None
        try:
            self._escpos.close()
        except Exception as err:  # python-escpos' own close() may raise anything
            log.debug("closing printer transport: %s", err)

    # -- status ------------------------------------------------------------------------
    def _transport(self) -> Escpos:
        if self._escpos is None:
            raise DeviceUnavailable("printer is not open")
        return self._escpos

    def _query(self) -> PrinterStatus | None:
        """Ask ``DLE EOT 1..4``; None when this transport cannot read replies at all."""
        p = self._transport()
        replies: dict[int, bytes | None] = {}
        for query in ALL_QUERIES:
            self._discard(p)
            self._send(p, status_request(query))
            try:
                replies[query] = p._read()
            except NotImplementedError:
                return None
            except DeviceError:
                raise
            except TimeoutError:
                replies[query] = None
            except Exception as err:  # usb.core / socket errors from python-escpos classes
                raise DeviceUnavailable(f"reading printer status failed: {err}") from err
            if query == ALL_QUERIES[0] and not replies[query]:
                break  # no answer to the basic request: do not wait for the others
        return decode_status(replies)

    def _discard(self, p: Escpos) -> None:
        """Drop stale reply bytes, if the transport can (errors as in :meth:`_send`)."""
        discard = getattr(p, "discard_input", None)
        if discard is None:
            return
        try:
            discard()
        except DeviceError:
            raise
        except Exception as err:  # a transport that lets an OS/termios error through
            raise DeviceUnavailable(f"printer port failed: {err}") from err

    def _send(self, p: Escpos, data: bytes) -> None:
        try:
            p._raw(data)
        except DeviceError:
            raise
        except Exception as err:  # python-escpos classes raise socket/usb/OS errors
            raise DeviceUnavailable(f"sending to printer failed: {err}") from err

    def refresh_status(self) -> PrinterStatus:
        """Read the status now, update :attr:`status`, and return what the printer said."""
        with self._lock:
            status, _ = self._refresh_locked()
        return status

    def _refresh_locked(self) -> tuple[PrinterStatus, Assessment]:
        if not self._readable:
            self._last = UNKNOWN
            self.holder.set(
                DeviceState.DEGRADED, "printer status cannot be read: paper state unknown"
            )
            return UNKNOWN, Assessment(DeviceState.DEGRADED, "status unknown", True)
        try:
            status = self._query()
        except DeviceError as err:
            self._last = UNKNOWN
            if self._escpos is not None:
                self._close_transport()  # reopened on next use
            delay = self.gate.failed()
            self._kick.set()  # the poll thread takes over the reconnecting
            self.holder.set(DeviceState.ABSENT, f"printer not reachable: {err}")
            log.info("printer not reachable; next try in %.1f s", delay)
            raise
        self.gate.succeeded()
        if status is None:
            log.info("printer transport cannot read replies; status checks disabled")
            self._readable = False
            return self._refresh_locked()
        self._last = status
        assessment = assess(status)
        self.holder.set(assessment.state, assessment.reason)
        return status, assessment

    # -- printing ----------------------------------------------------------------------
    def _print(self, data: bytes, what: str) -> None:
        with self._lock:
            status, assessment = self._refresh_locked()
            if not assessment.can_print:
                raise DeviceRefused(f"cannot print the {what}: {assessment.reason}")
            if self._readable and not status.known:
                raise DeviceUnavailable(f"cannot print the {what}: printer does not answer")
            self.holder.set(DeviceState.BUSY, f"printing {what}")
            try:
                self._send(self._transport(), data)
            except DeviceError as err:
                self.holder.set(DeviceState.ABSENT, f"printing failed: {err}")
                raise
            log.info("sent %s to printer (%d bytes)", what, len(data))
            try:
                self._refresh_locked()
            except DeviceError as err:
                log.warning("status after printing: %s", err)

    def print_ticket(self, ticket: layouts.TicketReceipt) -> None:
        """Print a queue ticket. Raises DeviceRefused (paper out, cover open, …)."""
        self._print(layouts.ticket_bytes(ticket, self.layout), "queue ticket")

    def print_notice(self, notice: layouts.NoticeReceipt) -> None:
        """Print a one-time notice checklist (一次性告知单)."""
        self._print(layouts.notice_bytes(notice, self.layout), "one-time notice")

    def print_test_page(self, info: layouts.TestPageInfo | None = None) -> None:
        """Print the technician test page (with the current status when ``info`` is None)."""
        if info is None:
            info = layouts.TestPageInfo(
                software_version=SOFTWARE_VERSION,
                printed_at=datetime.now(),
                status_lines=status_lines(self.refresh_status()),
            )
        self._print(layouts.technician_page_bytes(info, self.layout), "test page")

    def self_test(self, print_page: bool = False) -> SelfTestResult:
        """Check the printer answers and can print; optionally print the test page."""
        try:
            status = self.refresh_status()
            if print_page:
                self.print_test_page()
        except DeviceError as err:
            return SelfTestResult(False, self.status.state, str(err), self._last)
        current = self.status
        ok = current.state in USABLE_STATES and (status.known or not self._readable)
        return SelfTestResult(ok, current.state, current.reason, status)


def status_lines(status: PrinterStatus) -> list[str]:
    """The status in plain words for the test page."""

    def word(value: bool | None, yes: str, no: str) -> str:
        return "未知" if value is None else (yes if value else no)

    assessment = assess(status)
    raw = " ".join(
        f"{n}:{'--' if v is None else f'{v:02X}'}" for n, v in sorted(status.raw.items())
    )
    return [
        f"状态：{assessment.state.value} ({assessment.reason})",
        f"在线：{word(status.online, '是', '否')}  上盖：{word(status.cover_open, '打开', '关闭')}",
        f"纸张：{word(status.paper_out, '缺纸', word(status.paper_near_end, '将尽', '充足'))}",
        f"切刀：{word(status.cutter_error, '故障', '正常')}",
        f"DLE EOT：{raw or '无应答'}",
    ]


def open_printer(settings: PrinterSettings, **kwargs: Any) -> Printer:
    """Build and open a :class:`Printer` (the kiosk's one-liner)."""
    printer = Printer(settings, **kwargs)
    printer.open()
    return printer
