"""Pure decoding of ESC/POS real-time status (``DLE EOT n``, n = 1..4).

Each request ``10 04 n`` is answered with one byte. A valid byte has bit 1 and bit 4 set
and bit 0 and bit 7 clear (``byte & 0x93 == 0x12``). Bits used:

====  =========================================================
n=1   bit 3: offline
n=2   bit 2: cover open · bit 3: feed button pressed ·
      bit 5: printing stopped by paper end · bit 6: error
n=3   bit 3: autocutter error · bit 5: unrecoverable error ·
      bit 6: automatically recoverable error (e.g. head too hot)
n=4   bits 2-3 (0x0C): paper near end · bits 5-6 (0x60): paper end
====  =========================================================

A missing or invalid reply leaves the matching fields ``None`` (unknown); unknown is never
read as "paper OK" (python-escpos' ``paper_status()`` does exactly that, see devices.md).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from devices.state import DeviceState

DLE_EOT = b"\x10\x04"

_FIXED_MASK = 0x93  # bits 0, 1, 4, 7
_FIXED_VALUE = 0x12  # bits 1 and 4 set, 0 and 7 clear


class StatusQuery(enum.IntEnum):
    """The ``n`` of ``DLE EOT n``."""

    PRINTER = 1
    OFFLINE_CAUSE = 2
    ERROR_CAUSE = 3
    PAPER = 4


ALL_QUERIES: tuple[StatusQuery, ...] = tuple(StatusQuery)


def status_request(n: int) -> bytes:
    """The bytes of ``DLE EOT n``."""
    return DLE_EOT + bytes([StatusQuery(n).value])


def is_valid_status_byte(value: int) -> bool:
    """True when the fixed bits say this byte is a real-time status reply."""
    return 0 <= value <= 0xFF and value & _FIXED_MASK == _FIXED_VALUE


def _bit(value: int, bit: int) -> bool:
    return bool(value >> bit & 1)


@dataclass(frozen=True)
class PrinterStatus:
    """What the printer said about itself. ``None`` means "did not say" (unknown)."""

    online: bool | None = None
    cover_open: bool | None = None
    feed_button: bool | None = None
    stopped_by_paper_end: bool | None = None
    error: bool | None = None
    cutter_error: bool | None = None
    unrecoverable: bool | None = None
    auto_recoverable: bool | None = None
    paper_near_end: bool | None = None
    paper_out: bool | None = None
    raw: Mapping[int, int | None] = field(default_factory=dict)
    """Reply byte per ``n`` (``None``: no or invalid reply), for diagnostics."""

    @property
    def known(self) -> bool:
        """True when at least the basic ``n=1`` reply was valid."""
        return self.online is not None

    @property
    def complete(self) -> bool:
        """True when every one of the four replies was valid."""
        return all(self.raw.get(q) is not None for q in ALL_QUERIES)


UNKNOWN = PrinterStatus()
"""The status of a printer that did not answer."""


def decode_status(replies: Mapping[int, bytes | None]) -> PrinterStatus:
    """Decode the replies to ``DLE EOT 1..4`` (keyed by ``n``) into a :class:`PrinterStatus`.

    A reply is the bytes read after the request; only a reply of exactly one valid byte
    counts. Extra, missing or invalid bytes make that part unknown.
    """
    valid: dict[int, int | None] = {}
    for q in ALL_QUERIES:
        reply = replies.get(q.value)
        valid[q.value] = (
            reply[0] if reply and len(reply) == 1 and is_valid_status_byte(reply[0]) else None
        )
    p, o, e, s = (valid[q.value] for q in ALL_QUERIES)
    return PrinterStatus(
        online=None if p is None else not _bit(p, 3),
        cover_open=None if o is None else _bit(o, 2),
        feed_button=None if o is None else _bit(o, 3),
        stopped_by_paper_end=None if o is None else _bit(o, 5),
        error=None if o is None else _bit(o, 6),
        cutter_error=None if e is None else _bit(e, 3),
        unrecoverable=None if e is None else _bit(e, 5),
        auto_recoverable=None if e is None else _bit(e, 6),
        paper_near_end=None if s is None else bool(s & 0x0C),
        paper_out=_paper_out(o, s),
        raw=valid,
    )


def _paper_out(offline_cause: int | None, paper: int | None) -> bool | None:
    if offline_cause is not None and _bit(offline_cause, 5):
        return True  # printing stopped by paper end
    return None if paper is None else bool(paper & 0x60)


def encode_status(
    n: int,
    *,
    offline: bool = False,
    cover_open: bool = False,
    feed_button: bool = False,
    paper_near_end: bool = False,
    paper_out: bool = False,
    error: bool = False,
    cutter_error: bool = False,
    unrecoverable: bool = False,
    auto_recoverable: bool = False,
) -> bytes:
    """The reply byte a printer in this state sends to ``DLE EOT n`` (used by the simulator)."""
    q = StatusQuery(n)
    value = _FIXED_VALUE
    if q is StatusQuery.PRINTER:
        value |= 0x08 if offline or cover_open or paper_out or error else 0
    elif q is StatusQuery.OFFLINE_CAUSE:
        value |= (0x04 if cover_open else 0) | (0x08 if feed_button else 0)
        value |= (0x20 if paper_out else 0) | (0x40 if error else 0)
    elif q is StatusQuery.ERROR_CAUSE:
        value |= (0x08 if cutter_error else 0) | (0x20 if unrecoverable else 0)
        value |= 0x40 if auto_recoverable else 0
    else:
        value |= (0x0C if paper_near_end or paper_out else 0) | (0x60 if paper_out else 0)
    return bytes([value])


@dataclass(frozen=True)
class Assessment:
    """A status in the words of the device-state model."""

    state: DeviceState
    reason: str
    can_print: bool


def assess(status: PrinterStatus) -> Assessment:
    """Map a :class:`PrinterStatus` to a :class:`DeviceState` and a plain-words reason.

    ``can_print`` is False only when the printer said it cannot print (paper out, cover
    open, cutter or other error, offline); an unknown status is not a refusal but is never
    READY either.
    """
    if not status.known:
        return Assessment(DeviceState.ABSENT, "printer does not answer status requests", True)
    if status.paper_out:
        return Assessment(DeviceState.FAULT, "paper out: load a new paper roll", False)
    if status.cover_open:
        return Assessment(DeviceState.FAULT, "cover open: close the printer cover", False)
    if status.unrecoverable:
        return Assessment(
            DeviceState.FAULT, "unrecoverable printer error: switch the printer off and on", False
        )
    if status.cutter_error:
        return Assessment(
            DeviceState.FAULT, "cutter error: clear the paper jam at the cutter", False
        )
    if status.auto_recoverable:
        return Assessment(
            DeviceState.DEGRADED, "printer paused (e.g. print head too hot), it will recover", True
        )
    if status.error:
        return Assessment(DeviceState.FAULT, "printer reports an error", False)
    if status.online is False:
        return Assessment(DeviceState.FAULT, "printer is offline", False)
    if status.paper_near_end:
        return Assessment(DeviceState.DEGRADED, "paper near end: replace the roll soon", True)
    if status.paper_out is None:
        return Assessment(
            DeviceState.DEGRADED, "paper sensor did not answer: paper state unknown", True
        )
    if not status.complete:
        return Assessment(
            DeviceState.DEGRADED, "printer answered only part of the status request", True
        )
    return Assessment(DeviceState.READY, "ready", True)
