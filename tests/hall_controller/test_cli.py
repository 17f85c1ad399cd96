"""``python -m hall_controller``: check-config, window client, gen-auth, run, demo."""

from __future__ import annotations

import json
import re
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from hall_contract.client import BrokerSettings, HallClient
from hall_contract.topics import Topics
from hall_controller.broker import Mosquitto
from hall_controller.cli import load_config, resolve_window
from hall_controller.service import Controller
from tests.conftest import ROOT

MINIMAL = ROOT / "config" / "hall-minimal.yaml"


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hall_controller", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_check_config_ok_and_broken() -> None:
    ok = run_cli("check-config", str(ROOT / "config" / "hall.yaml"))
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stdout and "yunxi" in ok.stdout
    bad_file = ROOT / "config" / "broken" / "window-unknown-queue.yaml"
    bad = run_cli("check-config", str(bad_file))
    assert bad.returncode == 1
    assert f"{bad_file}:" in bad.stderr and "windows.1.queues.1" in bad.stderr
    assert "unknown queue" in bad.stderr
    missing = run_cli("check-config", "/nonexistent/hall.yaml")
    assert missing.returncode == 1 and "cannot read" in missing.stderr


def test_window_client_calls_and_finishes(
    controller: Controller, broker: Mosquitto, client_factory
) -> None:
    kiosk = client_factory("k01", role="kiosk")
    assert kiosk.request("ticket.issue", {"service": "id_card_renew"}).ok
    base = ["window", "--config", str(MINIMAL), "--broker-url", broker.url, "--window", "win01"]
    called = run_cli(*base, "call-next")
    assert called.returncode == 0, called.stderr
    assert "A001" in called.stdout and "called" in called.stdout
    again = run_cli(*base, "call-next")
    assert again.returncode == 1 and "A001" in again.stderr  # finish it first
    fin = run_cli(*base, "--json", "finish", "--case")
    assert fin.returncode == 0, fin.stderr
    reply = json.loads(fin.stdout)
    assert reply["ok"] and reply["result"]["ticket"]["state"] == "finished"
    assert reply["result"]["case"]["case_no"].startswith("MINI")
    unknown = run_cli("window", "--config", str(MINIMAL), "--window", "win99", "status")
    assert unknown.returncode == 2 and "win01" in unknown.stderr


def test_window_client_says_when_the_controller_is_away(broker: Mosquitto) -> None:
    r = run_cli(
        "window",
        "--config",
        str(MINIMAL),
        "--broker-url",
        broker.url,
        "--window",
        "win01",
        "--timeout",
        "1",
        "status",
    )
    assert r.returncode == 3 and "did not answer" in r.stderr


def test_gen_auth_writes_passwd_acl_and_private_passwords(tmp_path: Path) -> None:
    r = run_cli(
        "gen-auth", "--config", str(ROOT / "config" / "hall.yaml"), "--out", str(tmp_path / "auth")
    )
    assert r.returncode == 0, r.stderr
    passwd = (tmp_path / "auth" / "passwd").read_text()
    assert "k01:$7$" in passwd and "controller:$" in passwd  # hashed, not plain
    pw = tmp_path / "auth" / "passwords" / "k01"
    assert oct(pw.stat().st_mode & 0o777) == "0o600"
    assert pw.read_text().strip() not in passwd
    acl = (tmp_path / "auth" / "acl").read_text()
    assert "pattern write hall/yunxi/t/%u/req/+" in acl
    assert "pattern read hall/yunxi/t/%u/reply" in acl


def test_run_starts_its_own_broker_when_none_is_configured(tmp_path: Path) -> None:
    cfg = yaml.safe_load(MINIMAL.read_text(encoding="utf-8"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg["broker"] = {"port": port}
    cfg_file = tmp_path / "hall.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hall_controller",
            "run",
            "--config",
            str(cfg_file),
            "--data-dir",
            str(tmp_path / "data"),
            "--clock-start",
            "2026-11-18T10:00:00+08:00",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("controller ready"):
                break
        assert any(f"mosquitto listening on 127.0.0.1:{port}" in x for x in lines), lines
        # the data dir (store, seal key, broker files) is the controller's user's only
        assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
        for name in ("hall.db", "secrets/seal.key"):
            assert stat.S_IMODE((tmp_path / "data" / name).stat().st_mode) == 0o600, name
        conf = (tmp_path / "data" / "mosquitto" / "mosquitto.conf").read_text()
        assert "set_tcp_nodelay true" in conf and "max_queued_messages 100000" in conf
        with HallClient(Topics("mini"), "k01", BrokerSettings(port=port), role="kiosk") as k:
            r = k.request("ticket.issue", {"service": "id_card_renew"})
            assert r.ok and r.result is not None and r.result.number == "A001"
    finally:
        proc.terminate()
        assert proc.wait(15) == 0


def test_demo_runs_the_hall(tmp_path: Path) -> None:
    r = run_cli("demo", "--no-kiosk", "--duration", "5", "--speed", "60", timeout=90)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "取号" in r.stdout and "叫号" in r.stdout and "正在呼叫" in r.stdout
    # the web server came up (the demo waits for it to reach the controller) and its
    # pages are announced, a phone page with a real ticket's token among them
    assert "/screen" in r.stdout and "/counter" in r.stdout and "/rate/win01" in r.stdout
    assert re.search(r"/q/[0-9a-f]{16}", r.stdout), r.stdout[-2000:]
    assert "24 小时开放" in r.stdout
    assert "demo over" in r.stdout


def test_admin_books_an_appointment_the_kiosk_can_check_in(
    controller: Controller, broker: Mosquitto, client_factory
) -> None:
    base = ["admin", "--config", str(MINIMAL), "--broker-url", broker.url]
    r = run_cli(
        *base,
        "book-appointment",
        "--code",
        "YY20261118001",
        "--service",
        "id_card_renew",
        "--start",
        "2026-11-18T10:15:00",
        "--minutes",
        "30",
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["queue"] == "general"
    kiosk = client_factory("k01", role="kiosk")
    t = kiosk.request("appointment.checkin", {"code": "YY20261118001"})
    assert t.ok and t.result is not None and t.result.priority == "appointment"
    # a kiosk may not do what only the admin console may
    forged = kiosk.request(
        "admin.book_appointment",
        {"code": "X1", "service": "id_card_renew", "start": 1.0, "end": 2.0},
    )
    assert not forged.ok and forged.error is not None and forged.error.code == "forbidden"
    bad = run_cli(
        *base,
        "book-appointment",
        "--code",
        "Z",
        "--service",
        "nope",
        "--start",
        "2026-11-18T10:15:00",
    )
    assert bad.returncode == 1 and "nope" in bad.stderr


def test_admin_moves_a_case_on(controller: Controller, broker: Mosquitto, client_factory) -> None:
    kiosk = client_factory("k01", role="kiosk")
    window = client_factory("w01", role="window")
    assert kiosk.request("ticket.issue", {"service": "id_card_renew"}).ok
    window.request("window.call_next", {})
    fin = window.request("window.finish", {"accept_case": True})
    assert fin.result is not None
    case_no = fin.result.case.case_no
    r = run_cli(
        "admin", "--config", str(MINIMAL), "--broker-url", broker.url, "case-state", case_no, "done"
    )
    assert r.returncode == 0, r.stderr
    found = kiosk.request("case.lookup", {"case_no": case_no})
    assert found.result is not None and found.result.cases[0].state == "done"


def test_command_reaches_the_terminal_once_and_reports(broker: Mosquitto, client_factory) -> None:
    seen: list[dict[str, object]] = []
    kiosk = client_factory("k01", role="kiosk")

    def on_cmd(topic: str, payload: bytes, msg: object) -> None:
        cmd = json.loads(payload)
        seen.append(cmd)
        kiosk.publish(
            "hall/mini/t/k01/cmdres",
            json.dumps({"id": cmd["id"], "ok": True, "message": "page printed"}),
        )

    kiosk.subscribe("hall/mini/t/k01/cmd", on_cmd)
    r = run_cli(
        "command",
        "--config",
        str(MINIMAL),
        "--broker-url",
        broker.url,
        "--terminal",
        "k01",
        "print_test_page",
        "--ttl",
        "60",
    )
    assert r.returncode == 0, r.stderr
    assert "k01 print_test_page: ok page printed" in r.stdout
    assert len(seen) == 1 and seen[0]["cmd"] == "print_test_page"
    assert float(seen[0]["expires_at"]) > 0  # type: ignore[arg-type]
    away = run_cli(
        "command",
        "--config",
        str(MINIMAL),
        "--broker-url",
        broker.url,
        "--terminal",
        "k09",
        "restart",
        "--wait",
        "1",
    )
    assert away.returncode == 3 and "expires" in away.stderr


# ------------------------------------------------------------------ window client
def window_cli(broker: Mosquitto, window: str, *op: str) -> tuple[int, dict[str, Any], str]:
    """Run one window operation with ``--json``: (exit code, the reply, stderr)."""
    r = run_cli(
        "window",
        "--config",
        str(MINIMAL),
        "--broker-url",
        broker.url,
        "--window",
        window,
        "--json",
        *op,
    )
    reply = json.loads(r.stdout) if r.stdout.strip() else {}
    return r.returncode, reply, r.stderr


def test_window_by_number_as_staff_say_it(controller: Controller, broker: Mosquitto) -> None:
    # the issue's own example: `window --window 3 call-next` in a hall of win01, win02 ...
    code, reply, err = window_cli(broker, "2", "status")
    assert code == 0, err
    assert reply["result"]["window"] == "win02" and reply["result"]["name"] == "2号窗口"
    code, reply, err = window_cli(broker, "1号窗口", "status")  # its name works too
    assert code == 0 and reply["result"]["window"] == "win01", err
    unknown = run_cli("window", "--config", str(MINIMAL), "--window", "7", "status")
    assert unknown.returncode == 2
    assert "no window number 7; windows: win01 (1号窗口), win02 (2号窗口)" in unknown.stderr


def test_window_numbers_in_the_county_hall_and_ambiguity(tmp_path: Path) -> None:
    hall = load_config(str(ROOT / "config" / "hall.yaml"))
    assert [resolve_window(hall, n) for n in ("3", "03", "1", "10", "16")] == [
        "win03",
        "win03",
        "win01",
        "win10",
        "win16",
    ]
    assert resolve_window(hall, "9号一件事专窗") == "win09"
    data = yaml.safe_load(MINIMAL.read_text(encoding="utf-8"))
    data["windows"].append({"id": "desk", "name": "2号服务台", "queues": ["general"]})
    data["windows"].append({"id": "win3", "name": "三号窗口", "queues": ["general"]})
    cfg_file = tmp_path / "hall.yaml"
    cfg_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    cfg = load_config(str(cfg_file))
    assert resolve_window(cfg, "3") == "win3"
    with pytest.raises(ValueError, match="window number 2 is ambiguous: it could be win02, desk"):
        resolve_window(cfg, "2")
    r = run_cli("window", "--config", str(cfg_file), "--window", "2", "call-next")
    assert r.returncode == 2 and "ambiguous" in r.stderr and "give the window id" in r.stderr


def test_window_recall_no_show_and_requeue_by_ticket_number(
    controller: Controller, broker: Mosquitto, client_factory
) -> None:
    kiosk = client_factory("k01", role="kiosk")
    for _ in range(2):
        assert kiosk.request("ticket.issue", {"service": "id_card_renew"}).ok
    code, reply, err = window_cli(broker, "win01", "call-next")
    assert code == 0 and reply["result"]["number"] == "A001", err
    code, reply, err = window_cli(broker, "win01", "recall", "A001")  # by its number
    assert code == 0, err
    assert reply["result"]["number"] == "A001" and reply["result"]["state"] == "called"
    code, reply, err = window_cli(broker, "win01", "recall")  # the window's current ticket
    assert code == 0 and reply["result"]["number"] == "A001", err
    recalls = [h for h in reply["result"]["history"] if h["what"] == "recalled"]
    assert len(recalls) == 2
    code, reply, err = window_cli(broker, "win01", "no-show")
    assert code == 0 and reply["result"]["state"] == "skipped", err
    code, reply, err = window_cli(broker, "win01", "requeue", "A001")  # came back in time
    assert code == 0, err
    assert reply["result"]["number"] == "A001" and reply["result"]["state"] == "waiting"
    # A001 re-enters behind A002, the one ticket waiting
    code, reply, err = window_cli(broker, "win01", "call-next")
    assert code == 0 and reply["result"]["number"] == "A002", err
    code, reply, err = window_cli(broker, "win01", "no-show", "--requeue")
    assert code == 0, err
    assert reply["result"]["number"] == "A002" and reply["result"]["state"] == "waiting"
    code, reply, err = window_cli(broker, "win01", "call-next")
    assert code == 0 and reply["result"]["number"] == "A001", err
    # A002 is waiting, not skipped: nothing to re-queue
    code, reply, err = window_cli(broker, "win01", "requeue", "A002")
    assert code == 1 and not reply["ok"] and "A002" in reply["error"]["message"]


def test_window_transfer_pause_and_resume(
    controller: Controller, broker: Mosquitto, client_factory
) -> None:
    kiosk = client_factory("k01", role="kiosk")
    assert kiosk.request("ticket.issue", {"service": "id_card_renew"}).ok
    code, reply, err = window_cli(broker, "win01", "call-next")
    assert code == 0 and reply["result"]["number"] == "A001", err
    code, reply, err = window_cli(broker, "win01", "transfer", "--to-window", "win02")
    assert code == 0, err
    assert reply["result"]["state"] == "waiting" and reply["result"]["priority"] == "transfer"
    code, reply, err = window_cli(broker, "win02", "call-next")
    assert code == 0 and reply["result"]["number"] == "A001", err
    assert reply["result"]["window"] == "win02"
    code, reply, err = window_cli(broker, "win02", "transfer", "--to-queue", "social")
    assert code == 0, err
    assert reply["result"]["queue"] == "social" and reply["result"]["state"] == "waiting"
    code, reply, err = window_cli(broker, "win02", "pause", "--reason", "lunch")
    assert code == 0, err
    assert reply["result"]["paused"] is True and reply["result"]["pause_reason"] == "lunch"
    code, reply, err = window_cli(broker, "win02", "call-next")
    assert code == 1 and not reply["ok"]  # a paused window calls nobody
    code, reply, err = window_cli(broker, "win02", "resume")
    assert code == 0 and reply["result"]["paused"] is False, err
    code, reply, err = window_cli(broker, "win02", "call-next")
    assert code == 0, err
    assert reply["result"]["number"] == "A001" and reply["result"]["queue"] == "social"
    # the plain-text output a person reads
    plain = run_cli(
        "window", "--config", str(MINIMAL), "--broker-url", broker.url, "--window", "2", "status"
    )
    assert plain.returncode == 0 and '"current": "A001"' in plain.stdout
