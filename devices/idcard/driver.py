"""ID card reader driver: find → select → read, retries, a polling thread, status.

Timeouts follow devices.md: find and select 100 ms, read 2000 ms (3000 ms with the
fingerprint). A reply with a bad checksum fails at once (no waiting for the timeout);
failed exchanges are retried from *find*, because a half-read card must be found again.

A reader that stays faulty (noise, a wrong baud rate) is polled less and less often
(bounded exponential backoff from ``poll_interval`` up to ``fault_poll_max``), is logged
once per run of failures (:class:`~devices.serialio.FailureLog`, with a summary when it
works again), and its state goes READY → DEGRADED → FAULT and stays FAULT until a poll
works: no DEGRADED ↔ FAULT flapping.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from devices.errors import (
    DeviceError,
    DeviceRefused,
    DeviceTimeout,
    DeviceUnavailable,
    ProtocolError,
)
from devices.idcard import protocol as p
from devices.idcard.identity import Identity, parse_appended_address, parse_identity
from devices.serialio import Backoff, FailureLog, SerialLink
from devices.sim import SimServer
from devices.state import DeviceState, StatusHolder

if TYPE_CHECKING:
    from devices.config import IdCardSettings

log = logging.getLogger(__name__)

CardCallback = Callable[[Identity], None]
ErrorCallback = Callable[[DeviceError], None]


@dataclass(frozen=True)
class SelfTestResult:
    ok: bool
    sam_id: str
    reason: str  #: plain words for a technician


class IdCardReader:
    """A SAM-module ID card reader on one port (any pyserial URL)."""

    def __init__(
        self,
        url: str,
        baud: int = 115200,
        *,
        find_timeout: float = 0.1,
        select_timeout: float = 0.1,
        read_timeout: float = 2.0,
        fingerprint_timeout: float = 3.0,
        retries: int = 2,
        poll_interval: float = 0.3,
        dedup_seconds: float = 3.0,
        read_appended_address: bool = False,
        status: StatusHolder | None = None,
        backoff: Backoff | None = None,
        fault_poll_max: float = 5.0,
    ) -> None:
        self.link = SerialLink(url, baud, name="idcard", backoff=backoff, logger=log)
        self.failures = FailureLog(self.link.frames)
        """Reports a run of failed exchanges once (WARNING), then a summary (INFO)."""
        self.find_timeout = find_timeout
        self.select_timeout = select_timeout
        self.read_timeout = read_timeout
        self.fingerprint_timeout = fingerprint_timeout
        self.retries = retries
        self.poll_interval = poll_interval
        self._poll_backoff = Backoff(poll_interval, 2.0, max(poll_interval, fault_poll_max))
        self.poll_delay = poll_interval
        """Seconds the poll thread waits before its next poll (grows while polls fail)."""
        self.dedup_seconds = dedup_seconds
        self.read_appended_address = read_appended_address
        self._appended_address_known = True  # False once the reader answered 30 03 with SW3 21
        self.status = status or StatusHolder("idcard")
        self._parser = p.FrameParser()
        self._io_lock = threading.Lock()
        self._poll_thread: threading.Thread | None = None
        self._poll_stop = threading.Event()
        self._last_id: tuple[str, float] | None = None
        self._owned_sim: SimServer | None = None

    @classmethod
    def from_settings(
        cls, settings: IdCardSettings, status: StatusHolder | None = None
    ) -> IdCardReader:
        """A reader for the config; ``driver: simulator`` starts a simulator on a pty."""
        url = settings.port
        sim: SimServer | None = None
        if settings.driver == "simulator":
            from devices.idcard.simulator import IdCardSimulator, sample_identity

            sim = SimServer(
                IdCardSimulator([sample_identity(i) for i in range(3)], card_present=False),
                baud=settings.baudrate,
                name="idcard-sim",
            )
            url = sim.start_pty()
        reader = cls(
            url,
            settings.baudrate,
            find_timeout=settings.find_timeout_s,
            select_timeout=settings.select_timeout_s,
            read_timeout=settings.read_timeout_s,
            retries=settings.retries,
            poll_interval=settings.poll_interval_s,
            fault_poll_max=settings.fault_poll_max_s,
            dedup_seconds=settings.dedup_s,
            read_appended_address=settings.read_appended_address,
            status=status,
        )
        reader._owned_sim = sim
        return reader

    @property
    def simulator(self) -> SimServer | None:
        """The simulator started for ``driver: simulator`` (to place cards in a demo)."""
        return self._owned_sim

    @property
    def ignored_bytes(self) -> int:
        """Bytes received that formed no valid frame (noise, a wrong baud rate)."""
        return self._parser.skipped + self._parser.pending

    # -- lifecycle -------------------------------------------------------------------
    def open(self) -> None:
        self.status.set(DeviceState.CONNECTING, "opening the port")
        try:
            self.link.open()
        except DeviceError as err:
            self.status.set(DeviceState.ABSENT, f"cannot open the port: {err}")
            raise
        self.status.set(DeviceState.READY, "port open")

    def close(self) -> None:
        """Stop polling and close the port; joins every thread this driver started."""
        self._poll_stop.set()
        self.link.close()  # also wakes a reconnect wait
        self.stop_polling()
        if self._owned_sim is not None:
            self._owned_sim.stop()
        self.status.set(DeviceState.ABSENT, "closed")

    def __enter__(self) -> IdCardReader:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one exchange ------------------------------------------------------------------
    def transact(self, command: p.Command, timeout: float, data: bytes = b"") -> p.Response:
        """Send one command and return its reply (any SW3); raises on no/garbled reply."""
        with self._io_lock:
            return self._transact(command, timeout, data)

    def _transact(self, command: p.Command, timeout: float, data: bytes) -> p.Response:
        frame = p.build_command(command, data)
        self.link.discard_input()
        self._parser.reset()
        self.link.write(frame)
        deadline = time.monotonic() + timeout
        while True:
            chunk = self.link.read_some(deadline)
            if not chunk:
                if time.monotonic() >= deadline:
                    self.link.frames.note(
                        f"timeout; {self._parser.pending} bytes of a partial frame"
                    )
                    self.failures.failed(
                        f"no reply to {command.name} within {timeout * 1000:.0f} ms"
                    )
                    raise DeviceTimeout(
                        f"ID card reader: no reply to {command.name.lower()} "
                        f"within {timeout * 1000:.0f} ms"
                    )
                continue
            for item in self._parser.feed(chunk):
                if isinstance(item, ProtocolError):
                    self.failures.failed(f"garbled reply to {command.name}")
                    raise ProtocolError(
                        f"ID card reader: garbled reply to {command.name.lower()}: {item}"
                    )
                self.link.frames.record("rx", item, p.redact_frame)
                self.failures.succeeded()
                return p.parse_response(item)

    # -- card operations ---------------------------------------------------------------
    def find_card(self) -> bool:
        reply = self.transact(p.Command.FIND_CARD, self.find_timeout)
        if reply.sw3 == p.Sw3.NO_CARD:
            return False
        reply.raise_for_status("find card")
        return True

    def select_card(self) -> None:
        self.transact(p.Command.SELECT_CARD, self.select_timeout).raise_for_status("select card")

    def _read_once(self, fingerprint: bool) -> Identity | None:
        if not self.find_card():
            return None
        self.status.set(DeviceState.BUSY, "reading a card")
        self.select_card()
        command = p.Command.READ_WITH_FINGERPRINT if fingerprint else p.Command.READ_TEXT_PHOTO
        timeout = self.fingerprint_timeout if fingerprint else self.read_timeout
        reply = self.transact(command, timeout)
        reply.raise_for_status("read card")
        data = p.parse_card_data(reply.data, with_fingerprint=fingerprint)
        appended = ""
        if self.read_appended_address and self._appended_address_known:
            extra = self.transact(p.Command.READ_APPENDED_ADDRESS, self.read_timeout)
            if extra.sw3 == p.Sw3.SUCCESS:
                appended = parse_appended_address(extra.data)
            elif extra.sw3 == p.Sw3.BAD_COMMAND:
                # an older reader without 30 03: text and photo are read, deliver the card
                self._appended_address_known = False
                log.warning(
                    "ID card reader does not know command 30 03 (read appended address):"
                    " cards are read without it from now on; set read_appended_address:"
                    " false in the config for this reader"
                )
            elif extra.sw3 != p.Sw3.NO_CONTENT:
                extra.raise_for_status("read appended address")
        return parse_identity(data.text, data.photo, appended)

    def read_card(self, fingerprint: bool = False) -> Identity | None:
        """Find, select and read a card; None when there is no card on the reader.

        Retries ``retries`` times after a timeout, a garbled reply or a refused
        select/read (the card may have moved); then raises the last error.
        """
        last: DeviceError | None = None
        for attempt in range(self.retries + 1):
            try:
                identity = self._read_once(fingerprint)
                self.status.set(DeviceState.READY, "ready")
                return identity
            except DeviceUnavailable as err:
                self.status.set(DeviceState.ABSENT, f"reader gone: {err}")
                raise
            except (DeviceTimeout, ProtocolError, DeviceRefused) as err:
                last = err
                log.debug("card read attempt %d failed: %s", attempt + 1, err)
        assert last is not None
        if self.status.status.state is not DeviceState.FAULT:  # FAULT stays until a read works
            self.status.set(DeviceState.DEGRADED, f"last read failed: {last}")
        raise last

    def self_test(self) -> SelfTestResult:
        """SAM id (``12 FF``) and SAM status (``11 FF``)."""
        try:
            id_reply = self.transact(p.Command.SAM_ID, self.read_timeout)
            id_reply.raise_for_status("read SAM id")
            sam_id = p.parse_sam_id(id_reply.data)
            st = self.transact(p.Command.SAM_STATUS, self.read_timeout)
        except DeviceError as err:
            self.status.set(DeviceState.FAULT, f"self-test failed: {err}")
            return SelfTestResult(False, "", f"self-test failed: {err}")
        if not st.ok:
            reason = f"SAM status: {st.words[1]} ({st.words[0]})"
            self.status.set(DeviceState.FAULT, reason)
            return SelfTestResult(False, sam_id, reason)
        self.status.set(DeviceState.READY, "self-test passed")
        return SelfTestResult(True, sam_id, "SAM answers and reports OK")

    # -- polling ---------------------------------------------------------------------
    @property
    def polling(self) -> bool:
        return self._poll_thread is not None and self._poll_thread.is_alive()

    def start_polling(self, on_card: CardCallback, on_error: ErrorCallback | None = None) -> None:
        """Poll for cards on a background thread; ``on_card`` runs on that thread.

        The same card is reported once per ``dedup_seconds`` while it stays on the reader.
        """
        if self.polling:
            raise RuntimeError("already polling")
        self._poll_stop.clear()
        self._poll_thread = threading.Thread(
            target=self._poll_loop, args=(on_card, on_error), name="idcard-poll", daemon=True
        )
        self._poll_thread.start()

    def stop_polling(self) -> None:
        self._poll_stop.set()
        thread, self._poll_thread = self._poll_thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)

    def _poll_loop(self, on_card: CardCallback, on_error: ErrorCallback | None) -> None:
        failures = 0
        self._poll_backoff.reset()
        while not self._poll_stop.is_set():
            self.poll_delay = self.poll_interval
            try:
                if not self.link.is_open:
                    self.status.set(DeviceState.CONNECTING, "reconnecting")
                    if not self.link.reconnect():
                        return
                    self.status.set(DeviceState.READY, "reconnected")
                identity = self.read_card()
                if failures:
                    self._poll_backoff.reset()
                failures = 0
                if identity is not None:
                    key = identity.id_number
                    now = time.monotonic()
                    if (
                        self._last_id
                        and self._last_id[0] == key
                        and now - self._last_id[1] < self.dedup_seconds
                    ):
                        identity.wipe()
                    else:
                        self._last_id = (key, now)
                        on_card(identity)
                else:
                    self._last_id = None
            except DeviceUnavailable as err:
                if self._poll_stop.is_set():
                    return
                self.link.frames.dump("port lost")
                if on_error:
                    on_error(err)
                self.link.drop()
                continue  # reconnect at the top, with backoff
            except DeviceError as err:
                if self._poll_stop.is_set():
                    return
                failures += 1
                self.poll_delay = self._poll_backoff.next_delay()
                if failures >= 3 and self.status.status.state is not DeviceState.FAULT:
                    self.status.set(
                        DeviceState.FAULT,
                        f"ID card reader keeps failing ({err}): check its cable, power and"
                        " baud rate; polling slowed down until it answers properly",
                    )
                if on_error:
                    on_error(err)
            if self._poll_stop.wait(self.poll_delay):
                return
