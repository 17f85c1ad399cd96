"""The display program's rules without I/O: the window board and call events in, what
each window LED should show and which calls to announce out.

* **LEDs follow the retained window board** (``messages.WindowBoard``), the controller's
  state of every window. In this order: a paused window shows the lit 暂停服务 legend
  (digits dark, its number in the window field); a window with a current ticket (called
  or being served) shows the ticket and its number; a closed window (not signed on) is
  dark; an open window without a ticket shows dashes (``----``) or is dark
  (``led_rules.idle``). A window the board has not named yet is left alone.
* **A number blinks when it is called**: a ``ticket.called`` or ``ticket.recalled``
  event gives the window a new call serial; the content carries the serial only while
  the board shows that same number, so the writer blinks the number once, when it
  shows it (a call event arrives just before the board that shows it). A number shown
  from the retained board alone (a restart, a reconnect) is steady.
* **Every call is announced once**: events are told apart by their ``seq`` (the store's
  sequence number); one seen before (a redelivery) is dropped. The retained boards never
  announce anything.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

from devices.display.modbus import LEGEND_PAUSED, LEGENDS
from devices.voice.pack import call_text
from hall_contract.messages import WindowBoard, WindowBoardEntry

#: Call events: what is announced and makes a number blink.
CALL_EVENTS = ("ticket.called", "ticket.recalled")


@dataclass(frozen=True)
class LedContent:
    """What one window LED should show. ``ticket``: the digits ("A001", "----"; "" dark);
    ``window``: the window field ("3"; "" dark); ``legend``: the lit legend code
    (0 none, 1 暂停服务); ``call``: the serial of the call of this number (0: no call
    seen for it), so a writer blinks a number when its serial is new."""

    ticket: str = ""
    window: str = ""
    legend: int = 0
    call: int = 0

    @property
    def visual(self) -> tuple[str, str, int]:
        """What the eye sees (the blink serial aside)."""
        return (self.ticket, self.window, self.legend)

    @property
    def is_number(self) -> bool:
        """A ticket number (not dark, not dashes, not a legend)."""
        return bool(self.ticket) and self.ticket.strip("-") != ""

    def describe(self) -> str:
        if self.legend:
            return f"{LEGENDS.get(self.legend, self.legend)} (window {self.window or '-'})"
        if self.ticket:
            return f"{self.ticket} (window {self.window or '-'})"
        return "dark"


DARK = LedContent()


@dataclass(frozen=True)
class Call:
    """A call to announce: ticket ``number`` to window ``window`` (its id), said as
    ``label`` ("3" → 三号窗口); ``recall`` 0 for the first call, N for the N-th repeat."""

    seq: int
    number: str
    window: str
    label: str
    recall: int
    at: float

    @property
    def text(self) -> str:
        return call_text(self.number, self.label)


class CallData(BaseModel):
    """The fields of ``ticket.called`` / ``ticket.recalled`` data this program uses
    (others, also ones a newer controller adds, are ignored)."""

    model_config = ConfigDict(extra="ignore")
    number: str
    window: str
    recall: int = 0


class CallEvent(BaseModel):
    """A published call event: ``{"seq", "type", "at", "data"}``."""

    model_config = ConfigDict(extra="ignore")
    seq: int
    type: Literal["ticket.called", "ticket.recalled"]
    at: float
    data: CallData


_LEADING = re.compile(r"\s*(\d{1,4})")
_TRAILING = re.compile(r"(\d{1,4})\s*$")


def window_number(window: str, name: str, numbers: Mapping[str, str]) -> str:
    """How a window is numbered on its LED and in announcements: ``numbers[window]`` when
    given, else the number its name starts with (``3号综合窗口`` → ``3``), else the digits
    its id ends with (``win03`` → ``3``), else "" (none)."""
    if window in numbers:
        return numbers[window]
    m = _LEADING.match(name) or _TRAILING.search(window)
    return str(int(m[1])) if m else ""


def fit(number: str, digits: int) -> str:
    """A ticket number as a ``digits``-digit module can show it: whole when it fits, else
    its last ``digits`` characters (a hall whose numbers outgrow the modules needs wider
    modules; docs/display.md)."""
    number = number.strip().upper()
    return number if len(number) <= digits else number[-digits:]


class HallView:
    """The windows as this program knows them: the board, the calls seen. Pure: the
    caller serialises access and does the I/O."""

    def __init__(
        self,
        *,
        digits: int = 4,
        idle: Literal["dashes", "blank"] = "dashes",
        names: Mapping[str, str] | None = None,
        numbers: Mapping[str, str] | None = None,
        memory: int = 4096,
    ) -> None:
        self.digits = digits
        self.idle = idle
        self.names: dict[str, str] = dict(names or {})
        self.numbers: dict[str, str] = dict(numbers or {})
        self.board: dict[str, WindowBoardEntry] | None = None
        #: window → (number, serial) of its newest call event
        self.calls: dict[str, tuple[str, int]] = {}
        self._serial = 0
        self._seen: set[int] = set()
        self._seen_order: collections.deque[int] = collections.deque()
        self._memory = memory

    # -- input ---------------------------------------------------------------------------
    def on_board(self, board: WindowBoard) -> None:
        self.board = {e.window: e for e in board.windows}
        for e in board.windows:
            self.names[e.window] = e.name

    def on_call(self, event: CallEvent) -> Call | None:
        """A call event: the call to announce, or None when this ``seq`` was seen before."""
        if event.seq in self._seen:
            return None
        self._seen.add(event.seq)
        self._seen_order.append(event.seq)
        while len(self._seen_order) > self._memory:
            self._seen.discard(self._seen_order.popleft())
        d = event.data
        self._serial += 1
        number = d.number.strip().upper()
        self.calls[d.window] = (number, self._serial)
        return Call(
            seq=event.seq,
            number=number,
            window=d.window,
            label=self.label(d.window),
            recall=d.recall if event.type == "ticket.recalled" else 0,
            at=event.at,
        )

    # -- output --------------------------------------------------------------------------
    def label(self, window: str) -> str:
        return window_number(window, self.names.get(window, ""), self.numbers)

    def content(self, window: str) -> LedContent | None:
        """What ``window``'s LED should show; None while the board has not named it."""
        entry = (self.board or {}).get(window)
        if entry is None:
            return None
        label = self.label(window)
        if entry.paused:
            return LedContent("", label, LEGEND_PAUSED)
        if entry.current:
            number = entry.current.strip().upper()
            called, serial = self.calls.get(window, ("", 0))
            return LedContent(fit(number, self.digits), label, 0, serial if called == number else 0)
        if not entry.open:
            return DARK
        if self.idle == "dashes":
            return LedContent("-" * self.digits, label)
        return DARK
