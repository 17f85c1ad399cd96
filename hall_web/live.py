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
from dataclasses import dataclass, field
from typing import Any

import orjson

from hall_contract import messages as m
from hall_contract.hallconfig import HallConfig, hours_on
from hall_contract.topics import Topics

log = logging.getLogger(__name__)

ANNOUNCE_KEEP = 100  #: calls kept for pages to announce (a page plays those it has not)
ANNOUNCE_SENT = 20  #: the newest of them in each state (enough between two states)


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


#: called with ``urgent``: a call (what a waiting citizen looks for), or a broker or
#: controller going away or coming back, rather than counts and boards that can wait
Listener = Callable[[bool], None]


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
        self._hours: tuple[int, str] = (-1, "")

    # ------------------------------------------------------------- subscriptions
    def attach(self, client: Any) -> None:
        """Subscribe ``client`` (a HallClient) to everything the faces show. Call it before
        the client starts: the subscriptions are made on (every) connect."""
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

    def _changed(self, urgent: bool = False) -> None:
        self.version += 1
        for fn in self._listeners:
            fn(urgent)

    def _broker(self, up: bool) -> None:
        with self.lock:
            self.view.broker = up
            self.view.online = (
                up and self._controller is not None and (self._controller.state == "online")
            )
            self._changed(urgent=True)

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
            self._changed(urgent=True)

    def _on_calls(self, topic: str, payload: bytes, _msg: Any) -> None:
        board = self._read(m.CallBoard, payload, topic) if payload else None
        if board is None:
            return
        with self.lock:
            self.view.calls = board.calls
            self._changed(urgent=True)

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
            self._changed(urgent=True)
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

    def state_json(self) -> tuple[int, bytes]:
        """Everything the hall display, window displays and consoles need (no personal
        data: numbers, windows, counts), as JSON, with its version.

        Only references are taken under the lock (the boards are replaced whole, never
        changed in place); orjson writes the contract's dataclasses itself, so building a
        state costs tens of microseconds, not a deep copy."""
        with self.lock:
            v = self.view
            version = self.version
            calls, windows, status = v.calls, v.windows, v.status
            queues = [v.queues[q.id] for q in self.config.queues if q.id in v.queues]
            # the newest calls only, with what pages use: the state goes to every browser
            # many times a second; the audio endpoint finds older ones in the view
            announce = [
                {
                    "seq": a.seq,
                    "number": a.number,
                    "window": a.window,
                    "window_name": a.window_name,
                    "text": a.text,
                }
                for a in list(v.announce)[-ANNOUNCE_SENT:]
            ]
            finished = {
                w: {"ticket": t, "number": n, "at": at} for w, (t, n, at) in v.finished.items()
            }
            online = v.online
        minute = int(time.time() // 60)
        if self._hours[0] != minute:
            self._hours = (minute, self.hours_today())
        body = orjson.dumps(
            {
                "version": version,
                "online": online,
                "open": status.open if status else None,
                "next_opening": status.next_opening if status else None,
                "calls": calls,
                "windows": windows,
                "queues": queues,
                "announce": announce,
                "finished": finished,
                "hours": self._hours[1],
            }
        )
        return version, body

    def statics(self) -> dict[str, Any]:
        """What does not change while the server runs (embedded in the pages): each
        window's name, English name and location."""
        return {
            "windows": {
                w.id: {"name": w.name, "name_en": w.name_en, "location": w.location}
                for w in self.config.windows
            }
        }


class Hub:
    """Wakes the browsers' streams (asyncio side) when the view changes (any thread).

    One ``asyncio.Event`` per generation: a change sets the current one (waking every
    stream waiting on it) and puts a fresh one in its place. A burst (a finish and a call
    are some eight messages) becomes a few states, not eight: the first change after a
    quiet moment goes out ``SETTLE_S`` later (with the rest of its burst), and later ones
    wait for ``URGENT_GAP_S`` after the last wake-up (a call, the call board, the link)
    or ``GAP_S`` (counts, the window board)."""

    URGENT_GAP_S = 0.004
    GAP_S = 0.1
    SETTLE_S = 0.002

    def __init__(self, live: LiveHall) -> None:
        self.live = live
        self.loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._scheduled = False
        self._urgent = False
        self._last_wake = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._guard = threading.Lock()
        live.listen(self._poke)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._event = asyncio.Event()

    def _poke(self, urgent: bool) -> None:
        loop = self.loop
        if loop is None:
            return
        with self._guard:
            if self._scheduled and (self._urgent or not urgent):
                return  # the wake-up on its way covers this change
            self._scheduled = True
            self._urgent = self._urgent or urgent
        with contextlib.suppress(RuntimeError):  # the loop is closing
            loop.call_soon_threadsafe(self._schedule)

    def _schedule(self) -> None:
        assert self.loop is not None
        gap = self.URGENT_GAP_S if self._urgent else self.GAP_S
        # the first change after a quiet moment still waits SETTLE_S: the controller
        # publishes a call's event and boards together (~1 ms), and they make one state
        wait = max(self._last_wake + gap - self.loop.time(), self.SETTLE_S)
        if self._timer is not None:
            self._timer.cancel()  # an urgent change came: sooner than planned
            self._timer = None
        if wait > 0:
            self._timer = self.loop.call_later(wait, self._wake)
        else:
            self._wake()

    def _wake(self) -> None:
        assert self.loop is not None
        self._timer = None
        with self._guard:
            self._scheduled = False
            self._urgent = False
        self._last_wake = self.loop.time()
        ev, self._event = self._event, asyncio.Event()
        if ev is not None:
            ev.set()

    async def wait_newer(self, version: int, timeout: float) -> int:
        """Wait until the view's version passes ``version`` (or ``timeout``)."""
        if self.live.version > version or self._event is None:
            return self.live.version
        # asyncio.timeout, not wait_for: no task per wait (200 streams wait at once)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._event.wait()
        return self.live.version
