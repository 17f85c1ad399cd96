"""The kiosk's one seam to ``devices/``: ID card reader, scanner, printer, voice.

The rest of the kiosk only sees this adapter: identities arrive as
:class:`kiosk.session.CardIdentity` (the driver's object is wiped at once), scans as plain
strings, device states as :class:`devices.state.DeviceStatus`, and every failure as
:class:`devices.errors.DeviceError`. Methods that talk to a device may block: the kiosk
calls them from worker threads, never from the UI thread. Callbacks run on device threads.

Each device's settings (``devices:`` in ``config/kiosk.yaml``) are the devices package's
own models, validated when the file is loaded (:mod:`kiosk.settings`); ``driver`` picks
the class that runs it (:data:`DRIVERS`):

* ``serial`` (ID card, scanner) — a real device on ``port`` (any pyserial URL):
  :class:`CardReader`, :class:`Scanner`;
* ``escpos`` / ``network`` / ``usb`` / ``file`` / ``dummy`` / ``virtual`` (printer) —
  ``devices.printer.driver.Printer`` with that transport: :class:`ReceiptPrinter`;
* ``simulator`` — the devices package's simulator speaking the real wire protocol, opened
  through the same driver a real device uses (:mod:`kiosk.fakes`);
* ``fake`` — an in-process stand-in with no wire protocol (:mod:`kiosk.fakes`; unit tests
  and the bench);
* voice: ``auto`` / ``aplay`` / ``paplay`` / ``file`` / ``null`` — the sink of a
  ``devices.voice`` ``Announcer``; ``log`` (or ``fake``) only records what would be said;
* ``none`` — the kiosk has no such device.

This module holds no test hooks: putting a card on a reader, scanning a code or running
the printer out of paper are methods of the simulator and fake drivers in
:mod:`kiosk.fakes`, reached as ``hw.idcard`` / ``hw.scanner`` / ``hw.printer`` when the
config selects them.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from devices.config import IdCardSettings, ScannerSettings
from devices.errors import ConfigError, DeviceError, DeviceUnavailable
from devices.printer.settings import PrinterDriver, PrinterSettings
from devices.state import DeviceState, DeviceStatus, StatusHolder
from kiosk import rtl
from kiosk.catalogue import Notice
from kiosk.session import CardIdentity
from kiosk.settings import DevicesSettings

log = logging.getLogger(__name__)

DEVICES = ("idcard", "scanner", "printer", "voice")

IdentityCallback = Callable[[CardIdentity], None]
ScanCallback = Callable[[str], None]
StatusCallback = Callable[[DeviceStatus], None]


@dataclass
class TicketPrint:
    hall_name: str
    queue_name: str
    number: str
    people_ahead: int
    expected_wait_min: int
    window_hint: str
    status_url: str
    masked_name: str | None = None
    issued_at: dt.datetime = field(default_factory=dt.datetime.now)


def to_card_identity(identity: Any) -> CardIdentity:
    """Copy what the kiosk needs out of a ``devices.idcard.Identity`` and wipe the original."""
    out = CardIdentity(
        name=identity.name or getattr(identity, "english_name", ""),
        id_number=identity.id_number,
        birth_date=identity.birth_date or dt.date(1900, 1, 1),
        # Not the address: no flow uses it, so it is not copied into the session.
    )
    wipe = getattr(identity, "wipe", None)
    if callable(wipe):
        wipe()
    return out


@dataclass(frozen=True)
class VoicePacks:
    """Folders of the voice packs: Mandarin (``None``: TTS only) and an optional dialect
    pack read after Mandarin for ticket results."""

    mandarin: Path | None = None
    dialect: Path | None = None


IdentityHandler = Callable[[CardIdentity], None]


class CardReader:
    """``driver: serial``: ``devices.idcard.driver.IdCardReader`` polling the reader; each
    card is handed on as a :class:`CardIdentity` and the driver's object wiped."""

    def __init__(
        self,
        settings: IdCardSettings,
        holder: StatusHolder,
        on_card: IdentityHandler,
        on_error: Callable[[Exception], None],
    ) -> None:
        self.settings = settings
        self.holder = holder
        self.on_card = on_card
        self.on_error = on_error
        self.reader: Any = None  #: devices.idcard.driver.IdCardReader

    def start(self) -> None:
        from devices.idcard.driver import IdCardReader

        self.reader = IdCardReader.from_settings(self.settings, status=self.holder)
        self.reader.open()
        self.reader.start_polling(self._read, self.on_error)

    def _read(self, identity: Any) -> None:
        self.on_card(to_card_identity(identity))

    def self_test(self) -> str:
        if self.reader is None:
            return self.holder.status.state.value
        r = self.reader.self_test()
        return ("OK " if r.ok else "FAIL ") + r.reason

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()  # stops polling (and a simulator it owns)


class Scanner:
    """``driver: serial``: ``devices.scanner.driver.SerialScanner``; codes as strings."""

    def __init__(
        self, settings: ScannerSettings, holder: StatusHolder, on_code: ScanCallback
    ) -> None:
        self.settings = settings
        self.holder = holder
        self.on_code = on_code
        self.scanner: Any = None  #: devices.scanner.driver.SerialScanner

    def start(self) -> None:
        from devices.scanner.driver import SerialScanner

        self.scanner = SerialScanner.from_settings(
            self.settings, on_scan=lambda ev: self.on_code(ev.text), status=self.holder
        )
        self.scanner.open()

    def self_test(self) -> str:
        return self.holder.status.state.value

    def close(self) -> None:
        if self.scanner is not None:
            self.scanner.close()


class ReceiptPrinter:
    """``escpos``/``network``/``usb``/``file``/``dummy``/``virtual``:
    ``devices.printer.driver.Printer``; the kiosk's tickets and notices as its receipts."""

    def __init__(self, settings: PrinterSettings, holder: StatusHolder) -> None:
        self.settings = settings
        self.holder = holder
        self.printer: Any = None  #: devices.printer.driver.Printer

    def start(self) -> None:
        self._open(self.settings)

    def _open(self, settings: PrinterSettings) -> None:
        from devices.printer.driver import Printer

        self.printer = Printer(settings)
        self.printer.subscribe(lambda st: self.holder.set(st.state, st.reason))
        self.printer.open()

    def _driver(self) -> Any:
        if self.printer is None:
            raise DeviceUnavailable(self.holder.status.reason or "printer not started")
        return self.printer

    def print_ticket(self, t: TicketPrint) -> None:
        from devices.printer.layouts import TicketReceipt

        self._driver().print_ticket(
            TicketReceipt(
                hall_name=t.hall_name,
                queue_name=t.queue_name,
                ticket_number=t.number,
                people_ahead=t.people_ahead,
                issued_at=t.issued_at,
                expected_wait_min=t.expected_wait_min,
                window_hint=t.window_hint,
                status_url=t.status_url,
                masked_name=t.masked_name,
            )
        )

    def print_notice(
        self, notice: Notice, hall_name: str, contact: str, issued_at: dt.datetime
    ) -> None:
        from devices.printer.layouts import NoticeMaterial, NoticeReceipt

        self._driver().print_notice(
            NoticeReceipt(
                hall_name=hall_name,
                service_name=notice.title,
                issued_at=issued_at,
                conditions=notice.conditions,
                materials=[
                    NoticeMaterial(
                        name=m.name,
                        mark=m.mark,  # type: ignore[arg-type]
                        note=f"{m.copies} {m.note}".strip(),
                    )
                    for m in notice.materials
                ],
                fees="；".join(notice.fees),
                legal_time_limit="；".join(notice.time_limits),
                where="、".join(w for w in notice.windows if w),
                contact=contact,
            )
        )

    def print_test_page(self) -> None:
        self._driver().print_test_page()

    def self_test(self) -> str:
        if self.printer is None:
            return self.holder.status.state.value
        p = self.printer.self_test()
        return ("OK " if p.ok else "FAIL ") + p.reason

    def close(self) -> None:
        if self.printer is not None:
            self.printer.close()


def _fakes() -> Any:
    from kiosk import fakes

    return fakes


#: (device, driver) → the class that runs it; simulators and fakes are imported only
#: when the config names them.
DRIVERS: dict[tuple[str, str], Callable[[], type]] = {
    ("idcard", "serial"): lambda: CardReader,
    ("idcard", "simulator"): lambda: _fakes().SimulatedCardReader,
    ("idcard", "fake"): lambda: _fakes().FakeCardReader,
    ("scanner", "serial"): lambda: Scanner,
    ("scanner", "simulator"): lambda: _fakes().SimulatedScanner,
    ("scanner", "fake"): lambda: _fakes().FakeScanner,
    ("printer", "simulator"): lambda: _fakes().SimulatedPrinter,
    ("printer", "fake"): lambda: _fakes().FakePrinter,
    **{("printer", d): (lambda: ReceiptPrinter) for d in get_args(PrinterDriver)},
}
#: Settings fields that name a folder, relative to the config file.
RELATIVE_DIRS = ("preview_dir", "output_dir", "pack_root")


class Hardware:
    def __init__(
        self,
        settings: DevicesSettings,
        *,
        data_dir: Path,
        voice_packs: VoicePacks | None = None,
        base_dir: Path | None = None,
        on_identity: IdentityCallback | None = None,
        on_scan: ScanCallback | None = None,
        on_status: StatusCallback | None = None,
    ) -> None:
        self.settings = settings
        self.data_dir = data_dir
        self.voice_packs = voice_packs or VoicePacks()
        self.base_dir = base_dir  #: relative paths in settings are relative to this (config)
        self.on_identity = on_identity
        self.on_scan = on_scan
        self.on_status = on_status
        self.holders = {d: StatusHolder(d) for d in DEVICES}
        self.last_error: dict[str, str] = {}
        self.spoken: deque[str] = deque(maxlen=20)  #: recent utterances (no personal data)
        self.idcard: Any = None  #: the ID card driver (:data:`DRIVERS`), once started
        self.scanner: Any = None  #: the scanner driver
        self.printer: Any = None  #: the printer driver (print_ticket, print_notice, …)
        self.announcer: Any = None  #: devices.voice.announcer.Announcer (Mandarin/English)
        self.dialect: Any = None  #: a second Announcer on the dialect pack
        self.announcements: deque[Any] = deque(maxlen=20)  #: recent Announcement objects
        self._voice_next: tuple[str, str, tuple[str, str] | None] | None = None
        self._voice_cv = threading.Condition()
        self._voice_stop = False
        self._voice_thread: threading.Thread | None = None
        for d, holder in self.holders.items():
            holder.subscribe(self._status_changed)
            if self._driver(d) == "none":
                holder.set(DeviceState.ABSENT, "not installed")

    def _driver(self, dev: str) -> str:
        return str(getattr(self.settings, dev).driver)

    def _settings(self, dev: str) -> Any:
        """The device's settings with folders resolved against the config's folder."""
        s = getattr(self.settings, dev)
        if self.base_dir is None:
            return s
        update = {
            key: str(self.base_dir / value)  # an absolute value stays as it is
            for key in RELATIVE_DIRS
            if isinstance(value := getattr(s, key, None), str)
        }
        return s.model_copy(update=update) if update else s

    def _status_changed(self, st: DeviceStatus) -> None:
        if st.state in (DeviceState.FAULT, DeviceState.ABSENT, DeviceState.DEGRADED) and st.reason:
            self.last_error[st.device] = st.reason
        if self.on_status is not None:
            self.on_status(st)

    def _identity(self, card: CardIdentity) -> None:
        if self.on_identity is not None:
            self.on_identity(card)

    def _card_error(self, err: Exception) -> None:
        self.last_error["idcard"] = str(err)[:200]

    def _scanned(self, text: str) -> None:
        if self.on_scan is not None:
            self.on_scan(text)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Open every device (may block for a moment: call it before the UI runs or from
        a worker thread). A device that cannot start is left in FAULT with the reason."""
        for dev in DEVICES:
            if self._driver(dev) == "none":
                continue
            try:
                if dev == "voice":
                    self._start_voice()
                else:
                    self._start(dev)
            except DeviceError as err:
                self.holders[dev].set(DeviceState.FAULT, str(err)[:200])
            except Exception as err:  # a driver that is not there yet
                log.exception("cannot start %s", dev)
                self.holders[dev].set(DeviceState.FAULT, f"cannot start: {type(err).__name__}")

    def _start(self, dev: str) -> None:
        cls = DRIVERS[(dev, self._driver(dev))]()
        s, holder = self._settings(dev), self.holders[dev]
        if dev == "idcard":
            self.idcard = cls(s, holder, self._identity, self._card_error)
        elif dev == "scanner":
            self.scanner = cls(s, holder, self._scanned)
        else:
            self.printer = cls(s, holder)
        getattr(self, dev).start()

    def stop(self) -> None:
        """Close every device and stop every simulator and thread this adapter started."""
        with self._voice_cv:
            self._voice_stop = True
            self._voice_cv.notify_all()
        if self._voice_thread is not None:
            self._voice_thread.join(5)
        for ann in (self.announcer, self.dialect):
            if ann is not None:
                ann.close(timeout=5)
        for driver in (self.idcard, self.scanner, self.printer):
            if driver is not None:
                driver.close()

    def statuses(self) -> dict[str, DeviceStatus]:
        return {d: h.status for d, h in self.holders.items()}

    # ------------------------------------------------------------------ printer
    def _printer(self) -> Any:
        if self._driver("printer") == "none":
            raise DeviceUnavailable("no printer")
        if self.printer is None:
            raise DeviceUnavailable(self.holders["printer"].status.reason or "printer not started")
        return self.printer

    def print_ticket(self, t: TicketPrint) -> None:
        self._printer().print_ticket(t)

    def print_notice(
        self,
        notice: Notice,
        hall_name: str,
        contact: str = "",
        issued_at: dt.datetime | None = None,
    ) -> None:
        """``issued_at``: the hall's time (its zone, not this machine's)."""
        when = issued_at or dt.datetime.now().astimezone()
        self._printer().print_notice(notice, hall_name, contact, when)

    def print_test_page(self) -> None:
        self._printer().print_test_page()

    # ------------------------------------------------------------------ voice
    def _start_voice(self) -> None:
        s = self._settings("voice")
        if s.driver in ("log", "fake"):
            self.holders["voice"].set(DeviceState.READY, "log voice (no sound)")
            return
        from devices.voice.announcer import Announcer

        vs = s  # kiosk.settings.VoiceDevice: devices.voice's VoiceSettings
        # no Mandarin pack (none configured, or unreadable: warned once) → TTS only
        mandarin = _load_pack(self.voice_packs.mandarin)
        self.announcer = Announcer(vs, pack=mandarin if mandarin is not None else False, tts=_tts)
        self.announcer.holder.subscribe(lambda st: self.holders["voice"].set(st.state, st.reason))
        if self.voice_packs.dialect is not None:
            pack = _load_pack(self.voice_packs.dialect)
            if pack is None:
                raise ConfigError(f"dialect voice pack not readable: {self.voice_packs.dialect}")
            self.dialect = Announcer(vs, pack=pack, sink=self.announcer.sink, tts=_tts)
        self.holders["voice"].set(DeviceState.READY, "voice ready")
        self._voice_thread = threading.Thread(target=self._voice_loop, name="kiosk-voice")
        self._voice_thread.daemon = True
        self._voice_thread.start()

    def say(self, text: str, lang: str = "zh", then: tuple[str, str] | None = None) -> None:
        """Read ``text`` aloud; returns at once. ``then`` = (ticket number, window hint) is
        read right after it from the dialect pack, if one is configured.

        One announcement plays at a time and none is cut off (one thread plays them and
        waits for each); while one plays, only the newest text waits: a screen the person
        has already left is not read any more."""
        self.spoken.append(text)
        if self.announcer is None:
            return
        with self._voice_cv:
            if then is None and self._voice_next is not None:
                then = self._voice_next[2]  # a replaced reading keeps its dialect part
            self._voice_next = (text, lang, then)
            self._voice_cv.notify_all()

    def _voice_loop(self) -> None:
        while True:
            with self._voice_cv:
                while self._voice_next is None and not self._voice_stop:
                    self._voice_cv.wait()
                if self._voice_stop:
                    return
                assert self._voice_next is not None
                text, _lang, then = self._voice_next
                self._voice_next = None
            self._play(self.announcer.say, text)
            if then is not None and self.dialect is not None and then[0]:
                number, hint = then
                window = "".join(ch for ch in hint if ch.isascii() and ch.isdigit())
                if window:
                    self._play(self.dialect.announce, number, window, 1)
                else:  # "A001 号" from the dialect pack's clips
                    self._play(_say_number, self.dialect, number)

    def _play(self, start: Callable[..., Any], *args: Any) -> None:
        try:
            ann = start(*args)
        except DeviceError as err:
            log.warning("voice: %s", err)
            return
        self.announcements.append(ann)
        if not ann.wait(60):
            log.warning("voice: an announcement did not finish within 60 s")

    # ------------------------------------------------------------------ self-test
    def self_test(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for dev in ("idcard", "printer", "scanner"):
            driver = getattr(self, dev)
            out[dev] = (
                driver.self_test() if driver is not None else self.holders[dev].status.state.value
            )
        out["voice"] = self.holders["voice"].status.state.value
        return out


def _say_number(announcer: Any, number: str) -> Any:
    """ "A001 号" from the announcer's pack clips (TTS for the sentence if one is missing)."""
    from devices.voice.pack import ticket_tokens

    return announcer.say_tokens([*ticket_tokens(number), "号"], text=f"{number}号")


def _load_pack(folder: Path | None) -> Any:
    if folder is None:
        return None
    from devices.voice.pack import load_pack

    try:
        return load_pack(folder)
    except DeviceError as err:
        log.warning("voice pack %s: %s (speaking with TTS)", folder.name, err)
        return None


def _tts(text: str) -> bytes:
    """espeak-ng: Chinese through pinyin (``cmn-latn-pinyin``), English as English, Uyghur
    as Uyghur."""
    from devices.voice.announcer import pinyin_for_tts
    from devices.voice.pack import espeak_wav

    if text.isascii():
        return espeak_wav(text, "en", 150)
    if rtl.has_arabic(text):  # Uyghur: espeak-ng has a Uyghur voice
        return espeak_wav(text, "ug", 140)
    return espeak_wav(pinyin_for_tts(text), "cmn-latn-pinyin", 150)
