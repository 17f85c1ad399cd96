"""Barcode/QR scanner wire protocol — pure: framing, text decoding, trigger commands.

* Suffix framing: the code followed by a configurable suffix (default: any of CR, LF,
  CR LF); STX/ETX framing: ``02 … 03`` (Honeywell option), an optional CR/LF after ETX.
* Text: raw bytes are decoded UTF-8 first, then GB18030 (what Chinese codes use).
* Trigger commands: Honeywell ``16 54 0D`` / ``16 55 0D``; Newland ``1B 31`` / ``1B 30``.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field

STX = 0x02
ETX = 0x03
#: Longest code we accept; longer runs without a terminator are dropped (resync).
MAX_CODE_LEN = 8192


class Framing(enum.StrEnum):
    SUFFIX = "suffix"
    STX_ETX = "stx_etx"


@dataclass(frozen=True)
class TriggerCommands:
    start: bytes
    stop: bytes


#: Trigger dialects: software trigger on/off for serial-mode scanners.
TRIGGERS: dict[str, TriggerCommands] = {
    "honeywell": TriggerCommands(b"\x16T\r", b"\x16U\r"),
    "newland": TriggerCommands(b"\x1b1", b"\x1b0"),
}
HONEYWELL_MENU_PREFIX = b"\x16M\r"


class Source(enum.StrEnum):
    SERIAL = "serial"
    CAMERA = "camera"


@dataclass(frozen=True)
class ScanEvent:
    """One decoded code, from a serial scanner or the camera pipeline.

    ``repr`` shows only the length: a code can carry personal data (e.g. an ID number).
    """

    text: str
    raw: bytes = field(repr=False)
    source: Source | str
    symbology: str | None = None
    at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    encoding: str | None = None  #: "utf-8", "gb18030", or None when neither fitted

    def __repr__(self) -> str:
        return (
            f"ScanEvent(source={self.source!s}, symbology={self.symbology}, "
            f"length={len(self.raw)}, encoding={self.encoding})"
        )


def decode_text(raw: bytes) -> tuple[str, str | None]:
    """UTF-8 first, then GB18030; else UTF-8 with replacement characters (encoding None)."""
    for encoding in ("utf-8", "gb18030"):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        return text.removeprefix("\ufeff"), encoding
    return raw.decode("utf-8", errors="replace"), None


def make_event(raw: bytes, source: Source | str, symbology: str | None = None) -> ScanEvent:
    text, encoding = decode_text(raw)
    return ScanEvent(text=text, raw=raw, source=source, symbology=symbology, encoding=encoding)


def frame_code(
    text: str | bytes,
    *,
    framing: Framing = Framing.SUFFIX,
    suffix: bytes = b"\r\n",
    encoding: str = "utf-8",
) -> bytes:
    """What a scanner sends for one code (the simulator uses it)."""
    raw = text.encode(encoding) if isinstance(text, str) else text
    if framing is Framing.STX_ETX:
        return bytes([STX]) + raw + bytes([ETX])
    return raw + suffix


class Deframer:
    """Stream deframer for scanner output; ``feed`` returns complete codes (raw bytes).

    Suffix mode with ``suffix=None`` splits on CR, LF or CR LF; with a given suffix it
    splits on exactly that. Empty codes are ignored. Over-long runs are dropped.
    """

    def __init__(
        self,
        framing: Framing = Framing.SUFFIX,
        suffix: bytes | None = None,
        max_len: int = MAX_CODE_LEN,
    ) -> None:
        if framing is Framing.SUFFIX and suffix == b"":
            raise ValueError("an empty suffix cannot frame codes")
        self.framing = framing
        self.suffix = suffix
        self.max_len = max_len
        self._buf = bytearray()
        self._in_frame = False
        self.dropped = 0

    def reset(self) -> None:
        self._buf.clear()
        self._in_frame = False

    def feed(self, data: bytes) -> list[bytes]:
        if self.framing is Framing.STX_ETX:
            return self._feed_stx(data)
        return self._feed_suffix(data)

    def _feed_suffix(self, data: bytes) -> list[bytes]:
        self._buf.extend(data)
        out: list[bytes] = []
        buf = self._buf
        while True:
            if self.suffix is None:
                cut = -1
                for i, b in enumerate(buf):
                    if b in (0x0D, 0x0A):
                        cut = i
                        break
                sep = 1
            else:
                cut = buf.find(self.suffix)
                sep = len(self.suffix)
            if cut < 0:
                if len(buf) > self.max_len:
                    self.dropped += 1
                    buf.clear()
                return out
            code = bytes(buf[:cut])
            del buf[: cut + sep]
            if code:
                if len(code) <= self.max_len:
                    out.append(code)
                else:
                    self.dropped += 1

    def _feed_stx(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        for b in data:
            if b == STX:
                if self._in_frame and self._buf:
                    self.dropped += 1  # an unterminated code: start over
                self._buf.clear()
                self._in_frame = True
            elif b == ETX:
                if self._in_frame and self._buf:
                    out.append(bytes(self._buf))
                self._buf.clear()
                self._in_frame = False
            elif self._in_frame:
                self._buf.append(b)
                if len(self._buf) > self.max_len:
                    self.dropped += 1
                    self._buf.clear()
                    self._in_frame = False
            # bytes outside STX…ETX (CR/LF after ETX, noise) are ignored
        return out
