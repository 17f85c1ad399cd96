"""The independent client (written from docs/ only) performs every documented operation
against a real controller, as the role the docs name, and checks replies, refusals, events
and retained state against docs/asyncapi.yaml."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hall_contract.hallconfig import Terminal
from tests.conftest import OPEN_MORNING, FakeClock, load_hall
from tests.contract.independent_client import (
    Contract,
    TerminalClient,
    Watch,
    citizen_key,
)

HALL = "mini"  # hall.id of config/hall-minimal.yaml
#: Any secret will do: the controller only ever compares keys (mqtt.md, `citizen_key`).
SECRET = "independent-client-test-secret"
ID_NUMBER = " 11010519491231002x "  # stripped and upper-cased before hashing
MQTT_MD = Path(__file__).resolve().parents[2] / "docs" / "mqtt.md"
ROLES = ("kiosk", "window", "display", "rater", "admin", "web")

CONTRACT = Contract()


def hall_config() -> Any:
    """config/hall-minimal.yaml plus a display and a rating device at win01."""
    cfg = load_hall()
    extra = [
        Terminal(id="d01", role="display"),
        Terminal(id="r01", role="rater", window="win01"),
    ]
    return cfg.model_copy(update={"terminals": [*cfg.terminals, *extra]})


@pytest.fixture
def hall(broker: Any, controller_factory: Any) -> Iterator[dict[str, TerminalClient]]:
    cfg = hall_config()
    controller_factory(cfg)
    clients: dict[str, TerminalClient] = {}
    try:
        for t in cfg.terminals:
            c = TerminalClient(CONTRACT, HALL, t.id, broker.bind, broker.port, role=t.role)
            clients[t.id] = c.start()
        yield clients
    finally:
        for c in clients.values():
            c.stop()


def day_of(ticket_id: str) -> str:
    """mqtt.md: a ticket's id is ``{day}-{number}``."""
    day, _number = ticket_id.rsplit("-", 1)
    return day


# ---------------------------------------------------------------------------------------
def test_contract_is_self_consistent() -> None:
    """Every operation of mqtt.md's role table is in asyncapi.yaml with the same roles, and
    every $ref of the document resolves."""
    table: dict[str, tuple[str, ...]] = {}
    names: dict[str, tuple[str, str]] = {}
    for line in MQTT_MD.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\| `([a-z_.]+)` \| `(\w+)` \| `(\w+)` \|(.*)\|$", line)
        if m:
            cells = [c.strip() for c in m.group(4).split("|")]
            table[m.group(1)] = tuple(r for r, c in zip(ROLES, cells, strict=True) if c == "✓")
            names[m.group(1)] = (m.group(2), m.group(3))
    assert len(table) == 22
    assert {k: set(v) for k, v in table.items()} == {
        k: set(o.roles) for k, o in CONTRACT.operations.items()
    }
    for op, (request, result) in names.items():
        spec = CONTRACT.operations[op]
        assert spec.request_ref == f"#/components/schemas/{request}", op
        # mqtt.md: "one reply message per operation ... (`components/schemas/{Op}Reply`)"
        camel = "".join(w.capitalize() for w in re.split(r"[._]", op))
        assert spec.reply_ref == f"#/components/schemas/{camel}Reply", op
        ok, _err = CONTRACT.pointer(spec.reply_ref)["oneOf"]
        assert ok["properties"]["result"] == {"$ref": f"#/components/schemas/{result}"}, op

    def refs(n: Any) -> Iterator[str]:
        if isinstance(n, dict):
            for k, v in n.items():
                if k == "$ref" and isinstance(v, str):
                    yield v
                else:
                    yield from refs(v)
        elif isinstance(n, list):
            for v in n:
                yield from refs(v)

    for r in refs(CONTRACT.doc):
        CONTRACT.pointer(r)


# ---------------------------------------------------------------------------------------
def test_every_operation_as_its_role(hall: dict[str, TerminalClient]) -> None:
    kiosk, window, admin, display, rater = (hall[t] for t in ("k01", "w01", "a01", "d01", "r01"))
    events = admin.watch(f"hall/{HALL}/events/#")
    alerts = admin.watch(f"hall/{HALL}/alerts")

    # hall.status: every role may ask.
    for c in (kiosk, window, admin, display, rater):
        st = c.request("hall.status")
        assert st["open"] is True
        assert {q["queue"] for q in st["queues"]} == {"general", "social"}

    # ticket.issue for a service, with a citizen_key (never the ID number).
    ck = citizen_key(SECRET, ID_NUMBER)
    assert re.fullmatch(r"[0-9a-f]{32}", ck)
    t1 = kiosk.request("ticket.issue", service="id_card_renew", citizen_key=ck)
    assert t1["number"] == "A001" and t1["queue"] == "general" and t1["state"] == "waiting"
    assert t1["token"], "the issuing kiosk gets the lookup token"
    today = day_of(t1["ticket_id"])
    hall_now = t1["issued_at"]

    # ticket.lookup by the token.
    looked = kiosk.request("ticket.lookup", ticket=t1["token"])
    assert looked["ticket_id"] == t1["ticket_id"] and looked["token"] == t1["token"]

    # window.call_next / recall / start / finish with a case.
    called = window.request("window.call_next")
    assert called["ticket_id"] == t1["ticket_id"] and called["state"] == "called"
    assert called["window"] == "win01" and called["token"] is None
    recalled = window.request("window.recall")
    assert recalled["ticket_id"] == t1["ticket_id"] and recalled["token"] is None
    started = window.request("window.start")
    assert started["state"] == "serving"
    fin = window.request("window.finish", accept_case=True)
    assert fin["ticket"]["state"] == "finished" and fin["ticket"]["token"] is None
    case = fin["case"]
    assert case is not None and case["state"] == "accepted" and case["service"] == "id_card_renew"

    # rating.submit by the kiosk: the public ticket id is not enough, the token is.
    err = kiosk.refusal("rating.submit", {"ticket": t1["ticket_id"], "level": 5})
    assert err["code"] == "forbidden"
    rated = kiosk.request("rating.submit", ticket=t1["token"], level=5)
    assert rated == {"number": "A001", "level": 5}

    # mailing.request by case number and by ticket token.
    mail = {"recipient": "张三", "phone": "138 0000 0000", "address": "云溪县城关镇人民路1号"}
    assert kiosk.request("mailing.request", case_no=case["case_no"], **mail) == {"accepted": True}
    assert kiosk.request("mailing.request", ticket=t1["token"], **mail) == {"accepted": True}

    # case.lookup by the kiosk (case number) and by the admin (citizen key).
    found = kiosk.request("case.lookup", case_no=case["case_no"])
    assert [c["case_no"] for c in found["cases"]] == [case["case_no"]]
    found = admin.request("case.lookup", citizen_key=ck)
    assert [c["case_no"] for c in found["cases"]] == [case["case_no"]]

    # admin.update_case.
    upd = admin.request("admin.update_case", case_no=case["case_no"], state="in_review")
    assert upd["case_no"] == case["case_no"] and upd["state"] == "in_review"

    # help.request: staff alerted with the kiosk's location (大厅 in hall-minimal.yaml).
    helped = kiosk.request("help.request", kind="helper", service="id_card_renew", note="看不清")
    assert helped["location"] == "大厅"
    alert = alerts.wait_for(lambda m: m.payload["id"] == helped["alert"])
    assert alert.payload["kind"] == "helper" and alert.payload["terminal"] == "k01"
    assert "看不清" not in alert.raw.decode(), "the note is sealed, never published"

    # admin.book_appointment for now (hall time), then appointment.checkin by code and key.
    ck2 = citizen_key(SECRET, "44030419800101123X")
    booked = admin.request(
        "admin.book_appointment",
        code="YY001",
        service="id_card_renew",
        start=hall_now,
        end=hall_now + 1800,
        citizen_key=ck2,
    )
    assert booked["queue"] == "general" and booked["day"] == today
    t2 = kiosk.request("appointment.checkin", code="YY001")
    assert t2["priority"] == "appointment" and t2["token"]
    again = kiosk.request("appointment.checkin", citizen_key=ck2)
    assert again["ticket_id"] == t2["ticket_id"], "checking in twice gives the same ticket"

    # window.no_show (to the grace list), then window.requeue by number.
    assert window.request("window.call_next")["ticket_id"] == t2["ticket_id"]
    skipped = window.request("window.no_show")
    assert skipped["state"] == "skipped"
    back = window.request("window.requeue", ticket=t2["number"])
    assert back["state"] == "waiting"

    # window.transfer to another queue, with a note for the next window's staff.
    assert window.request("window.call_next")["ticket_id"] == t2["ticket_id"]
    window.request("window.start")
    moved = window.request("window.transfer", to_queue="social", note="请核对社保")
    assert any(s["note"] == "请核对社保" for s in moved["history"]), "staff see the note"
    seen = kiosk.request("ticket.lookup", ticket=t2["token"])
    assert all(s["note"] is None for s in seen["history"]), "the citizen's kiosk does not"
    # Docs: "raised priority" / transfer_is_priority; an appointment ticket keeps its class.
    assert moved["queue"] == "social" and moved["priority"] in ("transfer", "appointment")
    # win01 serves social too: it calls it again; the staff see the note in the history.
    again = window.request("window.call_next")
    assert again["ticket_id"] == t2["ticket_id"]
    assert any(s["what"] == "transferred" and s["note"] == "请核对社保" for s in again["history"])
    window.request("window.start")
    window.request("window.finish")

    # rating.submit by the rating device of the serving window, by ticket id.
    rated = rater.request(
        "rating.submit", ticket=t2["ticket_id"], level=2, reasons=["wait_long"], text="太慢"
    )
    assert rated == {"number": t2["number"], "level": 2}
    bad = alerts.wait_for(lambda m: m.payload["kind"] == "rating")
    assert bad.payload["ticket"] == t2["number"] and "太慢" not in bad.raw.decode()

    # ticket.issue by queue; window.pause / status / resume.
    t3 = kiosk.request("ticket.issue", queue="social")
    assert t3["number"] == "B001"
    paused = window.request("window.pause", reason="lunch", note="十二点回来")
    assert paused["paused"] is True and paused["pause_reason"] == "lunch"
    st = window.request("window.status")
    assert st["window"] == "win01" and st["paused"] is True and st["waiting"] == 1
    resumed = window.request("window.resume")
    assert resumed["paused"] is False and resumed["pause_reason"] is None

    # window.transfer of a normal ticket to another window (into its queue, served only
    # there): priority transfer. win02's staff CLI fallback terminal `window-win02` (not in
    # the config, no broker auth) then calls it.
    assert window.request("window.call_next")["ticket_id"] == t3["ticket_id"]
    moved = window.request("window.transfer", to_window="win02")
    assert moved["priority"] == "transfer" and moved["queue"] == "social"
    assert window.request("window.status")["current"] is None
    with TerminalClient(CONTRACT, HALL, "window-win02", *window_addr(window), role="window") as w2:
        w2.start(wait_config=0)
        st2 = w2.request("window.status")
        assert st2["window"] == "win02" and st2["waiting"] == 1
        assert w2.request("window.call_next")["ticket_id"] == t3["ticket_id"]
        w2.request("window.start")
        w2.request("window.finish")

    # Every event arrived and matched its channel's schema (checked on arrival).
    wanted = {
        "ticket.issued",
        "ticket.called",
        "ticket.recalled",
        "ticket.started",
        "ticket.no_show",
        "ticket.requeued",
        "ticket.transferred",
        "ticket.finished",
        "rating.submitted",
        "case.accepted",
        "case.updated",
        "window.paused",
        "window.resumed",
    }
    events.wait_all(lambda ms: wanted <= {m.payload["type"] for m in ms})
    check_events(events, secrets=[t1["token"], t2["token"], ck, ck2, "YY001", "请核对社保"])


def window_addr(c: TerminalClient) -> tuple[str, int]:
    return c.host, c.port


def check_events(events: Watch, secrets: list[str]) -> None:
    got = events.snapshot()
    assert not events.problems, events.problems
    seqs = [m.payload["seq"] for m in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), "commit order, one seq each"
    for m in got:
        a, b = m.payload["type"].split(".")
        assert m.topic == f"hall/{HALL}/events/{a}/{b}"
        assert m.retain is False, "events are never retained"
        assert m.qos == (1 if m.payload["type"] in ("ticket.called", "ticket.recalled") else 0)
        for s in secrets:
            assert s not in m.raw.decode(), f"{m.topic} carries a secret"
    issued = [m.payload["data"]["ticket"] for m in got if m.payload["type"] == "ticket.issued"]
    assert [t["number"] for t in issued] == ["A001", "A002", "B001"]


# ---------------------------------------------------------------------------------------
def error_of(reply: dict[str, Any]) -> dict[str, Any]:
    CONTRACT.validate(CONTRACT.schema_ref("ErrorReply"), reply, "refusal")
    err: dict[str, Any] = reply["error"]
    assert err["message"] and err["message_en"]
    return err


def test_refusals_have_the_documented_shape(hall: dict[str, TerminalClient]) -> None:
    kiosk, window, display = hall["k01"], hall["w01"], hall["d01"]

    # A role that may not call the operation: forbidden, checked before the request is read.
    err = display.refusal("window.call_next", {})
    assert err["code"] == "forbidden"
    err = window.refusal("ticket.issue", {"service": "id_card_renew"})
    assert err["code"] == "forbidden"
    err = kiosk.refusal("admin.update_case", {"case_no": "X1", "state": "done"})
    assert err["code"] == "forbidden"

    # An unknown field: bad_request naming it.
    err = kiosk.refusal(
        "ticket.issue", {"service": "id_card_renew", "vip": True}, validate_request=False
    )
    assert err["code"] == "bad_request" and err["field"] == "vip"
    assert "vip" in err["message_en"]

    # A value of the wrong type: "5" is not a level, no coercion.
    t = kiosk.request("ticket.issue", service="id_card_renew")
    for bad in ("5", 5.5, True):
        err = kiosk.refusal(
            "rating.submit", {"ticket": t["token"], "level": bad}, validate_request=False
        )
        assert err["code"] == "bad_request" and err["field"] == "level", (bad, err)

    # Exactly one of service / bundle / queue.
    err = kiosk.refusal(
        "ticket.issue", {"service": "id_card_renew", "queue": "general"}, validate_request=False
    )
    assert err["code"] in ("bad_request", "conflict"), err

    # An ID number is not a citizen_key.
    err = kiosk.refusal(
        "case.lookup", {"citizen_key": "11010519491231002X"}, validate_request=False
    )
    assert err["code"] == "bad_request" and err["field"] == "citizen_key"

    # A pause reason that is not a code.
    err = window.refusal("window.pause", {"reason": "coffee"}, validate_request=False)
    assert err["code"] == "bad_request" and err["field"] == "reason"

    # ticket.lookup by the public id is not_found; only the token resolves.
    err = kiosk.refusal("ticket.lookup", {"ticket": t["ticket_id"]})
    assert err["code"] == "not_found"

    # win01 calls t; calling again while it is still being called is refused (the docs do
    # not say how); once it is skipped nobody waits: empty.
    window.request("window.call_next")
    window.refusal("window.call_next", {})
    window.request("window.no_show")
    err = window.refusal("window.call_next", {})
    assert err["code"] == "empty"

    # An unknown operation.
    reply = kiosk.send_raw("ticket.fly", json.dumps({"id": "fly-1"}).encode(), b"fly-1")
    assert error_of(reply)["code"] == "unknown_op" and reply["id"] == "fly-1"

    # Not JSON, NaN, and no valid id: id "" and matched by the Correlation Data only.
    for raw in (b"{not json", b'{"id": "n-1", "level": NaN}', b'{"id": "\xc3\xa9"}', b"[1]"):
        reply = kiosk.send_raw("rating.submit", raw, b"corr-" + raw[:8])
        err = error_of(reply)
        assert reply["id"] == "" and err["code"] == "bad_request", (raw, reply)

    # Over 16 KB.
    big = {"id": "big-1", "kind": "helper", "note": "x" * 20000}
    reply = kiosk.send_raw("help.request", json.dumps(big).encode(), b"big-1")
    assert error_of(reply)["code"] == "bad_request"


# ---------------------------------------------------------------------------------------
def test_retained_state_and_call_board(hall: dict[str, TerminalClient], broker: Any) -> None:
    kiosk, window = hall["k01"], hall["w01"]
    assert kiosk.config_version == 1 and kiosk.config is not None
    assert kiosk.config["hall"]["id"] == HALL and "broker" not in kiosk.config

    # Follow the live updates until the state has settled (status and snapshots are
    # coalesced, at most every 0.2 s) ...
    live_status = kiosk.watch(f"hall/{HALL}/status")
    live_calls = kiosk.watch(f"hall/{HALL}/calls")
    t1 = kiosk.request("ticket.issue", service="id_card_renew")
    kiosk.request("ticket.issue", queue="social")
    window.request("window.call_next")
    settled = {"general": 0, "social": 1}
    live_status.wait_for(lambda m: m.payload["waiting"] == settled)
    live_calls.wait_for(lambda m: m.payload["calls"] != [])

    # ... then a terminal that connects now reads it retained. (`k99` is not in the config:
    # on a broker without passwords it counts as a kiosk.)
    with TerminalClient(CONTRACT, HALL, "k99", broker.bind, broker.port) as late:
        late.start(wait_config=0)
        status = late.watch(f"hall/{HALL}/status")
        calls = late.watch(f"hall/{HALL}/calls")
        queues = late.watch(f"hall/{HALL}/queue/+")
        ctl = late.watch(f"hall/{HALL}/controller/state")

        s = status.wait_for(lambda m: m.retain)
        assert s.payload["waiting"] == settled
        assert s.payload["open"] is True and s.payload["config_version"] == 1
        board = calls.wait_for(lambda m: m.retain)
        (entry,) = board.payload["calls"]
        assert entry["number"] == t1["number"] and entry["window"] == "win01"
        assert entry["state"] == "called" and entry["window_name"] == "1号窗口"
        queues.wait_all(lambda ms: {m.payload["queue"] for m in ms if m.retain} >= set(settled))
        general = next(m for m in queues.snapshot() if m.payload["queue"] == "general")
        assert general.payload["letter"] == "A" and general.payload["serving"] == ["A001"]
        c = ctl.wait_for(lambda m: True)
        assert c.retain and c.payload["state"] == "online" and c.payload["config_version"] == 1

    # Retained presence of the terminals themselves (what this client published).
    mine = kiosk.watch(f"hall/{HALL}/t/+/state")
    mine.wait_all(lambda ms: {"k01", "w01"} <= {m.topic.split("/")[3] for m in ms})
    k = next(m for m in mine.snapshot() if m.topic.endswith("/k01/state"))
    assert k.payload["state"] == "online" and k.payload["config_version"] == 1


# ---------------------------------------------------------------------------------------
def test_delivery_idempotency_and_reply_topic(hall: dict[str, TerminalClient]) -> None:
    kiosk, window = hall["k01"], hall["w01"]

    # A retry with the same id gets the stored reply: one ticket, not two.
    first = kiosk.call("ticket.issue", {"id": "same-id:1", "service": "id_card_renew"})
    second = kiosk.call("ticket.issue", {"id": "same-id:1", "service": "id_card_renew"})
    assert first == second and first["ok"]
    st = kiosk.request("hall.status")
    assert {q["queue"]: q["waiting"] for q in st["queues"]} == {"general": 1, "social": 0}

    # Whatever Response Topic a request asks for, the reply goes to the requester's own.
    raw = json.dumps({"id": "hijack-1"}).encode()
    reply = kiosk.send_raw(
        "hall.status", raw, b"hijack-1", response_topic=f"hall/{HALL}/t/w01/reply"
    )
    assert reply["ok"] and reply["id"] == "hijack-1"
    # w01's own next reply comes after anything the controller might have sent it before.
    window.request("window.status")
    assert window.unclaimed_replies() == []


def test_clock_driven_events(broker: Any, controller_factory: Any) -> None:
    """ticket.warning, ticket.expired and day.rolled, which only the hall's clock causes."""
    clock = FakeClock(OPEN_MORNING)
    controller_factory(hall_config(), clock=clock)
    with (
        TerminalClient(CONTRACT, HALL, "k01", broker.bind, broker.port) as kiosk,
        TerminalClient(CONTRACT, HALL, "w01", broker.bind, broker.port, role="window") as window,
        TerminalClient(CONTRACT, HALL, "d01", broker.bind, broker.port, role="display") as disp,
    ):
        for c in (kiosk, window, disp):
            c.start(wait_config=0)
        events = disp.watch(f"hall/{HALL}/events/#")
        skipped = kiosk.request("ticket.issue", service="id_card_renew")
        waiting = kiosk.request("ticket.issue", service="id_card_renew")
        window.request("window.call_next")
        window.request("window.no_show")
        # Past wait_yellow_min (20) and no_show_grace_min (10), in open minutes.
        clock.advance(minutes=25)
        w = events.wait_for(lambda m: m.payload["type"] == "ticket.warning")
        assert w.payload["data"]["ticket"] == waiting["ticket_id"]
        assert w.payload["data"]["kind"] == "wait" and w.payload["data"]["window"] is None
        e = events.wait_for(lambda m: m.payload["type"] == "ticket.expired")
        assert e.payload["data"]["ticket"] == skipped["ticket_id"]
        # Past the day boundary (03:00) of the next day.
        clock.advance(minutes=17 * 60 + 10)
        r = events.wait_for(lambda m: m.payload["type"] == "day.rolled")
        assert r.payload["data"]["prev_day"] == day_of(waiting["ticket_id"])
        assert r.payload["data"]["expired"] == [waiting["ticket_id"]]
        seqs = [m.payload["seq"] for m in events.snapshot()]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), "commit order"


def test_presence_devices_and_alerts(hall: dict[str, TerminalClient]) -> None:
    kiosk, admin = hall["k01"], hall["a01"]
    alerts = admin.watch(f"hall/{HALL}/alerts")
    states = admin.watch(f"hall/{HALL}/t/k01/state")
    birth = states.wait_for(lambda m: m.payload["state"] == "online")
    assert birth.retain and birth.payload["role"] == "kiosk"

    # A device fault raises a staff alert (a 300-character reason is accepted: the docs say
    # the controller cuts it to 200, which is not observable from a terminal).
    kiosk.heartbeat(mode="normal", uptime_s=12.5)
    kiosk.report_device("printer", "fault", reason="纸尽" * 150)
    a = alerts.wait_for(lambda m: m.payload["kind"] == "device")
    assert a.payload["terminal"] == "k01" and a.payload["location"] == "大厅"

    # A connection that dies: the broker publishes the Will (`lost`, same seq), a red alert
    # follows, and the reconnect is a new birth with a larger seq.
    seq = kiosk.seq
    kiosk.drop_connection()
    lost = states.wait_for(lambda m: m.payload["state"] == "lost")
    assert lost.payload["seq"] == seq
    a = alerts.wait_for(lambda m: m.payload["kind"] == "terminal", timeout=10)
    assert a.payload["level"] == "red" and a.payload["terminal"] == "k01"
    reborn = states.wait_for(lambda m: m.payload["state"] == "online" and m.payload["seq"] > seq)
    assert reborn.payload["seq"] == seq + 1
    assert kiosk.request("hall.status")["open"] is True
