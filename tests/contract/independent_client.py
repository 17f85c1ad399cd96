"""An independent client of the hall controller's MQTT contract, written from the documents
only (docs/asyncapi.yaml, docs/mqtt.md, docs/configuration.md): it imports nothing of the
project. It connects as a terminal, sends requests on ``hall/{hall}/t/{me}/req/{op}`` with
an MQTT 5 Response Topic and Correlation Data, waits for the reply, and validates every
request it sends and every message it receives against the schema the AsyncAPI document
gives for it (its ``$ref`` chains resolved here, from the YAML)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

DOCS = Path(__file__).resolve().parents[2] / "docs"
ASYNCAPI = DOCS / "asyncapi.yaml"
#: The base URI under which the whole AsyncAPI document is registered, so that the
#: ``#/components/schemas/...`` references inside its schemas resolve against it.
BASE_URI = "urn:hallkit:asyncapi"
#: mqtt.md: "its JSON payload always has an `id`: 1–64 ASCII letters, digits, `_`, `.`, `:` or `-`".
ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def citizen_key(secret: str, id_number: str) -> str:
    """mqtt.md: the first 32 hex digits (lower case) of HMAC-SHA256, key = the hall's
    ``citizen_key_secret`` as UTF-8, message = the ID number stripped and upper-cased."""
    msg = id_number.strip().upper().encode()
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()[:32]


def code_key(secret: str, code: str) -> str:
    """For a code scanned instead of an ID card, the message is ``code:`` + the code."""
    return hmac.new(secret.encode(), f"code:{code}".encode(), hashlib.sha256).hexdigest()[:32]


def strict_json(raw: bytes) -> Any:
    """JSON as the contract means it: UTF-8, and no NaN / Infinity."""

    def no_constant(name: str) -> Any:
        raise ValueError(f"not JSON: {name}")

    return json.loads(raw.decode("utf-8"), parse_constant=no_constant)


class ContractError(AssertionError):
    """A message that does not match the documented contract."""


@dataclass(frozen=True)
class Operation:
    name: str  # e.g. "ticket.issue" (the last segment of the request channel's address)
    operation_key: str  # e.g. "receiveTicketIssueRequest"
    request_ref: str  # JSON pointer of the request payload schema
    reply_ref: str  # JSON pointer of the reply payload schema
    roles: tuple[str, ...]  # from the operation's description "Roles: ..."


@dataclass(frozen=True)
class Channel:
    key: str
    address: str
    pattern: re.Pattern[str]
    payload_refs: tuple[str, ...]


class Contract:
    """The AsyncAPI document, with ``$ref`` chains resolved and validators per schema."""

    def __init__(self, path: Path = ASYNCAPI) -> None:
        self.doc: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert self.doc.get("asyncapi", "").startswith("3."), "expected AsyncAPI 3.x"
        resource: Resource[Any] = Resource(contents=self.doc, specification=DRAFT7)
        self.registry: Registry[Any] = Registry().with_resource(BASE_URI, resource)
        self._validators: dict[str, jsonschema.Draft7Validator] = {}
        self.channels = self._read_channels()
        self.operations = self._read_operations()

    # -- $ref resolution -------------------------------------------------------------
    def pointer(self, ref: str) -> Any:
        """The node a local reference (``#/a/b``) points at (JSON pointer, RFC 6901)."""
        assert ref.startswith("#/"), f"only local references are used: {ref}"
        node: Any = self.doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    def deref(self, node: Any) -> tuple[Any, str | None]:
        """Follow ``$ref`` until a node without one; returns it and the last ref followed."""
        last = None
        seen = set()
        while isinstance(node, dict) and "$ref" in node:
            last = node["$ref"]
            assert last not in seen, f"$ref cycle at {last}"
            seen.add(last)
            node = self.pointer(last)
        return node, last

    def _payload_ref(self, message_node: Any) -> str:
        message, _ref = self.deref(message_node)
        payload = message["payload"]
        assert set(payload) == {"$ref"}, f"payload without a $ref: {payload}"
        ref: str = payload["$ref"]
        self.pointer(ref)  # must exist
        return ref

    def _read_channels(self) -> dict[str, Channel]:
        out = {}
        for key, ch in self.doc["channels"].items():
            address: str = ch["address"]
            regex = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(address)) + "$"
            refs = tuple(self._payload_ref(m) for m in ch.get("messages", {}).values())
            out[key] = Channel(key, address, re.compile(regex), refs)
        return out

    def _read_operations(self) -> dict[str, Operation]:
        out = {}
        for key, op in self.doc["operations"].items():
            if "reply" not in op:
                continue
            channel, _ = self.deref(op["channel"])
            address: str = channel["address"]
            m = re.fullmatch(r"hall/\{hall\}/t/\{terminal\}/req/([a-z_.]+)", address)
            assert m, f"{key}: request channel address {address!r} not under t/{{terminal}}/req/"
            name = m.group(1)
            (request_msg,) = channel["messages"].values()
            request_ref = self._payload_ref(request_msg)
            (reply_msg,) = op["reply"]["messages"]
            reply_ref = self._payload_ref(reply_msg)
            # The roles are only in prose: "Roles: kiosk, rater. Result: ..."
            rm = re.match(r"Roles: ([a-z, ]+)\.", op.get("description", ""))
            assert rm, f"{key}: no 'Roles:' in its description"
            roles = tuple(r.strip() for r in rm.group(1).split(","))
            out[name] = Operation(name, key, request_ref, reply_ref, roles)
        return out

    # -- validation ------------------------------------------------------------------
    def validator(self, ref: str) -> jsonschema.Draft7Validator:
        v = self._validators.get(ref)
        if v is None:
            v = jsonschema.Draft7Validator({"$ref": BASE_URI + ref}, registry=self.registry)
            self._validators[ref] = v
        return v

    def errors(self, ref: str, instance: Any) -> list[str]:
        return [
            f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in self.validator(ref).iter_errors(instance)
        ]

    def validate(self, ref: str, instance: Any, what: str = "") -> None:
        errs = self.errors(ref, instance)
        if errs:
            raise ContractError(f"{what or ref} does not match {ref}: " + "; ".join(errs))

    def schema_ref(self, name: str) -> str:
        ref = f"#/components/schemas/{name}"
        self.pointer(ref)
        return ref

    def channel_for(self, topic: str) -> Channel | None:
        """The channel whose address matches a concrete topic. ``terminalReply`` carries one
        message per operation and is validated by the operation instead."""
        found = [c for c in self.channels.values() if c.pattern.match(topic)]
        assert len(found) <= 1, f"{topic} matches several channels: {[c.key for c in found]}"
        return found[0] if found else None

    def validate_topic(self, topic: str, payload: Any) -> str:
        ch = self.channel_for(topic)
        if ch is None:
            raise ContractError(f"{topic}: no channel of the contract has this address")
        errs: list[str] = []
        for ref in ch.payload_refs:
            e = self.errors(ref, payload)
            if not e:
                return ref
            errs += e
        raise ContractError(f"{topic} ({ch.key}): " + "; ".join(errs))


@dataclass
class Received:
    topic: str
    payload: Any
    raw: bytes
    retain: bool
    qos: int
    schema: str | None = None


@dataclass
class Watch:
    """Messages on one topic filter, each validated against its channel's schema."""

    topic_filter: str
    messages: list[Received] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def add(self, r: Received | None, problem: str | None) -> None:
        with self.cond:
            if r is not None:
                self.messages.append(r)
            if problem:
                self.problems.append(problem)
            self.cond.notify_all()

    def wait_for(self, pred: Callable[[Received], bool], timeout: float = 5.0) -> Received:
        def find() -> Received | None:
            return next((m for m in self.messages if pred(m)), None)

        with self.cond:
            ok = self.cond.wait_for(lambda: find() is not None or self.problems, timeout)
            if self.problems:
                raise ContractError("; ".join(self.problems))
            if not ok:
                got = [m.topic for m in self.messages]
                raise TimeoutError(f"nothing matching on {self.topic_filter}; got {got}")
            found = find()
            assert found is not None
            return found

    def wait_all(self, pred: Callable[[list[Received]], bool], timeout: float = 5.0) -> None:
        with self.cond:
            ok = self.cond.wait_for(lambda: pred(self.messages) or self.problems, timeout)
            if self.problems:
                raise ContractError("; ".join(self.problems))
            if not ok:
                got = [m.topic for m in self.messages]
                raise TimeoutError(f"condition not met on {self.topic_filter}; got {got}")

    def snapshot(self) -> list[Received]:
        with self.cond:
            return list(self.messages)


class Refused(Exception):
    def __init__(self, op: str, error: dict[str, Any]) -> None:
        super().__init__(f"{op}: {error.get('code')}: {error.get('message_en')}")
        self.op = op
        self.error = error


class TerminalClient:
    """One terminal on the hall's broker: paho-mqtt 2.x, callback API 2, MQTT 5."""

    def __init__(
        self,
        contract: Contract,
        hall: str,
        terminal: str,
        host: str,
        port: int,
        *,
        role: str = "kiosk",
        version: str = "independent-client/1",
        retry_s: float = 1.0,
    ) -> None:
        assert ID_RE.match(terminal), terminal
        self.contract = contract
        self.hall = hall
        self.terminal = terminal
        self.role = role
        self.version = version
        self.retry_s = retry_s
        self.host, self.port = host, port
        self.root = f"hall/{hall}"
        self.me = f"{self.root}/t/{terminal}"
        self.reply_topic = f"{self.me}/reply"
        self.seq = int(time.time() * 1000)  # "milliseconds since the epoch at start"
        self.config_version: int | None = None
        self.config: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._replies: dict[bytes, list[tuple[dict[str, Any], Any]]] = {}
        self._bad_replies: list[str] = []
        self._watches: list[Watch] = []
        self._sub_acks: dict[int, list[Any]] = {}
        self._connected = threading.Event()
        self._config_seen = threading.Event()
        self.published: list[tuple[str, Any]] = []
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=terminal, protocol=mqtt.MQTTv5
        )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_socket_open = self._on_socket_open
        self.client.reconnect_delay_set(1, 8)  # mqtt.md: "retried with backoff 1–8 s"
        self._set_will()

    # -- presence --------------------------------------------------------------------
    def _presence(self, state: str) -> dict[str, Any]:
        p: dict[str, Any] = {"state": state, "seq": self.seq}
        if state != "lost":
            p |= {
                "role": self.role,
                "version": self.version,
                "config_version": self.config_version,
                "at": time.time(),
            }
        self.contract.validate_topic(f"{self.me}/state", p)
        return p

    def _set_will(self) -> None:
        self.client.will_set(
            f"{self.me}/state", json.dumps(self._presence("lost")), qos=1, retain=True
        )

    def _birth(self) -> None:
        self._publish(f"{self.me}/state", self._presence("online"), qos=1, retain=True)

    # -- paho callbacks --------------------------------------------------------------
    def _on_socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        # mqtt.md: "Every client sets TCP_NODELAY on its own socket too (paho does not)."
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any
    ) -> None:
        if rc.is_failure:
            return
        client.subscribe(self.reply_topic, qos=1)
        client.subscribe(f"{self.me}/config", qos=1)
        for w in self._watches:
            client.subscribe(w.topic_filter, qos=1)
        self._birth()
        self._connected.set()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any
    ) -> None:
        self._connected.clear()
        self.seq += 1  # "+1 per reconnect"; the Will of the next connection carries it
        self._set_will()

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, codes: Any, props: Any
    ) -> None:
        with self._cond:
            self._sub_acks[mid] = list(codes)
            self._cond.notify_all()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == self.reply_topic:
            self._on_reply(msg)
            return
        if msg.topic == f"{self.me}/config":
            try:
                cfg = strict_json(msg.payload)
                self.contract.validate_topic(msg.topic, cfg)
                self.config, self.config_version = cfg["config"], cfg["version"]
            except (ValueError, ContractError) as e:
                self._bad_replies.append(f"{msg.topic}: {e}")
            self._config_seen.set()
        for w in list(self._watches):
            if mqtt.topic_matches_sub(w.topic_filter, msg.topic):
                self._deliver(w, msg)

    def _deliver(self, w: Watch, msg: mqtt.MQTTMessage) -> None:
        try:
            payload = strict_json(msg.payload)
        except ValueError as e:
            w.add(None, f"{msg.topic}: not JSON ({e})")
            return
        try:
            ref = self.contract.validate_topic(msg.topic, payload)
        except ContractError as e:
            w.add(Received(msg.topic, payload, msg.payload, bool(msg.retain), msg.qos), str(e))
            return
        w.add(Received(msg.topic, payload, msg.payload, bool(msg.retain), msg.qos, ref), None)

    def _on_reply(self, msg: mqtt.MQTTMessage) -> None:
        corr = getattr(msg.properties, "CorrelationData", None)
        try:
            reply = strict_json(msg.payload)
        except ValueError as e:
            with self._cond:
                self._bad_replies.append(f"reply not JSON: {e}")
                self._cond.notify_all()
            return
        with self._cond:
            key = corr if corr is not None else b""
            self._replies.setdefault(bytes(key), []).append((reply, msg.properties))
            self._cond.notify_all()

    # -- life cycle ------------------------------------------------------------------
    def start(self, timeout: float = 10.0, wait_config: float = 2.0) -> TerminalClient:
        self.client.connect_async(self.host, self.port, keepalive=30, clean_start=True)
        self.client.loop_start()
        if not self._connected.wait(timeout):
            self.client.loop_stop()
            raise TimeoutError(f"{self.terminal}: could not connect to {self.host}:{self.port}")
        self._wait_subscribed(timeout)
        # Desired config is retained on t/{me}/config: report its version in the presence.
        if self._config_seen.wait(wait_config) and self.config_version is not None:
            self._birth()
        return self

    def _wait_subscribed(self, timeout: float) -> None:
        # The subscriptions made in on_connect: wait until the broker acknowledged them all.
        with self._cond:
            ok = self._cond.wait_for(lambda: len(self._sub_acks) >= 2 + len(self._watches), timeout)
        assert ok, f"{self.terminal}: subscriptions not acknowledged"
        for codes in self._sub_acks.values():
            for c in codes:
                assert not c.is_failure, f"{self.terminal}: subscription refused: {c}"

    def stop(self) -> None:
        if self._connected.is_set():
            info = self._publish(f"{self.me}/state", self._presence("offline"), 1, retain=True)
            info.wait_for_publish(2)
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> TerminalClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _publish(
        self, topic: str, payload: Any, qos: int, retain: bool = False
    ) -> mqtt.MQTTMessageInfo:
        self.published.append((topic, payload))
        return self.client.publish(topic, json.dumps(payload, ensure_ascii=False), qos, retain)

    # -- subscriptions ---------------------------------------------------------------
    def watch(self, topic_filter: str, timeout: float = 5.0) -> Watch:
        """Subscribe (QoS 1) and collect what arrives, each message validated against the
        schema of the channel its topic belongs to."""
        w = Watch(topic_filter)
        with self._cond:
            self._watches.append(w)
        result, mid = self.client.subscribe(topic_filter, qos=1)
        assert result == mqtt.MQTT_ERR_SUCCESS
        with self._cond:
            ok = self._cond.wait_for(lambda: mid in self._sub_acks, timeout)
        assert ok, f"subscription to {topic_filter} not acknowledged"
        assert not any(c.is_failure for c in self._sub_acks[mid]), self._sub_acks[mid]
        return w

    # -- requests --------------------------------------------------------------------
    def new_id(self) -> str:
        return f"{self.terminal}-{uuid.uuid4().hex[:16]}"

    def call(
        self,
        op: str,
        fields: dict[str, Any] | None = None,
        *,
        timeout: float = 5.0,
        validate_request: bool = True,
    ) -> dict[str, Any]:
        """Send ``op`` with ``fields`` (an ``id`` is added unless given), wait for its reply,
        validate the reply against the operation's reply schema and return it whole."""
        spec = self.contract.operations.get(op)
        body = dict(fields or {})
        body.setdefault("id", self.new_id())
        if validate_request:
            assert spec is not None, f"{op} is not an operation of the contract"
            self.contract.validate(spec.request_ref, body, f"request {op}")
        raw = json.dumps(body, ensure_ascii=False).encode()
        corr = str(body["id"]).encode() if isinstance(body["id"], str) else uuid.uuid4().bytes
        reply = self.send_raw(op, raw, corr, timeout=timeout)
        if isinstance(body["id"], str) and ID_RE.match(body["id"]) and reply["id"] != body["id"]:
            raise ContractError(f"{op}: reply id {reply['id']!r} is not the request's")
        return reply

    def send_raw(
        self,
        op: str,
        raw: bytes,
        correlation: bytes,
        *,
        timeout: float = 5.0,
        response_topic: str | None = None,
    ) -> dict[str, Any]:
        """Publish any bytes as a request of ``op`` and wait for the reply with the same
        Correlation Data on this terminal's reply topic; the same payload is sent again every
        ``retry_s`` (mqtt.md: "re-sends the same id every second until a reply arrives")."""
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = response_topic or self.reply_topic
        props.CorrelationData = correlation
        props.MessageExpiryInterval = max(1, round(timeout))
        topic = f"{self.me}/req/{op}"
        deadline = time.monotonic() + timeout
        with self._cond:
            self._replies.pop(correlation, None)
        while True:
            self.published.append((topic, raw))
            self.client.publish(topic, raw, qos=1, properties=props)
            next_try = min(deadline, time.monotonic() + self.retry_s)
            with self._cond:
                got = self._cond.wait_for(
                    lambda: correlation in self._replies or self._bad_replies,
                    max(0.0, next_try - time.monotonic()),
                )
                if self._bad_replies:
                    raise ContractError("; ".join(self._bad_replies))
                if got:
                    reply, _props = self._replies.pop(correlation)[0]
                    break
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{self.terminal}: no reply to {op} in {timeout} s")
        self._check_reply(op, reply)
        return reply

    def _check_reply(self, op: str, reply: Any) -> None:
        spec = self.contract.operations.get(op)
        ref = spec.reply_ref if spec else self.contract.schema_ref("ErrorReply")
        self.contract.validate(ref, reply, f"reply to {op}")
        # mqtt.md: always the four keys; ok ⇒ error null; refusal ⇒ result null.
        assert set(reply) == {"id", "ok", "result", "error"}, reply
        if reply["ok"]:
            assert reply["error"] is None and reply["result"] is not None, reply
        else:
            assert reply["result"] is None and reply["error"] is not None, reply

    def unclaimed_replies(self) -> list[bytes]:
        """Correlation Data of replies that arrived here but that no request waited for."""
        with self._cond:
            return [k for k, v in self._replies.items() if v]

    # -- terminal → controller state ---------------------------------------------------
    def report_device(self, device: str, state: str, reason: str = "") -> None:
        """Retained state of one device on ``t/{me}/device/{device}`` (QoS 1)."""
        report = {"device": device, "state": state, "reason": reason, "at": time.time()}
        topic = f"{self.me}/device/{device}"
        self.contract.validate_topic(topic, report)
        self._publish(topic, report, qos=1, retain=True).wait_for_publish(2)

    def heartbeat(self, mode: str | None = None, uptime_s: float = 0.0) -> None:
        hb = {"at": time.time(), "uptime_s": uptime_s, "mode": mode}
        topic = f"{self.me}/hb"
        self.contract.validate_topic(topic, hb)
        self._publish(topic, hb, qos=0)

    def drop_connection(self) -> None:
        """Cut the TCP connection without a DISCONNECT, as a crash or a pulled cable would:
        the broker publishes the Will; paho reconnects (1–8 s) with a new birth."""
        sock = self.client.socket()
        assert sock is not None, "not connected"
        sock.shutdown(socket.SHUT_RDWR)

    def request(self, op: str, **fields: Any) -> Any:
        """Call ``op`` and return its result; a refusal raises :class:`Refused`."""
        reply = self.call(op, fields)
        if not reply["ok"]:
            raise Refused(op, reply["error"])
        return reply["result"]

    def refusal(self, op: str, fields: dict[str, Any], **kw: Any) -> dict[str, Any]:
        """Call ``op`` expecting a refusal; returns the ``error`` object."""
        reply = self.call(op, fields, **kw)
        assert reply["ok"] is False, f"{op} was not refused: {reply}"
        error: dict[str, Any] = reply["error"]
        return error
