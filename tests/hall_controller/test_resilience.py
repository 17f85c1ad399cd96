"""Crashes and outages: kill -9 of the controller, broker restarts, ACL denial."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hall_contract.client import BrokerSettings, HallClient
from hall_contract.topics import Topics
from hall_controller.broker import CONTROLLER_USER, Mosquitto, write_auth
from hall_controller.process import spawn_controller
from tests.conftest import ROOT, issue_tls, load_hall

CLOCK = "2026-11-18T10:00:00+08:00"


def start_controller(broker: Mosquitto, data: Path) -> subprocess.Popen[str]:
    return spawn_controller(
        ROOT / "config" / "hall-minimal.yaml", broker.url, data, clock_start=CLOCK
    )


def issue_many(client: HallClient, n: int, out: list[Any], progress: threading.Semaphore) -> None:
    for i in range(n):
        # Retried every 50 ms: while the controller is down, retries pile up in its
        # broker session, so a controller without idempotency would issue duplicates.
        r = client.request(
            "ticket.issue",
            {"id": f"{client.terminal_id}-{i}", "service": "id_card_renew"},
            timeout=60,
            retry_every=0.05,
        )
        assert r.ok, r.error
        assert r.result is not None
        out.append(r.result)
        progress.release()


def test_kill_9_loses_and_duplicates_no_acknowledged_ticket(
    broker: Mosquitto, tmp_path: Path
) -> None:
    data = tmp_path / "ctl"
    proc = start_controller(broker, data)
    kiosks = [
        HallClient(Topics("mini"), f"k{i}", broker.settings, role="kiosk").start() for i in range(3)
    ]
    results: list[list[dict[str, Any]]] = [[] for _ in kiosks]
    progress = threading.Semaphore(0)
    per_kiosk = 60
    threads = [
        threading.Thread(target=issue_many, args=(k, per_kiosk, res, progress))
        for k, res in zip(kiosks, results, strict=True)
    ]
    for t in threads:
        t.start()
    try:
        for _ in range(40):  # 40 tickets acknowledged, then pull the plug mid-stream
            assert progress.acquire(timeout=30)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        acknowledged_before = sum(len(r) for r in results)
        proc = start_controller(broker, data)
        for t in threads:
            t.join(120)
            assert not t.is_alive()
        tickets = [t for res in results for t in res]
        numbers = [t.number for t in tickets]
        assert acknowledged_before >= 40
        assert len(tickets) == 3 * per_kiosk
        # nothing duplicated, nothing skipped: A001..A180 exactly once each
        assert sorted(numbers) == [f"A{i:03d}" for i in range(1, 3 * per_kiosk + 1)]
        # and the restarted controller knows every acknowledged ticket as it was told
        probe = kiosks[0]
        for t in tickets[::7]:
            r = probe.request("ticket.lookup", {"ticket": t.token})
            assert r.ok and r.result is not None and r.result.number == t.number
    finally:
        for k in kiosks:
            k.stop()
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


def test_broker_restart_clients_reconnect_and_retry(
    controller_factory, broker: Mosquitto, tmp_path: Path
) -> None:
    ctl = controller_factory()
    kiosk = HallClient(Topics("mini"), "k01", broker.settings, role="kiosk").start()
    try:
        first = kiosk.request("ticket.issue", {"service": "id_card_renew"})
        assert first.ok
        seq_before = ctl.terminals["k01"].seq
        broker.stop(kill=True)
        out: list[Any] = []
        t = threading.Thread(
            target=lambda: out.append(
                kiosk.request(
                    "ticket.issue", {"id": "during-outage", "service": "id_card_renew"}, timeout=60
                )
            )
        )
        t.start()  # asked while the broker is down: retried until it is back
        broker.start()
        t.join(90)
        assert out and out[0].ok and out[0].result.number == "A002"
        assert kiosk.wait_connected(30) and ctl.connected.wait(30)
        third = kiosk.request("ticket.issue", {"service": "id_card_renew"}, timeout=30)
        assert third.ok and third.result is not None and third.result.number == "A003"
        # the kiosk was born again with a higher sequence number
        assert ctl.terminals["k01"].seq > seq_before
        assert ctl.terminals["k01"].state == "online"
    finally:
        kiosk.stop()


@pytest.fixture
def auth_broker(tmp_path: Path):  # type: ignore[no-untyped-def]
    cfg = load_hall("hall.yaml")
    creds = write_auth(cfg, tmp_path / "auth")
    mq = Mosquitto(
        tmp_path / "abroker", passwd=tmp_path / "auth" / "passwd", acl=tmp_path / "auth" / "acl"
    ).start()
    yield mq, cfg, creds
    mq.stop()


def test_acl_denies_a_terminal_publishing_as_another(auth_broker, controller_factory) -> None:
    mq, cfg, creds = auth_broker

    def login(user: str) -> BrokerSettings:
        return BrokerSettings(host=mq.bind, port=mq.port, username=user, password=creds[user])

    ctl = controller_factory(cfg, settings=login(CONTROLLER_USER))
    topics = Topics(cfg.hall.id)
    k01 = HallClient(topics, "k01", login("k01"), role="kiosk").start()
    k02 = HallClient(topics, "k02", login("k02"), role="kiosk").start()
    try:
        assert k01.request("ticket.issue", {"service": cfg.services[0].id}).ok
        issued = len(ctl.engine.state.tickets)
        # k01 eavesdrops on k02's replies and publishes a request as k02
        overheard: list[bytes] = []
        k01.subscribe(topics.reply("k02"), lambda t, p, m: overheard.append(p))
        acks: list[Any] = []
        done = threading.Event()

        def on_publish(client: Any, userdata: Any, mid: int, rc: Any, props: Any) -> None:
            acks.append(rc)
            done.set()

        k01._client.on_publish = on_publish
        k01.publish(
            topics.request("k02", "ticket.issue"),
            b'{"id": "forged", "service": "%s"}' % cfg.services[0].id.encode(),
        )
        assert done.wait(5)
        assert acks[0].is_failure and "authori" in str(acks[0]).lower()
        # k02's own request works, and k01 overhears nothing of it
        assert k02.request("ticket.issue", {"service": cfg.services[0].id}).ok
        assert len(ctl.engine.state.tickets) == issued + 1  # the forged one never arrived
        assert overheard == []
    finally:
        k01.stop()
        k02.stop()


def test_wrong_password_is_refused(auth_broker) -> None:
    mq, _cfg, _creds = auth_broker
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, client_id="intruder")
    c.username_pw_set("k01", "not-the-password")
    result: list[Any] = []
    ev = threading.Event()
    c.on_connect = lambda cl, u, f, rc, p: (result.append(rc), ev.set())
    c.connect(mq.bind, mq.port)
    c.loop_start()
    try:
        assert ev.wait(5)
        assert result[0].is_failure
    finally:
        c.loop_stop()
        c.disconnect()


def test_tls_listener_carries_the_contract(tmp_path: Path, controller_factory) -> None:
    from hall_controller.broker import free_port

    tls = issue_tls(tmp_path / "tls", "127.0.0.1")
    tls_port = free_port()
    mq = Mosquitto(tmp_path / "tlsbroker", tls=tls, tls_port=tls_port).start()
    try:
        ctl = controller_factory(settings=mq.settings)  # plain listener, loopback only
        secure = BrokerSettings(host="127.0.0.1", port=tls_port, tls_ca=tls["ca"])
        with HallClient(Topics("mini"), "k01", secure, role="kiosk") as kiosk:
            assert kiosk.wait_connected(10)
            r = kiosk.request("ticket.issue", {"service": "id_card_renew"})
            assert r.ok and r.result is not None and r.result.number == "A001"
        assert len(ctl.engine.state.tickets) == 1
        # a client that does not trust the hall's CA is refused
        c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, client_id="x")
        c.tls_set()  # system CAs only
        with pytest.raises(OSError):
            c.connect("127.0.0.1", tls_port)
    finally:
        mq.stop()
