"""The real Kivy app, headless, in a subprocess driven by ui_driver.py."""

from __future__ import annotations

import itertools
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
    assert ui_run["escape_ignored"] and ui_run["close_ignored"]
    cfg = ui_run["kivy_config"]
    assert cfg["exit_on_escape"] == "0" and "disable_multitouch" in cfg["mouse"]
    assert cfg["rotation"] == "0"


def test_fullscreen_no_cursor_rotation_from_config() -> None:
    """boot() as `run` calls it on a kiosk (fullscreen, rotated panel)."""
    code = (
        "from kiosk.ui.boot import boot; boot(fullscreen=True, rotation=90, headless=True);"
        "from kivy.config import Config as C;"
        "print('CFG', C.get('graphics','fullscreen'), C.get('graphics','show_cursor'),"
        " C.get('graphics','borderless'), C.get('graphics','rotation'), C.get('kivy','exit_on_escape'),"
        " C.get('input','mouse'))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=headless_env(), cwd=ROOT
    )
    line = next(x for x in proc.stdout.splitlines() if x.startswith("CFG"))
    assert line.split() == ["CFG", "auto", "0", "1", "90", "0", "mouse,disable_multitouch"]


def test_home_shows_hours_and_the_live_queue(ui_run: dict[str, Any]) -> None:
    home = ui_run["home_info"]
    assert "今日办公时间 08:30–12:00 14:00–17:30" in home  # Monday in the test hall
    assert "当前等候 7 人" in home and "社保医保：等候 5 人" in home
    assert "当前等候 9 人" in ui_run["home_info_updated"]  # a new status re-renders home
    assert "当前等候" not in ui_run["home_info_offline"]  # no stale figures offline
    assert "暂时连不上大厅系统" in ui_run["home_info_offline"]
    assert ui_run["home_entry_min_dp"] >= 60  # big entries (normal mode)
    # every entry, rating among them, on the one page in elderly mode too (was 4)
    assert ui_run["home_entries_elderly"] == 6
    assert ui_run["elderly_btn_sp"] >= 30  # the 长辈模式 button is large


def test_day_and_night_on_screen(ui_run: dict[str, Any]) -> None:
    assert "窗口下次开放：明天 9月15日（周一）08:30" in ui_run["night_home"]
    assert "今日（周日）窗口不办公" in ui_run["night_home"]
    assert "取号（非办公时间）" in ui_run["night_home"]
    assert not ui_run["night_ticket_enabled"] and ui_run["day_ticket_enabled"]


def test_elderly_mode_on_screen(ui_run: dict[str, Any]) -> None:
    assert ui_run["elderly_from_button"] and ui_run["elderly_help_button"]
    assert ui_run["more_time_prompt"] and ui_run["more_time_spoken"]
    # Spoken once, not again with every second of the countdown.
    assert ui_run["countdown_ticks_seen"] and ui_run["spoken_during_countdown"] == []
    assert ui_run["after_more_time"] and ui_run["attract_spoken"]


def test_diagnostics_long_press_and_pin(ui_run: dict[str, Any]) -> None:
    assert not ui_run["short_press_pin"] and ui_run["long_press_pin"]
    assert ui_run["diag"] == ["打印机", "网络", "软件版本", "大厅配置"]
    assert ui_run["diag_english_words"] == []  # item 10: no English state words in Chinese


def test_clock_start_on_the_command_line(tmp_path: Path) -> None:
    """``python -m kiosk run --clock-start``: a Sunday 20:00 → closed, next opening shown,
    ticketing hidden (the kiosk's own clock; the broker is unreachable here)."""
    cfg = tmp_path / "kiosk.yaml"
    cfg.write_text(
        json.dumps(
            {
                "terminal_id": "k01",
                "hall_config": str(ROOT / "tests" / "kiosk" / "data" / "hall-test.yaml"),
                "broker_url": "mqtt://127.0.0.1:9",
                "data_dir": str(tmp_path / "data"),
                "devices": {d: {"driver": "none"} for d in ("idcard", "scanner", "printer")}
                | {"voice": {"driver": "log"}},
                "voice": {"pack": None, "dialect": None},
            }
        )
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "kiosk",
            "run",
            "--config",
            str(cfg),
            "--headless",
            "--exit-when-ready",
            "--clock-start",
            "2025-09-14T20:00:00+08:00",
        ],
        capture_output=True,
        text=True,
        timeout=90,
        env=headless_env(),
        cwd=ROOT,
    )
    lines = [x for x in proc.stdout.splitlines() if x.startswith("HOME ")]
    assert lines, proc.stdout[-2000:] + _errors(proc.stderr)
    home = json.loads(lines[-1][5:])
    assert home["clock"].startswith("2025-09-14T20:00")
    texts = "\n".join(home["texts"])
    assert "窗口下次开放：明天 9月15日（周一）08:30" in texts and "取号（非办公时间）" in texts
    assert "今日（周日）窗口不办公" in texts and "自助服务照常可用：办事指南" in texts
    assert "正在办公" not in texts


@pytest.mark.timeout(420)
def test_audit_passes() -> None:
    """The whole audit — every state × both modes × every language, widget properties and
    the drawn frame's pixels — passes, and every one of its checks measured something."""
    from kiosk.__main__ import sample_states
    from kiosk.i18n import LANGS

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
        timeout=400,
        env=headless_env(),
        cwd=ROOT,
    )
    start = proc.stdout.index("{")
    report = json.loads(proc.stdout[start:])
    assert report["script_error"] is None
    assert proc.returncode == 0, report["failures"]
    assert report["visits"] == len(sample_states()) * 2 * len(LANGS)
    for check in (
        "targets",
        "boundary",
        "boundary_pressed",
        "boundary_disabled",
        "disabled",
        "centring",
        "checkbox",
        "steps",
        "howto",
        "qr",
        "icons",
        "bold",
        "lines",
        "scripts",
        "main_action",
        "stability",
    ):
        assert report["checks"].get(check, 0) > 0, (check, report["checks"])
    assert report["limits"]["target_dp"]["normal"] == 60  # NORMAL.min_target_dp
    assert report["modes"]["elderly"]["min_text_sp"] >= 32
    assert report["modes"]["elderly"]["min_target_dp"] >= 60
    assert report["modes"]["normal"]["min_target_dp"] >= 60  # a public kiosk, not a phone
    assert report["modes"]["elderly"]["min_contrast"] >= 7


def test_screenshots_show_each_state_not_the_one_before(tmp_path: Path) -> None:
    """``python -m kiosk screenshots`` draws every screen; a state shown on the same
    screen as the one before it (help → help done) came out as the one before."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "kiosk",
            "screenshots",
            str(tmp_path),
            "--config",
            str(ROOT / "tests/kiosk/data/kiosk-test.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=150,
        env=headless_env(),
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    shots = {p.name: p.read_bytes() for p in tmp_path.glob("*.png")}
    assert len(shots) == json.loads(proc.stdout.strip().splitlines()[-1])["screenshots"] > 40
    # every image differs from the one taken before it: none came out a screen late
    from kiosk.__main__ import sample_states

    names = [name for name, _setup in sample_states()]
    late = []
    for mode in ("normal", "elderly"):
        order = [f"{n}-{mode}-zh.png" for n in names]
        late += [b for a, b in itertools.pairwise(order) if shots[a] == shots[b]]
    assert late == []


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

    from hall_contract.messages import Alert, DeviceReport, read

    alerts: list[Alert] = []
    reports: list[DeviceReport] = []
    got_alert = threading.Event()

    def on_alert(_topic: str, payload: bytes, _msg: Any) -> None:
        a = read(Alert, payload)
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
    assert alert.level == "red" and "paper out" in alert.message
    assert any(r.state == "fault" and r.device == "printer" for r in reports)
    assert ELDER_NAME not in alert.message


# --------------------------------------------------------------------------------------
# Every citizen flow, by pressing the buttons on screen, against a real controller.
def _prepare_controller(ctl: Any, client_factory: Any) -> dict[str, Any]:
    """Cases (one yellow, one red), finished tickets to rate and appointments, made the way
    the hall makes them: a ticket with the person's citizen key taken at another kiosk
    (k02), served and finished at window win01 with a case opened; appointments booked
    from the admin terminal."""
    from hall_contract import messages as m
    from kiosk.privacy import citizen_key
    from tests.kiosk.ui_devices_driver import ID_NUMBER
    from tests.kiosk.ui_flows_driver import SECRET

    key = citizen_key(SECRET, ID_NUMBER)
    admin = client_factory("a01", hall=ctl.config.hall.id)
    kiosk2 = client_factory("k02", hall=ctl.config.hall.id)
    window = client_factory("w01", hall=ctl.config.hall.id)

    def ok(client: Any, op: str, body: dict[str, Any]) -> Any:
        reply = client.request(op, {"id": client.new_id(), **body}, timeout=10)
        assert reply.ok, (op, reply.error)
        assert isinstance(reply.result, m.OPERATIONS[op].result), (op, reply.result)
        return reply.result

    def served_case() -> tuple[str, str]:
        t = ok(kiosk2, "ticket.issue", {"service": "ss_proof_print", "citizen_key": key})
        ok(window, "window.call_next", {})
        ok(window, "window.start", {"ticket": t.ticket_id})
        fin = ok(window, "window.finish", {"ticket": t.ticket_id, "accept_case": True})
        assert fin.case is not None and t.token is not None
        return fin.case.case_no, t.token

    red_case, token_bad = served_case()  # promised today: red once the day has passed
    ctl.clock_control.advance(minutes=24 * 60)  # Thursday 10:00
    yellow_case, token_good = served_case()  # promised today: yellow
    now = ctl.clock_control()
    ok(
        admin,
        "admin.book_appointment",
        {"code": "APPT0001", "service": "id_card_renew", "start": now - 300, "end": now + 1500},
    )
    ok(
        admin,
        "admin.book_appointment",
        {
            "code": "APPT0002",
            "service": "id_card_renew",
            "start": now - 300,
            "end": now + 1500,
            "citizen_key": key,
        },
    )
    return {
        "now": now,
        "case_red": red_case,
        "case_yellow": yellow_case,
        "token_bad": token_bad,
        "token_good": token_good,
        "appt_code": "APPT0001",
    }


def test_every_flow_pressed_on_screen_against_the_controller(
    tmp_path: Path, controller_factory: Any, broker: Any, client_factory: Any
) -> None:
    import threading

    from hall_contract.messages import Alert, read
    from tests.conftest import load_hall

    ctl = controller_factory(load_hall("hall.yaml"))
    prep = _prepare_controller(ctl, client_factory)
    alerts: list[Alert] = []
    got = threading.Event()

    def on_alert(_topic: str, payload: bytes, _msg: Any) -> None:
        alerts.append(read(Alert, payload))
        if sum(a.kind in ("helper", "unresolved") for a in alerts) >= 3:
            got.set()

    watcher = client_factory("a01", hall=ctl.config.hall.id)
    assert watcher.subscribe(ctl.topics.alerts, on_alert)
    s = broker.settings
    proc = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("ui_flows_driver.py")),
            f"mqtt://{s.host}:{s.port}",
            str(tmp_path / "kiosk"),
            json.dumps(prep),
        ],
        capture_output=True,
        text=True,
        timeout=170,
        env=headless_env(),
        cwd=ROOT,
    )
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert lines, proc.stdout[-2000:] + _errors(proc.stderr)
    out: dict[str, Any] = json.loads(lines[-1][7:])
    assert not out["script_error"], f"{out['script_error']}\n{_errors(proc.stderr)}"
    # home: the hall's name, hours, big entries
    assert "云溪县政务服务中心" in out["home"] and "正在办公" in out["home"]
    # today's hours in words and the controller's live waiting figure (retained status)
    assert "今日办公时间 09:00–12:00 13:30–" in out["home"]
    waiting = out["status_waiting"]
    assert isinstance(waiting, dict) and waiting
    assert f"当前等候 {sum(waiting.values())} 人" in out["home"]
    for entry in ("办事指南", "取号", "预约签到", "办件查询", "好差评", "免费邮寄", "帮办代办"):
        assert entry in out["home"]
    # catalogue: "sfz" typed on the keyboard finds the ID card services; the 一次性告知
    assert any("居民身份证换领" in x for x in out["search_results"])
    guide = out["guide_text"]
    for part in ("所需材料", "必交）", "收费", "办理时限", "办理窗口"):
        assert part in guide, part
    assert "居民身份证换领" in out["notice_receipt"]
    # bundle: one merged, de-duplicated list, printed
    bundle = out["bundle_text"]
    assert "包含事项" in bundle and bundle.count("父母双方居民身份证（") == 1
    assert "出生一件事" in out["bundle_receipt"]
    # ticket by e-licence scan for the bundle; by ID card with senior priority offered
    assert out["bundle_ticket"]["number"] and "前面还有" in out["bundle_ticket_screen"]
    assert not any("老年人" in x for x in out["prio_after_scan"])  # no age known
    assert "长辈模式" in out["offer_text"] and "欧**英" in out["ticket_prio_screen"]
    assert ELDER_NAME not in out["ticket_prio_screen"]
    assert out["id_ticket"]["priority"] == "elderly" and out["id_ticket_qr"]
    assert out["id_ticket"]["number"] in out["id_ticket_screen"]
    assert "预计等候" in out["id_ticket_screen"] and out["id_ticket"]["number"] in out["id_receipt"]
    assert out["leaks_after_ticket"] == []
    # the ticket's service picked by category (一件事 bundles first) and by search, no paging
    cats = out["ticket_categories"]
    assert "一件事一次办" in cats and "公安户政" in cats and "搜索" in cats
    assert cats.index("一件事一次办") < cats.index("公安户政") and "下一页" not in cats
    assert "居民身份证补领" in out["ticket_category_screen"]
    assert "社会保障卡申领" not in out["ticket_category_screen"]  # another category's
    assert out["ticket_by_category"] == ["identify", "service", "id_card_renew"]
    assert out["ticket_search_results"][:2] == ["居民身份证换领", "居民身份证补领"]
    assert out["ticket_by_search"] == ["identify", "service", "id_card_reissue"]
    # appointment check-in by QR and by ID card
    assert "签到成功" in out["checkin_qr"] and "签到成功" in out["checkin_card"]
    # case lookup: barcode → yellow; ID card → both, yellow and red, in words
    assert prep["case_yellow"] in out["case_barcode"] and "黄牌" in out["case_barcode"]
    assert "社保缴费证明打印" in out["case_barcode"] and "已受理" in out["case_barcode"]
    assert prep["case_red"] in out["case_card"] and prep["case_yellow"] in out["case_card"]
    assert "红牌" in out["case_card"] and "黄牌" in out["case_card"]
    # rating: five levels; reasons only after a bad one; one per ticket
    assert len(out["rating_levels"]) == 5
    assert "✔ 等待时间长" in out["reason_marks"] and "□ 服务态度差" in out["reason_marks"]
    assert out["comment"] and "感谢您的评价" in out["rating_bad"]
    assert "感谢您的评价" in out["rating_good"] and "原因" not in out["rating_good"]
    assert "已经评价过" in out["rating_again"]
    # help: staff reached with this terminal's location, confirmed on screen
    assert "一楼大厅入口24小时自助服务区" in out["help_helper"]
    assert "一楼大厅入口24小时自助服务区" in out["help_unresolved"]
    assert got.wait(10), [a.message for a in alerts]
    kinds = {a.kind for a in alerts if "一楼大厅入口" in a.message}
    assert {"helper", "unresolved"} <= kinds
    # mailing form typed on the touch keyboard (ABC, pinyin, digits); masked when done
    assert out["mail_values"] == {"ref": prep["case_yellow"].lower(), "phone": "13800138000"}
    # the hall's case number, typed in lower case, goes to the controller as its case_no
    assert out["mail_ref_sent"] == [{"case_no": prep["case_yellow"], "ticket": None}]
    assert "已登记" in out["mail_done"] and "*" in out["mail_done"]
    assert out["leaks_after_mailing"] == []
    # the half-typed form: countdown, then nothing of the person anywhere
    assert out["countdown"] and out["home_after_timeout"] and out["session_empty"]
    assert out["leaks_after_timeout"] == []


def test_sigterm_stops_the_kiosk_cleanly(tmp_path: Path) -> None:
    """A service manager's SIGTERM stops the kiosk (window-close requests are ignored, and
    SDL would otherwise turn the signal into one)."""
    import signal as _signal

    env = dict(
        os.environ,
        SDL_VIDEODRIVER="offscreen",
        SDL_AUDIODRIVER="dummy",
        KIVY_HOME=str(tmp_path / "kivy"),
        KIVY_NO_ARGS="1",
        PYTHONPATH=str(ROOT),
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kiosk",
            "run",
            "--headless",
            "--broker-url",
            "mqtt://127.0.0.1:9",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:  # until the home screen is up and interactive
            lines.append(line)
            if line.startswith("READY"):
                break
        assert any(x.startswith("READY") for x in lines), lines[-5:]
        proc.send_signal(_signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
