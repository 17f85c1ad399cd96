"""A lean MQTT 5 client for the processes that carry the hall's message rate.

The controller answers every kiosk and window in the hall from one thread, so the cost
of each message is the hall's capacity. paho-mqtt (used everywhere else) spends most of
that: it reads each packet with three or more ``recv()`` calls and writes each with its
own ``send()``, and builds and parses properties in slow pure Python. Measured on the
2-core CI machine under ``bench/tickets.py``: 1,170 µs of controller CPU per ticket with
paho, most of it in paho and in system calls (on loopback each ``send()`` also runs the
receiver's TCP path). paho has no option for batching, so this client does only what
the controller needs (``hall_contract.mqtt5``), driven from its one thread:

* ``pump()`` waits for traffic, then reads everything already received with large
  ``recv()`` calls and hands each packet to the callbacks.
* ``publish()`` only appends to a buffer; ``flush()`` writes the lot (PUBACKs,
  replies, events) with one ``send()``. The controller flushes after each batch
  commits, so a request's PUBACK reaches the broker only once the request is durable:
  if the controller dies first, the broker delivers the request again.

Sessions: ``clean_start=False`` with a session expiry, so requests queue in the broker
while the controller restarts. QoS 1 messages not yet acknowledged are sent again after
a reconnect (marked DUP when the broker kept the session). The broker's Receive Maximum
is respected. Keepalive pings, Will, username/password and TLS (``tls_context``, as for paho) are
supported.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import select
import socket
import ssl
import time
from collections.abc import Callable

from hall_contract import mqtt5
from hall_contract.client import BrokerSettings, explain_connect_error, tls_context

log = logging.getLogger(__name__)

READ_SIZE = 256 * 1024
#: Bytes read per pump at most, so a flood cannot starve the rest of the loop.
MAX_READ_PER_PUMP = 2 * 1024 * 1024
_WOULD_BLOCK = (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError)

CONNACK_REASONS = {
    0x80: "unspecified error",
    0x84: "unsupported protocol version",
    0x85: "client identifier not valid",
    0x86: "bad user name or password",
    0x87: "not authorized",
    0x88: "server unavailable",
    0x89: "server busy",
    0x8A: "banned",
    0x95: "packet too large",
    0x97: "quota exceeded",
    0x9F: "connection rate exceeded",
}


class ConnectRefused(ConnectionError):
    """The broker answered CONNECT with a failure reason code."""


class BrokerCertificateError(ssl.SSLCertVerificationError):
    """The broker's TLS certificate is not trusted (wrong CA, wrong name, expired); the
    message says which and what to check. Keeps ``verify_code`` and ``verify_message``."""

    def __init__(self, message: str, cause: ssl.SSLCertVerificationError) -> None:
        super().__init__(message)
        self.verify_code = cause.verify_code
        self.verify_message = cause.verify_message

    def __str__(self) -> str:
        return str(self.args[0])


class LeanClient:
    def __init__(
        self,
        client_id: str,
        settings: BrokerSettings,
        *,
        clean_start: bool = False,
        session_expiry: int = 3600,
        will: mqtt5.Will | None = None,
        connect_timeout: float = 5.0,
    ) -> None:
        self.client_id = client_id
        self.settings = settings
        self.clean_start = clean_start
        self.session_expiry = session_expiry
        self.will = will
        self.connect_timeout = connect_timeout
        self.on_connect: Callable[[bool], object] = lambda session_present: None
        self.on_message: Callable[[mqtt5.Publish], object] = lambda msg: None
        self.on_disconnect: Callable[[str], object] = lambda reason: None
        self._sock: socket.socket | None = None
        self._parser = mqtt5.Parser()
        self._out = bytearray()
        #: PUBACKs of messages received, released to ``_out`` only by ``flush()``.
        self._acks = bytearray()
        self._backlog: collections.deque[mqtt5.Packet] = collections.deque()
        self._next_id = 0
        #: QoS 1 PUBLISHes handed to the socket and not yet acknowledged, by packet id.
        self._inflight: dict[int, bytes] = {}
        #: QoS 1 PUBLISHes not sent yet (no room under the broker's Receive Maximum, or
        #: no connection), in order.
        self._waiting: dict[int, bytes] = {}
        self._subscribing: set[int] = set()
        self._receive_max = 65535
        self._keepalive = settings.keepalive
        self._last_out = 0.0
        self._ping_sent: float | None = None
        # Self-pipe: another thread's wake() ends the wait in pump() at once.
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)

    # -------------------------------------------------------------- connection
    @property
    def connected(self) -> bool:
        return self._sock is not None

    def fileno(self) -> int | None:
        return self._sock.fileno() if self._sock is not None else None

    def connect(self) -> None:
        """Connect and wait for CONNACK (blocking, up to ``connect_timeout``); raises
        ``OSError`` when the broker cannot be reached, ``ConnectRefused`` when it says
        no. Then calls ``on_connect(session_present)``."""
        s = self.settings
        raw = socket.create_connection((s.host, s.port), timeout=self.connect_timeout)
        sock: socket.socket = raw
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if s.uses_tls:
                try:
                    sock = tls_context(s).wrap_socket(raw, server_hostname=s.host)
                except ssl.SSLCertVerificationError as err:
                    raise BrokerCertificateError(explain_connect_error(err, s), err) from err
                except (ssl.SSLError, ConnectionResetError) as err:
                    raise ConnectionError(explain_connect_error(err, s)) from err
            sock.sendall(
                mqtt5.connect(
                    self.client_id,
                    keepalive=s.keepalive,
                    clean_start=self.clean_start,
                    session_expiry=self.session_expiry,
                    will=self.will,
                    username=s.username,
                    password=s.password,
                )
            )
            parser = mqtt5.Parser()
            deadline = time.monotonic() + self.connect_timeout
            packets: list[mqtt5.Packet] = []
            while not packets:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                data = sock.recv(READ_SIZE)
                if not data:
                    raise ConnectionError("the broker closed the connection during CONNECT")
                packets = parser.feed(data)
            ack = packets[0]
            if not isinstance(ack, mqtt5.Connack):
                raise mqtt5.ProtocolError("the broker's first packet was not CONNACK")
            if ack.reason >= 0x80:
                why = CONNACK_REASONS.get(ack.reason, f"reason 0x{ack.reason:02x}")
                raise ConnectRefused(f"broker refused {self.client_id}: {why}")
            sock.setblocking(False)
        except BaseException:
            with contextlib.suppress(OSError):
                sock.close()
            raise
        self._sock = sock
        self._parser = parser
        self._backlog.extend(packets[1:])
        rm = ack.props.get(mqtt5.RECEIVE_MAXIMUM)
        self._receive_max = rm if isinstance(rm, int) and rm > 0 else 65535
        ka = ack.props.get(mqtt5.SERVER_KEEP_ALIVE)
        self._keepalive = ka if isinstance(ka, int) else s.keepalive
        self._last_out = time.monotonic()
        self._ping_sent = None
        self._out.clear()
        self._subscribing.clear()
        # Unacknowledged QoS 1 messages go again: those already written as redeliveries
        # of the same session (DUP), or as new messages when the broker lost the session.
        sent, waiting = self._inflight, self._waiting
        self._inflight, self._waiting = {}, {}
        for pid, pkt in sent.items():
            self._send_qos1(pid, pkt, dup=ack.session_present)
        for pid, pkt in waiting.items():
            self._send_qos1(pid, pkt)
        self.on_connect(ack.session_present)

    def disconnect(self) -> None:
        """Send DISCONNECT (the broker drops the Will) after what is queued, and close."""
        if self._sock is None:
            return
        self._out += mqtt5.DISCONNECT_PACKET
        with contextlib.suppress(OSError):
            self._sock.settimeout(1.0)
            self._sock.sendall(self._out)
        self._out.clear()
        self._close("disconnected", notify=False)

    def abort(self) -> None:
        """Drop the connection without DISCONNECT, as a crash would: the broker publishes
        the Will and keeps the session (and what it had not acknowledged)."""
        self._close("aborted")

    def _close(self, reason: str, *, notify: bool = True) -> None:
        if self._sock is None:
            return
        with contextlib.suppress(OSError):
            self._sock.close()
        self._sock = None
        self._out.clear()
        self._acks.clear()  # unacknowledged: the broker delivers them again
        self._parser = mqtt5.Parser()
        self._backlog.clear()
        if notify:
            self.on_disconnect(reason)

    # ----------------------------------------------------------------- sending
    def _new_id(self) -> int:
        for _ in range(65535):
            self._next_id = self._next_id % 65535 + 1
            pid = self._next_id
            if not (pid in self._inflight or pid in self._waiting or pid in self._subscribing):
                return pid
        raise RuntimeError("all 65535 packet ids are in flight")

    def _send_qos1(self, pid: int, pkt: bytes, *, dup: bool = False) -> None:
        if len(self._inflight) < self._receive_max:
            self._inflight[pid] = pkt
            self._out += mqtt5.set_dup(pkt) if dup else pkt
        else:
            self._waiting[pid] = pkt

    def publish(
        self,
        topic: str,
        payload: bytes | str,
        *,
        qos: int = 0,
        retain: bool = False,
        correlation: bytes | None = None,
        response_topic: str | None = None,
        expiry: int | None = None,
    ) -> int:
        """Queue a message (written by ``flush()``). Returns its packet id for QoS 1
        (see ``acked``), 0 for QoS 0. QoS 0 messages are dropped while disconnected;
        QoS 1 messages are kept and sent after the reconnect."""
        body = payload.encode() if isinstance(payload, str) else payload
        pid = self._new_id() if qos else 0
        pkt = mqtt5.publish(
            topic,
            body,
            qos=qos,
            retain=retain,
            packet_id=pid,
            correlation=correlation,
            response_topic=response_topic,
            expiry=expiry,
        )
        if qos:
            if self._sock is None:
                self._waiting[pid] = pkt
            else:
                self._send_qos1(pid, pkt)
        elif self._sock is not None:
            self._out += pkt
        return pid

    def acked(self, packet_id: int) -> bool:
        return packet_id not in self._inflight and packet_id not in self._waiting

    def subscribe(self, filters: list[tuple[str, int]]) -> None:
        if self._sock is None:
            return
        pid = self._new_id()
        self._subscribing.add(pid)
        self._out += mqtt5.subscribe(pid, filters)

    @property
    def has_output(self) -> bool:
        return bool(self._out or self._acks)

    def flush(self, *, acks: bool = True) -> None:
        """Write what is queued and (unless ``acks`` is false) acknowledge the messages
        received so far; one ``send()`` when the kernel takes it all."""
        if acks and self._acks:
            self._out += self._acks
            self._acks.clear()
        self._write()

    def _write(self) -> None:
        """Write ``_out`` (what is released: never the PUBACKs ``flush()`` holds)."""
        sock, out = self._sock, self._out
        while out and sock is not None:
            try:
                n = sock.send(out)
            except _WOULD_BLOCK:
                return  # the socket is full: the rest goes when it is writable
            except OSError as err:
                self._close(f"send failed: {err}")
                return
            del out[:n]
            self._last_out = time.monotonic()

    # ----------------------------------------------------------------- receiving
    def wake(self) -> None:
        """End a ``pump()`` wait now (callable from any thread)."""
        with contextlib.suppress(BlockingIOError):  # already woken: enough
            self._wake_w.send(b"\0")

    def pump(self, timeout: float) -> int:
        """Wait up to ``timeout`` for traffic (or ``wake()``), then read everything
        already received and run the callbacks. Returns the number of packets handled."""
        sock = self._sock
        if sock is None:
            return 0
        if self._backlog:
            timeout = 0.0
        wl = [sock] if self._out else []
        try:
            r, w, _ = select.select([sock, self._wake_r], wl, [], timeout)
        except (OSError, ValueError) as err:
            self._close(f"select failed: {err}")
            return 0
        if self._wake_r in r:
            with contextlib.suppress(BlockingIOError):
                self._wake_r.recv(4096)
        if w:
            self._write()
        return self.service(sock in r)

    def service(self, readable: bool) -> int:
        """Read (when the socket is readable), run the callbacks for what arrived, and
        keep the connection alive: ``pump()`` without the wait, for a caller that runs
        one ``select()`` over many clients."""
        sock = self._sock
        if sock is None:
            return 0
        if readable:
            self._read(sock)
        n = 0
        while self._backlog and self._sock is sock:
            self._handle(self._backlog.popleft())
            n += 1
        if self._sock is sock:
            self._keep_alive()
        return n

    def _read(self, sock: socket.socket) -> None:
        got = 0
        while got < MAX_READ_PER_PUMP:
            try:
                data = sock.recv(READ_SIZE)
            except _WOULD_BLOCK:
                break
            except OSError as err:
                self._close(f"receive failed: {err}")
                return
            if not data:
                self._close("the broker closed the connection")
                return
            got += len(data)
            try:
                self._backlog.extend(self._parser.feed(data))
            except mqtt5.ProtocolError as err:
                log.error("broker sent a malformed packet (%s); reconnecting", err)
                self._close(f"protocol error: {err}")
                return
            if len(data) < READ_SIZE and not isinstance(sock, ssl.SSLSocket):
                break  # the kernel had no more (saves a recv that would block)

    def _handle(self, p: mqtt5.Packet) -> None:
        if isinstance(p, mqtt5.Publish):
            if p.qos == 1:
                # Queued now, written by the next flush(): after the batch commits.
                self._acks += mqtt5.puback(p.packet_id)
            try:
                self.on_message(p)
            except Exception:  # one bad message must not stop the others
                log.exception("message handler failed on topic %s", p.topic[:80])
        elif isinstance(p, mqtt5.Ack):
            if p.kind == mqtt5.PUBACK:
                if self._inflight.pop(p.packet_id, None) is not None and self._waiting:
                    pid = next(iter(self._waiting))
                    self._send_qos1(pid, self._waiting.pop(pid))
                if p.reasons[0] >= 0x80:
                    log.warning(
                        "broker rejected message %d: reason 0x%02x", p.packet_id, p.reasons[0]
                    )
            else:
                self._subscribing.discard(p.packet_id)
                bad = [r for r in p.reasons if r >= 0x80]
                if bad:
                    log.error("broker refused a subscription: reason 0x%02x", bad[0])
        elif isinstance(p, mqtt5.Simple):
            if p.kind == mqtt5.PINGRESP:
                self._ping_sent = None
            else:
                self._close(f"broker disconnected us: reason 0x{p.reason:02x} {p.text or ''}")

    def _keep_alive(self) -> None:
        if not self._keepalive:
            return
        now = time.monotonic()
        if self._ping_sent is not None and now - self._ping_sent > self._keepalive:
            self._close("no PINGRESP from the broker")
            return
        # The broker needs to hear from us (not only talk to us) within the keepalive.
        if self._ping_sent is None and now - self._last_out >= 0.75 * self._keepalive:
            self._out += mqtt5.PINGREQ_PACKET
            self._ping_sent = now
            self._write()
