"""A virtual ESC/POS printer: reads receipts back from bytes and renders PNG previews.

:class:`VirtualPrinter` takes the bytes a driver sends (:meth:`VirtualPrinter.feed`),
parses them with :class:`~devices.printer.escpos_parser.EscPosParser`, and keeps each
receipt (text lines decoded from GB18030, QR contents, the cut) until the cut arrives.
It answers ``DLE EOT n`` from its simulated state: paper ``ok`` / ``near_end`` / ``out``,
cover open, cutter error, or ``silent`` (no reply at all, like a printer switched off).
PNG previews are rendered by a short-lived worker thread, never by the thread that feeds
the bytes, so a status request right after a print is answered at once
(:meth:`VirtualPrinter.wait_for_previews` waits for the files).

:class:`VirtualEscpos` puts it behind python-escpos' printer API (driver ``virtual``);
:mod:`devices.printer.simulator` puts it behind a TCP socket.
"""

from __future__ import annotations

import collections
import functools
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import qrcode
from escpos.escpos import Escpos
from PIL import Image, ImageDraw, ImageFont

from devices.errors import ProtocolError
from devices.printer import escpos_parser as ep
from devices.printer.status import encode_status

log = logging.getLogger(__name__)

FONT_PATH = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
DOTS_PER_COLUMN = 12  # font A is 12 dots wide, a Chinese character 24

PaperState = Literal["ok", "near_end", "out"]


@dataclass(frozen=True)
class PrintedLine:
    text: str
    align: ep.Align = "left"
    bold: bool = False
    width: int = 1
    height: int = 1


@dataclass(frozen=True)
class PrintedQr:
    content: str
    module_size: int = 3


@dataclass(frozen=True)
class PrintedImage:
    width_bytes: int
    height: int
    data: bytes


Item = PrintedLine | PrintedQr | PrintedImage


@dataclass
class Receipt:
    """One receipt, from the first byte after the previous cut to its own cut."""

    items: list[Item] = field(default_factory=list)
    cut: Literal["full", "partial"] | None = None
    lost: bool = False
    """True when it was "printed" while the paper was out (nothing came out)."""
    preview: Path | None = None

    @property
    def lines(self) -> list[PrintedLine]:
        return [i for i in self.items if isinstance(i, PrintedLine)]

    @property
    def text_lines(self) -> list[str]:
        """The non-blank text lines, in order."""
        return [line.text for line in self.lines if line.text.strip()]

    @property
    def qr_codes(self) -> list[str]:
        return [i.content for i in self.items if isinstance(i, PrintedQr)]


def decode_qr_data(data: bytes) -> str:
    """QR payload bytes as text: UTF-8 first, then GB18030 (as a scanner would)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030", errors="replace")


class ReceiptBuilder:
    """Turns parser events into receipts (pure: no I/O, no threads)."""

    def __init__(self, *, requires_kanji_mode: bool = False) -> None:
        self.requires_kanji_mode = requires_kanji_mode
        self.receipt = Receipt()
        self._reset_style()
        self._segments: list[tuple[bytes, bool]] = []
        self._line_style: tuple[ep.Align, bool, int, int] | None = None
        self._qr_data = b""
        self._qr_size = 3

    def _reset_style(self) -> None:
        self.align: ep.Align = "left"
        self.bold = False
        self.size = (1, 1)
        self.kanji = False

    def _decode(self) -> str:
        parts = []
        for data, kanji in self._segments:
            if self.requires_kanji_mode and not kanji:
                parts.append(data.decode("latin-1"))  # what a printer without Kanji mode shows
            else:
                parts.append(data.decode("gb18030", errors="replace"))
        return "".join(parts)

    def _end_line(self, force: bool) -> None:
        if not self._segments and not force:
            return
        align, bold, width, height = self._line_style or (self.align, self.bold, *self.size)
        self.receipt.items.append(PrintedLine(self._decode(), align, bold, width, height))
        self._segments = []
        self._line_style = None

    def apply(self, event: ep.Event) -> Receipt | None:
        """Apply one event; returns the finished receipt when the event was a cut."""
        match event:
            case ep.TextBytes(data):
                if self._line_style is None:
                    self._line_style = (self.align, self.bold, *self.size)
                else:
                    a, b, w, h = self._line_style
                    self._line_style = (
                        a,
                        b or self.bold,
                        max(w, self.size[0]),
                        max(h, self.size[1]),
                    )
                self._segments.append((data, self.kanji))
            case ep.LineFeed():
                self._end_line(force=True)
            case ep.Feed(lines):
                self._end_line(force=False)
                self.receipt.items.extend(PrintedLine("") for _ in range(lines))
            case ep.Init():
                self._segments = []
                self._line_style = None
                self._reset_style()
            case ep.SetAlign(align):
                self.align = align
            case ep.SetBold(bold):
                self.bold = bold
            case ep.SetSize(width, height):
                self.size = (width, height)
            case ep.Kanji(on):
                self.kanji = on
            case ep.QrSize(size):
                self._qr_size = size
            case ep.QrStore(data):
                self._qr_data = data
            case ep.QrPrint():
                self._end_line(force=False)
                self.receipt.items.append(PrintedQr(decode_qr_data(self._qr_data), self._qr_size))
            case ep.Raster(width_bytes, height, data):
                self._end_line(force=False)
                self.receipt.items.append(PrintedImage(width_bytes, height, data))
            case ep.Cut(partial):
                self._end_line(force=False)
                done = self.receipt
                done.cut = "partial" if partial else "full"
                self.receipt = Receipt()
                return done
        return None


@functools.lru_cache(maxsize=4)
def load_font(size: int = 24) -> ImageFont.FreeTypeFont:
    """The preview font (loaded once per size; the first load reads a large .ttc file)."""
    return ImageFont.truetype(FONT_PATH, size)


def render_receipt(receipt: Receipt, width_chars: int = 32) -> Image.Image:
    """A preview of the receipt as it would come out of the printer (white paper)."""
    width = width_chars * DOTS_PER_COLUMN
    font = load_font(24)
    pieces: list[tuple[Image.Image, ep.Align]] = []
    for item in receipt.items:
        if isinstance(item, PrintedLine):
            text_w = max(1, int(font.getlength(item.text)) + 1) if item.text else 1
            img = Image.new("L", (text_w, 30), 255)
            draw = ImageDraw.Draw(img)
            draw.text((0, 2), item.text, font=font, fill=0)
            if item.bold:
                draw.text((1, 2), item.text, font=font, fill=0)
            img = img.resize((text_w * item.width, 30 * item.height))
            pieces.append((img, item.align))
        elif isinstance(item, PrintedQr):
            qr = qrcode.QRCode(box_size=max(1, item.module_size), border=2)
            qr.add_data(item.content)
            qr.make(fit=True)
            pieces.append((qr.make_image().get_image().convert("L"), "center"))
        else:
            raw = Image.frombytes("1", (item.width_bytes * 8, item.height), item.data)
            pieces.append((Image.eval(raw.convert("L"), lambda v: 255 - v), "left"))
    height = sum(p.height for p, _ in pieces) + 40
    page = Image.new("L", (width, max(height, 60)), 255)
    y = 10
    for img, align in pieces:
        if img.width > width:
            img = img.crop((0, 0, width, img.height))
        x = {"left": 0, "center": (width - img.width) // 2, "right": width - img.width}[align]
        page.paste(img, (x, y))
        y += img.height
    draw = ImageDraw.Draw(page)
    for x in range(0, width, 16):
        draw.line((x, page.height - 5, x + 8, page.height - 5), fill=0)
    return page


class VirtualPrinter:
    """A printer in memory. Thread-safe: the simulator feeds it from a connection thread.

    :meth:`feed` only parses and answers; a finished receipt is in :attr:`receipts` at
    once, and its PNG preview (with ``preview_dir``) is rendered afterwards by a worker
    thread that runs while previews are pending and then ends (``receipt.preview`` is set
    when the file is written; :meth:`wait_for_previews` waits for all of them). With
    ``preview_dir`` the worker also pre-loads the font when the printer is created.
    """

    def __init__(
        self,
        *,
        preview_dir: str | Path | None = None,
        paper: PaperState = "ok",
        width_chars: int = 32,
        requires_kanji_mode: bool = False,
    ) -> None:
        self.preview_dir = Path(preview_dir) if preview_dir else None
        self.paper: PaperState = paper
        self.cover_open = False
        self.cutter_error = False
        self.silent = False
        """When True, status requests get no reply (like a printer switched off)."""
        self.width_chars = width_chars
        self.receipts: list[Receipt] = []
        self.status_requests = 0
        self.protocol_errors = 0
        self._previews = 0
        self._parser = ep.EscPosParser()
        self._builder = ReceiptBuilder(requires_kanji_mode=requires_kanji_mode)
        self._cond = threading.Condition()
        self._to_render: collections.deque[tuple[Receipt, Path]] = collections.deque()
        self._renderer: threading.Thread | None = None
        if self.preview_dir is not None:
            with self._cond:
                self._start_renderer()  # pre-loads the font off the caller's thread

    def status_byte(self, n: int) -> bytes:
        """The reply to ``DLE EOT n`` in the current simulated state (b"" when silent)."""
        if self.silent or n not in (1, 2, 3, 4):
            return b""
        return encode_status(
            n,
            cover_open=self.cover_open,
            paper_near_end=self.paper == "near_end",
            paper_out=self.paper == "out",
            cutter_error=self.cutter_error,
        )

    def feed(self, data: bytes) -> bytes:
        """Take bytes from the host; return the bytes the printer sends back.

        Never renders: previews are queued for the worker thread, so this returns as
        soon as the bytes are parsed."""
        try:
            events = self._parser.feed(data)
        except ProtocolError as err:
            log.warning("virtual printer dropped its input: %s", err)
            self.protocol_errors += 1
            return b""
        reply = bytearray()
        with self._cond:
            for event in events:
                if isinstance(event, ep.StatusRequest):
                    self.status_requests += 1
                    reply += self.status_byte(event.n)
                    continue
                receipt = self._builder.apply(event)
                if receipt is not None:
                    receipt.lost = self.paper == "out" or self.cover_open
                    self.receipts.append(receipt)
                    self._queue_preview(receipt)
                    self._cond.notify_all()
        return bytes(reply)

    # -- previews (worker thread) --------------------------------------------------------
    def _queue_preview(self, receipt: Receipt) -> None:
        """Called with ``_cond`` held."""
        if self.preview_dir is None or receipt.lost:
            return
        self._previews += 1
        self._to_render.append((receipt, self.preview_dir / f"receipt-{self._previews:04d}.png"))
        self._start_renderer()

    def _start_renderer(self) -> None:
        """Called with ``_cond`` held: start the worker unless it is running."""
        if self._renderer is None:
            self._renderer = threading.Thread(
                target=self._render_loop, name="printer-preview", daemon=True
            )
            self._renderer.start()

    def _render_loop(self) -> None:
        try:
            load_font(24)
        except OSError as err:
            log.warning("virtual printer cannot load the preview font: %s", err)
        while True:
            with self._cond:
                if not self._to_render:
                    self._renderer = None  # a later receipt starts a new worker
                    self._cond.notify_all()
                    return
                receipt, path = self._to_render[0]  # still pending while it renders
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                render_receipt(receipt, self.width_chars).save(path)
            except Exception as err:  # PIL/qrcode/OS errors: the preview is only a picture
                log.warning("virtual printer could not write preview %s: %s", path, err)
            else:
                receipt.preview = path
                log.info("virtual printer wrote preview %s", path)
            with self._cond:
                self._to_render.popleft()
                self._cond.notify_all()

    def wait_for_previews(self, timeout: float) -> bool:
        """Block until every queued preview is written (False on timeout)."""
        with self._cond:
            return self._cond.wait_for(
                lambda: not self._to_render and self._renderer is None, timeout
            )

    def wait_for_receipts(self, count: int, timeout: float) -> bool:
        """Block until at least ``count`` receipts are finished (False on timeout)."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self.receipts) >= count, timeout)


class VirtualEscpos(Escpos):
    """python-escpos printer object backed by a :class:`VirtualPrinter` in this process."""

    def __init__(self, virtual: VirtualPrinter, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.virtual = virtual
        self._replies: collections.deque[int] = collections.deque()

    def open(self, raise_not_found: bool = True) -> None:
        self.device = self.virtual

    def _raw(self, msg: bytes) -> None:
        self._replies.extend(self.virtual.feed(bytes(msg)))

    def _read(self) -> bytes:
        return bytes([self._replies.popleft()]) if self._replies else b""

    def discard_input(self) -> None:
        self._replies.clear()

    def close(self) -> None:
        """Let queued previews be written (bounded wait), so a short-lived process that
        prints and exits still leaves its PNG behind."""
        self.virtual.wait_for_previews(5.0)
        self._device = False
