"""serialio: URLs, error translation, backoff, frame ring, reconnect."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from devices.errors import ConfigError, DeviceTimeout, DeviceUnavailable
from devices.serialio import (
    Backoff,
    FailureLog,
    FrameLog,
    ReconnectGate,
    SerialLink,
    hex_bytes,
    line_seconds,
    open_port,
)


def test_backoff_is_exponential_and_bounded() -> None:
    b = Backoff(0.1, 2.0, 0.5)
    assert [b.next_delay() for _ in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    b.reset()
    assert b.next_delay() == 0.1
    with pytest.raises(ConfigError):
        Backoff(0, 2, 1)


def test_reconnect_gate_spaces_attempts_with_bounded_backoff() -> None:
    now = [100.0]
    gate = ReconnectGate(Backoff(0.5, 2.0, 2.0), clock=lambda: now[0])
    assert gate.ready() and gate.remaining() == 0.0
    delays = []
    for _ in range(4):
        delays.append(gate.failed())
        assert not gate.ready()
        now[0] += delays[-1] - 0.01
        assert not gate.ready()  # not a moment early
        now[0] += 0.01
        assert gate.ready()
    assert delays == [0.5, 1.0, 2.0, 2.0]  # doubling, capped
    assert gate.failures == 4
    gate.failed()
    gate.succeeded()
    assert gate.ready() and gate.failures == 0
    assert gate.failed() == 0.5  # back to the initial delay after a success


def test_line_time_and_hex() -> None:
    assert line_seconds(1295, 115200) == pytest.approx(0.1124, abs=1e-4)
    assert hex_bytes(b"\xaa\x01") == "AA 01"


def test_open_port_translates_errors() -> None:
    with pytest.raises(ConfigError):
        open_port("nosuchscheme://x")
    with pytest.raises(ConfigError):
        open_port("")
    with pytest.raises(DeviceUnavailable):
        open_port("/dev/does-not-exist-hallkit")
    with pytest.raises(DeviceUnavailable):
        open_port("socket://127.0.0.1:1")  # nothing listens on port 1


def test_loop_url_round_trip_and_read_deadline() -> None:
    link = SerialLink("loop://", 115200, name="loop")
    link.open()
    try:
        link.write(b"\x01\x02\x03")
        got = b""
        deadline = time.monotonic() + 1
        while len(got) < 3:
            got += link.read_some(deadline)
        assert got == b"\x01\x02\x03"
        assert link.read_some(time.monotonic() + 0.05) == b""
        link.write(b"stale")
        assert link.discard_input() == 5
    finally:
        link.close()
    with pytest.raises(DeviceUnavailable, match="not open"):
        link.write(b"x")


def test_a_socket_closed_under_a_reader_is_a_lost_port() -> None:
    # a reader thread waiting on a socket:// port whose socket another thread closed got
    # "ValueError: file descriptor cannot be a negative integer" from select() and died
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    link = SerialLink(f"socket://127.0.0.1:{server.getsockname()[1]}", 9600, name="tcp")
    link.open()
    peer, _ = server.accept()
    try:
        link._port._socket.close()  # type: ignore[union-attr]
        with pytest.raises(DeviceUnavailable, match="read failed"):
            link.read_some(time.monotonic() + 0.2)
    finally:
        link.drop()
        peer.close()
        server.close()


def test_frame_ring_keeps_last_20_and_dumps(caplog: pytest.LogCaptureFixture) -> None:
    frames = FrameLog("dev", logging.getLogger("devices.test"))
    with caplog.at_level(logging.DEBUG, logger="devices.test"):
        for i in range(25):
            frames.record("tx", bytes([i]))
        frames.record("rx", b"secret", redact=lambda b: f"<{len(b)} bytes>")
        lines = frames.dump("it broke")
    assert len(lines) == 20
    assert lines[0].endswith("tx 06") and lines[-1].endswith("rx <6 bytes>")
    assert "dev tx 00" in caplog.text  # DEBUG line per frame
    assert "it broke; last 20 frames" in caplog.text
    assert "secret" not in caplog.text and "73 65 63" not in caplog.text


def test_reconnect_gives_up_after_attempts_and_close_wakes_it() -> None:
    link = SerialLink("/dev/does-not-exist-hallkit", backoff=Backoff(0.01, 2, 0.02))
    assert link.reconnect(attempts=3) is False
    slow = SerialLink("/dev/does-not-exist-hallkit", backoff=Backoff(30, 1, 30))
    result: list[bool] = []
    t = threading.Thread(target=lambda: result.append(slow.reconnect()))
    t.start()
    slow.close()  # must interrupt the 30 s wait
    t.join(5)
    assert not t.is_alive() and result == [False]


def test_write_timeout_is_device_timeout() -> None:
    class Stuck:
        is_open = True

        def write(self, data: bytes) -> int:
            import serial

            raise serial.SerialTimeoutException("write timeout")

        def flush(self) -> None:
            pass

        def close(self) -> None:
            pass

    link = SerialLink("loop://")
    link._port = Stuck()  # type: ignore[assignment]
    with pytest.raises(DeviceTimeout):
        link.write(b"x")


def test_failure_log_reports_a_run_once_and_a_flaky_line_rarely(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [100.0]
    logger = logging.getLogger("devices.test.failurelog")
    failures = FailureLog(FrameLog("dev", logger), quiet_s=60, clock=lambda: now[0])
    with caplog.at_level(logging.DEBUG, logger="devices.test.failurelog"):
        for _ in range(50):  # a long run: one WARNING
            failures.failed("garbled reply")
            now[0] += 1
        assert failures.failing and failures.failures == 50
        failures.succeeded()  # one summary
        for _ in range(20):  # then a flaky line within the quiet time: no more WARNING/INFO
            failures.failed("garbled reply")
            failures.succeeded()
            now[0] += 0.1
        now[0] += 60
        failures.failed("no reply")  # after the quiet time: reported again
    by_level = [(r.levelno, r.getMessage().split(";")[0]) for r in caplog.records]
    loud = [entry for entry in by_level if entry[0] >= logging.INFO]
    assert loud == [
        (
            logging.WARNING,
            "dev: garbled reply (further failures are counted, not logged, until it works again)",
        ),
        (logging.INFO, "dev: works again after 50 failed exchange(s) over 50.0 s"),
        (
            logging.WARNING,
            "dev: no reply (further failures are counted, not logged, until it works again)",
        ),
    ]
