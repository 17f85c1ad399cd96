"""display.yaml and ``python -m hall_display``: the documented example, errors with their
line, check-config, and ``run`` as a real process against a real broker and controller."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from devices.errors import ConfigError
from hall_contract.client import TlsSetupError
from hall_contract.messages import Presence, read
from hall_contract.yamlconf import ConfigFileError
from hall_display import settings as display_settings
from hall_display.cli import main
from hall_display.program import DisplayProgram, check
from tests.conftest import CONFIG_DIR, ROOT, load_hall
from tests.hall_display.conftest import mini_hall

HALL_YAML = CONFIG_DIR / "hall.yaml"


def documented_example() -> str:
    """The display.yaml of docs/display.md (the first yaml block)."""
    text = (ROOT / "docs" / "display.md").read_text(encoding="utf-8")
    m = re.search(r"```yaml\n(.*?)```", text, re.S)
    assert m, "docs/display.md has no yaml example"
    return m[1]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_the_documented_example_is_valid_for_the_example_hall(tmp_path: Path) -> None:
    f = write(tmp_path / "display.yaml", documented_example())
    (tmp_path / "hall.yaml").write_text(HALL_YAML.read_text(encoding="utf-8"), encoding="utf-8")
    cfg = display_settings.load(f)
    hall = display_settings.load_hall(cfg)
    assert check(cfg, hall) == []
    assert cfg.leds is not None and cfg.leds.windows["win09"] == 9
    assert cfg.speaker is not None and cfg.speaker.repeat == 2
    assert cfg.broker_url_for(hall) == "mqtt://127.0.0.1:1883"
    # every field of the example is written out, so the example documents them all
    data = yaml.safe_load(documented_example())
    assert set(data) == set(display_settings.DisplayConfig.model_fields) - {"base_dir"}


def test_check_config_lists_what_it_drives(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    f = write(tmp_path / "display.yaml", documented_example())
    (tmp_path / "hall.yaml").write_text(HALL_YAML.read_text(encoding="utf-8"), encoding="utf-8")
    assert main(["check-config", "--config", str(f)]) == 0
    out = capsys.readouterr().out
    assert "display d01 of hall yunxi" in out
    assert "led-win09: unit 9 on /dev/ttyUSB1 (modbus)" in out
    assert "speaker: auto, pack cmn, repeat 2, windows all" in out


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        ("leds:\n  windows: {win99: 1}\n", "leds.windows: the hall has no window 'win99'"),
        ("terminal_id: w01\n", "'w01' is a window terminal in the hall config, not a display"),
        ("speaker:\n  windows: [win77]\n", "speaker.windows: the hall has no window 'win77'"),
        ("window_numbers: {win01: '1234'}\nleds:\n  windows: {win01: 1}\n", "cannot be shown"),
    ],
)
def test_check_config_refuses_what_cannot_work(
    tmp_path: Path, capsys: pytest.CaptureFixture, edit: str, needle: str
) -> None:
    f = write(tmp_path / "display.yaml", f"hall_config: {HALL_YAML}\n{edit}")
    assert main(["check-config", "--config", str(f)]) == 1
    assert needle in capsys.readouterr().err
    cfg = display_settings.load(f)
    with pytest.raises(ConfigError, match=re.escape(needle)):
        DisplayProgram(cfg, display_settings.load_hall(cfg))


def test_a_window_without_a_number_must_be_given_one() -> None:
    hall = load_hall()
    unnamed = [w.model_copy(update={"id": "wa", "name": "综合窗口"}) for w in hall.windows[:1]]
    hall = hall.model_copy(update={"windows": [*hall.windows, *unnamed]})
    cfg = display_settings.DisplayConfig(speaker=display_settings.SpeakerSettings())
    assert check(cfg, hall) == [
        "speaker: window wa (综合窗口) has no number to announce; set window_numbers.wa"
    ]
    fixed = cfg.model_copy(update={"window_numbers": {"wa": "9"}})
    assert check(fixed, hall) == []


def test_errors_name_the_file_and_line(tmp_path: Path) -> None:
    f = write(tmp_path / "display.yaml", "terminal_id: d01\nleds:\n  prot: /dev/ttyUSB1\n")
    with pytest.raises(ConfigFileError) as err:
        display_settings.load(f)
    assert f"{f}:3: leds.prot: Extra inputs are not permitted" in str(err.value)
    f = write(tmp_path / "display.yaml", "hall_config: nowhere.yaml\n")
    with pytest.raises(ConfigFileError, match="hall_config: no such file"):
        display_settings.load(f)
    f = write(tmp_path / "display.yaml", "led_rules: {retry_initial_s: 5, retry_max_s: 1}\n")
    with pytest.raises(ConfigFileError, match="retry_max_s must not be below retry_initial_s"):
        display_settings.load(f)


def test_paths_are_relative_to_the_file_and_tls_needs_mqtts(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("x")
    (tmp_path / "hall.yaml").write_text(
        (CONFIG_DIR / "hall-minimal.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    f = write(
        tmp_path / "display.yaml",
        "tls_ca: ca.pem\nspeaker: {pack_root: voice, output_dir: out}\n",
    )
    cfg = display_settings.load(f)
    hall = display_settings.load_hall(cfg)
    voice = cfg.voice_settings()
    assert voice is not None and voice.pack_root == str(tmp_path / "voice")
    assert voice.output_dir == str(tmp_path / "out")
    with pytest.raises(TlsSetupError, match="not TLS"):
        cfg.broker_settings(hall)
    tls = cfg.model_copy(update={"broker_url": "mqtts://d01:pw@10.0.0.5"})
    settings = tls.broker_settings(hall)
    assert (
        settings.uses_tls and settings.port == 8883 and settings.tls_ca == str(tmp_path / "ca.pem")
    )


def test_for_simulator_puts_every_window_on_one_bus() -> None:
    hall = load_hall("hall.yaml")
    cfg = display_settings.for_simulator(hall, "socket://127.0.0.1:7020")
    assert cfg.leds is not None and cfg.leds.windows["win16"] == 16
    assert check(cfg, hall) == []


def test_run_as_a_process_shows_calls_and_stops_cleanly_on_sigterm(
    tmp_path: Path, broker, controller_factory, client_factory, collect, sim
) -> None:
    hall = mini_hall()
    controller_factory(hall)
    presence = collect("hall/mini/t/d01/state")
    f = write(
        tmp_path / "display.yaml",
        f"terminal_id: d01\nhall_config: {CONFIG_DIR / 'hall-minimal.yaml'}\n"
        f"broker_url: {broker.url}\n"
        f"leds: {{port: '{sim.url}', timeout_s: 0.3, retries: 0, windows: {{win01: 1, win02: 2}}}}\n",
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hall_display", "run", "--config", str(f)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        presence.wait_for(lambda t, p: read(Presence, p).state == "online", 30)
        kiosk = client_factory("k01", role="kiosk")
        w01 = client_factory("w01", role="window")
        assert kiosk.request("ticket.issue", {"service": "id_card_renew"}).ok
        assert w01.request("window.call_next", {}).ok
        assert sim.wait_displayed(
            1, lambda d: (d.ticket, d.window, d.blink) == ("A001", "1", 3), 10
        )
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out
    assert "display d01 stopped" in out and "call A001 → win01" in out
    presence.wait_for(lambda t, p: read(Presence, p).state == "offline", 10)
