"""Serial (USB-CDC) barcode/QR scanner: continuous or software-triggered.

One reader thread per scanner feeds a :class:`~devices.scanner.protocol.Deframer` and
emits :class:`ScanEvent` through a callback and to :meth:`SerialScanner.wait_for_scan`.
A lost port (unplug) is reopened with bounded exponential backoff.
"""

from __future__ import annotations

import collections
import enum
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from devices.errors import ConfigError, DeviceError, DeviceTimeout, DeviceUnavailable
from devices.scanner.protocol import TRIGGERS, Deframer, Framing, ScanEvent, Source, make_event
from devices.serialio import Backoff, SerialLink
from devices.sim import SimServer
from devices.state import DeviceState, SelfTest, StatusHolder

if TYPE_CHECKING:
    from devices.config import ScannerSettings

log = logging.getLogger(__name__)

ScanCallback = Callable[[ScanEvent], None]


class ScanMode(enum.StrEnum):
    CONTINUOUS = "continuous"  #: the scanner decodes whatever it sees (presentation mode)
    TRIGGERED = "triggered"  #: we switch the scanner on with a command and off afterwards


def _redact_code(data: bytes) -> str:
    """Log the framing, not the code: it may hold personal data."""
    return f"<{len(data)} bytes> tail {data[-2:].hex(' ').upper()}"


class SerialScanner:
    def __init__(
        self,
        url: str,
        baud: int = 9600,
        *,
        framing: Framing = Framing.SUFFIX,
        suffix: bytes | None = None,
        mode: ScanMode = ScanMode.CONTINUOUS,
        dialect: str = "honeywell",
        on_scan: ScanCallback | None = None,
        status: StatusHolder | None = None,
        backoff: Backoff | None = None,
        log_codes: bool = False,
    ) -> None:
        if dialect not in TRIGGERS:
            raise ConfigError(f"unknown scanner dialect {dialect!r}; known: {sorted(TRIGGERS)}")
        self.link = SerialLink(url, baud, name="scanner", backoff=backoff, logger=log)
        self.mode = mode
        self.commands = TRIGGERS[dialect]
        self.on_scan = on_scan
        self.status = status or StatusHolder("scanner")
        self._deframer = Deframer(framing, suffix)
        self._redact = None if log_codes else _redact_code
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cond = threading.Condition()
        self._events: collections.deque[ScanEvent] = collections.deque(maxlen=64)
        self._write_lock = threading.Lock()
        self._owned_sim: SimServer | None = None

    @classmethod
    def from_settings(
        cls,
        settings: ScannerSettings,
        on_scan: ScanCallback | None = None,
        status: StatusHolder | None = None,
    ) -> SerialScanner:
        """A scanner for the config; ``driver: simulator`` starts a simulator on a pty
        (feed it codes through ``scanner.simulator.handler.scan("…")``)."""
        framing = Framing(settings.framing)
        url = settings.port
        sim: SimServer | None = None
        if settings.driver == "simulator":
            from devices.scanner.simulator import ScannerSimulator

            handler = ScannerSimulator(
                framing=framing, suffix=settings.suffix_bytes or b"\r\n", dialect=settings.dialect
            )
            sim = SimServer(handler, name="scanner-sim")
            handler.server = sim
            url = sim.start_pty()
        scanner = cls(
            url,
            settings.baudrate,
            framing=framing,
            suffix=settings.suffix_bytes,
            mode=ScanMode(settings.mode),
            dialect=settings.dialect,
            on_scan=on_scan,
            status=status,
        )
        scanner._owned_sim = sim
        return scanner

    @property
    def simulator(self) -> SimServer | None:
        return self._owned_sim

    # -- lifecycle -------------------------------------------------------------------
    def open(self) -> None:
        self.status.set(DeviceState.CONNECTING, "opening the port")
        try:
            self.link.open()
        except DeviceError as err:
            self.status.set(DeviceState.ABSENT, f"cannot open the port: {err}")
            raise
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="scanner-reader", daemon=True)
        self._thread.start()
        self.status.set(DeviceState.READY, "listening")

    def self_test(self) -> SelfTest:
        """Open the port if needed and check the reader thread listens; never raises.

        A serial scanner has no standard "are you there" command (Newland's command
        programming and Honeywell's menu are model-specific), so this checks the port and,
        in triggered mode, that the trigger/release commands can be written. Scan a code
        (``python -m devices scan PORT``) to check decoding end to end.
        """
        try:
            if self._thread is None or not self._thread.is_alive():
                self.open()
            if self.mode is ScanMode.TRIGGERED:
                with self._write_lock:
                    self.link.write(self.commands.stop)
        except DeviceError as err:
            return SelfTest(False, self.status.status.state, f"self-test failed: {err}")
        return SelfTest(True, self.status.status.state, f"port {self.link.url} open, listening")

    def close(self) -> None:
        self._stop.set()
        self.link.close()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)
        if self._owned_sim is not None:
            self._owned_sim.stop()
        self.status.set(DeviceState.ABSENT, "closed")

    def __enter__(self) -> SerialScanner:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- commands ----------------------------------------------------------------------
    def send(self, command: bytes) -> None:
        with self._write_lock:
            self.link.write(command)

    def start_scanning(self) -> None:
        self.send(self.commands.start)

    def stop_scanning(self) -> None:
        self.send(self.commands.stop)

    def wait_for_scan(self, timeout: float) -> ScanEvent:
        """The next scan (or one already queued); raises DeviceTimeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._events:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stop.is_set():
                    raise DeviceTimeout(f"no code scanned within {timeout:.1f} s")
                self._cond.wait(remaining)
            return self._events.popleft()

    def trigger(self, timeout: float = 3.0) -> ScanEvent:
        """Triggered mode: switch the scanner on, wait for one code, switch it off."""
        with self._cond:
            self._events.clear()
        self.start_scanning()
        try:
            return self.wait_for_scan(timeout)
        finally:
            try:
                self.stop_scanning()
            except DeviceError as err:
                log.info("could not send the stop command: %s", err)

    # -- reader thread -----------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if not self.link.is_open:
                    self.status.set(DeviceState.CONNECTING, "reconnecting")
                    if not self.link.reconnect():
                        return
                    self._deframer.reset()
                    self.status.set(DeviceState.READY, "reconnected")
                chunk = self.link.read_some(time.monotonic() + 0.25)
            except DeviceUnavailable as err:
                if self._stop.is_set():
                    return
                self.link.frames.dump(f"port lost: {err}")
                self.status.set(DeviceState.ABSENT, "scanner unplugged or port lost")
                self.link.drop()
                continue
            if not chunk:
                continue
            for raw in self._deframer.feed(chunk):
                self.link.frames.record("rx", raw, self._redact)
                self._emit(make_event(raw, Source.SERIAL))

    def _emit(self, event: ScanEvent) -> None:
        # Handed to the callback, or kept for wait_for_scan(), never both: a code scanned
        # at a kiosk (an appointment code, a ticket token) must not outlive the person.
        if self.on_scan is None:
            with self._cond:
                self._events.append(event)
                self._cond.notify_all()
            return
        try:
            self.on_scan(event)
        except Exception:  # a UI callback bug must not kill the reader
            log.exception("scan callback failed")
