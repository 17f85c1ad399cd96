"""Simulator plumbing: pty and TCP serving, line timing, every fault, unplug/replug."""

from __future__ import annotations

import os
import time

import pytest

from devices.errors import ConfigError, DeviceUnavailable
from devices.serialio import SerialLink
from devices.sim import Fault, FaultPlan, SimServer
from tests.devices.conftest import ServeFn


class Echo:
    """Replies to every chunk with ">" + chunk + checksum-ish last byte."""

    def on_data(self, data: bytes) -> list[bytes]:
        return [b">" + data + b"!"]


def _exchange(link: SerialLink, data: bytes, expect: int, timeout: float = 2.0) -> bytes:
    link.write(data)
    got = b""
    deadline = time.monotonic() + timeout
    while len(got) < expect:
        chunk = link.read_some(deadline)
        if not chunk:
            break
        got += chunk
    return got


@pytest.fixture
def link_to(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    links: list[SerialLink] = []

    def make(server: SimServer) -> SerialLink:
        link = SerialLink(server.url, 115200)
        link.open()
        assert server.connected.wait(2)
        links.append(link)
        return link

    yield make
    for link in links:
        link.close()


def test_serves_over_pty_and_tcp(serve: ServeFn, link_to, transport: str) -> None:  # type: ignore[no-untyped-def]
    server = serve(Echo())
    assert server.url.startswith("socket://127.0.0.1:" if transport == "tcp" else "/dev/")
    link = link_to(server)
    assert _exchange(link, b"abc", 5) == b">abc!"
    assert bytes(server.received) == b"abc"


def test_faults_each_have_their_outcome(serve: ServeFn, link_to) -> None:  # type: ignore[no-untyped-def]
    server = serve(Echo())
    link = link_to(server)
    server.faults.inject(Fault.NO_REPLY)
    assert _exchange(link, b"abcd", 6, timeout=0.2) == b""
    server.faults.inject(Fault.PARTIAL)
    assert _exchange(link, b"abcd", 6, timeout=0.2) == b">ab"
    server.faults.inject(Fault.CORRUPT)
    assert _exchange(link, b"abcd", 6) == b">abcd" + bytes([ord("!") ^ 0x5A])
    assert _exchange(link, b"ok", 4) == b">ok!"  # faults were one-shot


def test_slow_line_and_line_timing(serve: ServeFn, link_to) -> None:  # type: ignore[no-untyped-def]
    server = serve(Echo(), baud=None, slow_baud=300)
    link = link_to(server)
    server.faults.inject(Fault.SLOW)
    # 12 bytes at 300 bit/s take 0.4 s: not all there after 0.1 s, all there later
    first = _exchange(link, b"0123456789", 12, timeout=0.1)
    assert len(first) < 12
    rest = b""
    deadline = time.monotonic() + 3
    while len(first + rest) < 12:
        rest += link.read_some(deadline)
    assert first + rest == b">0123456789!"


def test_unplug_and_replug_tcp_same_port() -> None:
    with SimServer(Echo()) as server:
        url = server.start_tcp("127.0.0.1", 0)
        link = SerialLink(url)
        link.open()
        try:
            server.unplug()
            with pytest.raises(DeviceUnavailable):
                _exchange(link, b"x", 3)
            link.drop()
            with pytest.raises(DeviceUnavailable):  # nothing listens while unplugged
                link.open()
            server.replug()
            assert server.url == url
            link.open()
            assert _exchange(link, b"x", 3) == b">x!"
        finally:
            link.close()


def test_unplug_fault_and_replug_pty_keeps_symlink(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "ttySIM")
    with SimServer(Echo()) as server:
        server.start_pty(link_path=path)
        link = SerialLink(path)
        link.open()
        try:
            server.faults.inject(Fault.UNPLUG)
            with pytest.raises(DeviceUnavailable):
                _exchange(link, b"x", 3)
                _exchange(link, b"x", 3)
            assert not os.path.exists(path)
            link.drop()
            server.replug()
            link.open()
            assert _exchange(link, b"y", 3) == b">y!"
        finally:
            link.close()


def test_send_unsolicited_and_throttled(serve: ServeFn, link_to) -> None:  # type: ignore[no-untyped-def]
    server = serve(Echo(), baud=115200)
    link = link_to(server)
    server.send(b"hello\r\n")
    got = b""
    deadline = time.monotonic() + 2
    while len(got) < 7:
        got += link.read_some(deadline)
    assert got == b"hello\r\n"
    assert server.wait_replies(1, 2)


def test_fault_plan_order_and_sticky() -> None:
    plan = FaultPlan()
    plan.inject(Fault.CORRUPT, count=2)
    plan.inject(Fault.NO_REPLY, count=None)
    assert [plan.take() for _ in range(4)] == [
        Fault.CORRUPT,
        Fault.CORRUPT,
        Fault.NO_REPLY,
        Fault.NO_REPLY,
    ]
    plan.clear()
    assert plan.take() is Fault.NONE


def test_listens_on_loopback_only() -> None:
    server = SimServer(Echo())
    with pytest.raises(ConfigError):
        server.start_tcp("0.0.0.0", 0)


def test_spy_and_hwgrep_urls_reach_a_pty_device(
    tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from serial.tools import list_ports_common

    with SimServer(Echo()) as server:
        server.start_pty()
        spy_log = os.path.join(tmp_path, "spy.txt")
        link = SerialLink(f"spy://{server.url}?file={spy_log}")
        link.open()
        try:
            assert _exchange(link, b"hi", 4) == b">hi!"
        finally:
            link.close()
        with open(spy_log, encoding="ascii") as f:
            assert "68 69" in f.read()  # pyserial's hexdump of what we sent
        info = list_ports_common.ListPortInfo(server.url, skip_link_detection=True)
        info.hwid = "USB VID:PID=1A86:7523 SER=X LOCATION=1-1"
        monkeypatch.setattr("serial.tools.list_ports.comports", lambda include_links=False: [info])
        link = SerialLink("hwgrep://1A86:7523")
        link.open()
        try:
            assert _exchange(link, b"usb", 5) == b">usb!"
        finally:
            link.close()
