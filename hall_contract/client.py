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

from hall_contract.messages import (
    ErrorCode,
    Presence,
    Reply,
    error_reply,
    problem,
    read_reply,
    reply_id,
)
from hall_contract.topics import Topics

log = logging.getLogger(__name__)

MessageHandler = Callable[[str, bytes, mqtt.MQTTMessage], None]


@dataclass
class BrokerSettings:
    """Where and how to reach the broker.

    TLS: ``tls`` True/False says it; ``None`` (the default when built directly) means TLS
    exactly when a CA file or a client certificate is given. ``from_url`` sets it from the
    scheme: ``mqtts://`` is TLS, ``mqtt://`` is not. With TLS and no ``tls_ca`` the
    system's trusted CAs are used (a broker with a publicly trusted certificate).
    ``tls_cert`` / ``tls_key`` are the client's own certificate and key, for brokers that
    require one (``tls_key`` may be left out when the key is in the certificate file)."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    keepalive: int = 15
    tls: bool | None = None

    @property
    def uses_tls(self) -> bool:
        return self.tls if self.tls is not None else bool(self.tls_ca or self.tls_cert)

    @property
    def address(self) -> str:
        return f"{'mqtts' if self.uses_tls else 'mqtt'}://{self.host}:{self.port}"

    @classmethod
    def from_url(cls, url: str, **kw: Any) -> BrokerSettings:
        """``mqtt://user:pass@host:port`` or ``mqtts://...`` (TLS, port 8883 by default).
        ``tls_ca`` / ``tls_cert`` / ``tls_key`` in ``kw`` are used only for ``mqtts://``."""
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp"):
            raise ValueError(f"broker URL {url!r} must start with mqtt:// or mqtts://")
        tls = parts.scheme == "mqtts"
        if not tls:
            kw = {k: v for k, v in kw.items() if not k.startswith("tls")}
        try:
            port = parts.port or (8883 if tls else 1883)
        except ValueError:
            raise ValueError(f"broker URL {url!r} has a bad port number") from None
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=port,
            username=parts.username,
            password=parts.password,
            tls=tls,
            **kw,
        )


class TlsSetupError(ValueError):
    """A TLS file of the client's settings cannot be used (missing, unreadable, not PEM)."""


def tls_context(settings: BrokerSettings) -> ssl.SSLContext:
    """The client-side TLS context of ``settings``: verifies the broker's certificate
    (against ``tls_ca``, else the system's CAs) and the host name it was reached by;
    presents ``tls_cert`` when given. Shared by paho (``HallClient``) and ``LeanClient``."""

    def unusable(field: str, path: str, err: Exception) -> TlsSetupError:
        why = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        return TlsSetupError(f"cannot use {field} {path}: {why}")

    try:
        ctx = ssl.create_default_context(cafile=settings.tls_ca)
    except ssl.SSLError:
        why = ValueError("not a PEM CA certificate")
        raise unusable("tls_ca", settings.tls_ca or "", why) from None
    except OSError as err:
        raise unusable("tls_ca", settings.tls_ca or "", err) from None
    if settings.tls_cert:
        field, files = "tls_cert", settings.tls_cert
        if settings.tls_key:
            field, files = "tls_cert/tls_key", f"{settings.tls_cert} / {settings.tls_key}"
        try:
            ctx.load_cert_chain(settings.tls_cert, settings.tls_key)
        except ssl.SSLError:
            why = ValueError("not a PEM certificate with its matching private key")
            raise unusable(field, files, why) from None
        except OSError as err:
            raise unusable(field, files, err) from None
    elif settings.tls_key:
        raise TlsSetupError("tls_key is set without tls_cert (the client certificate)")
    return ctx


def explain_connect_error(err: BaseException, settings: BrokerSettings) -> str:
    """What went wrong connecting to the broker, in words a technician can act on."""
    where = f"{settings.host}:{settings.port}"
    if isinstance(err, ssl.SSLCertVerificationError):
        why = getattr(err, "verify_message", None) or str(err)
        trust = (
            f"the CA certificate {settings.tls_ca} (tls_ca)"
            if settings.tls_ca
            else "the system's trusted CAs (no tls_ca is set)"
        )
        if "mismatch" in why.lower():
            hint = (
                f"the broker's certificate does not name {settings.host!r}: connect by a "
                "name or address listed in its subjectAltName, or reissue it with this one"
            )
        else:
            hint = f"check that {trust} signed the broker's certificate"
        return f"TLS: the broker at {where} is not trusted ({why}); {hint}"
    if isinstance(err, ssl.SSLError):
        reason = getattr(err, "reason", None) or str(err)
        return (
            f"TLS handshake with {where} failed ({reason}): is {settings.port} the broker's "
            "TLS port (mqtts://, usually 8883), and its certificate and key valid?"
        )
    if isinstance(err, ConnectionResetError):
        if settings.uses_tls:
            return (
                f"the broker at {where} dropped the TLS handshake: is {settings.port} its "
                "plain port? mqtts:// needs its TLS port (usually 8883)"
            )
        return (
            f"the broker at {where} dropped the connection: if {settings.port} is its TLS "
            "port, connect with mqtts://"
        )
    if isinstance(err, ConnectionRefusedError):
        return f"nothing listens on {where} (connection refused): is the broker running?"
    if isinstance(err, socket.gaierror):
        return f"unknown broker host {settings.host!r} ({err.strerror})"
    if isinstance(err, TimeoutError):
        return f"no answer from {where} (timed out): check the address and the network"
    if isinstance(err, OSError) and err.strerror:
        return f"cannot reach {where}: {err.strerror}"
    return f"cannot reach {where}: {err}"


class RequestTimeout(Exception):
    """No reply arrived before the deadline (controller or broker unreachable)."""


@dataclass
class _Pending:
    event: threading.Event = field(default_factory=threading.Event)
    payload: bytes | None = None


def set_nodelay(client: mqtt.Client) -> None:
    sock = client.socket()
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class ReportingClient(mqtt.Client):
    """paho's client, telling why a connection attempt failed: paho's background loop
    swallows the exception and retries (logging it only at debug level), so a broker
    that does not trust us, or that we do not trust, would look merely "unreachable"."""

    on_connect_error: Callable[[BaseException], None] | None = None

    def reconnect(self) -> mqtt.MQTTErrorCode:
        try:
            return super().reconnect()
        except OSError as err:
            if self.on_connect_error is not None:
                self.on_connect_error(err)
            raise


def new_paho(
    client_id: str,
    settings: BrokerSettings,
    *,
    cls: type[mqtt.Client] = mqtt.Client,
) -> mqtt.Client:
    client = cls(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    if settings.username:
        client.username_pw_set(settings.username, settings.password)
    if settings.uses_tls:
        client.tls_set_context(tls_context(settings))
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
        #: Why the last connection attempt failed (None after a success), in plain words.
        self.last_error: str | None = None
        self._outcome = threading.Condition()
        self._ids = itertools.count(1)
        self._prefix = uuid.uuid4().hex[:8]
        self.on_connection_change: Callable[[bool], None] | None = None
        session = session_expiry > 0
        self._client = new_paho(
            f"{topics.hall}-{terminal_id}-{self._prefix}"
            if not session
            else f"{topics.hall}-{terminal_id}",
            settings,
            cls=ReportingClient,
        )
        assert isinstance(self._client, ReportingClient)
        self._client.on_connect_error = self._on_connect_error
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
                "broker %s:%s not reachable yet (%s); retrying in the background",
                self.settings.host,
                self.settings.port,
                self.last_error or "no answer",
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

    def wait_connected(self, timeout: float, *, fail_fast: bool = False) -> bool:
        """Wait for the connection. ``fail_fast``: give up at the first failed attempt
        (its reason is in ``last_error``) instead of waiting out the retries."""
        if not fail_fast:
            return self._connected.wait(timeout)
        with self._outcome:
            self._outcome.wait_for(
                lambda: self._connected.is_set() or self.last_error is not None, timeout
            )
        return self._connected.is_set()

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
    ) -> Reply[Any]:
        """Send a request and wait for its reply; re-sends the same id until answered. The
        reply's ``result`` is the operation's result type (hall_contract.messages), checked
        against the contract; a reply that does not follow it becomes an ``internal``
        error."""
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
                    assert pending.payload is not None
                    return self._typed(op, rid, pending.payload)
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

    def _failed(self, why: str) -> None:
        if why != self.last_error:  # once, not at every retry
            log.error("%s", why)
        with self._outcome:
            self.last_error = why
            self._outcome.notify_all()

    def _on_connect_error(self, err: BaseException) -> None:
        self._failed(explain_connect_error(err, self.settings))

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any = None
    ) -> None:
        if rc.is_failure:
            who = f" as {self.settings.username!r}" if self.settings.username else ""
            self._failed(f"the broker at {self.settings.address} refused the login{who}: {rc}")
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
        with self._outcome:
            self.last_error = None
            self._connected.set()
            self._outcome.notify_all()
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
        rid = reply_id(bytes(msg.payload))
        if rid is None:
            log.warning("ignoring a reply without an id on %s", msg.topic)
            return
        with self._lock:
            pending = self._pending.get(rid)
        if pending is not None and pending.payload is None:
            pending.payload = bytes(msg.payload)
            pending.event.set()

    @staticmethod
    def _typed(op: str, rid: str, payload: bytes) -> Reply[Any]:
        try:
            return read_reply(op, payload)
        except ValueError as err:
            log.warning("a reply to %s does not follow the contract: %s", op, problem(err))
            return error_reply(
                rid,
                ErrorCode.INTERNAL,
                "中控的回复格式不正确",
                "the controller's reply does not follow the contract",
            )
