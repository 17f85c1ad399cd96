"""The managed broker under attack and after accidents, on real mosquitto processes:

* a terminal cannot knock the controller off the broker by taking its client id;
* the controller's mosquitto is restarted when it dies, with the current passwords, and
  the staff hear of it;
* a mosquitto left behind by a killed controller is ended by the next one, which then
  serves with the new passwords; a port held by a foreign program is refused, never
  mistaken for our broker."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psutil
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from hall_contract.client import BrokerSettings, HallClient
from hall_contract.hallconfig import HallConfig
from hall_contract.topics import Topics
from hall_controller.broker import (
    CONTROLLER_USER,
    BrokerError,
    Mosquitto,
    free_port,
    write_auth,
)
from hall_controller.process import cmdline, is_running, spawn_controller, wait_gone
from tests.conftest import ROOT, ControllerFactory, load_hall

MINIMAL = ROOT / "config" / "hall-minimal.yaml"
CLOCK = "2026-11-18T10:00:00+08:00"


# ------------------------------------------------------------------ client-id takeover
@pytest.fixture
def auth_hall(tmp_path: Path) -> Iterator[tuple[Mosquitto, HallConfig, dict[str, str]]]:
    """hall-minimal with passwords and ACL, on a real mosquitto; its data_dir holds them."""
    cfg = load_hall(data_dir=str(tmp_path))
    cfg = cfg.model_copy(update={"broker": cfg.broker.model_copy(update={"auth": True})})
    creds = write_auth(cfg, tmp_path / "auth")
    mq = Mosquitto(
        tmp_path / "broker", passwd=tmp_path / "auth" / "passwd", acl=tmp_path / "auth" / "acl"
    ).start()
    yield mq, cfg, creds
    mq.stop()


def login(mq: Mosquitto, creds: dict[str, str], user: str) -> BrokerSettings:
    return BrokerSettings(host=mq.bind, port=mq.port, username=user, password=creds[user])


def count_disconnects(ctl: Any) -> list[str]:
    """Every time the controller's connection to the broker drops, from now on."""
    drops: list[str] = []
    inner = ctl.client.on_disconnect

    def on_disconnect(reason: str) -> None:
        drops.append(reason)
        inner(reason)

    ctl.client.on_disconnect = on_disconnect
    return drops


def test_a_terminal_cannot_take_over_the_controllers_connection(
    auth_hall: tuple[Mosquitto, HallConfig, dict[str, str]], tmp_path: Path
) -> None:
    """k01 logs in with its own valid password but the controller's client id, again and
    again: with the user name as client id it only ever replaces its own connection."""
    mq, cfg, creds = auth_hall
    ctl = ControllerFactory(mq, tmp_path)(cfg, settings=login(mq, creds, CONTROLLER_USER))
    try:
        assert ctl.client.client_id == "mini-controller"
        drops = count_disconnects(ctl)
        with HallClient(Topics("mini"), "w01", login(mq, creds, "w01"), role="window") as w01:
            assert w01.wait_connected(10), w01.last_error
            for i in range(15):
                c = mqtt.Client(
                    CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, client_id="mini-controller"
                )
                c.username_pw_set("k01", creds["k01"])
                connected = threading.Event()
                c.on_connect = lambda *a, ev=connected: ev.set()
                c.connect(mq.bind, mq.port)
                c.loop_start()
                try:
                    assert connected.wait(5), f"takeover attempt {i} did not connect"
                finally:
                    c.disconnect()
                    c.loop_stop()
                # the controller keeps answering, at once (no reconnect in between)
                r = w01.request("window.status", {}, timeout=3)
                assert r.ok, r.error
        assert drops == [], f"the controller lost its connection {len(drops)} times: {drops}"
        assert ctl.connected.is_set()
    finally:
        ctl.stop()


def test_the_command_tool_has_its_own_login(
    auth_hall: tuple[Mosquitto, HallConfig, dict[str, str]], tmp_path: Path
) -> None:
    """``python -m hall_controller command`` logs in as ``tools``, not as the controller
    (whose connection a second login would take over)."""
    mq, cfg, creds = auth_hall
    ctl = ControllerFactory(mq, tmp_path)(cfg, settings=login(mq, creds, CONTROLLER_USER))
    topics = Topics("mini")
    cfg_file = tmp_path / "hall.yaml"
    data = yaml.safe_load(MINIMAL.read_text(encoding="utf-8"))
    data["broker"] = {"auth": True, "port": mq.port}
    data["data_dir"] = str(tmp_path)
    cfg_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    try:
        drops = count_disconnects(ctl)
        with HallClient(topics, "k01", login(mq, creds, "k01"), role="kiosk") as k01:
            assert k01.wait_connected(10), k01.last_error
            seen: list[dict[str, Any]] = []

            def on_cmd(topic: str, payload: bytes, msg: object) -> None:
                cmd = json.loads(payload)
                seen.append(cmd)
                k01.publish(
                    topics.command_result("k01"),
                    json.dumps({"id": cmd["id"], "ok": True, "message": "page printed"}),
                )

            k01.subscribe(topics.command("k01"), on_cmd)
            r = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "hall_controller",
                    "command",
                    "--config",
                    str(cfg_file),
                    "--broker-url",
                    mq.url,
                    "--terminal",
                    "k01",
                    "print_test_page",
                ],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert r.returncode == 0, r.stderr
            assert "k01 print_test_page: ok page printed" in r.stdout
            assert len(seen) == 1
            assert k01.request("hall.status", {}).ok  # and the controller is still there
        assert drops == []
    finally:
        ctl.stop()


# ------------------------------------------------------------- the managed broker's life
def managed_hall(tmp_path: Path, *, auth: bool = True, port: int | None = None) -> Path:
    """A hall config (hall-minimal) whose controller manages its own mosquitto on a free
    loopback port, with its data in ``tmp_path/data``."""
    data = yaml.safe_load(MINIMAL.read_text(encoding="utf-8"))
    data["broker"] = {"port": port or free_port(), "auth": auth}
    data["data_dir"] = str(tmp_path / "data")
    tmp_path.mkdir(parents=True, exist_ok=True)
    cfg_file = tmp_path / "hall.yaml"
    cfg_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return cfg_file


def hall_login(cfg_file: Path, user: str) -> BrokerSettings:
    data = yaml.safe_load(cfg_file.read_text(encoding="utf-8"))
    pw = Path(data["data_dir"]) / "auth" / "passwords" / user
    return BrokerSettings(
        port=data["broker"]["port"], username=user, password=pw.read_text().strip()
    )


def broker_pid(data_dir: Path) -> int:
    """The running mosquitto started with the hall's generated config (found by its
    command line, not by our pid file, so these tests also tell of code without one)."""
    conf = str((data_dir / "mosquitto" / "mosquitto.conf").absolute())
    found = [
        p.pid
        for p in psutil.process_iter()
        if is_running(p.pid) and cmdline(p.pid)[-2:] == ["-c", conf]
    ]
    assert len(found) == 1, f"mosquitto processes with {conf}: {found}"
    return found[0]


def pid_file(data_dir: Path) -> int:
    return int(json.loads((data_dir / "mosquitto" / "mosquitto.pid").read_text())["pid"])


def stop_controller(proc: subprocess.Popen[str]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    return proc.wait(30)


def test_a_killed_broker_is_restarted_with_current_passwords_and_staff_alerted(
    tmp_path: Path,
) -> None:
    cfg_file = managed_hall(tmp_path)
    data = tmp_path / "data"
    proc = spawn_controller(cfg_file, None, data, clock_start=CLOCK)
    topics = Topics("mini")
    alerts: list[dict[str, Any]] = []
    alerted = threading.Event()

    def on_alert(topic: str, payload: bytes, msg: object) -> None:
        a = json.loads(payload)
        if a["kind"] == "broker":
            alerts.append(a)
            alerted.set()

    console = HallClient(topics, "a01", hall_login(cfg_file, "a01"), role="admin")
    try:
        console.start()
        console.subscribe(topics.alerts, on_alert)
        # once the controller answers the console, it has seen the console come online
        assert console.request("hall.status", {}, timeout=10).ok
        old = broker_pid(data)
        # k01's password is rotated on disk (as gen-auth --rotate does) while the broker
        # runs with the old one: the restarted broker must take the new one
        (data / "auth" / "passwords" / "k01").write_text("rotated-k01-password\n")
        os.kill(old, signal.SIGKILL)
        assert alerted.wait(30), "no broker alert: " + proc.output.text[-1500:]  # type: ignore[attr-defined]
        assert alerts[0]["level"] == "red" and "restart 1" in alerts[0]["message"]
        assert "killed by SIGKILL" in alerts[0]["message"]
        new = broker_pid(data)
        assert new != old and not is_running(old) and pid_file(data) == new
        out = proc.output  # type: ignore[attr-defined]
        assert out.wait_for(f"mosquitto pid {old}) died (killed by SIGKILL)", 5), out.text
        assert out.wait_for(f"the hall's broker is back: mosquitto pid {new}", 5), out.text
        with HallClient(topics, "k01", hall_login(cfg_file, "k01"), role="kiosk") as kiosk:
            assert kiosk.wait_connected(10), kiosk.last_error
            r = kiosk.request("ticket.issue", {"service": "id_card_renew"}, timeout=20)
            assert r.ok and r.result is not None and r.result.number == "A001"
    finally:
        console.stop()
        assert stop_controller(proc) == 0
    # a controller that stops ends its broker
    assert wait_gone([new], 10) == set()
    assert not (data / "mosquitto" / "mosquitto.pid").exists()


@pytest.mark.parametrize("pid_file_kept", [True, False], ids=["pid-file", "older-version"])
def test_the_next_controller_ends_the_broker_a_killed_one_left(
    tmp_path: Path, pid_file_kept: bool
) -> None:
    cfg_file = managed_hall(tmp_path)
    data = tmp_path / "data"
    first = spawn_controller(cfg_file, None, data, clock_start=CLOCK)
    orphan = broker_pid(data)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    assert is_running(orphan), "mosquitto did not outlive the controller (expected here)"
    if not pid_file_kept:  # left by a controller of a version that kept no pid file
        (data / "mosquitto" / "mosquitto.pid").unlink()
    # new passwords for everyone, while the orphan still has the old ones loaded
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "hall_controller",
            "gen-auth",
            "--config",
            str(cfg_file),
            "--out",
            str(data / "auth"),
            "--rotate",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    second = spawn_controller(cfg_file, None, data, clock_start=CLOCK)
    try:
        # a terminal with its new password is served (by a broker that knows it)
        k01 = HallClient(Topics("mini"), "k01", hall_login(cfg_file, "k01"), role="kiosk")
        with k01:
            assert k01.wait_connected(10), k01.last_error
            r2 = k01.request("ticket.issue", {"service": "id_card_renew"}, timeout=20)
            assert r2.ok, r2.error
        assert wait_gone([orphan], 5) == set()
        assert pid_file(data) == broker_pid(data) != orphan
        out = second.output  # type: ignore[attr-defined]
        assert f"ending mosquitto pid {orphan}, left running by a controller" in out.text
    finally:
        assert stop_controller(second) == 0


def test_a_second_controller_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    cfg_file = managed_hall(tmp_path, auth=False)
    data = tmp_path / "data"
    first = spawn_controller(cfg_file, None, data, clock_start=CLOCK)
    try:
        theirs = broker_pid(data)
        other_port = managed_hall(tmp_path / "second", auth=False)
        conf = yaml.safe_load(other_port.read_text(encoding="utf-8"))
        conf["data_dir"] = str(data)  # the same data directory, another port
        other_port.write_text(yaml.safe_dump(conf, allow_unicode=True), encoding="utf-8")
        r = subprocess.run(
            [sys.executable, "-m", "hall_controller", "run", "--config", str(other_port)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 1
        assert f"another hall controller (pid {first.pid}) is running with this data" in r.stderr
        assert "listening" not in r.stdout
        assert is_running(theirs) and broker_pid(data) == theirs  # left alone
    finally:
        assert stop_controller(first) == 0


@pytest.fixture
def foreign_listener() -> Iterator[int]:
    """A program that is not our broker, listening (and answering) on a loopback port."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    yield srv.getsockname()[1]
    srv.close()


def test_a_port_held_by_another_program_is_refused_not_mistaken(
    tmp_path: Path, foreign_listener: int
) -> None:
    port = foreign_listener
    # Mosquitto.start: its own process failed to bind, although the port answers
    with pytest.raises(BrokerError) as info:
        Mosquitto(tmp_path / "broker", port=port).start()
    assert f"cannot listen on 127.0.0.1:{port}: the port is taken by pid {os.getpid()}" in str(
        info.value
    )
    assert not (tmp_path / "broker" / "mosquitto.pid").exists()
    # `run` says so, with a non-zero exit code, and never "listening"
    cfg_file = managed_hall(tmp_path, port=port)
    r = subprocess.run(
        [sys.executable, "-m", "hall_controller", "run", "--config", str(cfg_file)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    assert "listening" not in r.stdout
    assert r.stderr.startswith(
        f"cannot start the hall's broker: cannot listen on 127.0.0.1:{port}: the port is "
        f"taken by pid {os.getpid()}: {' '.join(cmdline(os.getpid()))[:40]}"
    ), r.stderr
    assert "set broker.port" in r.stderr
