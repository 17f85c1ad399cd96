"""A paho-mqtt 2.x client set up the way every hall process needs it.

- MQTT 5, ``CallbackAPIVersion.VERSION2``, ``connect_async`` + ``loop_start`` so a broker
  that is down at start is retried with bounded backoff instead of raising.
- TCP_NODELAY on the socket after every connect (paho never sets it; Nagle plus delayed
  ACK costs ~88 ms per request/response, see shared/reference/mqtt.md).
- Presence: a retained birth on every connect with a growing sequence number, and a Will
  carrying the same number marked ``lost``.
- Request/response with Response Topic + Correlation Data; a request is re-sent with the
  same id until its reply arrives or its deadline passes, so a broker restart in the
  middle costs a retry, never a duplicate (the controller deduplicates by id).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hall_contract.messages import Presence, Reply
from hall_contract.topics import Topics

log = logging.getLogger(__name__)

MessageHandler = Callable[[str, bytes, mqtt.MQTTMessage], None]


@dataclass
class BrokerSettings:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    keepalive: int = 15

    @classmethod
    def from_url(cls, url: str, **kw: Any) -> BrokerSettings:
        """``mqtt://user:pass@host:port`` or ``mqtts://...``."""
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp"):
            raise ValueError(f"broker URL {url!r} must start with mqtt:// or mqtts://")
        port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=port,
            username=parts.username,
            password=parts.password,
            **kw,
        )


class RequestTimeout(Exception):
    """No reply arrived before the deadline (controller or broker unreachable)."""


@dataclass
class _Pending:
    event: threading.Event = field(default_factory=threading.Event)
    reply: Reply | None = None


def set_nodelay(client: mqtt.Client) -> None:
    sock = client.socket()
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def new_paho(
    client_id: str,
    settings: BrokerSettings,
    *,
    cls: type[mqtt.Client] = mqtt.Client,
) -> mqtt.Client:
    client = cls(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    if settings.username:
        client.username_pw_set(settings.username, settings.password)
    if settings.tls_ca:
        client.tls_set(
            ca_certs=settings.tls_ca,
            certfile=settings.tls_cert,
            keyfile=settings.tls_key,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
    client.reconnect_delay_set(min_delay=1, max_delay=8)
    client.max_queued_messages_set(0)
    client.max_inflight_messages_set(1000)
    return client


def connect_props(session_expiry: int) -> Properties:
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = session_expiry
    return props


class HallClient:
    """One terminal's (or tool's) connection to the hall broker."""

    def __init__(
        self,
        topics: Topics,
        terminal_id: str,
        settings: BrokerSettings,
        *,
        role: str = "tool",
        version: str | None = None,
        presence: bool = True,
        session_expiry: int = 0,
    ) -> None:
        self.topics = topics
        self.terminal_id = terminal_id
        self.settings = settings
        self.role = role
        self.version = version
        self.presence = presence
        self.config_version: int | None = None
        self._seq = time.time_ns() // 1_000_000  # birth sequence: grows across restarts too
        self._subs: dict[str, tuple[int, MessageHandler]] = {}
        self._pending: dict[str, _Pending] = {}
        self._subacks: dict[int, threading.Event] = {}
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._ids = itertools.count(1)
        self._prefix = uuid.uuid4().hex[:8]
        self.on_connection_change: Callable[[bool], None] | None = None
        session = session_expiry > 0
        self._client = new_paho(
            f"{topics.hall}-{terminal_id}-{self._prefix}"
            if not session
            else f"{topics.hall}-{terminal_id}",
            settings,
        )
        self._session_expiry = session_expiry
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._reply_topic = topics.reply(terminal_id)
        self._started = False

    # ----------------------------------------------------------------- lifecycle
    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self, wait: float | None = 10.0) -> HallClient:
        self._set_will()
        self._client.connect_async(
            self.settings.host,
            self.settings.port,
            keepalive=self.settings.keepalive,
            clean_start=self._session_expiry == 0,
            properties=connect_props(self._session_expiry),
        )
        self._client.loop_start()
        self._started = True
        if wait is not None and not self._connected.wait(wait):
            log.warning(
                "broker %s:%s not reachable yet; retrying in the background",
                self.settings.host,
                self.settings.port,
            )
        return self

    def stop(self, *, graceful: bool = True) -> None:
        if not self._started:
            return
        if graceful and self.presence and self.connected:
            info = self._client.publish(
                self.topics.state(self.terminal_id), self._presence("offline"), qos=1, retain=True
            )
            with contextlib.suppress(RuntimeError, ValueError):  # the link may be gone
                info.wait_for_publish(2.0)
        self._started = False
        self._connected.clear()
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> HallClient:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    # -------------------------------------------------------------- pub / sub
    def subscribe(
        self, topic: str, handler: MessageHandler, qos: int = 1, wait: float | None = 5.0
    ) -> bool:
        """Subscribe (again after every reconnect). With ``wait``, returns once the broker
        has acknowledged it, so nothing published after this call is missed."""
        with self._lock:
            self._subs[topic] = (qos, handler)
        if not self.connected:
            return False
        ev = threading.Event()
        with self._lock:
            _rc, mid = self._client.subscribe(topic, qos)
            if mid is None:
                return False
            self._subacks[mid] = ev
        return ev.wait(wait) if wait else False

    def publish(
        self,
        topic: str,
        payload: bytes | str,
        *,
        qos: int = 1,
        retain: bool = False,
        expiry: int | None = None,
    ) -> mqtt.MQTTMessageInfo:
        props = None
        if expiry is not None:
            props = Properties(PacketTypes.PUBLISH)
            props.MessageExpiryInterval = expiry
        return self._client.publish(topic, payload, qos=qos, retain=retain, properties=props)

    def request(
        self, op: str, payload: dict[str, Any], *, timeout: float = 5.0, retry_every: float = 1.0
    ) -> Reply:
        """Send a request and wait for its reply; re-sends the same id until answered."""
        rid = str(payload.setdefault("id", self.new_id()))
        pending = _Pending()
        with self._lock:
            self._pending[rid] = pending
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = self._reply_topic
        props.CorrelationData = rid.encode()
        # A request the controller could not read in time is dropped by the broker rather
        # than served to somebody who has already walked away.
        props.MessageExpiryInterval = max(1, int(timeout + 0.999))
        body = json.dumps(payload, ensure_ascii=False).encode()
        topic = self.topics.request(self.terminal_id, op)
        deadline = time.monotonic() + timeout
        try:
            while True:
                if self.connected:
                    self._client.publish(topic, body, qos=1, properties=props)
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                if pending.event.wait(min(retry_every, left)):
                    assert pending.reply is not None
                    return pending.reply
        finally:
            with self._lock:
                self._pending.pop(rid, None)
        raise RequestTimeout(f"no reply to {op} within {timeout:.1f} s")

    def new_id(self) -> str:
        return f"{self.terminal_id}.{self._prefix}.{next(self._ids)}"

    # -------------------------------------------------------------- callbacks
    def _presence(self, state: str) -> bytes:
        return Presence(
            state=state,
            seq=self._seq,
            role=self.role,  # type: ignore[arg-type]
            version=self.version,
            config_version=self.config_version,
            at=time.time(),
        ).dumps()

    def _set_will(self) -> None:
        if self.presence:
            self._client.will_set(
                self.topics.state(self.terminal_id), self._presence("lost"), qos=1, retain=True
            )

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any = None
    ) -> None:
        if rc.is_failure:
            log.error("broker refused connection: %s", rc)
            return
        set_nodelay(client)
        subs = [(self._reply_topic, 1)]
        with self._lock:
            subs += [(t, q) for t, (q, _h) in self._subs.items()]
        client.subscribe(subs)
        if self.presence:
            client.publish(
                self.topics.state(self.terminal_id), self._presence("online"), qos=1, retain=True
            )
        self._connected.set()
        log.info("connected to broker as %s", self.terminal_id)
        if self.on_connection_change:
            self.on_connection_change(True)

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, rcs: Any, props: Any = None
    ) -> None:
        with self._lock:
            ev = self._subacks.pop(mid, None)
        if ev is not None:
            ev.set()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any = None
    ) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        # Next birth gets a higher sequence number; the Will must carry it too.
        self._seq += 1
        self._set_will()
        if was and self._started:
            log.warning("lost the broker (%s); reconnecting", rc)
            if self.on_connection_change:
                self.on_connection_change(False)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == self._reply_topic:
            self._on_reply(msg)
            return
        with self._lock:
            handlers = [
                h for t, (_q, h) in self._subs.items() if mqtt.topic_matches_sub(t, msg.topic)
            ]
        for handler in handlers:
            try:
                handler(msg.topic, bytes(msg.payload), msg)
            except Exception:
                log.exception("handler for %s failed", msg.topic)

    def _on_reply(self, msg: mqtt.MQTTMessage) -> None:
        try:
            reply = Reply.model_validate_json(msg.payload)
        except ValueError:
            log.warning("ignoring malformed reply on %s", msg.topic)
            return
        with self._lock:
            pending = self._pending.get(reply.id)
        if pending is not None:
            pending.reply = reply
            pending.event.set()
