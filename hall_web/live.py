"""The web server's view of the hall: retained state and call events from MQTT, pushed to
browsers.

The MQTT side (paho's thread) updates :class:`HallView` under a lock; every change bumps a
version and wakes the asyncio side (``loop.call_soon_threadsafe``), where each browser's
stream waits for a newer version and then sends the newest state, whole. A slow browser
therefore skips intermediate states instead of queueing them, and never misses a call to
announce: the state carries the last calls with their event sequence numbers, and a page
plays those newer than the last one it played.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from hall_contract import messages as m
from hall_contract.hallconfig import HallConfig, hours_on
from hall_contract.topics import Topics

log = logging.getLogger(__name__)

ANNOUNCE_KEEP = 20  #: calls kept for pages to announce (a page plays those it has not)


def spoken_window(name: str, wid: str) -> str:
    """What the voice calls a window: the number its name starts with ("3号综合窗口" → "3"),
    else the digits of its id (win03 → "3"), else its id."""
    for text in (name, wid):
        mt = re.match(r"^\D*?(\d{1,4})", text)
        if mt:
            return str(int(mt.group(1)))
    return wid


@dataclass
class Announcement:
    """One call to be announced (ticket.called or ticket.recalled), by event sequence."""

    seq: int
    number: str
    window: str
    window_name: str
    spoken_window: str
    location: str
    recall: int
    at: float
    text: str
    text_en: str


@dataclass
class RecentCall:
    number: str
    window: str
    window_name: str
    at: float


@dataclass
class HallView:
    """What the hall's faces show, from the controller's retained state and events."""

    online: bool = False  #: the controller is online and the broker reachable
    broker: bool = False
    calls: list[m.CallBoardEntry] = field(default_factory=list)
    windows: list[m.WindowBoardEntry] = field(default_factory=list)
    queues: dict[str, m.QueueSnapshot] = field(default_factory=dict)
    status: m.HallStatus | None = None
    announce: deque[Announcement] = field(default_factory=lambda: deque(maxlen=ANNOUNCE_KEEP))
    recent: deque[RecentCall] = field(default_factory=lambda: deque(maxlen=20))
    #: event sequence of the last call event seen (a reconnect's duplicates are dropped)
    last_seq: int = 0
    #: ticket ids finished per window, for the rating pads: window → (ticket id, number)
    finished: dict[str, tuple[str, str, float]] = field(default_factory=dict)


Listener = Callable[[], None]


class LiveHall:
    """Subscribes to the hall and keeps :class:`HallView` current; thread-safe reads."""

    def __init__(self, config: HallConfig, topics: Topics) -> None:
        self.config = config
        self.topics = topics
        self.view = HallView()
        self.version = 0
        self.lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._controller: m.ControllerState | None = None
        self._win = {w.id: w for w in config.windows}
        self._queues = {q.id: q for q in config.queues}
        #: hooks run (on the MQTT thread, outside the lock) for every call event
        self.on_call: list[Callable[[Announcement], None]] = []
        #: hooks for any change of a ticket's queue (the phone pages)
        self.on_change: list[Callable[[str], None]] = []

    # ------------------------------------------------------------- subscriptions
    def attach(self, client: Any) -> None:
        """Subscribe ``client`` (a HallClient) to everything the faces show."""
        t = self.topics
        client.on_connection_change = self._broker
        client.subscribe(t.controller_state, self._on_controller)
        client.subscribe(t.calls, self._on_calls)
        client.subscribe(t.windows, self._on_windows)
        client.subscribe(t.queue_snapshots_filter, self._on_queue)
        client.subscribe(t.hall_status, self._on_status)
        client.subscribe(t.event("ticket.called"), self._on_call_event)
        client.subscribe(t.event("ticket.recalled"), self._on_call_event)
        client.subscribe(t.event("ticket.finished"), self._on_finished)

    def listen(self, fn: Listener) -> None:
        self._listeners.append(fn)

    def _changed(self) -> None:
        self.version += 1
        for fn in self._listeners:
            fn()

    def _broker(self, up: bool) -> None:
        with self.lock:
            self.view.broker = up
            self.view.online = (
                up and self._controller is not None and (self._controller.state == "online")
            )
            self._changed()

    def _read(self, kind: type[Any], payload: bytes, topic: str) -> Any | None:
        try:
            return m.read(kind, payload)
        except ValueError as err:
            log.warning(
                "ignored a %s on %s that breaks the contract: %s",
                kind.__name__,
                topic,
                m.problem(err) if hasattr(m, "problem") else err,
            )
            return None

    def _on_controller(self, topic: str, payload: bytes, _msg: Any) -> None:
        st = self._read(m.ControllerState, payload, topic) if payload else None
        with self.lock:
            self._controller = st
            self.view.online = self.view.broker and st is not None and st.state == "online"
            self._changed()

    def _on_calls(self, topic: str, payload: bytes, _msg: Any) -> None:
        board = self._read(m.CallBoard, payload, topic) if payload else None
        if board is None:
            return
        with self.lock:
            self.view.calls = board.calls
            self._changed()

    def _on_windows(self, topic: str, payload: bytes, _msg: Any) -> None:
        board = self._read(m.WindowBoard, payload, topic) if payload else None
        if board is None:
            return
        with self.lock:
            self.view.windows = board.windows
            self._changed()

    def _on_queue(self, topic: str, payload: bytes, _msg: Any) -> None:
        snap = self._read(m.QueueSnapshot, payload, topic) if payload else None
        if snap is None:
            return
        with self.lock:
            self.view.queues[snap.queue] = snap
            self._changed()
        for fn in self.on_change:
            fn(snap.queue)

    def _on_status(self, topic: str, payload: bytes, _msg: Any) -> None:
        st = self._read(m.HallStatus, payload, topic) if payload else None
        if st is None:
            return
        with self.lock:
            self.view.status = st
            self._changed()

    def _on_call_event(self, topic: str, payload: bytes, _msg: Any) -> None:
        try:
            env = orjson.loads(payload)
            seq, at, d = int(env["seq"]), float(env["at"]), env["data"]
            number, wid = str(d["number"]), str(d["window"])
            recall = int(d.get("recall", 0))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("ignored a call event on %s that breaks the contract", topic)
            return
        w = self._win.get(wid)
        name = w.name if w else wid
        spoken = spoken_window(name, wid)
        a = Announcement(
            seq=seq,
            number=number,
            window=wid,
            window_name=name,
            spoken_window=spoken,
            location=(w.location if w else "") or "",
            recall=recall,
            at=at,
            text=f"请{number}号到{spoken}号窗口办理",
            text_en=f"Number {number}, please go to {w.name_en if w and w.name_en else name}",
        )
        with self.lock:
            if seq <= self.view.last_seq:
                return  # seen already (QoS 1 redelivery after a reconnect)
            self.view.last_seq = seq
            self.view.announce.append(a)
            self.view.recent.appendleft(RecentCall(number, wid, name, at))
            self._changed()
        for fn in self.on_call:
            fn(a)

    def _on_finished(self, topic: str, payload: bytes, _msg: Any) -> None:
        try:
            env = orjson.loads(payload)
            d = env["data"]
            tid, number, wid = str(d["ticket"]), str(d["number"]), str(d["window"])
            at = float(env["at"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("ignored a finish event on %s that breaks the contract", topic)
            return
        with self.lock:
            self.view.finished[wid] = (tid, number, at)
            self._changed()

    # ------------------------------------------------------------------- reads
    def hours_today(self, now: float | None = None) -> str:
        tz = self.config.tz
        day = dt.datetime.fromtimestamp(now or time.time(), tz).date()
        spans = hours_on(self.config.schedule, day)
        return "  ".join(f"{s.start}–{s.end}" for s in spans) or "今日休息"

    def screen_state(self) -> dict[str, Any]:
        """Everything the hall display, window displays and consoles need (no personal
        data: numbers, windows, counts)."""
        with self.lock:
            v = self.view
            queues = [
                {
                    "queue": q.id,
                    "name": q.name,
                    "name_en": q.name_en,
                    "letter": q.letter,
                    "waiting": (v.queues[q.id].waiting if q.id in v.queues else None),
                    "expected_wait_min": (
                        v.queues[q.id].expected_wait_min if q.id in v.queues else None
                    ),
                }
                for q in self.config.queues
            ]
            wins = {w.window: w for w in v.windows}
            return {
                "version": self.version,
                "online": v.online,
                "open": v.status.open if v.status else None,
                "next_opening": v.status.next_opening if v.status else None,
                "calls": [
                    {
                        **asdict(c),
                        "location": (self._win[c.window].location if c.window in self._win else ""),
                        "window_name_en": (
                            self._win[c.window].name_en if c.window in self._win else ""
                        ),
                    }
                    for c in v.calls
                ],
                "windows": [asdict(wins[w.id]) for w in self.config.windows if w.id in wins],
                "queues": queues,
                "announce": [asdict(a) for a in v.announce],
                "finished": {
                    w: {"ticket": t, "number": n, "at": at} for w, (t, n, at) in v.finished.items()
                },
                "hours": self.hours_today(),
            }


class Hub:
    """Wakes the browsers' streams (asyncio side) when the view changes (any thread).

    One ``asyncio.Event`` per generation: a change sets the current one (waking every
    stream waiting on it) and puts a fresh one in its place."""

    def __init__(self, live: LiveHall) -> None:
        self.live = live
        self.loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._scheduled = False
        self._guard = threading.Lock()
        live.listen(self._poke)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._event = asyncio.Event()

    def _poke(self) -> None:
        loop = self.loop
        if loop is None:
            return
        with self._guard:
            if self._scheduled:
                return  # one wake-up covers every change until it runs
            self._scheduled = True
        with contextlib.suppress(RuntimeError):  # the loop is closing
            loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        with self._guard:
            self._scheduled = False
        ev, self._event = self._event, asyncio.Event()
        if ev is not None:
            ev.set()

    async def wait_newer(self, version: int, timeout: float) -> int:
        """Wait until the view's version passes ``version`` (or ``timeout``)."""
        if self.live.version > version or self._event is None:
            return self.live.version
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)
        return self.live.version
