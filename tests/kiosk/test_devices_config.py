"""The kiosk's devices are the devices package's settings, checked when kiosk.yaml is
loaded (a typo is refused with its file, line and field, and nothing starts); test hands
(present a card, scan a code, run out of paper) are drivers chosen by config, not methods
of the production adapter."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from devices.errors import DeviceRefused
from devices.idcard.identity import id_check_char
from devices.state import DeviceState
from hall_contract.yamlconf import ConfigFileError
from kiosk import fakes, settings
from kiosk.hardware import CardReader, Hardware, ReceiptPrinter, Scanner, TicketPrint
from kiosk.session import CardIdentity
from tests.kiosk.helpers import ELDER, HALL_YAML, FakeLink, make_kiosk

ROOT = Path(__file__).resolve().parents[2]


def write(tmp: Path, devices: str) -> Path:
    path = tmp / "kiosk.yaml"
    path.write_text(
        f"terminal_id: k01\nhall_config: {HALL_YAML}\ndata_dir: {tmp / 'data'}\n"
        f"devices:\n{devices}",
        encoding="utf-8",
    )
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigFileError) as info:
        settings.load(path)
    return info.value.problems


@pytest.mark.parametrize(
    ("devices", "line", "field", "why"),
    [
        (  # unknown driver
            "  idcard: {driver: serial}\n  printer:\n    driver: escpso\n",
            7,
            "devices.printer.driver",
            "unknown printer driver 'escpso': one of escpos, network, usb, file, dummy, "
            "virtual, simulator, fake, none",
        ),
        (  # unknown option
            "  idcard:\n    driver: simulator\n    poll_intervall_s: 0.1\n",
            7,
            "devices.idcard.poll_intervall_s",
            "Extra inputs are not permitted (got 0.1)",
        ),
        (  # bad baud rate for the ID card module
            "  scanner: {driver: fake}\n  idcard: {driver: serial, baudrate: 11520}\n",
            6,
            "devices.idcard.baudrate",
            "the ID card module supports (115200, 57600, 38400, 19200, 9600) bit/s (got 11520)",
        ),
        (  # a printer option of the wrong type, on the printer simulator
            "  printer:\n    driver: simulator\n    width_chars: wide\n",
            7,
            "devices.printer.width_chars",
            "Input should be a valid integer",
        ),
        (  # a voice sink that does not exist
            "  voice: {driver: speaker}\n",
            5,
            "devices.voice.driver",
            "unknown voice driver 'speaker': one of auto, aplay, paplay, file, null, log, "
            "fake, none",
        ),
        (  # the old shape: options under the device
            "  printer:\n    driver: simulator\n    options: {preview_dir: prev}\n",
            7,
            "devices.printer.options",
            "write the printer's settings directly under printer:",
        ),
        (  # no driver
            "  scanner: {port: /dev/ttyACM0}\n",
            5,
            "devices.scanner.driver",
            "scanner needs a driver: serial, simulator, fake, none",
        ),
    ],
)
def test_a_device_typo_is_refused_at_load_with_file_line_and_field(
    tmp_path: Path, devices: str, line: int, field: str, why: str
) -> None:
    path = write(tmp_path, devices)
    found = problems(path)
    assert len(found) == 1, found
    assert found[0].startswith(f"{path}:{line}: {field}: {why}"), found[0]


def test_every_typo_is_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "  idcard: {driver: serial, baudrate: 1}\n"
        "  scanner: {driver: simulator, framing: crlf}\n"
        "  printer: {driver: fax}\n",
    )
    fields = [p.split(": ")[1] for p in problems(path)]
    assert fields == [
        "devices.idcard.baudrate",
        "devices.scanner.framing",
        "devices.printer.driver",
    ]


def test_kiosk_run_refuses_a_bad_device_config_and_starts_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, "  printer: {driver: escpos, baudrate: 0}\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT), SDL_VIDEODRIVER="offscreen", KIVY_NO_ARGS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "kiosk", "run", "--config", str(path), "--headless"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"{path}:5: devices.printer.baudrate: Input should be greater than 0 (got 0)"
    )
    assert "READY" not in proc.stdout and not (tmp_path / "data").exists()


def test_the_shipped_configs_load_with_typed_devices() -> None:
    demo = settings.load(ROOT / "config" / "kiosk.yaml").devices
    assert isinstance(demo.printer, settings.PrinterSimulatorDevice)
    assert demo.printer.preview_dir == "../var/kiosk-k01/printer-preview"
    assert isinstance(demo.idcard, settings.IdCardDevice) and demo.idcard.driver == "simulator"
    test = settings.load(ROOT / "tests" / "kiosk" / "data" / "kiosk-test.yaml").devices
    assert [test.idcard.driver, test.scanner.driver, test.printer.driver] == ["fake"] * 3
    # no devices section: the simulators, and the kiosk's own defaults where they differ
    default = settings.KioskConfig().devices
    assert default.idcard.driver == "simulator" and default.voice.driver == "log"
    assert isinstance(default.idcard, settings.IdCardDevice) and default.idcard.dedup_s == 2.0
    again = settings.KioskConfig.model_validate(settings.KioskConfig().model_dump())
    assert again.devices == default  # desired config and overrides round-trip the dump


def test_the_production_adapter_has_no_test_hooks() -> None:
    for hook in ("present_card", "inject_scan", "set_paper_out", "printed", "virtual"):
        for cls in (Hardware, CardReader, Scanner, ReceiptPrinter):
            assert not hasattr(cls, hook), (cls.__name__, hook)


def test_fakes_are_drivers_selected_by_config(tmp_path: Path) -> None:
    cfg = settings.load(ROOT / "tests" / "kiosk" / "data" / "kiosk-test.yaml")
    cards: list[CardIdentity] = []
    codes: list[str] = []
    hw = Hardware(cfg.devices, data_dir=tmp_path, on_identity=cards.append, on_scan=codes.append)
    hw.start()
    try:
        assert isinstance(hw.idcard, fakes.FakeCardReader)
        assert isinstance(hw.scanner, fakes.FakeScanner)
        assert isinstance(hw.printer, fakes.FakePrinter)
        assert all(s.state == DeviceState.READY for s in hw.statuses().values())
        hw.idcard.present_card(0)
        hw.scanner.inject_scan("tok9")
        assert [c.name for c in cards] == ["李秀英"] and codes == ["tok9"]
        ticket = TicketPrint("大厅", "户籍", "A001", 0, 0, "", "https://x/")
        hw.print_ticket(ticket)
        hw.printer.set_paper_out(True)
        assert hw.statuses()["printer"].reason == "paper out"
        with pytest.raises(DeviceRefused):
            hw.print_ticket(ticket)
        assert hw.printer.printed == ["ticket"]
    finally:
        hw.stop()


def test_simulators_through_config_read_a_card_over_the_wire(tmp_path: Path) -> None:
    devices = settings.DevicesSettings.model_validate(
        {
            "idcard": {"driver": "simulator", "poll_interval_s": 0.05},
            "scanner": {"driver": "simulator"},
            "printer": {"driver": "none"},
        }
    )
    got: dict[str, object] = {}
    arrived = threading.Event()

    def on(key: str) -> object:
        def put(value: object) -> None:
            got[key] = value
            if len(got) == 2:
                arrived.set()

        return put

    hw = Hardware(devices, data_dir=tmp_path, on_identity=on("card"), on_scan=on("code"))
    hw.start()
    try:
        assert isinstance(hw.idcard, fakes.SimulatedCardReader)
        assert isinstance(hw.scanner, fakes.SimulatedScanner)
        number = ELDER.id_number[:17] + id_check_char(ELDER.id_number[:17])
        card = CardIdentity(ELDER.name, number, ELDER.birth_date, ELDER.address)
        hw.idcard.present_card(card)
        hw.scanner.inject_scan("ELIC0000123456")
        assert arrived.wait(10), got
        read = got["card"]
        assert isinstance(read, CardIdentity) and read.id_number == card.id_number
        assert got["code"] == "ELIC0000123456"
        assert hw.statuses()["printer"].state == DeviceState.ABSENT
    finally:
        hw.stop()


def test_diagnostics_simulate_card_and_scan_through_the_fakes(tmp_path: Path) -> None:
    k, ui, _hw = make_kiosk(tmp_path, FakeLink())
    k.start_ticket("service", "idcard_reissue")
    k.simulate_card()  # a sample holder on the fake reader
    ui.pump_until(lambda: k.session.identity is not None)
    k.end_session()
    k.start_rating()
    k.simulate_scan()
    ui.pump_until(lambda: k.flow is not None and k.flow.step == "level")
    k.close()


def test_diagnostics_simulate_does_nothing_without_a_simulator(tmp_path: Path) -> None:
    none = {"driver": "none"}
    devices = settings.DevicesSettings.model_validate(
        {"idcard": none, "scanner": none, "printer": none}
    )
    k, _ui, hw = make_kiosk(tmp_path, FakeLink(), devices=devices)
    assert hw.idcard is None and hw.scanner is None
    k.simulate_card()
    k.simulate_scan()
    k.close()
    assert k.session.empty
