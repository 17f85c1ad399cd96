"""``python -m devices``: technician commands against simulators; device settings."""

from __future__ import annotations

import logging
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image
from pydantic import ValidationError

from devices import cli
from devices.config import CameraSettings, DevicesSettings, IdCardSettings, ScannerSettings
from devices.idcard.simulator import IdCardSimulator, sample_identity
from devices.scanner.simulator import ScannerSimulator
from devices.sim import Fault, SimServer


@pytest.fixture
def idcard_server() -> Iterator[tuple[SimServer, IdCardSimulator]]:
    sim = IdCardSimulator([sample_identity(11)])
    with SimServer(sim) as server:
        server.start_tcp()
        yield server, sim


def test_read_card_prints_masked_identity(
    idcard_server: tuple[SimServer, IdCardSimulator], capsys: pytest.CaptureFixture[str]
) -> None:
    server, sim = idcard_server
    person = sim.current
    assert cli.main(["read-card", server.url, "--wait", "2"]) == 0
    out = capsys.readouterr().out
    assert person.masked_id_number in out and person.masked_name in out
    assert person.id_number not in out and person.name not in out and person.address not in out


def test_read_card_without_card_says_so(
    idcard_server: tuple[SimServer, IdCardSimulator], capsys: pytest.CaptureFixture[str]
) -> None:
    server, sim = idcard_server
    sim.remove_card()
    assert cli.main(["read-card", server.url, "--wait", "0.2"]) == 1
    assert "no card on the reader" in capsys.readouterr().out


def test_probe_finds_idcard_reader(
    idcard_server: tuple[SimServer, IdCardSimulator], capsys: pytest.CaptureFixture[str]
) -> None:
    server, _ = idcard_server
    assert cli.main(["probe", server.url]) == 0
    assert "found: ID card reader at 115200 bit/s, SAM 05.01-" in capsys.readouterr().out


def test_probe_reader_with_bad_checksums_is_not_nothing(
    idcard_server: tuple[SimServer, IdCardSimulator], capsys: pytest.CaptureFixture[str]
) -> None:
    """A reader whose every reply has a bad checksum (wrong baud rate, noise) answered:
    the probe must say so, not "nothing answered; check the cable"."""
    server, _ = idcard_server
    server.faults.inject(Fault.CORRUPT, count=None)
    assert cli.main(["probe", server.url]) == 1
    out = capsys.readouterr().out
    assert "nothing answered" not in out
    assert "something answered" in out and "bad checksums" in out
    assert "baud rate" in out and "noise" in out


def test_probe_nothing_there(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["probe", "/dev/does-not-exist-hallkit"]) == 1
    assert "nothing answered" in capsys.readouterr().out


def test_selftest_ok_and_failing(
    idcard_server: tuple[SimServer, IdCardSimulator],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    server, sim = idcard_server
    assert cli.main(["selftest", "--idcard", server.url]) == 0
    assert "ID card reader: OK" in capsys.readouterr().out
    sim.sam_ok = False
    config = tmp_path / "hall.yaml"
    config.write_text(f"devices:\n  idcard:\n    port: {server.url}\n", encoding="utf-8")
    assert cli.main(["selftest", "--config", str(config)]) == 1
    assert "ID card reader: FAILED" in capsys.readouterr().out


def test_scan_triggered(capsys: pytest.CaptureFixture[str]) -> None:
    sim = ScannerSimulator()
    with SimServer(sim) as server:
        sim.server = server
        server.start_tcp()
        sim.queue_code("请到3号窗口", "gb18030")
        assert cli.main(["scan", server.url, "--trigger", "--timeout", "3"]) == 0
    out = capsys.readouterr().out
    assert "scanned (gb18030, 11 bytes): 请到3号窗口" in out


def test_scan_continuous_timeout(capsys: pytest.CaptureFixture[str]) -> None:
    sim = ScannerSimulator()
    with SimServer(sim) as server:
        server.start_tcp()
        assert cli.main(["scan", server.url, "--timeout", "0.2"]) == 1
    assert "no code was scanned in time" in capsys.readouterr().out


def test_ports_lists_usb_ids(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = [
        SimpleNamespace(
            device="/dev/ttyUSB0",
            vid=0x1A86,
            pid=0x7523,
            description="USB Serial",
            manufacturer="QinHeng",
        )
    ]
    monkeypatch.setattr("serial.tools.list_ports.comports", lambda: fake)
    assert cli.main(["ports"]) == 0
    out = capsys.readouterr().out
    assert "/dev/ttyUSB0  USB 1A86:7523  USB Serial by QinHeng" in out
    assert "hwgrep://1A86:7523" in out
    monkeypatch.setattr("serial.tools.list_ports.comports", lambda: [])
    assert cli.main(["ports"]) == 1


class SimulatorProcess:
    """``python -m devices simulate …`` in a child process; its stdout read line by line
    on a thread, so a test waits for a line with a timeout (never a sleep)."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "devices", "simulate", *args, "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name="sim-stdout")
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def next_line(self, timeout: float = 20) -> str:
        return self.lines.get(timeout=timeout)

    def url(self) -> str:
        first = self.next_line()
        assert "listening on 127.0.0.1:" in first, first
        return first.split("(")[1].split(")")[0]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self._reader.join(10)
        if self.proc.stdout:
            self.proc.stdout.close()


def test_simulate_idcard_subprocess_then_read_card(capsys: pytest.CaptureFixture[str]) -> None:
    sim = SimulatorProcess("idcard", "--baud", "0")
    try:
        url = sim.url()
        assert url.startswith("socket://127.0.0.1:")
        assert cli.main(["read-card", url, "--wait", "2"]) == 0
        assert "card read: Identity(type=resident" in capsys.readouterr().out
    finally:
        sim.stop()


def test_simulate_printer_subprocess_then_test_page(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sim = SimulatorProcess("printer", "--preview-dir", str(tmp_path))
    try:
        url = sim.url()
        assert cli.main(["printer-status", url, "--timeout", "1"]) == 0
        assert "在线：是" in capsys.readouterr().out
        assert cli.main(["test-page", url, "--timeout", "1"]) == 0
        printed = sim.next_line()
        assert printed.startswith("receipt 1: ") and "cut partial" in printed
        preview = tmp_path / "receipt-0001.png"
        assert f"preview {preview}" in printed and preview.stat().st_size > 0
    finally:
        sim.stop()


def test_simulate_printer_with_faults_from_the_command_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--paper-out --cover-open`` start the simulator in those states; the technician's
    ``printer-status`` reads them back over the wire."""
    sim = SimulatorProcess("printer", "--paper-out", "--cover-open")
    try:
        first = sim.next_line()
        assert first.endswith("; 58 mm paper (32 columns), PAPER OUT, COVER OPEN"), first
        url = first.split("(")[1].split(")")[0]
        assert cli.main(["printer-status", url, "--timeout", "1"]) == 1
        out = capsys.readouterr().out
        assert "上盖：打开" in out and "纸张：缺纸" in out
        assert "state: fault – paper out: load a new paper roll" in out
    finally:
        sim.stop()


def test_simulate_printer_80mm_paper(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    sim = SimulatorProcess("printer", "--width", "80", "--preview-dir", str(tmp_path))
    try:
        first = sim.next_line()
        assert "80 mm paper (48 columns), paper ok" in first, first
        url = first.split("(")[1].split(")")[0]
        assert cli.main(["test-page", url, "--width", "48", "--timeout", "1"]) == 0
        assert sim.next_line().startswith("receipt 1: ")
    finally:
        sim.stop()
    with Image.open(tmp_path / "receipt-0001.png") as preview:
        assert preview.width == 48 * 12  # 80 mm: 48 columns of 12 dots


def test_simulate_display_subprocess_then_display_show(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sim = SimulatorProcess("display")
    try:
        url = sim.url()
        assert cli.main(["display-show", url, "3", "A001", "--window", "12"]) == 0
        assert "display 3: A001 (window 12)" in capsys.readouterr().out
        changes = [sim.next_line(), sim.next_line()]  # the number, then the blink count
        assert changes[0] == "unit 3: A001 → window 12 blink 0 brightness 5"
        assert changes[1] == "unit 3: A001 → window 12 blink 3 brightness 5"
        assert cli.main(["display-show", url, "9", "A001"]) == 1  # no unit 9 on that bus
        assert "display 9" in capsys.readouterr().out
    finally:
        sim.stop()


def test_plugin_commands_are_present() -> None:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    names = set(sub.choices)  # type: ignore[arg-type]
    assert {"ports", "probe", "selftest", "read-card", "scan", "simulate"} <= names
    assert "test-page" in names  # from devices.printer.cli
    assert "voice-pack" in names  # from devices.voice.cli


def test_listen_must_be_loopback() -> None:
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["simulate", "idcard", "--listen", "0.0.0.0:7001"])


# -- settings ----------------------------------------------------------------------------
def test_settings_defaults_and_urls() -> None:
    s = DevicesSettings.model_validate(
        {
            "idcard": {"port": "hwgrep://0483:5740", "baudrate": 57600},
            "scanner": {"port": "socket://127.0.0.1:7002", "suffix": "0D0A", "mode": "triggered"},
            "camera": {"driver": "simulator", "images": ["a.png"], "roi": [0, 0, 640, 480]},
        }
    )
    assert (
        s.idcard is not None and s.idcard.read_timeout_s == 2.0 and s.idcard.find_timeout_s == 0.1
    )
    assert s.scanner is not None and s.scanner.suffix_bytes == b"\r\n"
    assert s.camera is not None and s.camera.roi == (0, 0, 640, 480)
    assert s.printer is None and s.display is None and s.voice is None


@pytest.mark.parametrize(
    ("model", "data"),
    [
        (IdCardSettings, {"baudrate": 12345}),
        (IdCardSettings, {"port": "ftp://x"}),
        (IdCardSettings, {"port": " "}),
        (IdCardSettings, {"colour": "red"}),
        (ScannerSettings, {"suffix": "zz"}),
        (ScannerSettings, {"dialect": "acme"}),
        (CameraSettings, {"driver": "simulator"}),
        (CameraSettings, {"roi": [0, 0, 0, 10]}),
    ],
)
def test_bad_settings_are_rejected(model: type, data: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        model.model_validate(data)


def test_devices_settings_include_other_devices() -> None:
    s = DevicesSettings.model_validate({"printer": {"port": "socket://127.0.0.1:9100"}})
    assert s.printer is not None and s.printer.port == "socket://127.0.0.1:9100"
    fields = DevicesSettings.model_fields
    assert {"printer", "display", "voice"} <= set(fields)


def test_from_settings_with_simulator_drivers(tmp_path: Path) -> None:
    from devices.idcard.driver import IdCardReader
    from devices.scanner.camera import CameraScanner
    from devices.scanner.camerasim import compose_frame
    from devices.scanner.driver import SerialScanner

    reader = IdCardReader.from_settings(IdCardSettings(driver="simulator", poll_interval_s=0.05))
    try:
        reader.open()
        assert reader.read_card() is None  # the demo simulator starts without a card
        assert reader.simulator is not None
        reader.simulator.handler.place_card(0)  # type: ignore[attr-defined]
        card = reader.read_card()
        assert card is not None and card.card_type.name == "RESIDENT"
    finally:
        reader.close()

    scanner = SerialScanner.from_settings(ScannerSettings(driver="simulator", framing="stx_etx"))
    try:
        scanner.open()
        assert scanner.simulator is not None
        scanner.simulator.handler.scan("A001")  # type: ignore[attr-defined]
        assert scanner.wait_for_scan(3).text == "A001"
    finally:
        scanner.close()

    import cv2

    image = tmp_path / "qr.png"
    cv2.imwrite(str(image), compose_frame([("请到3号窗口".encode("gb18030"), (100, 100))]))
    camera = CameraScanner.from_settings(CameraSettings(driver="simulator", images=[str(image)]))
    with camera:
        assert camera.wait_for_scan(5).text == "请到3号窗口"


def test_selftest_printer_and_displays_from_config(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from devices.display.simulator import DisplaySimulator
    from devices.printer.simulator import PrinterSimulator

    with PrinterSimulator() as printer_sim, DisplaySimulator(units=(3,)) as display_sim:
        config = tmp_path / "hall.yaml"
        config.write_text(
            "devices:\n"
            f"  printer: {{port: '{printer_sim.url}', status_timeout_s: 0.3}}\n"
            f"  display: {{port: '{display_sim.url}', timeout_s: 0.3, retries: 0,"
            " windows: {'3': 3, '4': 4}}\n",
            encoding="utf-8",
        )
        assert cli.main(["selftest", "--config", str(config)]) == 1  # no module at unit 4
        out = capsys.readouterr().out
        assert "receipt printer: OK – ready" in out
        assert "window display 3: OK" in out and "window display 4: FAILED" in out
        printer_sim.virtual.paper = "out"
        assert cli.main(["selftest", "--printer", printer_sim.url]) == 1
        assert "receipt printer: FAILED – paper out" in capsys.readouterr().out


def test_verbose_flag_shows_debug_lines() -> None:
    """python-escpos calls ``logging.basicConfig()`` when it is imported, so a plain
    ``basicConfig(level=DEBUG)`` of ours did nothing: ``-v`` must still show DEBUG lines."""
    argv = [sys.executable, "-m", "devices", "probe", "/dev/does-not-exist-hallkit"]
    quiet = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    verbose = subprocess.run(
        [*argv[:3], "-v", *argv[3:]], capture_output=True, text=True, timeout=60
    )
    assert quiet.returncode == verbose.returncode == 1
    assert "DEBUG" not in quiet.stderr
    assert "DEBUG devices.cli: no ID card reader at 115200" in verbose.stderr


def test_main_leaves_the_root_logger_as_it_was() -> None:
    """``main`` replaces the root's handlers while it runs (python-escpos configured them
    on import) and puts them back: an in-process caller's logging is not broken."""
    root = logging.getLogger()
    before = (root.level, root.handlers[:])
    assert cli.main(["-v", "probe", "/dev/does-not-exist-hallkit"]) == 1
    assert (root.level, root.handlers) == before
