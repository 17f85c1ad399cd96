"""Pure, incremental parser of the ESC/POS byte stream a printer receives.

Used by the virtual printer (and by tests) to read receipts back. It knows the commands
python-escpos and :mod:`devices.printer.layouts` send, plus the lengths of the common
Epson-compatible ones so their arguments are skipped rather than printed as text.
Unknown commands become :class:`Other` events. Bytes can arrive in any chunks: the
parser keeps an incomplete command until the rest arrives. The only error it raises is
:class:`~devices.errors.ProtocolError` (a declared data block too large to buffer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from devices.errors import ProtocolError

#: Largest data block (image, 2D code, graphics) the parser agrees to buffer.
MAX_BLOCK = 1 << 20

Align = Literal["left", "center", "right"]


@dataclass(frozen=True)
class TextBytes:
    data: bytes


@dataclass(frozen=True)
class LineFeed:
    pass


@dataclass(frozen=True)
class Feed:
    lines: int


@dataclass(frozen=True)
class Init:
    pass


@dataclass(frozen=True)
class SetAlign:
    align: Align


@dataclass(frozen=True)
class SetBold:
    bold: bool


@dataclass(frozen=True)
class SetSize:
    width: int
    height: int


@dataclass(frozen=True)
class Kanji:
    on: bool


@dataclass(frozen=True)
class QrSize:
    module_size: int


@dataclass(frozen=True)
class QrStore:
    data: bytes


@dataclass(frozen=True)
class QrPrint:
    pass


@dataclass(frozen=True)
class Cut:
    partial: bool


@dataclass(frozen=True)
class StatusRequest:
    n: int


@dataclass(frozen=True)
class Raster:
    width_bytes: int
    height: int
    data: bytes


@dataclass(frozen=True)
class Other:
    """A command the virtual printer does not model (or does not know)."""

    command: bytes


Event = (
    TextBytes
    | LineFeed
    | Feed
    | Init
    | SetAlign
    | SetBold
    | SetSize
    | Kanji
    | QrSize
    | QrStore
    | QrPrint
    | Cut
    | StatusRequest
    | Raster
    | Other
)

ESC, GS, FS, DLE = 0x1B, 0x1D, 0x1C, 0x10
LF, HT = 0x0A, 0x09

# Number of argument bytes after ESC x (fixed-length commands only).
_ESC_ARGS: dict[int, int] = {
    **dict.fromkeys(b"@2<SLimv", 0),
    **dict.fromkeys(b"!EG-MV{tRrUJKdeaT3 =%?uc", 1),
    **dict.fromkeys(b"$\\B", 2),
    ord("p"): 3,
    ord("W"): 8,
}
_GS_ARGS: dict[int, int] = {
    **dict.fromkeys(b":", 0),
    **dict.fromkeys(b"!HfhwBbarI|/E", 1),
    **dict.fromkeys(b"LWP$\\", 2),
    ord("^"): 3,
}
_FS_ARGS: dict[int, int] = {
    **dict.fromkeys(b"&.", 0),
    **dict.fromkeys(b"!-WCr", 1),
    **dict.fromkeys(b"Sp", 2),
}

_NEED_MORE = None
_Parsed = tuple[int, list[Event]] | None


class EscPosParser:
    """Feed bytes, get :data:`Event` values. Keeps incomplete commands between feeds."""

    def __init__(self) -> None:
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held back waiting for the rest of a command."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Event]:
        self._buf += data
        events: list[Event] = []
        buf = bytes(self._buf)
        pos = 0
        try:
            while pos < len(buf):
                parsed = self._parse_one(buf, pos)
                if parsed is _NEED_MORE:
                    break
                used, new = parsed
                events.extend(new)
                pos += used
        except ProtocolError:
            self._buf.clear()
            raise
        del self._buf[:pos]
        return events

    # -- one command ---------------------------------------------------------------
    def _parse_one(self, buf: bytes, pos: int) -> _Parsed:
        b = buf[pos]
        if b >= 0x20:
            end = pos
            while end < len(buf) and buf[end] >= 0x20:
                end += 1
            return end - pos, [TextBytes(buf[pos:end])]
        if b == LF:
            return 1, [LineFeed()]
        if b == HT:
            return 1, [TextBytes(b" ")]
        if b == ESC:
            return self._esc(buf, pos)
        if b == GS:
            return self._gs(buf, pos)
        if b == FS:
            return self._fs(buf, pos)
        if b == DLE:
            return self._dle(buf, pos)
        return 1, [Other(buf[pos : pos + 1])]

    @staticmethod
    def _take(buf: bytes, pos: int, length: int) -> bytes | None:
        return buf[pos : pos + length] if pos + length <= len(buf) else None

    def _esc(self, buf: bytes, pos: int) -> _Parsed:
        if pos + 1 >= len(buf):
            return _NEED_MORE
        c = buf[pos + 1]
        if c == ord("D"):  # horizontal tab positions, NUL-terminated, at most 32
            end = buf.find(b"\x00", pos + 2, pos + 35)
            if end < 0:
                return _NEED_MORE if len(buf) < pos + 35 else (35, [Other(buf[pos : pos + 35])])
            return end + 1 - pos, [Other(buf[pos : end + 1])]
        if c == ord("*"):  # bit image: m nL nH data
            head = self._take(buf, pos, 5)
            if head is None:
                return _NEED_MORE
            dots = head[3] | head[4] << 8
            length = 5 + dots * (3 if head[2] in (32, 33) else 1)
            cmd = self._take(buf, pos, length)
            return _NEED_MORE if cmd is None else (length, [Other(cmd)])
        nargs = _ESC_ARGS.get(c)
        if nargs is None:
            return 2, [Other(buf[pos : pos + 2])]
        if c == ord("c"):  # ESC c 3 n / ESC c 4 n / ESC c 5 n
            nargs = 2
        cmd = self._take(buf, pos, 2 + nargs)
        if cmd is None:
            return _NEED_MORE
        arg = cmd[2] if nargs else 0
        event: Event
        if c == ord("@"):
            event = Init()
        elif c == ord("!"):
            return len(cmd), [
                SetBold(bool(arg & 0x08)),
                SetSize(2 if arg & 0x20 else 1, 2 if arg & 0x10 else 1),
            ]
        elif c == ord("E"):
            event = SetBold(bool(arg & 1))
        elif c == ord("a"):
            event = SetAlign(
                ("left", "center", "right", "left")[arg & 3]
                if arg in (0, 1, 2, 48, 49, 50)
                else "left"
            )
        elif c == ord("d"):
            event = Feed(arg)
        elif c in (ord("i"), ord("m")):
            event = Cut(partial=True)
        else:
            event = Other(cmd)
        return len(cmd), [event]

    def _gs(self, buf: bytes, pos: int) -> _Parsed:
        if pos + 1 >= len(buf):
            return _NEED_MORE
        c = buf[pos + 1]
        if c == ord("V"):
            head = self._take(buf, pos, 3)
            if head is None:
                return _NEED_MORE
            m = head[2]
            if m in (0, 1, 48, 49):
                return 3, [Cut(partial=m in (1, 49))]
            if m in (65, 66, 97, 98, 103, 104):
                cmd = self._take(buf, pos, 4)
                return _NEED_MORE if cmd is None else (4, [Cut(partial=m in (66, 98, 104))])
            return 3, [Other(head)]
        if c == ord("("):
            head = self._take(buf, pos, 5)
            if head is None:
                return _NEED_MORE
            length = 5 + (head[3] | head[4] << 8)
            cmd = self._take(buf, pos, length)
            if cmd is None:
                return _NEED_MORE
            return length, [self._gs_paren(cmd)]
        if c == ord("8") or (c == ord("v")):
            return self._gs_image(buf, pos, c)
        if c == ord("k"):  # barcode
            head = self._take(buf, pos, 3)
            if head is None:
                return _NEED_MORE
            if head[2] <= 6:
                end = buf.find(b"\x00", pos + 3, pos + 259)
                if end < 0:
                    return (
                        _NEED_MORE if len(buf) < pos + 259 else (259, [Other(buf[pos : pos + 259])])
                    )
                return end + 1 - pos, [Other(buf[pos : end + 1])]
            n = self._take(buf, pos, 4)
            if n is None:
                return _NEED_MORE
            cmd = self._take(buf, pos, 4 + n[3])
            return _NEED_MORE if cmd is None else (len(cmd), [Other(cmd)])
        nargs = _GS_ARGS.get(c)
        if nargs is None:
            return 2, [Other(buf[pos : pos + 2])]
        cmd = self._take(buf, pos, 2 + nargs)
        if cmd is None:
            return _NEED_MORE
        if c == ord("!"):
            return len(cmd), [SetSize((cmd[2] >> 4 & 7) + 1, (cmd[2] & 7) + 1)]
        return len(cmd), [Other(cmd)]

    @staticmethod
    def _gs_paren(cmd: bytes) -> Event:
        # GS ( k pL pH cn fn [m] data — 2D codes; cn 49 = QR
        if cmd[2] == ord("k") and len(cmd) >= 7 and cmd[5] == 49:
            fn = cmd[6]
            if fn == 67 and len(cmd) >= 8:
                return QrSize(cmd[7])
            if fn == 80 and len(cmd) >= 8:
                return QrStore(cmd[8:])
            if fn == 81:
                return QrPrint()
        return Other(cmd)

    def _gs_image(self, buf: bytes, pos: int, c: int) -> _Parsed:
        if c == ord("v"):  # GS v 0 m xL xH yL yH data
            head = self._take(buf, pos, 8)
            if head is None:
                return _NEED_MORE
            if head[2] not in (0, 48):
                return 3, [Other(head[:3])]
            width_bytes = head[4] | head[5] << 8
            height = head[6] | head[7] << 8
            size = width_bytes * height
            if size > MAX_BLOCK:
                raise ProtocolError(f"raster image of {size} bytes is too large")
            cmd = self._take(buf, pos, 8 + size)
            if cmd is None:
                return _NEED_MORE
            return len(cmd), [Raster(width_bytes, height, cmd[8:])]
        # GS 8 L p1 p2 p3 p4 data
        head = self._take(buf, pos, 7)
        if head is None:
            return _NEED_MORE
        if head[2] != ord("L"):
            return 3, [Other(head[:3])]
        size = int.from_bytes(head[3:7], "little")
        if size > MAX_BLOCK:
            raise ProtocolError(f"graphics block of {size} bytes is too large")
        cmd = self._take(buf, pos, 7 + size)
        return _NEED_MORE if cmd is None else (len(cmd), [Other(cmd)])

    def _fs(self, buf: bytes, pos: int) -> _Parsed:
        if pos + 1 >= len(buf):
            return _NEED_MORE
        c = buf[pos + 1]
        if c == ord("("):
            head = self._take(buf, pos, 5)
            if head is None:
                return _NEED_MORE
            cmd = self._take(buf, pos, 5 + (head[3] | head[4] << 8))
            return _NEED_MORE if cmd is None else (len(cmd), [Other(cmd)])
        if c == ord("2"):  # user-defined Kanji: c1 c2 + 72 bytes
            cmd = self._take(buf, pos, 76)
            return _NEED_MORE if cmd is None else (76, [Other(cmd)])
        nargs = _FS_ARGS.get(c)
        if nargs is None:
            return 2, [Other(buf[pos : pos + 2])]
        cmd = self._take(buf, pos, 2 + nargs)
        if cmd is None:
            return _NEED_MORE
        if c == ord("&"):
            return 2, [Kanji(True)]
        if c == ord("."):
            return 2, [Kanji(False)]
        return len(cmd), [Other(cmd)]

    def _dle(self, buf: bytes, pos: int) -> _Parsed:
        if pos + 1 >= len(buf):
            return _NEED_MORE
        c = buf[pos + 1]
        if c == 0x04:  # DLE EOT n (n 7 and 8 take one more byte)
            head = self._take(buf, pos, 3)
            if head is None:
                return _NEED_MORE
            if head[2] in (7, 8):
                cmd = self._take(buf, pos, 4)
                return _NEED_MORE if cmd is None else (4, [Other(cmd)])
            return 3, [StatusRequest(head[2])]
        if c == 0x05:  # DLE ENQ n
            cmd = self._take(buf, pos, 3)
            return _NEED_MORE if cmd is None else (3, [Other(cmd)])
        if c == 0x14:  # DLE DC4 fn ...
            head = self._take(buf, pos, 3)
            if head is None:
                return _NEED_MORE
            cmd = self._take(buf, pos, 10 if head[2] == 8 else 5)
            return _NEED_MORE if cmd is None else (len(cmd), [Other(cmd)])
        return 1, [Other(buf[pos : pos + 1])]
