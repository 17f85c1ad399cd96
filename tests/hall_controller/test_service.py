"""The controller through a real mosquitto: contract, idempotency, bad input, privacy."""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hall_contract.client import HallClient
from hall_contract.messages import CallBoard, QueueSnapshot, TicketInfo, read
from hall_controller.broker import Mosquitto
from hall_controller.service import Controller


def raw_request(
    broker: Mosquitto, tid: str, op: str, payload: bytes, hall: str = "mini", timeout: float = 5.0
) -> dict[str, Any]:
    """A request from a bare paho client, so tests can send anything at all."""
    got: list[bytes] = []
    ev = threading.Event()
    c = mqtt.Client(
        CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, client_id=f"raw-{uuid.uuid4().hex[:6]}"
    )
    subscribed = threading.Event()

    def on_message(client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        got.append(msg.payload)
        ev.set()

    c.on_message = on_message
    c.on_subscribe = lambda *a: subscribed.set()
    c.connect(broker.bind, broker.port)
    c.loop_start()
    try:
        c.subscribe(f"hall/{hall}/t/{tid}/reply", qos=1)
        assert subscribed.wait(5)
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = f"hall/{hall}/t/{tid}/reply"
        props.CorrelationData = b"x"
        c.publish(f"hall/{hall}/t/{tid}/req/{op}", payload, qos=1, properties=props)
        assert ev.wait(timeout), f"no reply to {op}"
        return dict(json.loads(got[0]))
    finally:
        c.loop_stop()
        c.disconnect()


def test_ticket_issue_and_call_reach_the_display(
    controller: Controller, client_factory, collect
) -> None:
    events = collect("hall/mini/events/#")
    board = collect("hall/mini/calls")
    kiosk = client_factory("k01", role="kiosk")
    window = client_factory("w01", role="window")
    r = kiosk.request("ticket.issue", {"service": "id_card_renew"})
    assert r.ok and isinstance(r.result, TicketInfo) and r.result.number == "A001"
    assert r.result.people_ahead == 0 and r.result.token
    assert r.result.queue_name == "综合受理" and r.result.state == "waiting"
    called = window.request("window.call_next", {})
    assert called.ok and called.result is not None and called.result.window == "win01"
    assert called.result.token is None  # window replies never carry the lookup token
    ev = json.loads(events.wait_for(lambda t, p: t == "hall/mini/events/ticket/called"))
    assert ev["type"] == "ticket.called" and ev["seq"] > 0
    assert ev["data"]["number"] == "A001" and ev["data"]["window"] == "win01"
    cb = read(CallBoard, board.wait_for(lambda t, p: bool(json.loads(p)["calls"])))
    assert cb.calls[0].number == "A001" and cb.calls[0].window_name == "1号窗口"


def test_queue_snapshot_is_retained_for_late_displays(
    controller: Controller, client_factory, collect
) -> None:
    kiosk = client_factory("k01", role="kiosk")
    for _ in range(3):
        assert kiosk.request("ticket.issue", {"service": "id_card_renew"}).ok
    late = collect("hall/mini/queue/general")  # subscribes after the fact
    snap = read(QueueSnapshot, late.wait_for(lambda t, p: json.loads(p)["waiting"] == 3))
    assert snap.letter == "A" and snap.expected_wait_min > 0
    assert any(r for _t, _p, r in late.msgs), "snapshot was not retained"


def test_retried_request_never_creates_a_second_ticket(
    controller: Controller, broker: Mosquitto
) -> None:
    body = json.dumps({"id": "k01-retry-1", "service": "id_card_renew"}).encode()
    first = raw_request(broker, "k01", "ticket.issue", body)
    second = raw_request(broker, "k01", "ticket.issue", body)
    assert first == second and first["result"]["number"] == "A001"
    assert len(controller.engine.state.tickets) == 1
    # a new id is a new ticket; the same id from ANOTHER terminal is another request
    other = raw_request(broker, "k02", "ticket.issue", body)
    assert other["result"]["number"] == "A002"


def test_retry_is_answered_from_the_store_after_a_restart(
    controller_factory, broker: Mosquitto, tmp_path
) -> None:
    db = tmp_path / "shared.db"
    ctl = controller_factory(db=db)
    body = json.dumps({"id": "r-1", "service": "id_card_renew"}).encode()
    first = raw_request(broker, "k01", "ticket.issue", body)
    ctl.stop()
    again = controller_factory(db=db)
    assert raw_request(broker, "k01", "ticket.issue", body) == first
    assert len(again.engine.state.tickets) == 1


@pytest.mark.parametrize(
    ("op", "payload", "code", "needle"),
    [
        ("ticket.issue", b"\xff\xfe not json", "bad_request", "not JSON"),
        ("ticket.issue", b"[1, 2]", "bad_request", "JSON object"),
        ("ticket.issue", b'{"service": "id_card_renew"}', "bad_request", "id"),
        ("ticket.issue", b'{"id": "a", "priority": "vip"}', "bad_request", "priority"),
        ("ticket.issue", b'{"id": "a b c", "service": "x"}', "bad_request", "id"),
        ("rating.submit", b'{"id": "r", "ticket": "T", "level": 9}', "bad_request", "level"),
        ("ticket.teleport", b'{"id": "t"}', "unknown_op", "teleport"),
        ("window.call_next", b'{"id": "w"}', "forbidden", "不能调用"),
        (
            "ticket.issue",
            b'{"id": "a", "service": "id_card_renew", "vip": 1}',
            "bad_request",
            "vip",
        ),
        (
            "ticket.issue",
            b'{"id": "a", "service": "id_card_renew", "queue": "general"}',
            "bad_request",
            "exactly one",
        ),
        ("rating.submit", b'{"id": "r", "ticket": "T", "level": "5"}', "bad_request", "level"),
        ("rating.submit", b'{"id": "r", "ticket": "T", "level": true}', "bad_request", "level"),
    ],
)
def test_bad_payloads_get_an_error_reply_and_the_controller_goes_on(
    controller: Controller, broker: Mosquitto, op: str, payload: bytes, code: str, needle: str
) -> None:
    reply = raw_request(broker, "k01", op, payload)
    assert reply["ok"] is False
    assert reply["error"]["code"] == code
    assert needle in reply["error"]["message"] + reply["error"]["message_en"]
    assert reply["error"]["message_en"], "every error says it in English too"
    ok = raw_request(
        broker,
        "k01",
        "ticket.issue",
        json.dumps({"id": f"after-{uuid.uuid4().hex}", "service": "id_card_renew"}).encode(),
    )
    assert ok["ok"] is True


def test_error_replies_and_logs_never_echo_personal_data(
    controller: Controller, broker: Mosquitto, caplog
) -> None:
    secret_id = "110105194912310029"
    payload = json.dumps(
        {"id": "p1", "service": f"张三{secret_id}", "citizen_key": f"{secret_id} 北京市朝阳区"}
    ).encode()
    with caplog.at_level("DEBUG"):
        reply = raw_request(broker, "k01", "ticket.issue", payload)
    assert reply["ok"] is False
    text = json.dumps(reply, ensure_ascii=False) + caplog.text
    for leak in (secret_id, "张三", "朝阳区"):
        assert leak not in text


def test_replies_go_only_to_the_requesting_terminal(
    controller: Controller, broker: Mosquitto, collect
) -> None:
    spy = collect("hall/mini/t/k02/reply")
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, client_id="sneaky")
    c.connect(broker.bind, broker.port)
    c.loop_start()
    mine = collect("hall/mini/t/k01/reply")
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic = "hall/mini/t/k02/reply"  # asks for replies on another's topic
    props.CorrelationData = b"c"
    c.publish(
        "hall/mini/t/k01/req/hall.status", b'{"id": "s1"}', qos=1, properties=props
    ).wait_for_publish(5)
    mine.wait_for(lambda t, p: json.loads(p)["id"] == "s1")
    c.loop_stop()
    c.disconnect()
    assert spy.msgs == []


def test_published_events_carry_no_citizen_key_or_token(
    controller: Controller, client_factory, collect
) -> None:
    events = collect("hall/mini/events/#")
    kiosk = client_factory("k01", role="kiosk")
    key = "0123456789abcdef0123456789abcdef"
    r = kiosk.request("ticket.issue", {"service": "id_card_renew", "citizen_key": key})
    assert r.ok and r.result is not None
    payload = events.wait_for(lambda t, p: t.endswith("ticket/issued"))
    assert key.encode() not in payload and r.result.token.encode() not in payload
    # An appointment code would answer a second check-in with the ticket and its token;
    # a transfer's note is about the citizen.
    admin = client_factory("a01", role="admin")
    now = controller.clock()
    booked = admin.request(
        "admin.book_appointment",
        {"code": "YYSECRET1", "service": "id_card_renew", "start": now, "end": now + 1800},
    )
    assert booked.ok
    checked = kiosk.request("appointment.checkin", {"code": "YYSECRET1"})
    assert checked.ok and checked.result is not None
    number = checked.result.number
    issued = events.wait_for(lambda t, p: t.endswith("ticket/issued") and number.encode() in p)
    assert b"YYSECRET1" not in issued
    window = client_factory("w01", role="window")
    assert window.request("window.call_next", {}).ok
    moved = window.request("window.transfer", {"to_queue": "social", "note": "王小明的材料"})
    assert moved.ok
    transferred = events.wait_for(lambda t, p: t.endswith("ticket/transferred"))
    assert "王小明".encode() not in transferred


def test_mailing_address_is_sealed_in_the_store(
    controller: Controller, client_factory, tmp_path
) -> None:
    kiosk = client_factory("k01", role="kiosk")
    t = kiosk.request("ticket.issue", {"service": "id_card_renew"}).result
    assert t is not None
    mail = {"recipient": "王小明", "phone": "13800000000", "address": "云溪县城关镇幸福路88号"}
    r = kiosk.request("mailing.request", {"ticket": t.token, **mail})
    assert r.ok
    # for a ticket or case that exists only
    nope = kiosk.request("mailing.request", {"ticket": "0" * 16, **mail})
    assert not nope.ok and nope.error is not None and nope.error.code == "not_found"
    db = sqlite3.connect(str(controller.store.path))  # type: ignore[attr-defined]
    dump = "\n".join(db.iterdump())
    db.close()
    assert "幸福路" not in dump and "王小明" not in dump and "13800000000" not in dump
    sealed = [e.event for e in controller.store.events() if e.type == "mailing.requested"]
    assert controller.sealer is not None
    opened = json.loads(controller.sealer.unseal(sealed[0].sealed))  # type: ignore[attr-defined]
    assert opened["address"] == "云溪县城关镇幸福路88号"


def test_help_request_alerts_staff_with_location(
    controller_factory, client_factory, collect
) -> None:
    from tests.conftest import load_hall

    ctl = controller_factory(load_hall())  # hall-minimal: k01 is in 大厅
    alerts = collect("hall/mini/alerts")
    kiosk = client_factory("k01", role="kiosk")
    r = kiosk.request("help.request", {"kind": "helper"})
    assert r.ok and r.result is not None and r.result.location == "大厅"
    a = json.loads(alerts.wait_for(lambda t, p: json.loads(p)["kind"] == "helper"))
    assert a["terminal"] == "k01" and a["location"] == "大厅" and a["level"] == "red"
    assert ctl.engine.state.alerts >= 1


def test_rating_once_and_bad_rating_raises_follow_up(
    controller: Controller, client_factory, collect
) -> None:
    alerts = collect("hall/mini/alerts")
    kiosk = client_factory("k01", role="kiosk")
    window = client_factory("w01", role="window")
    t = kiosk.request("ticket.issue", {"service": "id_card_renew"}).result
    assert t is not None
    window.request("window.call_next", {})
    fin = window.request("window.finish", {"accept_case": True})
    assert fin.ok and fin.result is not None and fin.result.ticket.rating_open is True
    assert fin.result.case is not None
    case_no = fin.result.case.case_no
    bad = kiosk.request(
        "rating.submit",
        {"ticket": t.token, "level": 1, "reasons": ["wait_long"], "text": "太慢"},
    )
    assert bad.ok
    again = kiosk.request("rating.submit", {"ticket": t.token, "level": 5})
    assert not again.ok and again.error is not None and again.error.code == "conflict"
    alerts.wait_for(lambda tp, p: json.loads(p)["kind"] == "rating")
    found = kiosk.request("case.lookup", {"case_no": case_no})
    assert found.ok and found.result is not None
    assert found.result.cases[0].service_name == "居民身份证换领"


def test_presence_birth_will_and_late_death(
    controller: Controller, broker: Mosquitto, client_factory, collect
) -> None:
    alerts = collect("hall/mini/alerts")
    kiosk = client_factory("k01", role="kiosk")
    assert kiosk.wait_connected(5)
    states = collect("hall/mini/t/k01/state")
    states.wait_for(lambda t, p: json.loads(p)["state"] == "online")
    info = controller.wait_terminal("k01", lambda i: i.state == "online", 10)
    assert info is not None
    seq = info.seq
    # a death from an older session must not overwrite the newer birth
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, client_id="old")
    c.connect(broker.bind, broker.port)
    c.loop_start()
    c.publish(
        "hall/mini/t/k01/state",
        json.dumps({"state": "lost", "seq": seq - 1, "role": "kiosk", "at": 0}),
        qos=1,
        retain=True,
    ).wait_for_publish(5)
    states.wait_for(lambda t, p: json.loads(p)["seq"] == seq - 1)
    # A round trip through the controller after it: the stale death was handled first
    # (one connection, in order) and changed nothing.
    assert kiosk.request("hall.status", {}).ok
    assert controller.terminals["k01"].state == "online"
    assert controller.terminals["k01"].seq == seq
    # ... and then the kiosk dies for real: its Will marks it lost with its own seq
    # Pull the cable: stop its network loop (so it cannot come back) and drop the socket.
    sock = kiosk._client.socket()
    kiosk._client.loop_stop()
    assert sock is not None
    sock.close()
    a = json.loads(alerts.wait_for(lambda t, p: json.loads(p)["kind"] == "terminal", timeout=60))
    assert a["terminal"] == "k01"
    assert controller.terminals["k01"].state == "lost"
    assert controller.terminals["k01"].seq >= seq
    # One alert, for the real death: none was raised for the stale one.
    assert [json.loads(p)["kind"] for _t, p, _r in alerts.msgs].count("terminal") == 1
    c.loop_stop()
    c.disconnect()


def test_commands_carry_expiry_and_come_back_with_a_result(
    controller: Controller, client_factory
) -> None:
    kiosk = client_factory("k01", role="kiosk")
    got: list[Any] = []

    def on_cmd(topic: str, payload: bytes, msg: mqtt.MQTTMessage) -> None:
        got.append(msg)
        cmd = json.loads(payload)
        kiosk.publish(
            controller.topics.command_result("k01"),
            json.dumps({"id": cmd["id"], "ok": True, "message": "done"}),
        )

    kiosk.subscribe(controller.topics.command("k01"), on_cmd)
    res = controller.send_command("k01", "print_test_page", ttl_s=30, wait=5)
    assert res is not None and res.ok and res.message == "done"
    assert got[0].properties.MessageExpiryInterval <= 30
    cmd = json.loads(got[0].payload)
    assert cmd["cmd"] == "print_test_page" and cmd["expires_at"] > 0


def test_desired_config_is_retained_with_its_version(controller: Controller, collect) -> None:
    cfgmsg = collect("hall/mini/t/k01/config")
    body = json.loads(cfgmsg.wait_for(lambda t, p: True))
    assert body["version"] == controller.config.version
    assert body["config"]["hall"]["id"] == "mini"
    assert "broker" not in body["config"]


def test_closed_hall_answers_closed(controller_factory, client_factory) -> None:
    import datetime as dt

    from tests.conftest import SHANGHAI

    controller_factory(now=dt.datetime(2026, 11, 22, 20, 0, tzinfo=SHANGHAI))
    kiosk: HallClient = client_factory("k01", role="kiosk")
    r = kiosk.request("ticket.issue", {"service": "id_card_renew"})
    assert not r.ok and r.error is not None and r.error.code == "closed"
    st = kiosk.request("hall.status", {})
    assert st.ok and st.result is not None and st.result.open is False
    assert st.result.next_opening.startswith("2026-11-23T09:00")


def test_only_the_token_or_the_windows_rater_may_rate(controller_factory, client_factory) -> None:
    from tests.conftest import load_hall

    base = load_hall()
    from hall_contract.hallconfig import Terminal

    cfg = base.model_copy(
        update={
            "terminals": [
                *base.terminals,
                Terminal(id="r01", role="rater", window="win01"),
                Terminal(id="r02", role="rater", window="win02"),
            ]
        }
    )
    controller_factory(cfg)
    kiosk = client_factory("k01", role="kiosk")
    window = client_factory("w01", role="window")
    t = kiosk.request("ticket.issue", {"service": "id_card_renew"}).result
    assert t is not None
    window.request("window.call_next", {})
    window.request("window.finish", {})
    by_id = kiosk.request("rating.submit", {"ticket": t.ticket_id, "level": 5})
    assert not by_id.ok and by_id.error is not None and by_id.error.code == "forbidden"
    other_rater = client_factory("r02", role="rater")
    assert not other_rater.request("rating.submit", {"ticket": t.ticket_id, "level": 5}).ok
    rater = client_factory("r01", role="rater")
    assert rater.request("rating.submit", {"ticket": t.ticket_id, "level": 4}).ok


def test_red_limits_alert_the_manager(controller: Controller, client_factory, collect) -> None:
    alerts = collect("hall/mini/alerts")
    kiosk = client_factory("k01", role="kiosk")
    assert kiosk.request("ticket.issue", {"service": "id_card_renew"}).ok
    red = controller.config.queue("general").wait_red_min
    controller.clock_control.advance(minutes=red + 1)  # type: ignore[attr-defined]
    a = json.loads(alerts.wait_for(lambda t, p: json.loads(p)["kind"] == "wait", timeout=10))
    assert a["level"] == "red" and a["ticket"] == "A001" and "红牌" in a["message"]


def test_an_oversized_payload_is_refused_by_the_broker_not_swallowed(
    controller: Controller, broker: Mosquitto, client_factory
) -> None:
    kiosk = client_factory("k01", role="kiosk")
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, client_id="big")
    gone = threading.Event()
    c.on_disconnect = lambda *a: gone.set()
    c.connect(broker.bind, broker.port)
    c.loop_start()
    c.publish("hall/mini/t/k02/req/ticket.issue", b"x" * (3 * 1024 * 1024), qos=1)
    assert gone.wait(10), "the broker kept a 3 MB request"
    c.loop_stop()
    r = kiosk.request("ticket.issue", {"service": "id_card_renew"})
    assert r.ok and r.result is not None and r.result.number == "A001"


def test_snapshot_when_quiet_and_restart_from_snapshot_plus_tail(
    controller_factory, client_factory, tmp_path, monkeypatch
) -> None:
    import hall_controller.service as service

    monkeypatch.setattr(service, "SNAPSHOT_EVERY", 5)
    monkeypatch.setattr(service, "TICK_S", 0.2)
    db = tmp_path / "snap.db"
    ctl = controller_factory(db=db)
    kiosk = client_factory("k01", role="kiosk")
    for _ in range(6):
        assert kiosk.request("ticket.issue", {"service": "id_card_renew"}).ok
    assert ctl.snapshot_taken.wait(10), "no snapshot once the hall went quiet"
    snap = ctl.store.latest_snapshot()
    assert snap is not None and len({t["id"] for t in snap.tickets}) == 6
    assert kiosk.request("ticket.issue", {"service": "id_card_renew"}).ok  # the tail
    state = ctl.engine.state.dumps()
    ctl.stop()
    again = controller_factory(db=db)
    assert again.engine.state.dumps() == state
    r = kiosk.request("ticket.issue", {"service": "id_card_renew"})
    assert r.ok and r.result is not None and r.result.number == "A008"


def test_hall_time_never_runs_backwards(controller: Controller, client_factory) -> None:
    kiosk = client_factory("k01", role="kiosk")
    first = kiosk.request("ticket.issue", {"service": "id_card_renew"}).result
    controller.clock_control.advance(minutes=-30)  # type: ignore[attr-defined]  # NTP step
    second = kiosk.request("ticket.issue", {"service": "id_card_renew"}).result
    assert first is not None and second is not None
    assert second.issued_at >= first.issued_at
    assert second.people_ahead == 1  # still behind the earlier ticket
