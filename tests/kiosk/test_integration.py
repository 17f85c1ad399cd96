"""The kiosk core against a real mosquitto and the hall controller (tests/conftest.py
fixtures ``broker`` and ``controller``, owned by the controller engineer). Skipped while
those fixtures are not there yet."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hall_contract.messages import PriorityClass
from kiosk.flows import HelpFlow, TicketFlow
from kiosk.link import ControllerLink
from tests.kiosk.helpers import make_kiosk


@pytest.fixture
def hall_ctl(request: pytest.FixtureRequest) -> Any:
    try:
        return request.getfixturevalue("controller")
    except pytest.FixtureLookupError:
        pytest.skip("controller fixture (tests/conftest.py) not available yet")


def _kiosk(tmp: Path, ctl: Any, broker: Any) -> Any:
    link = ControllerLink(ctl.topics, "k01", broker.settings, heartbeat_s=1)
    k, ui, _hw = make_kiosk(tmp, link)
    k.hall = ctl.config
    from kiosk.catalogue import Catalogue

    k.catalogue = Catalogue(ctl.config)
    link.on_connection = lambda up: ui.post(lambda: k.on_connection(up))
    link.start(wait=10)
    return k, ui, link


def test_ticket_and_outbox_exactly_once(
    tmp_path: Path, hall_ctl: Any, request: pytest.FixtureRequest
) -> None:
    broker = request.getfixturevalue("broker")
    k, ui, link = _kiosk(tmp_path, hall_ctl, broker)
    try:
        svc = hall_ctl.config.services[0].id
        k.start_ticket("service", svc)
        k.ticket_skip_identify()
        k.ticket_priority(PriorityClass.NORMAL)
        ui.pump_until(lambda: k.flow is not None and k.flow.step in ("done", "error"), 15)
        assert isinstance(k.flow, TicketFlow) and k.flow.step == "done", k.flow.error
        assert k.flow.result is not None and k.flow.result.number
        k.end_session()
        broker.stop()
        ui.pump_until(lambda: not link.online, 15)
        k.start_help("helper")
        assert isinstance(k.flow, HelpFlow) and k.flow.queued
        assert k.outbox.pending_count() == 1
        broker.start()
        ui.pump_until(lambda: link.online, 30)
        k.pool.submit(lambda: None).result(5)
        ui.pump_until(lambda: k.outbox.pending_count() == 0, 30)
    finally:
        link.stop()


def test_presence_heartbeats_devices_and_commands_obeyed(
    tmp_path: Path, hall_ctl: Any, request: pytest.FixtureRequest
) -> None:
    """The controller sees the kiosk (presence, heartbeats, device states) and its commands
    are obeyed with a CommandResult each (reload_config, set_mode, print_test_page,
    restart), all over the real broker."""
    import datetime
    import threading

    from hall_contract.messages import DeviceReport, Heartbeat, Presence

    broker = request.getfixturevalue("broker")
    client_factory = request.getfixturevalue("client_factory")
    seen: dict[str, Any] = {}
    heartbeats = threading.Event()

    def on_state(_t: str, payload: bytes, _m: Any) -> None:
        if payload:
            seen["presence"] = Presence.model_validate_json(payload)

    def on_hb(_t: str, payload: bytes, _m: Any) -> None:
        seen["heartbeat"] = Heartbeat.model_validate_json(payload)
        heartbeats.set()

    def on_dev(topic: str, payload: bytes, _m: Any) -> None:
        if payload:
            rep = DeviceReport.model_validate_json(payload)
            seen[f"device {rep.device}"] = rep.state

    watcher = client_factory("a01")
    topics = hall_ctl.topics
    assert watcher.subscribe(topics.state("k01"), on_state)
    assert watcher.subscribe(topics.heartbeat("k01"), on_hb)
    assert watcher.subscribe(topics.devices_filter, on_dev)
    k, ui, link = _kiosk(tmp_path, hall_ctl, broker)
    link.on_command = lambda c: ui.post(lambda: k.on_command(c))
    for dev, st in k.hw.statuses().items():
        k.on_device_status(st)
        assert dev
    try:
        assert heartbeats.wait(10)
        ui.pump_until(lambda: "device printer" in seen and "presence" in seen, 10)
        assert seen["presence"].state == "online" and seen["presence"].role == "kiosk"
        assert seen["device printer"] == "ready"
        clock = hall_ctl.clock_control
        # the kiosk judges a command's expiry by its own wall clock
        clock.set(datetime.datetime.now(datetime.UTC))
        results = {}
        for cmd, args in (
            ("print_test_page", {}),
            ("set_mode", {"mode": "elderly"}),
            ("set_mode", {"mode": "sideways"}),
            ("reload_config", {}),
            ("restart", {}),
        ):
            clock.advance(1)  # command ids come from the controller's clock
            box: list[Any] = []
            t = threading.Thread(
                target=lambda c=cmd, a=args, b=box: b.append(
                    hall_ctl.send_command("k01", c, a, wait=10)
                )
            )
            t.start()
            ui.pump_until(lambda t=t: not t.is_alive(), 15)
            t.join()
            results[f"{cmd} {args.get('mode', '')}".strip()] = box[0]
        assert results["print_test_page"].ok and "test page" in k.hw.printer.printed
        assert results["set_mode elderly"].ok and k.elderly
        assert not results["set_mode sideways"].ok
        assert results["reload_config"].ok and "version" in results["reload_config"].message
        assert results["restart"].ok and k.restart_requested
    finally:
        link.stop()


def test_the_kiosk_follows_the_controllers_presence(
    hall_ctl: Any, request: pytest.FixtureRequest
) -> None:
    """Birth, a stale death (ignored), a clean stop, and a new controller whose clock is
    behind the old one's numbers (its birth still counts), through the real broker."""
    broker = request.getfixturevalue("broker")
    seen: list[str | None] = []
    cond = threading.Condition()
    link = ControllerLink(hall_ctl.topics, "k01", broker.settings, heartbeat_s=1)

    def on_status(_status: Any) -> None:  # also called for the hall status: changes only
        with cond:
            state = link.controller_state
            if state is not None and (not seen or seen[-1] != state):
                seen.append(state)
                cond.notify_all()

    def until(n: int) -> list[str | None]:
        with cond:
            assert cond.wait_for(lambda: len(seen) >= n, 10), seen
            return list(seen)

    link.on_status = on_status
    link.start(wait=10)
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, client_id="old-ctl")
    pub.connect(broker.bind, broker.port)
    pub.loop_start()
    try:
        assert until(1)[-1] == "online"
        seq = hall_ctl._seq
        topic = hall_ctl.topics.controller_state
        stale = {"state": "lost", "seq": seq - 1, "at": 0, "config_version": 1}
        pub.publish(topic, json.dumps(stale), qos=1).wait_for_publish(5)
        hall_ctl.stop()  # a clean stop: "offline", after the stale death on the same topic
        assert until(2) == ["online", "offline"]  # the stale death changed nothing
        reborn = {"state": "online", "seq": seq - 1000, "at": 0, "config_version": 1}
        pub.publish(topic, json.dumps(reborn), qos=1).wait_for_publish(5)
        assert until(3)[-1] == "online"
    finally:
        pub.loop_stop()
        pub.disconnect()
        link.stop()
