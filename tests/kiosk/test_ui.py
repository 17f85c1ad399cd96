"""The real Kivy app, headless, in a subprocess driven by ui_driver.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.kiosk.helpers import ELDER

ROOT = Path(__file__).resolve().parents[2]
ELDER_NAME = ELDER.name
pytestmark = pytest.mark.ui


def headless_env() -> dict[str, str]:
    env = dict(
        os.environ,
        SDL_VIDEODRIVER="offscreen",
        SDL_AUDIODRIVER="dummy",
        KIVY_NO_ARGS="1",
        KIVY_HOME=tempfile.mkdtemp(prefix="kivy-home-"),
    )
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.fixture(scope="module")
def ui_run() -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("ui_driver.py"))],
        capture_output=True,
        text=True,
        timeout=150,
        env=headless_env(),
        cwd=ROOT,
    )
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert lines, proc.stdout[-2000:] + proc.stderr[-3000:]
    out: dict[str, Any] = json.loads(lines[-1][7:])
    assert not out.get("script_error"), proc.stderr[-3000:]
    return out


def test_ticket_flow_on_screen(ui_run: dict[str, Any]) -> None:
    assert ui_run["home_has_entries"]
    assert ui_run["offer_shown"] and ui_run["elderly_priority_offered"]
    assert ui_run["masked_on_screen"]
    assert ui_run["ticket_shown"] and ui_run["spoken"]
    assert ui_run["screen_leaks_during"] == []  # masked on screen
    assert ui_run["state_has_person_during"]


def test_nothing_of_the_last_person_remains(ui_run: dict[str, Any]) -> None:
    assert ui_run["address_visible_while_typing"]  # the search can find it when it's there
    assert ui_run["leaks_after_flow_end"] == []
    assert ui_run["home_after_end"]
    assert ui_run["countdown_visible"]
    assert ui_run["leaks_after_timeout"] == []
    assert ui_run["home_after_timeout"]


def test_offline_keeps_self_service(ui_run: dict[str, Any]) -> None:
    assert ui_run["offline_banner"] and ui_run["help_queued_shown"]
    assert ui_run["outbox_pending"] == 1


def test_kiosk_behaviour(ui_run: dict[str, Any]) -> None:
    assert ui_run["escape_ignored"]


def test_audit_passes() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "kiosk",
            "audit",
            "--config",
            str(ROOT / "tests/kiosk/data/kiosk-test.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=150,
        env=headless_env(),
        cwd=ROOT,
    )
    start = proc.stdout.index("{")
    report = json.loads(proc.stdout[start:])
    assert proc.returncode == 0, report["failures"]
    assert report["modes"]["elderly"]["min_text_sp"] >= 32
    assert report["modes"]["elderly"]["min_target_dp"] >= 60
    assert report["modes"]["normal"]["min_target_dp"] >= 44
    assert report["modes"]["elderly"]["min_contrast"] >= 7


# --------------------------------------------------------------------------------------
# The app on the devices' simulators (real wire protocols) against a real controller.
def _dialect_pack(folder: Path) -> None:
    """A stand-in dialect pack: one short tone per token (same WAV format for all)."""
    import math
    import struct
    import wave

    from devices.voice.pack import ALL_TOKENS

    folder.mkdir(parents=True)
    clips = {}
    for i, token in enumerate(ALL_TOKENS):
        name = f"t{i:02d}.wav"
        with wave.open(str(folder / name), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(
                b"".join(
                    struct.pack("<h", int(8000 * math.sin(n * (i + 3) / 9))) for n in range(400)
                )
            )
        clips[token] = name
    (folder / "pack.json").write_text(
        json.dumps({"name": "test-dialect", "clips": clips}, ensure_ascii=False)
    )


def _errors(stderr: str) -> str:
    return "\n".join(x for x in stderr.splitlines() if "[INFO" not in x)[-4000:]


def test_real_devices_printer_fault_and_controller_alert(
    tmp_path: Path, controller: Any, broker: Any, client_factory: Any
) -> None:
    import threading

    from hall_contract.messages import Alert, DeviceReport

    alerts: list[Alert] = []
    reports: list[DeviceReport] = []
    got_alert = threading.Event()

    def on_alert(_topic: str, payload: bytes, _msg: Any) -> None:
        a = Alert.model_validate_json(payload)
        alerts.append(a)
        if a.kind == "device" and "printer" in a.message:
            got_alert.set()

    def on_report(_topic: str, payload: bytes, _msg: Any) -> None:
        if payload:
            reports.append(DeviceReport.model_validate_json(payload))

    watcher = client_factory("a01")
    assert watcher.subscribe(controller.topics.alerts, on_alert)
    assert watcher.subscribe(controller.topics.device("k01", "printer"), on_report)
    _dialect_pack(tmp_path / "dialect")
    s = broker.settings
    proc = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("ui_devices_driver.py")),
            f"mqtt://{s.host}:{s.port}",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=150,
        env=headless_env(),
        cwd=ROOT,
    )
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert lines, proc.stdout[-2000:] + proc.stderr[-3000:]
    out: dict[str, Any] = json.loads(lines[-1][7:])
    assert not out["script_error"], f"{out['script_error']}\n{out}\n{_errors(proc.stderr)}"
    # card read over the SAM protocol → identity → elderly offer → ticket
    assert out["offer_shown"] and out["masked_on_screen"] and out["elderly_priority_offered"]
    assert out["ticket_step"] == "done" and out["printed"] is True
    assert out["number_on_screen"]
    # ESC/POS bytes → virtual printer: number and masked name, never the full name or ID
    assert out["receipt_has_number"] and out["receipt_has_masked_name"]
    assert out["receipt_leaks"] == []
    assert out["receipt_qr"] and out["receipt_qr"][0].startswith("http")
    # elderly mode read the result aloud, then the dialect pack's clips; no overlap
    assert out["spoken_number"] and out["voice_errors"] == []
    assert out["dialect_clips"] and not out["voice_overlap"]
    assert out["leaks_after_end"] == []
    # out of paper: QR alternative on screen, fault published and alerted
    assert out["fault_printed"] is False and out["printer_state"] == "fault"
    assert out["qr_shown"] and out["print_failed_msg"] and out["number_shown_on_fault"]
    assert got_alert.wait(10), [a.message for a in alerts]
    alert = next(a for a in alerts if a.kind == "device" and "printer" in a.message)
    assert alert.level.value == "red" and "paper out" in alert.message
    assert any(r.state == "fault" and r.device == "printer" for r in reports)
    assert ELDER_NAME not in alert.message
