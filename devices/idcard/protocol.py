"""ID card SAM module wire protocol — pure: bytes in, typed values out, no I/O.

Frame (devices.md): ``AA AA AA 96 69 | LEN_HI LEN_LO | body | CHK``

* command body: ``CMD PARA [DATA]``; response body: ``SW1 SW2 SW3 [DATA]``;
* LEN (big-endian) counts every byte after the length field, checksum included;
* CHK = XOR of the length bytes and the body.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from devices.errors import DeviceRefused, ProtocolError
from devices.serialio import hex_bytes

PREAMBLE = b"\xaa\xaa\xaa\x96\x69"
HEADER_LEN = len(PREAMBLE) + 2
#: Largest LEN we accept (read with fingerprint is 0x090A); anything bigger is garbage.
MAX_LEN = 0x0A00
MIN_LEN = 3  # CMD PARA CHK


class Command(enum.Enum):
    """Commands as (CMD, PARA)."""

    RESET_SAM = (0x10, 0xFF)
    SAM_STATUS = (0x11, 0xFF)
    SAM_ID = (0x12, 0xFF)
    FIND_CARD = (0x20, 0x01)
    SELECT_CARD = (0x20, 0x02)
    READ_TEXT_PHOTO = (0x30, 0x01)
    READ_APPENDED_ADDRESS = (0x30, 0x03)
    READ_WITH_FINGERPRINT = (0x30, 0x10)

    @property
    def cmd(self) -> int:
        return self.value[0]

    @property
    def para(self) -> int:
        return self.value[1]


class Sw3(enum.IntEnum):
    """Every SW3 status byte in devices.md; words in :data:`SW3_WORDS`."""

    SUCCESS = 0x90
    NO_CONTENT = 0x91
    CARD_FOUND = 0x9F
    CHECKSUM_ERROR = 0x10
    LENGTH_ERROR = 0x11
    BAD_COMMAND = 0x21
    UNAUTHORISED = 0x23
    UNRECOGNISED_ERROR = 0x24
    CARD_FAILED_SAM_AUTH = 0x31
    SAM_FAILED_CARD_AUTH = 0x32
    VERIFICATION_ERROR = 0x33
    UNKNOWN_CARD_TYPE = 0x40
    READ_FAILED = 0x41
    RANDOM_NUMBER_FAILED = 0x47
    SAM_SELF_TEST_FAILED = 0x60
    SAM_NOT_AUTHORISED = 0x66
    NO_CARD = 0x80
    SELECT_FAILED = 0x81

    @property
    def zh(self) -> str:
        return SW3_WORDS[self][0]

    @property
    def en(self) -> str:
        return SW3_WORDS[self][1]

    @property
    def ok(self) -> bool:
        return self in (Sw3.SUCCESS, Sw3.CARD_FOUND)


#: SW3 → (Chinese, English) plain words for the kiosk screen and technicians.
SW3_WORDS: dict[Sw3, tuple[str, str]] = {
    Sw3.SUCCESS: ("操作成功", "done"),
    Sw3.NO_CONTENT: ("此项无内容", "no content for this item"),
    Sw3.CARD_FOUND: ("找到证卡", "card found"),
    Sw3.CHECKSUM_ERROR: ("接收数据校验和错", "the reader got a frame with a bad checksum"),
    Sw3.LENGTH_ERROR: ("接收数据长度错", "the reader got a frame with a bad length"),
    Sw3.BAD_COMMAND: ("接收命令错", "the reader does not know this command"),
    Sw3.UNAUTHORISED: ("越权操作", "operation not allowed"),
    Sw3.UNRECOGNISED_ERROR: ("无法识别的错误", "unrecognised error in the reader"),
    Sw3.CARD_FAILED_SAM_AUTH: (
        "证卡认证SAM失败",
        "the card failed to authenticate the reader's SAM",
    ),
    Sw3.SAM_FAILED_CARD_AUTH: (
        "SAM认证证卡失败",
        "the reader's SAM failed to authenticate the card",
    ),
    Sw3.VERIFICATION_ERROR: ("信息验证错误", "verification error"),
    Sw3.UNKNOWN_CARD_TYPE: ("无法识别的卡类型", "unknown card type"),
    Sw3.READ_FAILED: (
        "读证卡操作失败",
        "reading the card failed; keep the card still and try again",
    ),
    Sw3.RANDOM_NUMBER_FAILED: ("取随机数失败", "the card did not give a random number"),
    Sw3.SAM_SELF_TEST_FAILED: ("SAM自检失败", "the reader's SAM failed its self-test"),
    Sw3.SAM_NOT_AUTHORISED: ("SAM未经授权", "the reader's SAM is not authorised"),
    Sw3.NO_CARD: ("寻找证卡失败（无卡）", "no card on the reader"),
    Sw3.SELECT_FAILED: ("选取证卡失败", "selecting the card failed; place it flat and still"),
}


def sw3_words(sw3: int) -> tuple[str, str]:
    """Plain words for any SW3 byte, including ones not in the table."""
    try:
        return SW3_WORDS[Sw3(sw3)]
    except ValueError:
        return (f"未知状态 0x{sw3:02X}", f"unknown status 0x{sw3:02X}")


def checksum(len_and_body: bytes) -> int:
    """XOR of every byte after the preamble up to the byte before CHK."""
    chk = 0
    for b in len_and_body:
        chk ^= b
    return chk


def _frame(body: bytes) -> bytes:
    length = len(body) + 1
    if length > 0xFFFF:
        raise ProtocolError("frame body too long")
    head = length.to_bytes(2, "big")
    return PREAMBLE + head + body + bytes([checksum(head + body)])


def build_command(command: Command, data: bytes = b"") -> bytes:
    return _frame(bytes([command.cmd, command.para]) + data)


def build_raw_command(cmd: int, para: int, data: bytes = b"") -> bytes:
    return _frame(bytes([cmd & 0xFF, para & 0xFF]) + data)


def build_response(sw3: int, data: bytes = b"", sw1: int = 0, sw2: int = 0) -> bytes:
    return _frame(bytes([sw1 & 0xFF, sw2 & 0xFF, sw3 & 0xFF]) + data)


@dataclass(frozen=True)
class CommandFrame:
    cmd: int
    para: int
    data: bytes

    @property
    def command(self) -> Command | None:
        try:
            return Command((self.cmd, self.para))
        except ValueError:
            return None


@dataclass(frozen=True)
class Response:
    sw1: int
    sw2: int
    sw3: int
    data: bytes

    @property
    def status(self) -> Sw3 | None:
        try:
            return Sw3(self.sw3)
        except ValueError:
            return None

    @property
    def ok(self) -> bool:
        return self.sw1 == 0 and self.sw2 == 0 and self.sw3 in (Sw3.SUCCESS, Sw3.CARD_FOUND)

    @property
    def words(self) -> tuple[str, str]:
        return sw3_words(self.sw3)

    def raise_for_status(self, what: str) -> None:
        if not self.ok:
            zh, en = self.words
            raise DeviceRefused(
                f"{what}: {en} (SW {self.sw1:02X} {self.sw2:02X} {self.sw3:02X}; {zh})"
            )


def _body(frame: bytes) -> bytes:
    """Check one complete frame and return its body (between LEN and CHK)."""
    if len(frame) < HEADER_LEN + MIN_LEN:
        raise ProtocolError(f"frame too short ({len(frame)} bytes)")
    if frame[: len(PREAMBLE)] != PREAMBLE:
        raise ProtocolError("frame does not start with AA AA AA 96 69")
    length = int.from_bytes(frame[5:7], "big")
    if length != len(frame) - HEADER_LEN:
        raise ProtocolError(f"LEN says {length} bytes but {len(frame) - HEADER_LEN} follow")
    if checksum(frame[5:-1]) != frame[-1]:
        raise ProtocolError(
            f"bad checksum: got {frame[-1]:02X}, expected {checksum(frame[5:-1]):02X}"
        )
    return frame[7:-1]


def parse_command(frame: bytes) -> CommandFrame:
    body = _body(frame)
    return CommandFrame(body[0], body[1], body[2:])


def parse_response(frame: bytes) -> Response:
    body = _body(frame)
    if len(body) < 3:
        raise ProtocolError("response without SW1 SW2 SW3")
    return Response(body[0], body[1], body[2], body[3:])


class FrameParser:
    """Stream deframer: feed it any chunks, get complete frames; resyncs on garbage.

    ``feed`` returns items in order: ``bytes`` for a frame whose checksum is right, or a
    :class:`ProtocolError` for a frame-shaped thing whose checksum was wrong (so a driver
    can fail fast instead of waiting for its timeout). Garbage between frames is skipped
    and counted in :attr:`skipped`.
    """

    def __init__(self, min_len: int = MIN_LEN, max_len: int = MAX_LEN) -> None:
        self._buf = bytearray()
        self.min_len = min_len
        self.max_len = max_len
        self.skipped = 0

    def reset(self) -> None:
        self._buf.clear()

    @property
    def pending(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes | ProtocolError]:
        self._buf.extend(data)
        out: list[bytes | ProtocolError] = []
        buf = self._buf
        while True:
            start = buf.find(PREAMBLE)
            if start < 0:
                # keep a possible preamble prefix at the end
                keep = 0
                for k in range(min(len(PREAMBLE) - 1, len(buf)), 0, -1):
                    if buf.endswith(PREAMBLE[:k]):
                        keep = k
                        break
                self.skipped += len(buf) - keep
                del buf[: len(buf) - keep]
                return out
            if start:
                self.skipped += start
                del buf[:start]
            if len(buf) < HEADER_LEN:
                return out
            length = int.from_bytes(buf[5:7], "big")
            if not self.min_len <= length <= self.max_len:
                self.skipped += 1
                del buf[:1]  # not a real header: look for the next preamble
                continue
            total = HEADER_LEN + length
            if len(buf) < total:
                return out
            frame = bytes(buf[:total])
            if checksum(frame[5:-1]) == frame[-1]:
                del buf[:total]
                out.append(frame)
            else:
                # keep searching inside it: a real frame may start within the bad one
                self.skipped += 1
                del buf[:1]
                out.append(ProtocolError(f"bad checksum in a {total}-byte frame"))


# -- reply payloads ------------------------------------------------------------------
TEXT_LEN = 256
PHOTO_LEN = 1024
FINGERPRINT_LEN = 1024


@dataclass(frozen=True)
class CardData:
    """Raw blocks of a read reply. Never log or store: it is personal data."""

    text: bytes
    photo: bytes
    fingerprint: bytes | None = None

    def __repr__(self) -> str:  # never show the content
        fp = "" if self.fingerprint is None else f", fingerprint=<{len(self.fingerprint)} bytes>"
        return f"CardData(text=<{len(self.text)} bytes>, photo=<{len(self.photo)} bytes>{fp})"


def parse_card_data(data: bytes, with_fingerprint: bool = False) -> CardData:
    """The data after SW1-3 of a ``30 01`` (or ``30 10``) reply."""
    n_fields = 3 if with_fingerprint else 2
    if len(data) < 2 * n_fields:
        raise ProtocolError("read reply too short for its length fields")
    lengths = [int.from_bytes(data[2 * i : 2 * i + 2], "big") for i in range(n_fields)]
    if lengths[0] != TEXT_LEN:
        raise ProtocolError(f"text length is {lengths[0]}, expected {TEXT_LEN}")
    if len(data) != 2 * n_fields + sum(lengths):
        raise ProtocolError(
            f"read reply holds {len(data)} bytes, its length fields say {2 * n_fields + sum(lengths)}"
        )
    pos = 2 * n_fields
    text = data[pos : pos + lengths[0]]
    pos += lengths[0]
    photo = data[pos : pos + lengths[1]]
    pos += lengths[1]
    fingerprint = data[pos : pos + lengths[2]] if with_fingerprint else None
    return CardData(text, photo, fingerprint)


def build_card_data(text: bytes, photo: bytes, fingerprint: bytes | None = None) -> bytes:
    """Inverse of :func:`parse_card_data` (the simulator uses it)."""
    head = len(text).to_bytes(2, "big") + len(photo).to_bytes(2, "big")
    if fingerprint is not None:
        head += len(fingerprint).to_bytes(2, "big")
    return head + text + photo + (fingerprint or b"")


def parse_sam_id(data: bytes) -> str:
    """SAM id as printed on the module, e.g. ``05.01-20101010-0003579263-1112034520``."""
    if len(data) != 16:
        raise ProtocolError(f"SAM id must be 16 bytes, got {len(data)}")
    p1 = int.from_bytes(data[0:2], "little")
    p2 = int.from_bytes(data[2:4], "little")
    p3 = int.from_bytes(data[4:8], "little")
    p4 = int.from_bytes(data[8:12], "little")
    p5 = int.from_bytes(data[12:16], "little")
    return f"{p1:02d}.{p2:02d}-{p3:08d}-{p4:010d}-{p5:010d}"


def build_sam_id(sam_id: str) -> bytes:
    try:
        head, p3, p4, p5 = sam_id.split("-")
        p1, p2 = head.split(".")
        return (
            int(p1).to_bytes(2, "little")
            + int(p2).to_bytes(2, "little")
            + int(p3).to_bytes(4, "little")
            + int(p4).to_bytes(4, "little")
            + int(p5).to_bytes(4, "little")
        )
    except (ValueError, OverflowError) as err:
        raise ProtocolError(f"bad SAM id {sam_id!r}") from err


def redact_frame(frame: bytes) -> str:
    """Hex of a frame for logs, with every data byte cut out.

    Keeps the preamble, LEN, the three bytes after it (SW1-3 of a reply, CMD PARA of a
    command) and CHK; any byte in between is replaced by a count, whatever its length.
    An allow-list, not a guess at which replies are personal: a frame alone does not say
    which command it answers, and a short reply can be personal data all the same (an
    appended address of a few characters, sent unpadded by some readers). The SAM id is
    cut out too; ``python -m devices selftest`` shows it.
    """
    keep = HEADER_LEN + 3
    if len(frame) <= keep + 1:
        return hex_bytes(frame)
    return (
        f"{hex_bytes(frame[:keep])} <{len(frame) - keep - 1} data bytes redacted> {frame[-1]:02X}"
    )
