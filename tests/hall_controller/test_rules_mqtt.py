"""The queue rules end to end: terminals → real mosquitto → controller → store → replies.

The engine's own tests (test_engine.py) cover each rule in depth; these check that each
one holds through the MQTT contract, as kiosks and windows see it, with the hall's clock
in the test's hand.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import time
import uuid
from typing import Any

import orjson
import pytest

from hall_contract.hallconfig import HallConfig, Interleave
from hall_contract.lean import LeanClient
from hall_controller.broker import Mosquitto
from tests.conftest import OPEN_MORNING, SHANGHAI, FakeClock, load_hall

MIN = 60.0


def with_services(cfg: HallConfig, sid: str, **update: Any) -> HallConfig:
    services = [s.model_copy(update=update) if s.id == sid else s for s in cfg.services]
    return cfg.model_copy(update={"services": services})


def with_priority(cfg: HallConfig, **update: Any) -> HallConfig:
    return cfg.model_copy(update={"priority": cfg.priority.model_copy(update=update)})


def ok(reply: Any) -> dict[str, Any]:
    """The result as it went over the wire (JSON), having passed the contract's check."""
    assert reply.ok, reply.error
    assert reply.result is not None
    return dict(orjson.loads(orjson.dumps(reply.result)))


def err(reply: Any) -> Any:
    assert not reply.ok, reply.result
    assert reply.error is not None
    return reply.error


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(OPEN_MORNING)


def test_numbers_restart_at_the_day_boundary(controller_factory, client_factory, clock) -> None:
    controller_factory(clock=clock)
    kiosk = client_factory("k01", role="kiosk")
    first = ok(kiosk.request("ticket.issue", {"service": "id_card_renew"}))
    second = ok(kiosk.request("ticket.issue", {"service": "id_card_renew"}))
    assert (first["number"], second["number"]) == ("A001", "A002")
    clock.set(dt.datetime(2026, 11, 19, 2, 30, tzinfo=SHANGHAI))  # before the 03:00 boundary
    err_closed = err(kiosk.request("ticket.issue", {"service": "id_card_renew"}))
    assert err_closed.code == "closed"
    clock.set(dt.datetime(2026, 11, 19, 9, 5, tzinfo=SHANGHAI))
    fresh = ok(kiosk.request("ticket.issue", {"service": "id_card_renew"}))
    assert fresh["number"] == "A001" and fresh["ticket_id"] != first["ticket_id"]
    # Yesterday's waiting tickets expired with the day.
    old = ok(kiosk.request("ticket.lookup", {"ticket": second["token"]}))
    assert old["state"] == "expired"


def test_interleave_and_starvation_through_the_broker(
    controller_factory, client_factory, clock
) -> None:
    cfg = with_priority(load_hall(), interleave=Interleave(priority=1, normal=2), starvation_min=30)
    controller_factory(cfg, clock=clock)
    kiosk = client_factory("k01", role="kiosk")
    window = client_factory("w01", role="window")
    issued = {}
    for name in ("n1", "n2", "n3"):
        issued[name] = ok(kiosk.request("ticket.issue", {"service": "id_card_renew"}))["number"]
        clock.advance(10)
    for name in ("p1", "p2"):
        body = {"service": "id_card_renew", "priority": "elderly"}
        issued[name] = ok(kiosk.request("ticket.issue", body))["number"]
        clock.advance(10)
    calls = []
    for _ in range(5):
        t = ok(window.request("window.call_next", {}))
        calls.append(t["number"])
        ok(window.request("window.finish", {}))
        clock.advance(30)
    # 1 priority : 2 normal
    assert calls == [issued[k] for k in ("p1", "n1", "n2", "p2", "n3")]


def test_starvation_bound_beats_strict_priority_through_the_broker(
    controller_factory, client_factory, clock
) -> None:
    cfg = with_priority(load_hall(), interleave=Interleave(priority=1, normal=0), starvation_min=30)
    controller_factory(cfg, clock=clock)
    kiosk = client_factory("k01", role="kiosk")
    window = client_factory("w01", role="window")
    old = ok(kiosk.request("ticket.issue", {"service": "id_card_renew"}))
    clock.advance(minutes=20)
    green = ok(kiosk.request("ticket.issue", {"service": "id_card_renew", "priority": "green"}))
    # Strict priority: under the bound, the green channel goes first ...
    assert ok(window.request("window.call_next", {}))["number"] == green["number"]
    ok(window.request("window.finish", {}))
    ok(kiosk.request("ticket.issue", {"service": "id_card_renew", "priority": "elderly"}))
    clock.advance(minutes=11)
    # ... but a normal ticket waiting past the bound beats any priority one.
    assert ok(window.request("window.call_next", {}))["number"] == old["number"]


def test_transfer_keeps_number_and_history_and_is_served_first(
    controller_factory, client_factory, clock
) -> None:
    controller_factory(clock=clock)
    kiosk = client_factory("k01", role="kiosk")
    w1 = client_factory("w01", role="window")
    w2 = client_factory("window-win02", role="window")
    a = ok(kiosk.request("ticket.issue", {"service": "id_card_renew"}))
    clock.advance(5)
    b = ok(kiosk.request("ticket.issue", {"service": "ss_proof_print"}))  # waits in social
    clock.advance(5)
    ok(w1.request("window.call_next", {}))
    clock.advance(MIN)
    moved = ok(w1.request("window.transfer", {"to_queue": "social", "note": "需社保窗口"}))
    assert moved["number"] == a["number"] and moved["queue"] == "social"
    assert moved["priority"] == "transfer"
    assert [h["what"] for h in moved["history"]] == ["issued", "called", "transferred"]
    assert moved["token"] is None  # window replies never carry the citizen's token
    assert moved["history"][-1]["note"] == "需社保窗口"  # the staff see their note ...
    seen = ok(kiosk.request("ticket.lookup", {"ticket": a["token"]}))
    assert all(h["note"] is None for h in seen["history"])  # ... the citizen's kiosk does not
    # win02 serves social first: the transferred ticket goes before B001, which waited longer
    nxt = ok(w2.request("window.call_next", {}))
    assert nxt["number"] == a["number"]
    assert [h["what"] for h in nxt["history"]][-1] == "called"
    ok(w2.request("window.finish", {}))
    assert ok(w2.request("window.call_next", {}))["number"] == b["number"]


def test_appointment_rules_through_the_broker(controller_factory, client_factory, clock) -> None:
    controller_factory(clock=clock)
    admin = client_factory("a01", role="admin")
    kiosk = client_factory("k01", role="kiosk")
    slot = dt.datetime(2026, 11, 18, 11, 0, tzinfo=SHANGHAI)
    for code, start in (("YY1", slot), ("YY2", slot + dt.timedelta(days=7))):
        ok(
            admin.request(
                "admin.book_appointment",
                {
                    "code": code,
                    "service": "id_card_renew",
                    "start": start.timestamp(),
                    "end": start.timestamp() + 30 * MIN,
                },
            )
        )
    early = err(kiosk.request("appointment.checkin", {"code": "YY1"}))
    assert early.code == "too_early" and "10:30" in early.message
    assert err(kiosk.request("appointment.checkin", {"code": "YY2"})).code == "too_early"
    # Nobody gets appointment priority by asking for it.
    claimed = err(
        kiosk.request("ticket.issue", {"service": "id_card_renew", "priority": "appointment"})
    )
    assert claimed.code == "bad_request" and claimed.field == "priority"
    clock.set(slot - dt.timedelta(minutes=10))
    t = ok(kiosk.request("appointment.checkin", {"code": "YY1"}))
    assert t["priority"] == "appointment" and t["token"]
    again = ok(kiosk.request("appointment.checkin", {"code": "YY1"}))
    assert again["ticket_id"] == t["ticket_id"]  # checking in twice: the same ticket


def test_daily_cap_through_the_broker(controller_factory, client_factory, clock) -> None:
    controller_factory(with_services(load_hall(), "id_card_renew", daily_cap=2), clock=clock)
    kiosk = client_factory("k01", role="kiosk")
    ok(kiosk.request("ticket.issue", {"service": "id_card_renew"}))
    ok(kiosk.request("ticket.issue", {"service": "id_card_renew"}))
    full = err(kiosk.request("ticket.issue", {"service": "id_card_renew"}))
    assert full.code == "cap_reached" and "2" in full.message
    assert ok(kiosk.request("ticket.issue", {"service": "ss_proof_print"}))["number"] == "B001"


def test_estimates_learn_from_service_times(controller_factory, client_factory, clock) -> None:
    cfg = load_hall()
    controller_factory(cfg, clock=clock)
    kiosk = client_factory("k01", role="kiosk")
    window = client_factory("w01", role="window")
    default_s = cfg.queue("general").default_service_min * 60
    ok(kiosk.request("ticket.issue", {"service": "id_card_renew"}))
    ok(window.request("window.call_next", {}))
    clock.advance(minutes=20)  # this service took 20 minutes
    ok(window.request("window.finish", {}))
    learned = 0.8 * default_s + 0.2 * 20 * 60  # the engine's EWMA, alpha 0.2
    tickets = [ok(kiosk.request("ticket.issue", {"service": "id_card_renew"})) for _ in range(4)]
    assert [t["people_ahead"] for t in tickets] == [0, 1, 2, 3]
    # Two windows serve "general": 3 ahead × the learned time / 2 windows.
    assert tickets[3]["expected_wait_min"] == math.ceil(3 * learned / 60 / 2)
    assert tickets[3]["expected_wait_min"] > math.ceil(3 * default_s / 60 / 2)


def test_no_show_requeue_pause_and_resume(controller_factory, client_factory, clock) -> None:
    controller_factory(clock=clock)
    kiosk = client_factory("k01", role="kiosk")
    window = client_factory("w01", role="window")
    numbers = [
        ok(kiosk.request("ticket.issue", {"service": "id_card_renew"}))["number"] for _ in range(2)
    ]
    assert ok(window.request("window.call_next", {}))["number"] == numbers[0]
    recalled = ok(window.request("window.recall", {}))
    assert [h["what"] for h in recalled["history"]][-1] == "recalled"
    skipped = ok(window.request("window.no_show", {}))
    assert skipped["state"] == "skipped"
    clock.advance(MIN)
    back = ok(window.request("window.requeue", {"ticket": numbers[0]}))  # by its number
    assert back["state"] == "waiting"
    # Behind the one who was waiting: the next call is not the absent person again.
    assert ok(window.request("window.call_next", {}))["number"] == numbers[1]
    ok(window.request("window.finish", {}))
    paused = ok(window.request("window.pause", {"reason": "lunch", "note": "午休"}))
    assert paused["paused"] and paused["pause_reason"] == "lunch"
    assert err(window.request("window.call_next", {})).code == "conflict"
    ok(window.request("window.resume", {}))
    assert ok(window.request("window.call_next", {}))["number"] == numbers[0]


def test_lookup_needs_the_token_not_the_public_id(controller_factory, client_factory) -> None:
    controller_factory()
    kiosk = client_factory("k01", role="kiosk")
    other = client_factory("k02", role="kiosk")
    mine = ok(kiosk.request("ticket.issue", {"service": "id_card_renew"}))
    # The id and number are on every display; they reveal nothing and rate nothing.
    for ref in (mine["ticket_id"], mine["number"]):
        assert err(other.request("ticket.lookup", {"ticket": ref})).code == "not_found"
    found = ok(other.request("ticket.lookup", {"ticket": mine["token"]}))
    assert found["ticket_id"] == mine["ticket_id"] and found["token"] == mine["token"]


def test_a_malformed_terminal_topic_spoils_nothing(
    controller_factory, client_factory, broker: Mosquitto, caplog
) -> None:
    """A request on a topic whose terminal id the contract does not allow is dropped on
    arrival; the requests read in the same batch are answered as usual."""
    controller_factory()
    kiosk = client_factory("k01", role="kiosk")
    assert ok(kiosk.request("ticket.issue", {"service": "id_card_renew"}))["number"] == "A001"
    got: list[bytes] = []
    raw = LeanClient("raw-bad", broker.settings, clean_start=True, session_expiry=0)
    raw.on_message = lambda msg: got.append(msg.payload)
    raw.connect()
    try:
        raw.subscribe([("hall/mini/t/k09/reply", 1)])
        raw.flush()
        deadline = time.monotonic() + 5
        while raw.pump(0.5) == 0:  # the SUBACK
            assert time.monotonic() < deadline, "no SUBACK"
        with caplog.at_level(logging.WARNING):
            # One write: the controller reads the three together, as one batch.
            for tid in ("k08", "bad id", "终端", "k09"):
                raw.publish(
                    f"hall/mini/t/{tid}/req/ticket.issue",
                    json.dumps({"id": uuid.uuid4().hex, "service": "id_card_renew"}),
                    qos=1,
                    response_topic=f"hall/mini/t/{tid}/reply",
                    correlation=b"x",
                )
            raw.flush()
            deadline = time.monotonic() + 5
            while not got and time.monotonic() < deadline:
                raw.pump(0.1)
    finally:
        raw.disconnect()
    assert got, "the good request got no reply"
    reply = json.loads(got[0])
    assert reply["ok"] and reply["result"]["number"] == "A003"  # k08 took A002
    assert caplog.text.count("malformed terminal topic") == 2
    assert "state rebuilt" not in caplog.text
    # The controller goes on numbering without a gap.
    assert ok(kiosk.request("ticket.issue", {"service": "id_card_renew"}))["number"] == "A004"
