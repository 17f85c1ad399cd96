"""Serial scanner driver ↔ simulator over a real pty and TCP socket."""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator

import pytest

from devices.errors import ConfigError, DeviceTimeout
from devices.scanner.driver import ScanMode, SerialScanner
from devices.scanner.protocol import Framing, ScanEvent
from devices.scanner.simulator import ScannerSimulator
from devices.serialio import Backoff
from devices.sim import Fault, SimServer
from devices.state import DeviceState
from tests.devices.conftest import ServeFn

Factory = Callable[..., SerialScanner]


@pytest.fixture
def scanner_factory() -> Iterator[Factory]:
    made: list[SerialScanner] = []

    def make(url: str, **kwargs: object) -> SerialScanner:
        s = SerialScanner(url, **kwargs)  # type: ignore[arg-type]
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def _start(serve: ServeFn, sim: ScannerSimulator, **kw: object) -> SimServer:
    server = serve(sim, **kw)
    sim.server = server
    return server


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_continuous_mode_chinese_codes(
    serve: ServeFn, scanner_factory: Factory, encoding: str
) -> None:
    sim = ScannerSimulator()
    server = _start(serve, sim)
    events: queue.Queue[ScanEvent] = queue.Queue()
    scanner = scanner_factory(server.url, on_scan=events.put)
    scanner.open()
    assert server.connected.wait(2)
    sim.scan("请到3号窗口 A001", encoding)
    sim.scan("https://example.org/?q=1")
    first, second = events.get(timeout=3), events.get(timeout=3)
    assert first.text == "请到3号窗口 A001" and first.encoding == encoding
    assert first.raw == "请到3号窗口 A001".encode(encoding)
    assert second.text == "https://example.org/?q=1"
    # Handed to the callback only: nothing scanned is kept in the driver afterwards.
    with pytest.raises(DeviceTimeout):
        scanner.wait_for_scan(0.1)


@pytest.mark.parametrize("dialect", ["honeywell", "newland"])
def test_triggered_mode_sends_trigger_and_release(
    serve: ServeFn, scanner_factory: Factory, dialect: str
) -> None:
    sim = ScannerSimulator(dialect=dialect, framing=Framing.STX_ETX)
    server = _start(serve, sim)
    sim.queue_code("身份证 业务", "gb18030")
    scanner = scanner_factory(
        server.url, mode=ScanMode.TRIGGERED, dialect=dialect, framing=Framing.STX_ETX
    )
    scanner.open()
    event = scanner.trigger(timeout=3)
    assert event.text == "身份证 业务"
    assert sim.trigger_count == 1
    expected = {"honeywell": b"\x16T\r\x16U\r", "newland": b"\x1b1\x1b0"}[dialect]
    assert sim.released.wait(2)
    assert bytes(server.received) == expected
    assert sim.release_count == 1


def test_trigger_without_code_times_out_and_still_releases(
    serve: ServeFn, scanner_factory: Factory
) -> None:
    sim = ScannerSimulator()
    server = _start(serve, sim)
    scanner = scanner_factory(server.url, mode=ScanMode.TRIGGERED)
    scanner.open()
    with pytest.raises(DeviceTimeout):
        scanner.trigger(timeout=0.2)
    assert sim.released.wait(2)
    assert bytes(server.received) == b"\x16T\r\x16U\r"


@pytest.mark.parametrize("fault", [Fault.PARTIAL, Fault.CORRUPT, Fault.NO_REPLY])
def test_faulty_code_yields_no_event_and_next_code_is_clean(
    serve: ServeFn, scanner_factory: Factory, fault: Fault
) -> None:
    sim = ScannerSimulator(framing=Framing.STX_ETX)
    server = _start(serve, sim)
    scanner = scanner_factory(server.url, framing=Framing.STX_ETX)
    scanner.open()
    assert server.connected.wait(2)
    server.faults.inject(fault)
    sim.scan("BROKEN")
    with pytest.raises(DeviceTimeout):
        scanner.wait_for_scan(0.3)
    sim.scan("GOOD")
    assert scanner.wait_for_scan(3).text == "GOOD"


def test_slow_line_still_delivers(serve: ServeFn, scanner_factory: Factory) -> None:
    sim = ScannerSimulator()
    server = _start(serve, sim, slow_baud=2400)
    scanner = scanner_factory(server.url)
    scanner.open()
    assert server.connected.wait(2)
    server.faults.inject(Fault.SLOW)
    sim.scan("SLOW-CODE-123")
    assert scanner.wait_for_scan(3).text == "SLOW-CODE-123"


def test_unplug_reconnects_tcp(scanner_factory: Factory) -> None:
    sim = ScannerSimulator()
    with SimServer(sim) as server:
        sim.server = server
        server.start_tcp()
        _unplug_cycle(server, sim, scanner_factory)


def test_unplug_reconnects_pty(scanner_factory: Factory, tmp_path: os.PathLike[str]) -> None:
    sim = ScannerSimulator()
    with SimServer(sim) as server:
        sim.server = server
        server.start_pty(link_path=os.path.join(tmp_path, "ttySCAN"))
        _unplug_cycle(server, sim, scanner_factory)


def _unplug_cycle(server: SimServer, sim: ScannerSimulator, factory: Factory) -> None:
    lost, back = threading.Event(), threading.Event()

    def on_status(status: object) -> None:
        state = getattr(status, "state", None)
        if state is DeviceState.ABSENT:
            lost.set()
        elif state is DeviceState.READY and lost.is_set():
            back.set()

    scanner = factory(server.url, backoff=Backoff(0.01, 2, 0.05))
    scanner.status.subscribe(on_status)
    scanner.open()
    server.unplug()
    assert lost.wait(5)
    server.replug()
    assert back.wait(5)
    assert server.connected.wait(5)
    sim.scan("AFTER-REPLUG")
    assert scanner.wait_for_scan(3).text == "AFTER-REPLUG"


def test_codes_are_not_logged(
    serve: ServeFn, scanner_factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    sim = ScannerSimulator()
    server = _start(serve, sim)
    scanner = scanner_factory(server.url)
    with caplog.at_level(logging.DEBUG, logger="devices.scanner"):
        scanner.open()
        assert server.connected.wait(2)
        sim.scan("11010519491231002X")
        assert scanner.wait_for_scan(3).text == "11010519491231002X"
    assert "<18 bytes>" in caplog.text and "1101051949" not in caplog.text


def test_unknown_dialect_is_config_error() -> None:
    with pytest.raises(ConfigError):
        SerialScanner("loop://", dialect="acme")


def test_self_test_opens_the_port_and_in_triggered_mode_writes_the_release(
    serve: ServeFn, scanner_factory: Factory
) -> None:
    sim = ScannerSimulator(dialect="newland")
    server = _start(serve, sim)
    scanner = scanner_factory(server.url, mode=ScanMode.TRIGGERED, dialect="newland")
    result = scanner.self_test()
    assert result.ok and result.state is DeviceState.READY
    assert sim.released.wait(2)
    assert bytes(server.received) == b"\x1b0"  # release only: never leaves the aimer on


def test_self_test_of_a_missing_port_fails_in_plain_words(scanner_factory: Factory) -> None:
    result = scanner_factory("/dev/does-not-exist-hallkit").self_test()
    assert not result.ok and result.state is DeviceState.ABSENT
    assert "self-test failed: cannot open port" in result.reason
