"""The kiosk's one seam to ``devices/``: ID card reader, scanner, printer, voice.

The rest of the kiosk only sees this adapter: identities arrive as
:class:`kiosk.session.CardIdentity` (the driver's object is wiped at once), scans as plain
strings, device states as :class:`devices.state.DeviceStatus`, and every failure as
:class:`devices.errors.DeviceError`. Methods that talk to a device may block: the kiosk
calls them from worker threads, never from the UI thread. Callbacks run on device threads.

Drivers per device (``devices:`` in ``config/kiosk.yaml``); ``options`` are the fields of
the device's settings model in ``devices/`` and are validated by it:

* ``simulator`` — the devices package's simulator speaking the real wire protocol, opened
  through the same driver a real device uses: ID card: ``IdCardSimulator`` on a pty
  (115200 bit/s line timing) read by ``IdCardReader``; scanner: ``ScannerSimulator`` on a
  pty read by ``SerialScanner``; printer: ``PrinterSimulator`` (a ``VirtualPrinter``
  behind TCP on 127.0.0.1, PNG previews in ``options.preview_dir``) driven by ``Printer``
  with ``driver: escpos`` on ``socket://127.0.0.1:PORT``;
* ``serial`` (ID card, scanner) — a real device on ``port`` (any pyserial URL);
* ``escpos`` / ``network`` / ``usb`` / ``file`` / ``dummy`` / ``virtual`` (printer) —
  ``devices.printer.driver.Printer`` with that transport;
* voice: ``auto`` / ``aplay`` / ``paplay`` / ``file`` / ``null`` — the sink of a
  ``devices.voice`` ``Announcer``; ``log`` only records what would be said;
* ``fake`` — an in-process stand-in with no wire protocol (fast; unit tests and the bench);
* ``none`` — the kiosk has no such device.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devices.errors import ConfigError, DeviceError, DeviceRefused, DeviceUnavailable
from devices.state import DeviceState, DeviceStatus, StatusHolder
from kiosk.catalogue import Notice
from kiosk.session import CardIdentity
from kiosk.settings import DevicesSettings

log = logging.getLogger(__name__)

DEVICES = ("idcard", "scanner", "printer", "voice")
VOICE_SINKS = frozenset({"auto", "aplay", "paplay", "file", "null"})

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
        self.base_dir = base_dir  #: relative paths in options are relative to this (config)
        self.on_identity = on_identity
        self.on_scan = on_scan
        self.on_status = on_status
        self.holders = {d: StatusHolder(d) for d in DEVICES}
        self.last_error: dict[str, str] = {}
        self.spoken: deque[str] = deque(maxlen=20)  #: recent utterances (no personal data)
        self.printed: list[str] = []  #: what was printed (fake printer; no personal data)
        self._lock = threading.Lock()
        self._reader: Any = None  #: devices.idcard.driver.IdCardReader
        self._card_sim: Any = None  #: its IdCardSimulator (driver: simulator)
        self._placed: Any = None  #: a card the kiosk put on the simulator
        self._scanner: Any = None  #: devices.scanner.driver.SerialScanner
        self._scan_sim: Any = None  #: its ScannerSimulator (driver: simulator)
        self._printer: Any = None  #: devices.printer.driver.Printer
        self._printer_sim: Any = None  #: devices.printer.simulator.PrinterSimulator
        self.virtual: Any = None  #: the simulator's VirtualPrinter (receipts, paper state)
        self._fake_paper_out = False
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

    def _options(self, dev: str) -> dict[str, Any]:
        opts = dict(getattr(self.settings, dev).options)
        for key in ("preview_dir", "output_dir", "pack_root"):
            value = opts.get(key)
            if isinstance(value, str) and self.base_dir is not None:
                opts[key] = str(self.base_dir / value)  # an absolute value stays as it is
        return opts

    def _status_changed(self, st: DeviceStatus) -> None:
        if st.state in (DeviceState.FAULT, DeviceState.ABSENT, DeviceState.DEGRADED) and st.reason:
            self.last_error[st.device] = st.reason
        if self.on_status is not None:
            self.on_status(st)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Open every device (may block for a moment: call it before the UI runs or from
        a worker thread). A device that cannot start is left in FAULT with the reason."""
        for dev, fn in (
            ("idcard", self._start_idcard),
            ("scanner", self._start_scanner),
            ("printer", self._start_printer),
            ("voice", self._start_voice),
        ):
            if self._driver(dev) == "none":
                continue
            try:
                fn()
            except DeviceError as err:
                self.holders[dev].set(DeviceState.FAULT, str(err)[:200])
            except ValueError as err:  # pydantic: bad options for this device
                first = str(err).splitlines()
                self.holders[dev].set(
                    DeviceState.FAULT, f"bad settings: {' '.join(first[:3])}"[:200]
                )
            except Exception as err:  # a driver that is not there yet
                log.exception("cannot start %s", dev)
                self.holders[dev].set(DeviceState.FAULT, f"cannot start: {type(err).__name__}")

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
        if self._reader is not None:
            self._reader.close()  # stops polling and the simulator it owns
        if self._scanner is not None:
            self._scanner.close()
        if self._printer is not None:
            self._printer.close()
        if self._printer_sim is not None:
            self._printer_sim.stop()
        if self._placed is not None:
            self._placed.wipe()
            self._placed = None

    def statuses(self) -> dict[str, DeviceStatus]:
        return {d: h.status for d, h in self.holders.items()}

    # ------------------------------------------------------------------ ID card
    def _start_idcard(self) -> None:
        s = self.settings.idcard
        if s.driver == "fake":
            self.holders["idcard"].set(DeviceState.READY, "fake reader")
            return
        from devices.config import IdCardSettings
        from devices.idcard.driver import IdCardReader

        if s.driver not in ("serial", "simulator"):
            raise ConfigError(f"unknown ID card driver {s.driver!r} (serial, simulator, fake)")
        opts = {"dedup_s": 2.0, **self._options("idcard")}
        ids = IdCardSettings(
            driver=s.driver,  # type: ignore[arg-type]
            port=s.port or "/dev/ttyUSB0",
            baudrate=s.baudrate,
            **opts,
        )
        # simulator: IdCardSimulator on a pty with real line timing, read by the real driver
        self._reader = IdCardReader.from_settings(ids, status=self.holders["idcard"])
        if self._reader.simulator is not None:
            self._card_sim = self._reader.simulator.handler
        self._reader.open()
        self._reader.start_polling(self._card_read, self._card_error)

    def _card_read(self, identity: Any) -> None:
        card = to_card_identity(identity)
        if self._card_sim is not None:  # a simulated card is taken off once read
            self._card_sim.remove()
            placed, self._placed = self._placed, None
            if placed is not None:  # the kiosk's copy was on the simulator: wipe it
                placed.wipe()
        if self.on_identity is not None:
            self.on_identity(card)

    def _card_error(self, err: Exception) -> None:
        self.last_error["idcard"] = str(err)[:200]

    def present_card(self, identity: CardIdentity | int = 1) -> None:
        """Simulators only: put a card on the reader: a given identity, or an index into
        the simulator's sample holders. With the simulator driver the card is then read
        through the wire protocol by the real driver (within one poll interval)."""
        if self._driver("idcard") == "fake":
            card = identity if isinstance(identity, CardIdentity) else _sample(identity)
            if self.on_identity is not None:
                self.on_identity(card)
            return
        sim = self._card_sim
        if sim is None:
            raise DeviceUnavailable("no simulated ID card reader")
        placed: Any = None
        if isinstance(identity, CardIdentity):
            placed = to_device_identity(identity)
            sim.insert(placed)  # thread-safe; replaces any card on the reader
        else:
            sim.place_card(identity % max(1, len(sim.identities)))
        previous, self._placed = self._placed, placed
        if previous is not None:
            previous.wipe()  # replaced: the simulator no longer holds it

    # ------------------------------------------------------------------ scanner
    def _start_scanner(self) -> None:
        s = self.settings.scanner
        if s.driver == "fake":
            self.holders["scanner"].set(DeviceState.READY, "fake scanner")
            return
        from devices.config import ScannerSettings
        from devices.scanner.driver import SerialScanner

        if s.driver not in ("serial", "simulator"):
            raise ConfigError(f"unknown scanner driver {s.driver!r} (serial, simulator, fake)")
        ss = ScannerSettings(
            driver=s.driver,  # type: ignore[arg-type]
            port=s.port or "/dev/ttyACM0",
            baudrate=s.baudrate,
            **self._options("scanner"),
        )
        self._scanner = SerialScanner.from_settings(
            ss, on_scan=lambda ev: self._scanned(ev.text), status=self.holders["scanner"]
        )
        if self._scanner.simulator is not None:
            self._scan_sim = self._scanner.simulator.handler
        self._scanner.open()

    def _scanned(self, text: str) -> None:
        if self.on_scan is not None:
            self.on_scan(text)

    def inject_scan(self, code: str) -> None:
        """Simulators only: a code as if scanned (over the wire with the simulator)."""
        if self._scan_sim is not None:
            self._scan_sim.scan(code)
        elif self._driver("scanner") == "fake":
            self._scanned(code)
        else:
            raise DeviceUnavailable("no simulated scanner")

    # ------------------------------------------------------------------ printer
    def _start_printer(self) -> None:
        s = self.settings.printer
        if s.driver == "fake":
            self.holders["printer"].set(DeviceState.READY, "fake printer")
            return
        from devices.printer.driver import Printer
        from devices.printer.settings import PrinterSettings

        opts = self._options("printer")
        if s.driver == "simulator":
            from devices.printer.simulator import PrinterSimulator

            preview = opts.pop("preview_dir", None)
            if preview is not None:
                Path(str(preview)).mkdir(parents=True, exist_ok=True)
            self._printer_sim = PrinterSimulator(
                "127.0.0.1", 0, preview_dir=str(preview) if preview else None
            ).start()
            self.virtual = self._printer_sim.virtual
            ps = PrinterSettings(driver="escpos", port=self._printer_sim.url, **opts)
        else:
            kw: dict[str, Any] = {"driver": s.driver, "baudrate": s.baudrate, **opts}
            if s.port:
                kw["port"] = s.port
            ps = PrinterSettings(**kw)
        self._printer = Printer(ps)
        self._printer.subscribe(lambda st: self.holders["printer"].set(st.state, st.reason))
        self._printer.open()

    def set_paper_out(self, out: bool) -> None:
        """Simulators only: run the printer out of paper (or refill it). The kiosk learns
        it the way it would from a real printer: from its ``DLE EOT`` replies."""
        if self.virtual is not None:
            self.virtual.paper = "out" if out else "ok"
            try:
                self._printer.refresh_status()
            except DeviceError as err:
                log.info("printer status: %s", err)
        else:
            self._fake_paper_out = out
            self.holders["printer"].set(
                DeviceState.FAULT if out else DeviceState.READY,
                "paper out" if out else "fake printer",
            )

    def _fake_print(self, what: str) -> None:
        if self._fake_paper_out:
            raise DeviceRefused("paper out")
        with self._lock:
            self.printed.append(what)
            del self.printed[:-50]

    def print_ticket(self, t: TicketPrint) -> None:
        if self._driver("printer") == "none":
            raise DeviceUnavailable("no printer")
        if self._printer is None:
            self._fake_print("ticket")
            return
        from devices.printer.layouts import TicketReceipt

        self._printer.print_ticket(
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
        self,
        notice: Notice,
        hall_name: str,
        contact: str = "",
        issued_at: dt.datetime | None = None,
    ) -> None:
        """``issued_at``: the hall's time (its zone, not this machine's)."""
        if self._driver("printer") == "none":
            raise DeviceUnavailable("no printer")
        if self._printer is None:
            self._fake_print(f"notice {notice.id}")
            return
        from devices.printer.layouts import NoticeMaterial, NoticeReceipt

        self._printer.print_notice(
            NoticeReceipt(
                hall_name=hall_name,
                service_name=notice.title,
                issued_at=issued_at or dt.datetime.now().astimezone(),
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
        if self._printer is None:
            self._fake_print("test page")
            return
        self._printer.print_test_page()

    # ------------------------------------------------------------------ voice
    def _start_voice(self) -> None:
        s = self.settings.voice
        if s.driver in ("log", "fake"):
            self.holders["voice"].set(DeviceState.READY, "log voice (no sound)")
            return
        if s.driver not in VOICE_SINKS:
            raise ConfigError(f"unknown voice driver {s.driver!r}: {sorted(VOICE_SINKS)}, log")
        from devices.voice.announcer import Announcer
        from devices.voice.settings import VoiceSettings

        opts = {"repeat": 1, "repeat_gap_s": 0.3, **self._options("voice")}
        vs = VoiceSettings(driver=s.driver, port=s.port, **opts)  # type: ignore[arg-type]
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
        if self._reader is not None:
            r = self._reader.self_test()
            out["idcard"] = ("OK " if r.ok else "FAIL ") + r.reason
        else:
            out["idcard"] = self.holders["idcard"].status.state.value
        if self._printer is not None:
            p = self._printer.self_test()
            out["printer"] = ("OK " if p.ok else "FAIL ") + p.reason
        else:
            out["printer"] = self.holders["printer"].status.state.value
        out["scanner"] = self.holders["scanner"].status.state.value
        out["voice"] = self.holders["voice"].status.state.value
        return out


def to_device_identity(card: CardIdentity) -> Any:
    """A ``devices.idcard.Identity`` for the simulator (resident card, valid for life)."""
    from devices.idcard.identity import CardType, Identity, Sex

    seq = card.id_number[16:17]
    sex = Sex.UNSPECIFIED if not seq.isdigit() else Sex.MALE if int(seq) % 2 else Sex.FEMALE
    return Identity(
        card_type=CardType.RESIDENT,
        name=card.name,
        sex=sex,
        birth_date=card.birth_date,
        id_number=card.id_number,
        valid_from=dt.date(2015, 1, 1),
        valid_to=None,
        ethnicity_code="01",
        address=card.address,
        authority="测试公安分局",
        photo=bytes(1024),
    )


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
    """espeak-ng: Chinese through pinyin (``cmn-latn-pinyin``), English as English."""
    from devices.voice.announcer import pinyin_for_tts
    from devices.voice.pack import espeak_wav

    if text.isascii():
        return espeak_wav(text, "en", 150)
    return espeak_wav(pinyin_for_tts(text), "cmn-latn-pinyin", 150)


_SAMPLES = [
    ("李秀英", "110101195003071234", dt.date(1950, 3, 7), "北京市东城区景山前街4号院2号楼301"),
    ("王小明", "350102199001011234", dt.date(1990, 1, 1), "福州市鼓楼区五四路100号"),
]


def _sample(i: int) -> CardIdentity:
    name, num, born, addr = _SAMPLES[i % len(_SAMPLES)]
    return CardIdentity(name=name, id_number=num, birth_date=born, address=addr)
