"""Camera QR/barcode pipeline: capture → grayscale → ROI → zbar on raw bytes → ScanEvent.

* Two threads: capture keeps only the newest frame (older unconsumed frames are counted
  as dropped), decode always works on the newest one — under load we skip, never queue.
* Decoding talks to libzbar through pyzbar's ctypes wrapper, with one reused image
  scanner and ``ZBAR_CFG_BINARY`` (zbar ≥ 0.23) switched on for QR codes, so we get the
  raw bytes and decode them ourselves (UTF-8, then GB18030). zbar's own guess never
  considers GB18030 (devices.md). Without BINARY support we fall back to pyzbar's text
  and try to undo zbar's guess (:func:`reencode_zbar_text`).
* Speed: first a half-size pass (INTER_AREA); only if nothing was found, a full-size
  pass scanning every 2nd line (``full_pass_density``).
* The same text is reported once per ``dedup_seconds``.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import cv2
import numpy as np

from devices.errors import ConfigError, DeviceError, DeviceTimeout, DeviceUnavailable
from devices.scanner.protocol import ScanEvent, Source, decode_text
from devices.state import DeviceState, SelfTest, StatusHolder

if TYPE_CHECKING:
    from devices.config import CameraSettings

log = logging.getLogger(__name__)

ZBAR_CFG_ENABLE = 0
ZBAR_CFG_BINARY = 4  # zbar >= 0.23: QR byte-mode data unconverted
ZBAR_CFG_X_DENSITY = 0x100  # scan every n-th column
ZBAR_CFG_Y_DENSITY = 0x101  # scan every n-th row
_Y800 = 0x30303859  # fourcc 'Y800': 8-bit grayscale

Frame = np.ndarray[Any, Any]
ScanCallback = Callable[[ScanEvent], None]
Roi = tuple[int, int, int, int]  # x, y, width, height in pixels


class FrameSource(Protocol):
    """Where frames come from: a camera, a stream URL, or the simulator."""

    def read(self) -> Frame | None:
        """Block until the next frame; None at the end of a finite stream."""
        ...

    def close(self) -> None: ...


class OpenCVSource:
    """``cv2.VideoCapture`` on a camera index (0) or a URL/path (rtsp://…, file.mp4)."""

    def __init__(
        self,
        device: int | str,
        width: int | None = None,
        height: int | None = None,
        max_failures: int = 30,
    ) -> None:
        self.device = device
        self._cap = cv2.VideoCapture(device)
        if not self._cap.isOpened():
            self._cap.release()
            raise DeviceUnavailable(f"cannot open camera {device!r}")
        if width:
            self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        if height:
            self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self._failures = 0
        self.max_failures = max_failures

    def read(self) -> Frame | None:
        ok, frame = self._cap.read()
        if not ok:
            self._failures += 1
            if self._failures >= self.max_failures:
                raise DeviceUnavailable(f"camera {self.device!r} stopped delivering frames")
            return self.read()
        self._failures = 0
        return frame

    def close(self) -> None:
        self._cap.release()


# -- zbar through ctypes -----------------------------------------------------------------
@dataclass(frozen=True)
class Decoded:
    data: bytes
    symbology: str
    raw_bytes: bool  #: True if zbar gave us the bytes unconverted (BINARY mode)


def reencode_zbar_text(data: bytes) -> bytes:
    """Best effort to undo zbar's text guess (it converted the QR bytes to UTF-8).

    zbar guesses among SJIS, ISO-8859-1, Big5 and UTF-8. If the text is valid UTF-8 we
    cannot know what zbar saw; bytes that made it as ISO-8859-1 come back with
    ``latin-1`` (this is how GB18030 usually ends up), otherwise try SJIS and Big5.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    for enc in ("latin-1", "shift_jis", "big5"):
        try:
            back = text.encode(enc)
        except UnicodeEncodeError:
            continue
        if enc == "latin-1" and all(b < 0x80 for b in back):
            return back
        try:
            back.decode("utf-8")
        except UnicodeDecodeError:
            return back  # it was not UTF-8 on the code, so zbar converted it
    return data


class ZbarDecoder:
    """One reusable zbar image scanner; not thread-safe (one per decode thread)."""

    def __init__(self, symbologies: Sequence[str] = ("QRCODE",), density: int = 1) -> None:
        try:
            from pyzbar import wrapper as zw
        except (ImportError, OSError) as err:  # libzbar0 missing
            raise DeviceUnavailable(f"zbar is not available: {err}") from err
        self._zw = zw
        try:
            self._symbols = [zw.ZBarSymbol[name.upper()] for name in symbologies]
        except KeyError as err:
            raise ConfigError(
                f"unknown symbology {err}; known: {[s.name for s in zw.ZBarSymbol]}"
            ) from err
        self._scanner = zw.zbar_image_scanner_create()
        for sym in zw.ZBarSymbol:
            zw.zbar_image_scanner_set_config(self._scanner, sym, ZBAR_CFG_ENABLE, 0)
        for sym in self._symbols:
            zw.zbar_image_scanner_set_config(self._scanner, sym, ZBAR_CFG_ENABLE, 1)
        self.binary = False
        if zw.ZBarSymbol.QRCODE in self._symbols:
            rc = zw.zbar_image_scanner_set_config(
                self._scanner, zw.ZBarSymbol.QRCODE, ZBAR_CFG_BINARY, 1
            )
            self.binary = rc == 0
            if not self.binary:
                log.warning(
                    "libzbar has no ZBAR_CFG_BINARY: Chinese QR text is re-encoded, best effort"
                )
        if density != 1:
            zw.zbar_image_scanner_set_config(self._scanner, 0, ZBAR_CFG_X_DENSITY, density)
            zw.zbar_image_scanner_set_config(self._scanner, 0, ZBAR_CFG_Y_DENSITY, density)
        self._image = zw.zbar_image_create()
        zw.zbar_image_set_format(self._image, _Y800)

    def decode(self, gray: Frame) -> list[Decoded]:
        zw = self._zw
        if gray.ndim != 2 or gray.dtype != np.uint8:
            raise ConfigError("zbar needs an 8-bit grayscale image")
        if not gray.flags["C_CONTIGUOUS"]:
            gray = np.ascontiguousarray(gray)
        height, width = gray.shape
        zw.zbar_image_set_size(self._image, width, height)
        zw.zbar_image_set_data(self._image, gray.ctypes.data_as(ctypes.c_void_p), gray.size, None)
        n = zw.zbar_scan_image(self._scanner, self._image)
        out: list[Decoded] = []
        if n > 0:
            sym = zw.zbar_image_first_symbol(self._image)
            while sym:
                data = ctypes.string_at(
                    zw.zbar_symbol_get_data(sym), zw.zbar_symbol_get_data_length(sym)
                )
                kind = _symbology_name(sym.contents.type)
                binary = self.binary and kind == "QRCODE"
                if kind == "QRCODE" and not binary:
                    data = reencode_zbar_text(data)
                out.append(Decoded(data, kind, binary))
                sym = zw.zbar_symbol_next(sym)
        # the image must not keep a pointer into a numpy buffer that may be freed
        zw.zbar_image_set_data(self._image, None, 0, None)
        return out

    def close(self) -> None:
        if self._scanner is not None:
            self._zw.zbar_image_destroy(self._image)
            self._zw.zbar_image_scanner_destroy(self._scanner)
            self._scanner = None


def _symbology_name(value: int) -> str:
    from pyzbar.wrapper import ZBarSymbol

    try:
        return ZBarSymbol(value).name
    except ValueError:
        return f"SYMBOLOGY_{value}"


def to_gray(frame: Frame) -> Frame:
    """Grayscale once, whatever the source gives (BGR, BGRA or already gray)."""
    if frame.ndim == 2:
        return frame
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


def crop(gray: Frame, roi: Roi | None) -> Frame:
    if roi is None:
        return gray
    x, y, w, h = roi
    out = gray[max(0, y) : y + h, max(0, x) : x + w]
    if out.size == 0:
        raise ConfigError(
            f"region of interest {roi} lies outside the {gray.shape[1]}x{gray.shape[0]} frame"
        )
    return out


@dataclass
class CameraStats:
    captured: int = 0
    decoded: int = 0  #: frames run through the decoder
    dropped: int = 0  #: frames replaced by a newer one before being decoded
    scans: int = 0  #: events emitted
    duplicates: int = 0  #: codes suppressed by de-duplication


class CameraScanner:
    def __init__(
        self,
        source: FrameSource,
        *,
        on_scan: ScanCallback | None = None,
        roi: Roi | None = None,
        dedup_seconds: float = 2.0,
        symbologies: Sequence[str] = ("QRCODE",),
        fast_pass_width: int | None = 640,
        full_pass_density: int = 2,
        status: StatusHolder | None = None,
    ) -> None:
        self.source = source
        self.on_scan = on_scan
        self.roi = roi
        self.dedup_seconds = dedup_seconds
        self.fast_pass_width = fast_pass_width
        self.status = status or StatusHolder("camera")
        self.stats = CameraStats()
        self._decoder = ZbarDecoder(symbologies)
        # the full-size pass scans every n-th line: ~2x faster, still finds codes the
        # half-size pass missed (small modules); measured in bench/qr.py
        self._full_decoder = ZbarDecoder(symbologies, density=full_pass_density)
        self._cond = threading.Condition()
        self._newest: Frame | None = None
        self._ended = False
        self._decoding = False
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._seen: dict[bytes, float] = {}
        self._events: list[ScanEvent] = []
        self.error: DeviceError | None = None

    @classmethod
    def from_settings(
        cls,
        settings: CameraSettings,
        on_scan: ScanCallback | None = None,
        status: StatusHolder | None = None,
    ) -> CameraScanner:
        source: FrameSource
        if settings.driver == "simulator":
            from devices.scanner.camerasim import ImageSource

            source = ImageSource.from_files(settings.images, loop=True, fps=15.0)
        else:
            source = OpenCVSource(settings.source, settings.width, settings.height)
        return cls(
            source,
            on_scan=on_scan,
            roi=settings.roi,
            dedup_seconds=settings.dedup_s,
            symbologies=settings.symbologies,
            fast_pass_width=settings.fast_pass_width,
            status=status,
        )

    # -- pure-ish decoding of one frame --------------------------------------------------
    def decode_frame(self, frame: Frame) -> list[ScanEvent]:
        """Decode one frame (no de-duplication); used by the thread and by benchmarks."""
        gray = crop(to_gray(frame), self.roi)
        found: list[Decoded] = []
        width = gray.shape[1]
        if self.fast_pass_width and width > self.fast_pass_width * 1.5:
            scale = self.fast_pass_width / width
            small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            found = self._decoder.decode(small)
            if not found:
                found = self._full_decoder.decode(gray)
        else:
            found = self._decoder.decode(gray)
        events = []
        for d in found:
            text, encoding = decode_text(d.data)
            events.append(
                ScanEvent(
                    text=text,
                    raw=d.data,
                    source=Source.CAMERA,
                    symbology=d.symbology,
                    encoding=encoding,
                )
            )
        return events

    # -- threads -----------------------------------------------------------------------
    def start(self) -> None:
        if self._threads:
            raise RuntimeError("already started")
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._capture_loop, name="camera-capture", daemon=True),
            threading.Thread(target=self._decode_loop, name="camera-decode", daemon=True),
        ]
        for t in self._threads:
            t.start()
        self.status.set(DeviceState.READY, "camera running")

    def self_test(self, timeout: float = 3.0) -> SelfTest:
        """Start if needed and wait (on the frame condition) for a new frame; never raises."""
        with self._cond:
            seen = self.stats.captured
        try:
            if not self._threads:
                self.start()
        except DeviceError as err:
            return SelfTest(False, self.status.status.state, f"self-test failed: {err}")
        with self._cond:
            got = self._cond.wait_for(lambda: self.stats.captured > seen or self._ended, timeout)
            fresh = self.stats.captured > seen
        state = self.status.status.state
        if not got or not fresh:
            reason = str(self.error) if self.error else f"no frame within {timeout:.0f} s"
            return SelfTest(False, state, f"self-test failed: {reason}")
        return SelfTest(True, state, f"frames arrive ({self.stats.captured} so far)")

    def close(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(5)
        self._threads = []
        self.source.close()
        self._decoder.close()
        self._full_decoder.close()
        self.status.set(DeviceState.ABSENT, "closed")

    def __enter__(self) -> CameraScanner:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until a finite source ended and its last frame was decoded."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not (self._ended and self._newest is None and not self._decoding):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def wait_for_scan(self, timeout: float) -> ScanEvent:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._events:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise DeviceTimeout(f"no code seen within {timeout:.1f} s")
                self._cond.wait(remaining)
            return self._events.pop(0)

    def _capture_loop(self) -> None:
        while not self._stop.is_set():
            try:
                frame = self.source.read()
            except DeviceError as err:
                self.error = err
                self.status.set(DeviceState.FAULT, str(err))
                frame = None
            with self._cond:
                if frame is None:
                    self._ended = True
                    self._cond.notify_all()
                    return
                self.stats.captured += 1
                if self._newest is not None:
                    self.stats.dropped += 1
                self._newest = frame
                self._cond.notify_all()

    def _decode_loop(self) -> None:
        while True:
            with self._cond:
                while self._newest is None and not self._stop.is_set():
                    self._cond.wait()
                if self._stop.is_set():
                    return
                frame = self._newest
                self._newest = None
                self._decoding = True
            assert frame is not None
            try:
                events = self.decode_frame(frame)
            except DeviceError as err:
                self.error = err
                self.status.set(DeviceState.FAULT, str(err))
                events = []
            for event in events:
                self._emit(event)
            with self._cond:
                self.stats.decoded += 1
                self._decoding = False
                self._cond.notify_all()

    def _emit(self, event: ScanEvent) -> None:
        now = time.monotonic()
        last = self._seen.get(event.raw)
        if last is not None and now - last < self.dedup_seconds:
            self.stats.duplicates += 1
            self._seen[event.raw] = now
            return
        self._seen = {k: t for k, t in self._seen.items() if now - t < self.dedup_seconds}
        self._seen[event.raw] = now
        self.stats.scans += 1
        # Handed to the callback, or kept for wait_for_scan(), never both (see the serial
        # scanner): nothing scanned outlives the person, and nothing piles up unread.
        if self.on_scan is None:
            with self._cond:
                self._events.append(event)
                self._cond.notify_all()
            return
        try:
            self.on_scan(event)
        except Exception:
            log.exception("scan callback failed")
