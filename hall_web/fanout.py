"""One live state to many browsers: Server-Sent Events written by one task.

The hall state is the same bytes for every browser, and a hall display, its window
displays and the consoles are a few hundred connections at most. A task per connection
(an ``async for`` over a generator, woken by an event, passing its bytes down Starlette's
``StreamingResponse``) costs ~100 µs of the web process per state per connection: with 200
connections and 40 states a second that is most of a core. Here one task wakes per state
and hands the frame to each connection's ASGI ``send``, which writes it to the socket at
once (uvicorn waits only when the socket's buffer is full); a connection whose write is
waiting (a slow or stalled browser) keeps only the newest frame for when its write ends,
and never holds up the others.

Written here because no maintained library does this: sse-starlette is a task per
connection (and see ``app.event_stream`` for why it is not used at all)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),
]
RETRY = b"retry: 2000\n\n"
KEEP_ALIVE = b": keep-alive\n\n"


class _Conn:
    """One browser's stream: its ``send`` and, while a write waits, the next frame."""

    __slots__ = ("broken", "fanout", "pending", "send", "writing")

    def __init__(self, fanout: Fanout, send: Send) -> None:
        self.fanout = fanout
        self.send = send
        self.writing: asyncio.Task[None] | None = None
        self.pending: bytes | None = None
        self.broken = asyncio.get_running_loop().create_future()

    def offer(self, frame: bytes) -> None:
        if self.writing is not None:
            # the browser is behind: it gets the newest state when its write ends (a
            # stream being written needs no keep-alive)
            if frame is not KEEP_ALIVE:
                self.pending = frame
            return
        self.writing = self.fanout.start(self._write(frame))
        if self.writing.done():  # written at once (Python ≥ 3.12: no task was scheduled)
            self.writing = None

    async def _write(self, frame: bytes) -> None:
        try:
            while True:
                if self.pending is not None:  # a newer state came before this write began
                    frame, self.pending = self.pending, None
                await self.send({"type": "http.response.body", "body": frame, "more_body": True})
                if self.pending is None:
                    break
        except Exception as err:  # the browser went away mid-write
            if not self.broken.done():
                self.broken.set_result(err)
        finally:
            self.writing = None


def _eager(loop: asyncio.AbstractEventLoop) -> Callable[[Coroutine[Any, Any, None]], Any]:
    """Start a coroutine as a task that runs at once, up to its first wait (Python 3.12's
    ``asyncio.eager_task_factory``: a write that does not wait costs no loop iteration);
    on 3.11 an ordinary task."""
    factory = getattr(asyncio, "eager_task_factory", None)
    if factory is None:
        return loop.create_task
    return lambda coro: factory(loop, coro)


class Fanout:
    """The live stream of one state (``frame()`` → version, framed SSE bytes), written by
    one task to every connection; ``wait_newer(version, timeout)`` waits for a change.
    ``response()`` is the endpoint's answer; the task starts with the first browser."""

    def __init__(
        self,
        frame: Callable[[], tuple[int, bytes]],
        wait_newer: Callable[[int, float], Coroutine[Any, Any, int]],
        keepalive_s: float,
    ) -> None:
        self.frame = frame
        self.wait_newer = wait_newer
        self.keepalive_s = keepalive_s
        self.conns: set[_Conn] = set()
        self._task: asyncio.Task[None] | None = None
        self._start: Callable[[Coroutine[Any, Any, None]], Any] | None = None

    def start(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        assert self._start is not None
        task: asyncio.Task[None] = self._start(coro)
        return task

    def response(self) -> Response:
        return _FanoutResponse(self)

    async def serve(self, send: Send, receive: Receive) -> None:
        """One browser, from its headers to its going away."""
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = _eager(loop)
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        version, frame = self.frame()
        await send({"type": "http.response.body", "body": RETRY + frame, "more_body": True})
        conn = _Conn(self, send)
        self.conns.add(conn)
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run(version))
        elif self.frame()[0] != version:
            conn.offer(self.frame()[1])  # a state came while the first one was written
        gone = loop.create_task(_until_disconnect(receive))
        try:
            await asyncio.wait([gone, conn.broken], return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.conns.discard(conn)
            gone.cancel()
            if conn.writing is not None:
                conn.writing.cancel()

    def close(self) -> None:
        """The server stops: the writer ends (uvicorn closes the connections)."""
        if self._task is not None:
            self._task.cancel()

    async def _run(self, seen: int) -> None:
        """The one writer: each new state (or a keep-alive when quiet) to every browser."""
        while self.conns:
            version = await self.wait_newer(seen, self.keepalive_s)
            if version == seen:
                frame = KEEP_ALIVE
            else:
                seen, frame = self.frame()
            for conn in list(self.conns):
                conn.offer(frame)


async def _until_disconnect(receive: Receive) -> None:
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            return


class _FanoutResponse(Response):
    """A Starlette response that hands its connection to a :class:`Fanout`."""

    def __init__(self, fanout: Fanout) -> None:
        super().__init__(media_type="text/event-stream")
        self.fanout = fanout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with contextlib.suppress(OSError):
            await self.fanout.serve(send, receive)
