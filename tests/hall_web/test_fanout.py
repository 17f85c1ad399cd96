"""The one-writer live stream (hall_web/fanout.py) on a real uvicorn: every browser gets
every state in order while it keeps up; a browser that stops reading never holds up the
others and, once it reads again, gets the newest state rather than every one it missed;
a browser that goes away is forgotten."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hall_web.fanout import Fanout


class Source:
    """A state that the test changes: version n, frame ``event: state / data: n:<pad>``."""

    def __init__(self, pad: int) -> None:
        self.version = 0
        self.pad = pad
        self.changed: asyncio.Event | None = None

    def frame(self) -> tuple[int, bytes]:
        v = self.version
        return v, b"event: state\ndata: %d:" % v + b"x" * self.pad + b"\n\n"

    async def wait_newer(self, version: int, timeout: float) -> int:
        assert self.changed is not None
        while self.version == version:
            try:
                async with asyncio.timeout(timeout):
                    await self.changed.wait()
            except TimeoutError:
                return self.version
            self.changed.clear()
        return self.version


class Server:
    def __init__(self, pad: int) -> None:
        self.source = Source(pad)
        self.fanout = Fanout(self.source.frame, self.source.wait_newer, keepalive_s=0.2)

        async def live(_request: Request) -> Response:
            return self.fanout.response()

        self.app = Starlette(routes=[Route("/live", live)])
        self.server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        )
        self.server.config.timeout_graceful_shutdown = 1
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            self.thread.join(0.02)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]

    def _run(self) -> None:
        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            self.source.changed = asyncio.Event()
            await self.server.serve()

        asyncio.run(main())

    def publish(self) -> int:
        """The state changes (on the server's loop); its new version."""
        assert self.loop is not None
        done = threading.Event()

        def bump() -> None:
            self.source.version += 1
            assert self.source.changed is not None
            self.source.changed.set()
            done.set()

        self.loop.call_soon_threadsafe(bump)
        assert done.wait(5)
        return self.source.version

    def conns(self) -> int:
        return len(self.fanout.conns)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


class Browser:
    """A raw HTTP/1.1 EventSource: reads ``state`` events and their versions."""

    def __init__(self, port: int, rcvbuf: int | None = None) -> None:
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(("127.0.0.1", port))
        self.sock.sendall(b"GET /live HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n\r\n")
        self.buf = b""
        self.versions: list[int] = []

    def read_until(self, version: int, timeout: float = 10) -> list[int]:
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        while not self.versions or self.versions[-1] < version:
            assert time.monotonic() < deadline, f"no state {version}: saw {self.versions[-3:]}"
            data = self.sock.recv(1 << 20)
            assert data, "the server closed the stream"
            self.buf += data
            while (i := self.buf.find(b"data: ")) >= 0 and (j := self.buf.find(b":", i + 6)) > 0:
                self.versions.append(int(self.buf[i + 6 : j]))
                self.buf = self.buf[j:]
        return self.versions

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server(pad=64 * 1024)  # 64 KiB states fill a stalled socket in a few states
    yield s
    s.stop()


def wait_for(cond: object, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_every_state_in_order_to_every_browser(server: Server) -> None:
    browsers = [Browser(server.port) for _ in range(5)]
    for b in browsers:
        b.read_until(0)
    wait_for(lambda: server.conns() == 5, "five connections registered")
    for _ in range(20):
        v = server.publish()
        for b in browsers:
            b.read_until(v)  # each read before the next change: none is skipped
    for b in browsers:
        assert b.versions == list(range(21))
        b.close()
    wait_for(lambda: server.conns() == 0, "closed browsers are forgotten")


def test_a_stalled_browser_holds_up_nobody_and_then_gets_the_newest(server: Server) -> None:
    stalled = Browser(server.port, rcvbuf=4096)
    stalled.read_until(0)
    live = Browser(server.port)
    live.read_until(0)
    wait_for(lambda: server.conns() == 2, "two connections registered")
    # the stalled browser reads nothing while 200 states of 64 KiB (12.5 MiB) go out:
    # far beyond its socket buffers, so its write must wait
    for _ in range(200):
        v = server.publish()
        live.read_until(v, timeout=5)
    assert live.versions == list(range(201)), "the reading browser missed states"
    # the stalled browser's write waits (its pending state changes hands as the socket
    # drains a little, so it is not checked here: what it finally gets is, below)
    waiting = [c for c in server.fanout.conns if c.writing is not None]
    assert len(waiting) == 1, "exactly the stalled browser has a write waiting"
    # it reads again: it catches up to the newest state without every state in between
    seen = stalled.read_until(200, timeout=10)
    assert seen[-1] == 200
    assert len(seen) < 150, f"the stalled browser was sent {len(seen)} states, not the newest"
    assert seen == sorted(seen)
    stalled.close()
    live.close()


def test_keep_alive_when_quiet(server: Server) -> None:
    b = Browser(server.port)
    b.read_until(0)
    b.sock.settimeout(5)
    data = b""
    while b": keep-alive" not in data:
        chunk = b.sock.recv(4096)
        assert chunk, "the server closed the stream"
        data += chunk
    assert b"data:" not in data, "a quiet state is not sent again"
    b.close()
