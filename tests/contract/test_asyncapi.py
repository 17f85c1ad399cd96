"""docs/asyncapi.yaml: generated from the code, valid AsyncAPI 3.0, complete, and true to
what the controller actually publishes."""

from __future__ import annotations

import copy
import inspect
import itertools
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from hall_contract.asyncapi import events_markdown, render, roles_markdown
from hall_contract.client import HallClient
from hall_contract.events import PUBLISHED
from hall_contract.messages import OPERATIONS, REQUESTS
from hall_contract.topics import Topics
from hall_controller.broker import Mosquitto
from hall_controller.service import PUBLIC_EVENTS, Controller
from tests.conftest import Collector

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "asyncapi.yaml"
SCHEMA = ROOT / "tests" / "data" / "asyncapi-3.0.0.schema.json"  # @asyncapi/specs 6.11.1

#: How to call each parameter of a Topics method to get every documented topic.
#: A method with a parameter not listed here fails the test: say how it is documented.
SAMPLES: dict[str, list[str]] = {
    "tid": ["{terminal}"],
    "op": sorted(REQUESTS),
    "device": ["{device}"],
    "queue": ["{queue}"],
    "kind": sorted(PUBLIC_EVENTS),
}
#: Members that give a prefix of topics, not a topic.
PREFIXES = {"base", "terminal"}


def load() -> dict[str, Any]:
    return dict(yaml.safe_load(DOC.read_text(encoding="utf-8")))


def test_committed_document_is_the_generated_one() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/asyncapi.yaml is stale: run `python -m hall_contract.asyncapi > docs/asyncapi.yaml`"
    )


def test_valid_against_the_official_asyncapi_3_schema() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(load()))
    assert errors == []


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [
            r for v in node.values() for r in _refs(v)
        ]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        assert part in node, f"dangling $ref {ref}"
        node = node[part]
    return node


def test_every_reference_resolves() -> None:
    doc = load()
    for ref in _refs(doc):
        _resolve(doc, ref)


def test_every_channel_parameter_is_declared_and_every_op_has_a_channel() -> None:
    doc = load()
    for cid, ch in doc["channels"].items():
        used = set(re.findall(r"\{(\w+)\}", ch["address"]))
        assert used == set(ch.get("parameters", {})), cid
    addresses = {ch["address"] for ch in doc["channels"].values()}
    for op in REQUESTS:
        assert f"hall/{{hall}}/t/{{terminal}}/req/{op}" in addresses
    for op in doc["operations"].values():
        assert op["action"] in ("send", "receive")


# ------------------------------------------------------------------- the topic tree
def _address_pattern(address: str) -> re.Pattern[str]:
    """A channel address as a regex: each `{param}` matches one topic level."""
    return re.compile(re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(address)))


def _filter_pattern(topic_filter: str) -> re.Pattern[str]:
    """An MQTT subscription filter as a regex over topics (and channel addresses)."""
    out = re.escape(topic_filter).replace(r"\+", "[^/]+")
    if out.endswith("\\#"):
        out = out[:-2] + ".+"
    return re.compile(out)


def _contract_topics() -> list[tuple[str, str]]:
    """Every topic, filter and prefix that Topics produces, with placeholders:
    (member name, topic)."""
    t = Topics("{hall}")
    out: list[tuple[str, str]] = []
    for name, member in vars(Topics).items():
        if name.startswith("_") or name in Topics.__dataclass_fields__:
            continue
        if isinstance(member, property):
            out.append((name, getattr(t, name)))
        elif inspect.isfunction(member):
            params = list(inspect.signature(member).parameters)[1:]
            missing = [p for p in params if p not in SAMPLES]
            assert not missing, f"Topics.{name}({', '.join(missing)}): add it to SAMPLES"
            for args in itertools.product(*(SAMPLES[p] for p in params)):
                out.append((name, getattr(t, name)(*args)))
    return out


def test_every_topic_in_the_topic_tree_has_a_channel() -> None:
    """A topic added to hall_contract/topics.py without a channel in the document fails."""
    addresses = [ch["address"] for ch in load()["channels"].values()]
    members = set()
    for name, topic in _contract_topics():
        members.add(name)
        if name in PREFIXES:
            ok = any(a.startswith(topic + "/") for a in addresses)
        elif "+" in topic or "#" in topic:
            ok = any(_filter_pattern(topic).fullmatch(a) for a in addresses)
        else:
            ok = any(_address_pattern(a).fullmatch(topic) for a in addresses)
        assert ok, f"Topics.{name} gives {topic!r}, which no channel in asyncapi.yaml documents"
    # the walk above really saw the tree (and the retained hall status and controller state)
    assert {"request", "event", "hall_status", "controller_state", "alerts"} <= members


def test_every_channel_is_a_topic_of_the_topic_tree() -> None:
    """And the other way round: no channel is written by hand past topics.py."""
    topics = {topic for name, topic in _contract_topics() if name not in PREFIXES}

    def norm(s: str) -> str:
        return re.sub(r"\{\w+\}", "{}", s)

    known = {norm(t) for t in topics}
    for cid, ch in load()["channels"].items():
        assert norm(ch["address"]) in known, f"channel {cid} ({ch['address']}) is not in Topics"


def test_every_published_event_type_has_its_channel_and_nothing_else_does() -> None:
    doc = load()
    by_address = {ch["address"]: ch for ch in doc["channels"].values()}
    t = Topics("{hall}")
    for kind in PUBLIC_EVENTS:
        ch = by_address.get(t.event(kind))
        assert ch is not None, f"event {kind} is published but has no channel"
        (msg,) = ch["messages"].values()
        payload = _resolve(doc, _resolve(doc, msg["$ref"])["payload"]["$ref"])
        assert payload["properties"]["type"]["const"] == kind
    assert set(PUBLISHED) == set(PUBLIC_EVENTS), "document exactly the events published"
    events = {a for a in by_address if a.startswith("hall/{hall}/events/")}
    assert events == {t.event(k) for k in PUBLIC_EVENTS}


# ------------------------------------------------------- what goes over the wire
def _strict(doc: dict[str, Any], node: Any, depth: int = 0) -> Any:
    """A schema with its $refs inlined and no extra properties allowed, so a field the
    code publishes but the document does not describe fails."""
    assert depth < 30, "recursive schema"
    if isinstance(node, list):
        return [_strict(doc, v, depth + 1) for v in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _strict(doc, copy.deepcopy(_resolve(doc, node["$ref"])), depth + 1)
    out = {k: _strict(doc, v, depth + 1) for k, v in node.items()}
    # an object schema (not a oneOf branch that only constrains some of its properties)
    if out.get("type") == "object" and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def _event_types(msgs: list[tuple[str, bytes]]) -> set[str]:
    return {json.loads(p)["type"] for t, p in msgs if t.startswith("hall/mini/events/")}


#: request id → operation, for every request the wire test made (replies are checked
#: against their operation's reply schema)
ASKED: dict[str, str] = {}


def _ok(client: HallClient, op: str, payload: dict[str, Any]) -> Any:
    rid = f"{op}.{len(ASKED)}"
    ASKED[rid] = op
    r = client.request(op, {**payload, "id": rid})
    assert r.ok and r.result is not None, (op, r.error)
    return r.result


def _refused(client: HallClient, op: str, payload: dict[str, Any], code: str) -> None:
    rid = f"{op}.{len(ASKED)}"
    ASKED[rid] = op
    r = client.request(op, {**payload, "id": rid})
    assert not r.ok and r.error is not None and r.error.code == code, (op, r)


def test_every_message_the_controller_publishes_matches_the_document(
    controller: Controller, broker: Mosquitto, client_factory
) -> None:
    """A busy hour through a real controller and broker: every message seen on the hall's
    topics (events of every published type, snapshots, status, presence, replies, alerts)
    validates against its channel's payload schema, extra fields included."""
    doc = load()
    wire = Collector(broker, "hall/mini/#")
    try:
        kiosk = client_factory("k01", role="kiosk")
        window = client_factory("w01", role="window")
        admin = client_factory("a01", role="admin")
        clock = controller.clock_control  # type: ignore[attr-defined]
        _ok(window, "window.sign_on", {"staff": "zhang.wei"})
        t1 = _ok(kiosk, "ticket.issue", {"service": "id_card_renew"})
        _ok(window, "window.call_next", {})
        _ok(window, "window.recall", {})
        _ok(window, "window.start", {})
        fin = _ok(window, "window.finish", {"accept_case": True})
        rating = {"ticket": t1.token, "level": 1, "reasons": ["wait_long"], "text": "太慢"}
        _ok(kiosk, "rating.submit", rating)
        _refused(kiosk, "rating.submit", {"ticket": t1.token, "level": 5}, "conflict")
        _ok(admin, "admin.update_case", {"case_no": fin.case.case_no, "state": "in_review"})
        _ok(kiosk, "case.lookup", {"case_no": fin.case.case_no})
        _ok(kiosk, "ticket.lookup", {"ticket": t1.token})
        _ok(kiosk, "help.request", {"kind": "helper", "note": "腿脚不便"})
        mail = {"recipient": "王小明", "phone": "13800000000", "address": "云溪县幸福路88号"}
        _ok(kiosk, "mailing.request", {"ticket": t1.token, **mail})
        _ok(window, "window.status", {})
        _refused(window, "ticket.issue", {"service": "id_card_renew"}, "forbidden")
        _ok(window, "window.pause", {"reason": "lunch", "note": "午休"})
        _ok(window, "window.resume", {})
        t2 = _ok(kiosk, "ticket.issue", {"service": "id_card_renew"})
        _ok(window, "window.call_next", {})
        _ok(window, "window.no_show", {})
        _ok(window, "window.requeue", {"ticket": t2.ticket_id})
        _ok(window, "window.call_next", {})
        _ok(window, "window.transfer", {"to_queue": "social", "note": "补材料"})
        _ok(window, "window.call_next", {})  # the transferred ticket, served first
        _ok(window, "window.finish", {})
        _ok(window, "window.sign_off", {"staff": "zhang.wei"})
        _ok(window, "window.sign_on", {"staff": "li.na"})
        _ok(kiosk, "ticket.issue", {"service": "id_card_renew"})
        _ok(kiosk, "ticket.issue", {"service": "ss_proof_print"})
        _ok(window, "window.call_next", {})
        _ok(window, "window.no_show", {})  # skipped: expires after the grace period
        _ok(window, "window.call_next", {})
        _ok(window, "window.start", {})  # served too long: a service warning
        now = controller.clock()
        booked = {"code": "AP1", "service": "id_card_renew", "start": now, "end": now + 600}
        _ok(admin, "admin.book_appointment", booked)
        _ok(kiosk, "appointment.checkin", {"code": "AP1"})
        _ok(kiosk, "hall.status", {})
        # one waiting ticket left: red wait warning; the skipped one expires
        clock.advance(minutes=controller.config.queue("general").wait_red_min + 1)
        wire.wait_all(lambda ms: {"ticket.warning", "ticket.expired"} <= _event_types(ms), "tick")
        clock.advance(minutes=24 * 60)  # Thursday 10:40: a new service day
        wire.wait_all(lambda ms: "day.rolled" in _event_types(ms), "day.rolled")
        wire.wait_all(lambda ms: any(t == "hall/mini/status" for t, _ in ms), "hall status")
        controller.stop()
        wire.wait_all(
            lambda ms: any(
                t == "hall/mini/controller/state" and json.loads(p)["state"] == "offline"
                for t, p in ms
            ),
            "controller offline",
        )
    finally:
        wire.close()

    channels = list(doc["channels"].items())
    seen: set[str] = set()
    replies_checked: set[str] = set()
    msgs = wire.pairs()
    # the Will is with the broker, not on the wire unless the controller dies: check it too
    will = controller.client.will
    assert will is not None and will.topic == "hall/mini/controller/state"
    for topic, payload in [*msgs, (will.topic, will.payload)]:
        topic = topic.replace("hall/mini/", "hall/{hall}/", 1)
        found = [
            (cid, ch) for cid, ch in channels if _address_pattern(ch["address"]).fullmatch(topic)
        ]
        assert len(found) == 1, f"{topic}: {[cid for cid, _ in found]}"
        cid, ch = found[0]
        body = json.loads(payload)
        if cid == "terminalReply":
            # a reply: checked against the reply schema of the operation it answers
            op = ASKED.get(body["id"])
            if op is None:
                continue  # a request of the kiosk's own start-up, not ours
            msg_ref = ch["messages"][f"{_pascal(op)}Reply"]
            replies_checked.add(op)
        else:
            (msg_ref,) = ch["messages"].values()
        schema = _strict(doc, _resolve(doc, msg_ref["$ref"])["payload"])
        errors = list(jsonschema.Draft7Validator(schema).iter_errors(body))
        assert not errors, f"{topic} ({cid}): {[e.message for e in errors]}\n{payload!r}"
        seen.add(cid)
    assert _event_types(msgs) == PUBLIC_EVENTS, "the scenario should publish every event type"
    assert replies_checked == set(OPERATIONS), set(OPERATIONS) - replies_checked
    # the lookup token goes only to the terminal that was issued the ticket (docs/mqtt.md)
    token = t1.token.encode()
    assert token
    for topic, payload in msgs:
        assert topic.startswith("hall/mini/t/k01/") or token not in payload, topic
    # free text typed by the citizen or the staff is never published: only sent, by them,
    # and a transfer note shown to the window staff in their own replies
    for topic, payload in msgs:
        if "/req/" in topic:
            continue
        for text in ("太慢", "腿脚不便", "补材料", "午休", "幸福路"):
            staff = text == "补材料" and topic == "hall/mini/t/w01/reply"
            assert staff or text.encode() not in payload, (topic, text)
    assert {"hallStatus", "controllerState", "queueSnapshot", "callBoard", "alerts"} <= seen
    assert {"terminalReply", "terminalState", "terminalConfig"} <= seen


def _pascal(name: str) -> str:
    return "".join(p.capitalize() for p in name.replace(".", "_").split("_"))


def test_the_role_table_in_mqtt_md_is_the_contract_s() -> None:
    doc = (ROOT / "docs" / "mqtt.md").read_text(encoding="utf-8")
    assert roles_markdown() in doc, (
        "docs/mqtt.md's role table is stale: paste `python -m hall_contract.asyncapi --roles`"
    )


def test_the_events_table_in_mqtt_md_is_the_contract_s() -> None:
    doc = (ROOT / "docs" / "mqtt.md").read_text(encoding="utf-8")
    assert events_markdown() in doc, (
        "docs/mqtt.md's events table is stale: paste `python -m hall_contract.asyncapi --events`"
    )
