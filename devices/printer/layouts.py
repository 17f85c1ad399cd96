"""Receipt layouts: pure functions from receipt data to ESC/POS bytes.

The bytes are built with python-escpos' command API on a ``Dummy`` printer (which only
records bytes). Text goes through :func:`encode_text` instead of python-escpos'
MagicEncode: it encodes the whole string as GB18030 explicitly, so lines made only of
full-width punctuation print correctly (MagicEncode turns them into ``?``), and wraps
Chinese text in ``FS &`` … ``FS .`` when the printer needs Kanji mode switched on.

Control characters in receipt data are replaced by spaces, so data can never inject a
printer command. Names are never passed in raw: ``TicketReceipt.masked_name`` takes an
already-masked string.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Literal

from escpos.constants import QR_ECLEVEL_M
from escpos.printer import Dummy

from devices.errors import ConfigError
from devices.printer.settings import PrinterSettings

ESC = b"\x1b"
GS = b"\x1d"
FS = b"\x1c"
LF = b"\n"
KANJI_ON = FS + b"&"
KANJI_OFF = FS + b"."

MaterialMark = Literal["required", "may_be_missing", "commitment"]

#: How each material mark is printed.
MARK_LABELS: dict[str, str] = {
    "required": "必需",
    "may_be_missing": "容缺",
    "commitment": "可告知承诺",
}


@dataclass(frozen=True)
class TicketReceipt:
    """A queue ticket, filled in by the kiosk."""

    hall_name: str
    queue_name: str
    ticket_number: str
    people_ahead: int
    issued_at: datetime
    expected_wait_min: int | None = None
    """Expected wait in minutes; ``None`` prints no estimate."""
    window_hint: str = ""
    """E.g. "请留意叫号，到 3-5 号窗口办理"."""
    status_url: str = ""
    """Content of the QR code for looking up the queue status ("" prints no QR)."""
    masked_name: str | None = None
    """An already-masked name such as "张*三"; never a raw name."""
    footer: str = "过号请重新取号，请妥善保管此票"


@dataclass(frozen=True)
class NoticeMaterial:
    """One application material of a one-time notice (一次性告知)."""

    name: str
    mark: MaterialMark = "required"
    """required 必需 · may_be_missing 容缺 (may be handed in later) · commitment 可告知承诺."""
    note: str = ""
    """E.g. "原件及复印件各一份"."""


@dataclass(frozen=True)
class NoticeReceipt:
    """The one-time notice checklist (一次性告知单) of a service, filled in by the kiosk."""

    hall_name: str
    service_name: str
    issued_at: datetime
    conditions: Sequence[str] = ()
    materials: Sequence[NoticeMaterial] = ()
    fees: str = "不收费"
    legal_time_limit: str = ""
    """E.g. "20 个工作日"."""
    promised_time_limit: str = ""
    """E.g. "5 个工作日"."""
    where: str = ""
    """Where to go, e.g. "二楼 B 区 12-15 号窗口"."""
    contact: str = ""
    """E.g. a consultation phone number."""
    guide_url: str = ""
    """Content of a QR code linking to the online service guide ("" prints no QR)."""


@dataclass(frozen=True)
class TestPageInfo:
    """What the technician test page shows besides the charset lines."""

    __test__: ClassVar[bool] = False  # not a pytest test class

    software_version: str
    printed_at: datetime
    status_lines: Sequence[str] = ()
    """Printer status in plain words, e.g. ("状态：ready", "纸张：充足")."""
    qr_content: str = "hallkit printer test"
    settings_lines: Sequence[str] = field(default_factory=tuple)


@dataclass(frozen=True)
class LayoutOptions:
    """Printer-dependent choices of the layouts."""

    encoding: Literal["gb18030", "gbk"] = "gb18030"
    kanji_mode: bool = False
    width_chars: int = 32
    qr_module_size: int = 6
    cut: Literal["full", "partial"] = "partial"
    profile: str | None = None

    @classmethod
    def from_settings(cls, settings: PrinterSettings) -> LayoutOptions:
        return cls(
            encoding=settings.encoding,
            kanji_mode=settings.kanji_mode,
            width_chars=settings.width_chars,
            qr_module_size=settings.qr_module_size,
            cut=settings.cut,
            profile=settings.profile,
        )


def clean_text(text: str) -> str:
    """Replace control characters (which could inject printer commands) with spaces."""
    return "".join(" " if unicodedata.category(ch) in ("Cc", "Cf") else ch for ch in text)


def encode_text(text: str, encoding: str = "gb18030", kanji_mode: bool = False) -> bytes:
    """Encode one piece of text for the printer (no line feed added).

    With ``kanji_mode`` a run containing non-ASCII characters is wrapped in ``FS &`` …
    ``FS .``. Characters the encoding cannot hold (only possible with ``gbk``) become ``?``.
    """
    data = clean_text(text).encode(encoding, errors="replace")
    if kanji_mode and any(b >= 0x80 for b in data):
        return KANJI_ON + data + KANJI_OFF
    return data


def char_columns(ch: str) -> int:
    """Columns a character takes in font A: 1 for ASCII, 2 for anything printed from GB18030
    (a Chinese printer prints every multi-byte character, even “ and ·, full width)."""
    return 1 if ord(ch) < 0x80 else 2


def text_columns(text: str) -> int:
    """Printed width of ``text`` in font A columns (its display width on the receipt).

    Not ``wcwidth``: Unicode's East Asian Width says “ · … are narrow, but a Chinese
    printer prints every multi-byte GB18030 character in a full-width cell; what
    counts is the encoding the printer receives, which :func:`char_columns` follows."""
    return sum(char_columns(ch) for ch in text)


#: Character sizes tried for the ticket number, largest first (``GS !`` allows 1-8).
NUMBER_SIZES = (4, 3, 2, 1)


def number_size(text: str, width_chars: int) -> int:
    """The largest of :data:`NUMBER_SIZES` at which ``text`` fits on one line.

    Chosen by printed width, not character count: ``VIP0001号`` is 8 characters but 9
    columns, so at 4× it needs 36 columns and wrapped on 58 mm paper (32)."""
    cols = max(1, text_columns(text))
    return next((n for n in NUMBER_SIZES if cols * n <= width_chars), 1)


def wrap_columns(text: str, width: int, indent: str = "") -> list[str]:
    """Split ``text`` into lines of at most ``width`` columns; continuation lines get ``indent``."""
    if width < 2:
        raise ConfigError(f"line width {width} is too small")
    lines: list[str] = []
    current = ""
    used = 0
    for ch in text:
        cols = char_columns(ch)
        if used + cols > width and current:
            lines.append(current)
            current = indent
            used = text_columns(indent)
            if ch == " ":
                continue
        current += ch
        used += cols
    if current or not lines:
        lines.append(current)
    return lines


Align = Literal["left", "center", "right"]


class _Job:
    """Builds one receipt on a Dummy printer, emitting style commands only on change."""

    def __init__(self, opts: LayoutOptions) -> None:
        self.opts = opts
        self.p = Dummy(profile=opts.profile) if opts.profile else Dummy()
        self.p.hw("INIT")
        self._align: Align = "left"
        self._bold = False
        self._size = (1, 1)

    def style(
        self, align: Align = "left", bold: bool = False, size: tuple[int, int] = (1, 1)
    ) -> None:
        if align != self._align:
            self.p.set(align=align)
            self._align = align
        if bold != self._bold:
            self.p.set(bold=bold)
            self._bold = bold
        if size != self._size:
            self.p.set(custom_size=True, width=size[0], height=size[1])
            self._size = size

    def line(
        self,
        text: str,
        *,
        align: Align = "left",
        bold: bool = False,
        size: tuple[int, int] = (1, 1),
        indent: str = "",
    ) -> None:
        self.style(align, bold, size)
        for part in wrap_columns(clean_text(text), self.opts.width_chars // size[0], indent):
            self.p._raw(encode_text(part, self.opts.encoding, self.opts.kanji_mode) + LF)

    def rule(self) -> None:
        self.line("-" * self.opts.width_chars)

    def qr(self, content: str) -> None:
        self.style(align="center")
        self.p.qr(content, ec=QR_ECLEVEL_M, size=self.opts.qr_module_size, native=True)
        self.p._raw(LF)

    def finish(self) -> bytes:
        self.style()
        self.p.cut(mode="PART" if self.opts.cut == "partial" else "FULL")
        return bytes(self.p.output)


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def ticket_bytes(ticket: TicketReceipt, opts: LayoutOptions | None = None) -> bytes:
    """ESC/POS bytes of a queue ticket."""
    opts = opts or LayoutOptions()
    job = _Job(opts)
    job.line(ticket.hall_name, align="center", bold=True)
    job.line(ticket.queue_name, align="center", size=(1, 2))
    size = number_size(ticket.ticket_number, opts.width_chars)
    job.line(ticket.ticket_number, align="center", bold=True, size=(size, size))
    job.line(f"前面还有 {ticket.people_ahead} 人等候", align="center")
    if ticket.expected_wait_min is not None:
        job.line(f"预计等候约 {ticket.expected_wait_min} 分钟", align="center")
    if ticket.window_hint:
        job.line(ticket.window_hint, align="center")
    if ticket.masked_name:
        job.line(f"姓名：{ticket.masked_name}", align="center")
    if ticket.status_url:
        job.qr(ticket.status_url)
        job.line("扫码查看排队进度", align="center")
    job.line(f"取号时间：{_time(ticket.issued_at)}", align="center")
    if ticket.footer:
        job.line(ticket.footer, align="center")
    return job.finish()


_SECTION_NUMBERS = "一二三四五六七八九十"


def notice_bytes(notice: NoticeReceipt, opts: LayoutOptions | None = None) -> bytes:
    """ESC/POS bytes of a one-time notice checklist (一次性告知单)."""
    opts = opts or LayoutOptions()
    job = _Job(opts)
    sections = iter(_SECTION_NUMBERS)
    job.line("一次性告知单", align="center", bold=True, size=(1, 2))
    job.line(notice.hall_name, align="center")
    job.rule()
    job.line(f"事项：{notice.service_name}", bold=True, indent="      ")
    if notice.conditions:
        job.line(f"{next(sections)}、办理条件", bold=True)
        for i, condition in enumerate(notice.conditions, 1):
            job.line(f"{i}. {condition}", indent="   ")
    job.line(f"{next(sections)}、申请材料", bold=True)
    if not notice.materials:
        job.line("无需提交材料")
    for i, material in enumerate(notice.materials, 1):
        job.line(f"{i}. {material.name}【{MARK_LABELS[material.mark]}】", indent="   ")
        if material.note:
            job.line(f"   {material.note}", indent="   ")
    job.line(
        "材料说明：必需＝须当场提交；容缺＝可先受理后补交；可告知承诺＝可书面承诺代替", indent="  "
    )
    job.line(f"{next(sections)}、收费标准", bold=True)
    job.line(notice.fees or "不收费", indent="  ")
    job.line(f"{next(sections)}、办理时限", bold=True)
    job.line(f"法定时限：{notice.legal_time_limit or '—'}")
    job.line(f"承诺时限：{notice.promised_time_limit or '—'}")
    if notice.where:
        job.line(f"{next(sections)}、办理地点", bold=True)
        job.line(notice.where, indent="  ")
    if notice.contact:
        job.line(f"咨询电话：{notice.contact}")
    job.rule()
    if notice.guide_url:
        job.qr(notice.guide_url)
        job.line("扫码查看办事指南", align="center")
    job.line(f"打印时间：{_time(notice.issued_at)}", align="center")
    return job.finish()


#: Lines of the test page that show whether the printer's character set is right.
CHARSET_LINES: tuple[str, ...] = (
    "!\"#$%&'()*+,-./0123456789:;<=>?",
    "@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_",
    "`abcdefghijklmnopqrstuvwxyz{|}~",
    "中文：政务服务中心欢迎您",
    "，。、；：？！“”‘’（）《》",
    "全角：０１２３４５６７８９ＡＢＣ",
    "符号：·…—￥％【】",
)


def technician_page_bytes(info: TestPageInfo, opts: LayoutOptions | None = None) -> bytes:
    """ESC/POS bytes of the technician test page."""
    opts = opts or LayoutOptions()
    job = _Job(opts)
    job.line("打印机测试页", align="center", bold=True, size=(2, 2))
    job.line("PRINTER TEST PAGE", align="center")
    job.rule()
    job.line(f"软件版本：{info.software_version}")
    job.line(f"编码：{opts.encoding}  汉字模式：{'FS &' if opts.kanji_mode else '关'}")
    job.line(f"行宽：{opts.width_chars} 列")
    for line in info.settings_lines:
        job.line(line)
    for line in info.status_lines:
        job.line(line)
    job.rule()
    for line in CHARSET_LINES:
        job.line(line)
    job.line(("1234567890" * 7)[: opts.width_chars])
    job.line("粗体 BOLD", bold=True)
    job.line("倍高倍宽", size=(2, 2))
    job.rule()
    job.qr(info.qr_content)
    job.line(f"打印时间：{_time(info.printed_at)}", align="center")
    return job.finish()
