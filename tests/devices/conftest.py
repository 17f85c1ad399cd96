"""Shared fixtures for device tests: simulators over real ptys/sockets, thread-leak check."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from devices.idcard.simulator import IdCardSimulator, sample_identity
from devices.sim import SimServer


@pytest.fixture(autouse=True)
def no_thread_leak() -> Iterator[None]:
    """Fail a test that leaves threads running (drivers must stop theirs in close())."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 2.0
    leaked = [t for t in threading.enumerate() if t not in before]
    for t in leaked:
        t.join(max(0.0, deadline - time.monotonic()))
    alive = [t.name for t in leaked if t.is_alive()]
    assert not alive, f"threads leaked by this test: {alive}"


@pytest.fixture(params=["pty", "tcp"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


ServeFn = Callable[..., SimServer]


@pytest.fixture
def serve(transport: str) -> Iterator[ServeFn]:
    """Start a SimServer for a handler over the parametrised transport; stopped afterwards."""
    servers: list[SimServer] = []

    def start(handler: object, baud: int | None = None, **kwargs: object) -> SimServer:
        server = SimServer(handler, baud=baud, **kwargs)  # type: ignore[arg-type]
        if transport == "pty":
            server.start_pty()
        else:
            server.start_tcp("127.0.0.1", 0)
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.stop()


@pytest.fixture
def idcard_sim() -> IdCardSimulator:
    return IdCardSimulator([sample_identity(i) for i in range(3)])
