"""hall_contract.lean.LeanClient against a real mosquitto, with paho-mqtt as the peer.

Where a real broker cannot be made to misbehave on cue (garbage, refusals, a Receive
Maximum of 2, unanswered pings, dropped connections at a chosen packet), a scripted
server on a loopback port plays the broker and checks what the client puts on the wire.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hall_contract import mqtt5
from hall_contract.client import BrokerSettings
from hall_contract.lean import ConnectRefused, LeanClient
from hall_contract.mqtt5 import Ack, Parser, Publish
from hall_contract.topics import Topics
from hall_controller.broker import CONTROLLER_USER, Mosquitto, free_port
from tests.conftest import Collector, issue_tls
from tests.contract.test_mqtt5 import (
    SeenPublish,
    connack,
    decode_connect,
    decode_publish,
    decode_subscribe,
    read_varint,
    split_frame,
)
from tests.hall_controller.test_resilience import auth_broker

__all__ = ["auth_broker"]  # the fixture, shared with test_resilience

PINGREQ, PINGRESP = bytes.fromhex("c000"), bytes.fromhex("d000")
CONNACK_OK = bytes.fromhex("2003000000")


# ------------------------------------------------------------------ helpers
def pump_until(
    client: LeanClient, pred: Callable[[], bool], timeout: float = 5.0, *, flush: bool = True
) -> None:
    """Drive the client (flush + pump) until ``pred()`` holds; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not reached in time"
        if flush:
            client.flush()
        client.pump(0.02)


@dataclass
class Seen:
    """What a LeanClient's callbacks were given."""

    msgs: list[Publish] = field(default_factory=list)
    connects: list[bool] = field(default_factory=list)
    drops: list[str] = field(default_factory=list)

    def payloads(self, topic: str | None = None) -> list[bytes]:
        return [m.payload for m in self.msgs if topic is None or m.topic == topic]

    def has(self, payload: bytes) -> Callable[[], bool]:
        return lambda: any(m.payload == payload for m in self.msgs)


MakeLean = Callable[..., tuple[LeanClient, Seen]]


@pytest.fixture
def make_lean() -> Iterator[MakeLean]:
    made: list[LeanClient] = []

    def make(client_id: str, settings: BrokerSettings, **kw: Any) -> tuple[LeanClient, Seen]:
        c = LeanClient(client_id, settings, **kw)
        seen = Seen()
        c.on_message = seen.msgs.append
        c.on_connect = seen.connects.append
        c.on_disconnect = seen.drops.append
        made.append(c)
        return c, seen

    yield make
    for c in made:
        c.disconnect()


class Peer(Collector):
    """conftest's Collector, also keeping whole paho messages (with properties)."""

    def __init__(self, broker: Mosquitto, topic: str) -> None:
        self.full: list[mqtt.MQTTMessage] = []
        super().__init__(broker, topic)

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self.cond:
            self.full.append(msg)
        super()._on_message(client, userdata, msg)

    def wait_count(self, n: int, timeout: float = 5.0) -> list[mqtt.MQTTMessage]:
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.full) >= n, timeout)
            assert ok, f"{len(self.full)} of {n} messages arrived"
            return list(self.full)

    def payloads(self) -> list[bytes]:
        with self.cond:
            return [bytes(m.payload) for m in self.full]

    def close(self) -> None:
        self.c.disconnect()  # first: the loop thread then ends at once, not after its 1 s select
        self.c.loop_stop()

    def send(
        self, topic: str, payload: bytes, qos: int = 1, props: Properties | None = None
    ) -> None:
        """Publish and wait until the broker has it (PUBACK for QoS 1)."""
        info = self.c.publish(topic, payload, qos=qos, properties=props)
        info.wait_for_publish(5)
        assert info.is_published()


@pytest.fixture
def peer(broker: Mosquitto) -> Iterator[Callable[[str], Peer]]:
    made: list[Peer] = []

    def make(topic: str) -> Peer:
        p = Peer(broker, topic)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


def await_subscription(c: LeanClient, seen: Seen, topic: str) -> None:
    """Wait until the subscription covering ``topic`` is in place (LeanClient has no
    SUBACK callback): publish probes to it until one comes back, then a last one, which
    arrives after every earlier probe; then forget them all."""
    probes = 0

    def probe() -> bool:
        nonlocal probes
        probes += 1
        c.publish(topic, f"probe-{probes}")
        return any(m.payload.startswith(b"probe-") for m in seen.msgs)

    pump_until(c, probe)
    c.publish(topic, b"probe-last")
    pump_until(c, seen.has(b"probe-last"))
    seen.msgs.clear()


def prop(msg: mqtt.MQTTMessage, name: str) -> Any:
    """A property of a message paho received (None when absent)."""
    return getattr(msg.properties, name, None)


def topic_for(name: str) -> str:
    return f"test/{name}/{uuid.uuid4().hex[:8]}"


# ------------------------------------------------------------------ a scripted broker
class Wire:
    """One accepted connection, from the scripted broker's side."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        sock.settimeout(5)
        self._buf = bytearray()

    def read(self) -> bytes | None:
        """The client's next whole packet, or None once it has hung up."""
        while True:
            b = self._buf
            ends = [i for i in range(1, min(len(b), 5)) if not b[i] & 0x80]
            if ends:
                length, start = read_varint(bytes(b[: ends[0] + 1]), 1)
                if len(b) >= start + length:
                    frame = bytes(b[: start + length])
                    del b[: start + length]
                    return frame
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                return None
            if not data:
                return None
            b += data

    def expect(self, kind: int) -> bytes:
        frame = self.read()
        assert frame is not None, f"client hung up; expected packet 0x{kind:02x}"
        assert frame[0] & 0xF0 == kind, f"expected 0x{kind:02x}, got {frame.hex()}"
        return frame

    def publish(self) -> SeenPublish:
        return decode_publish(*split_frame(self.expect(mqtt5.PUBLISH)))

    def rest(self) -> list[int]:
        """Kinds of what the client still sends, until it hangs up."""
        kinds = []
        while (frame := self.read()) is not None:
            kinds.append(frame[0] & 0xF0)
        return kinds

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def hang_up(self) -> None:
        """Close our side (FIN, not RST) and wait for the client to notice and close."""
        self.sock.shutdown(socket.SHUT_WR)
        assert self.rest() == []


Script = Callable[[Wire], None]


class FakeBroker:
    """The n-th connection runs the n-th script, in the server's thread."""

    def __init__(self, *scripts: Script) -> None:
        self._scripts = list(scripts)
        self.errors: list[BaseException] = []
        self._finished = threading.Semaphore(0)
        fake = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                try:
                    fake._scripts.pop(0)(Wire(self.request))
                except BaseException as err:
                    fake.errors.append(err)
                finally:
                    fake._finished.release()

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    @property
    def settings(self) -> BrokerSettings:
        return BrokerSettings(host="127.0.0.1", port=self.server.server_address[1])

    def wait_finished(self, n: int = 1) -> None:
        for _ in range(n):
            assert self._finished.acquire(timeout=5), "a broker script did not finish"
        if self.errors:
            raise self.errors[0]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_broker() -> Iterator[Callable[..., FakeBroker]]:
    made: list[FakeBroker] = []

    def make(*scripts: Script) -> FakeBroker:
        fb = FakeBroker(*scripts)
        made.append(fb)
        return fb

    yield make
    for fb in made:
        fb.close()
    errors = [e for fb in made for e in fb.errors]
    if errors:
        raise errors[0]


def props_of(kind: int, **values: Any) -> Properties:
    p = Properties(kind)
    for k, v in values.items():
        setattr(p, k, v)
    return p


# ================================================================== real mosquitto
def test_publish_to_self_at_qos0_and_qos1_with_properties(
    broker: Mosquitto, make_lean: MakeLean, peer: Callable[[str], Peer]
) -> None:
    base = topic_for("self")
    watcher = peer(f"{base}/m/#")
    c, seen = make_lean("lean-self", broker.settings, clean_start=True)
    c.connect()
    assert c.connected and seen.connects == [False]
    c.subscribe([(f"{base}/#", 1)])
    c.flush()
    await_subscription(c, seen, f"{base}/probe")
    zero_topic, one_topic, reply_topic = f"{base}/m/zero", f"{base}/m/大厅/叫号", f"{base}/回复"
    text = "请 A001 号到 3 号窗口".encode()
    pid0 = c.publish(zero_topic, "零", qos=0)
    pid1 = c.publish(
        one_topic, text, qos=1, response_topic=reply_topic, correlation=b"\x00c\xff", expiry=3600
    )
    assert pid0 == 0 and pid1 > 0
    assert not c.acked(pid1)
    pump_until(c, lambda: c.acked(pid1) and len(seen.msgs) == 2)
    zero, one = sorted(seen.msgs, key=lambda m: m.qos)
    assert (zero.topic, zero.payload, zero.qos, zero.packet_id) == (zero_topic, "零".encode(), 0, 0)
    assert zero.response_topic is zero.correlation is zero.expiry is None
    assert (one.topic, one.payload, one.qos, one.dup, one.retain) == (
        one_topic,
        text,
        1,
        False,
        False,
    )
    assert (one.response_topic, one.correlation) == (reply_topic, b"\x00c\xff")
    assert one.expiry is not None and 3590 <= one.expiry <= 3600
    # paho, subscribed to the same messages, reads the same properties
    msgs = {m.topic: m for m in watcher.wait_count(2)}
    assert sorted(msgs) == sorted([zero_topic, one_topic])
    assert (msgs[zero_topic].payload, msgs[zero_topic].qos) == ("零".encode(), 0)
    m = msgs[one_topic]
    assert (m.payload, m.qos, m.retain) == (text, 1, False)
    assert prop(m, "ResponseTopic") == reply_topic
    assert prop(m, "CorrelationData") == b"\x00c\xff"
    assert 3590 <= prop(m, "MessageExpiryInterval") <= 3600


def test_retained_publish_is_kept_for_a_later_subscriber(
    broker: Mosquitto, make_lean: MakeLean, peer: Callable[[str], Peer]
) -> None:
    t = topic_for("retained")
    c, _seen = make_lean("lean-retain", broker.settings)
    c.connect()
    pid = c.publish(t, b"snapshot-7", qos=1, retain=True)
    pump_until(c, lambda: c.acked(pid))
    late = peer(t)
    (m,) = late.wait_count(1)
    assert (m.payload, m.retain, m.qos) == (b"snapshot-7", True, 1)


def test_a_paho_request_reaches_on_message_with_its_reply_properties(
    broker: Mosquitto, make_lean: MakeLean, peer: Callable[[str], Peer]
) -> None:
    t = topic_for("req")
    c, seen = make_lean("lean-ctl", broker.settings)
    c.connect()
    c.subscribe([(t, 1)])
    c.flush()
    await_subscription(c, seen, t)
    sender = peer(topic_for("unused"))
    props = props_of(
        PacketTypes.PUBLISH,
        ResponseTopic="hall/mini/t/k01/reply",
        CorrelationData=b"\x01\x02\x03",
        MessageExpiryInterval=45,
    )
    sender.send(t, b'{"service": "id_card_renew"}', props=props)
    pump_until(c, seen.has(b'{"service": "id_card_renew"}'))
    m = seen.msgs[-1]
    assert (m.topic, m.qos, m.dup, m.retain) == (t, 1, False, False)
    assert m.packet_id > 0
    assert m.response_topic == "hall/mini/t/k01/reply"
    assert m.correlation == b"\x01\x02\x03"
    assert m.expiry is not None and 40 <= m.expiry <= 45


def test_200_publishes_and_one_flush_arrive_in_order(
    broker: Mosquitto, make_lean: MakeLean, peer: Callable[[str], Peer]
) -> None:
    t = topic_for("batch")
    watcher = peer(t)
    c, _seen = make_lean("lean-batch", broker.settings)
    c.connect()
    pids = [c.publish(t, f"m{i:03d}", qos=i % 2) for i in range(200)]
    assert c.has_output
    c.flush()
    assert not c.has_output  # the kernel took the whole batch
    got = watcher.wait_count(200)
    assert [m.payload for m in got] == [f"m{i:03d}".encode() for i in range(200)]
    assert [m.qos for m in got] == [i % 2 for i in range(200)]
    qos1 = [p for p in pids if p]
    assert len(qos1) == 100 and len(set(qos1)) == 100
    pump_until(c, lambda: all(c.acked(p) for p in qos1))


def test_a_persistent_session_gets_what_was_published_while_away(
    broker: Mosquitto, make_lean: MakeLean, peer: Callable[[str], Peer]
) -> None:
    t = topic_for("away")
    c, seen = make_lean("lean-away", broker.settings, clean_start=False, session_expiry=60)
    c.connect()
    assert seen.connects == [False]
    c.subscribe([(t, 1)])
    c.flush()
    await_subscription(c, seen, t)
    c.abort()
    assert not c.connected and seen.drops == ["aborted"]
    seen.msgs.clear()
    sender = peer(topic_for("unused"))
    for i in range(50):
        sender.send(t, f"away-{i}".encode())
    c.connect()
    assert seen.connects == [False, True]
    pump_until(c, lambda: len(seen.msgs) >= 50)
    c.publish(t, b"marker", qos=1)  # after everything the broker had kept for us
    pump_until(c, seen.has(b"marker"))
    assert seen.payloads() == [f"away-{i}".encode() for i in range(50)] + [b"marker"]
    assert all(m.qos == 1 for m in seen.msgs)


def test_the_puback_of_a_message_goes_only_with_flush(
    broker: Mosquitto, make_lean: MakeLean, peer: Callable[[str], Peer]
) -> None:
    t = topic_for("ack")
    c, seen = make_lean("lean-ack", broker.settings, clean_start=False, session_expiry=60)
    c.connect()
    c.subscribe([(t, 1)])
    c.flush()
    await_subscription(c, seen, t)
    sender = peer(topic_for("unused"))
    c.flush()

    # 1. received, not flushed, crash: the broker delivers it again, marked DUP
    sender.send(t, b"request-1")
    pump_until(c, seen.has(b"request-1"), flush=False)
    first = seen.msgs[-1]
    assert (first.qos, first.dup) == (1, False)
    assert c.has_output  # the PUBACK, waiting for flush()
    c.abort()
    seen.msgs.clear()
    c.connect()
    assert seen.connects[-1] is True
    pump_until(c, seen.has(b"request-1"))
    again = seen.msgs[-1]
    assert (again.qos, again.dup, again.payload) == (1, True, b"request-1")

    # 2. received and flushed: gone for good. Our own QoS 1 publish after the flush is
    # acknowledged only once the broker has read the PUBACK before it.
    c.flush()
    sync = c.publish(topic_for("sync"), b"", qos=1)
    pump_until(c, lambda: c.acked(sync))
    c.abort()
    seen.msgs.clear()
    c.connect()
    c.publish(t, b"marker", qos=1)
    pump_until(c, seen.has(b"marker"))
    assert seen.payloads() == [b"marker"]


def test_will_is_published_on_abort_and_not_on_disconnect(
    broker: Mosquitto, make_lean: MakeLean, peer: Callable[[str], Peer]
) -> None:
    crash_topic, clean_topic = topic_for("will-crash"), topic_for("will-clean")
    watcher = peer(crash_topic)
    c, _ = make_lean(
        "lean-will-1", broker.settings, will=mqtt5.Will(crash_topic, b'{"state": "lost"}')
    )
    c.connect()
    c.abort()
    (m,) = watcher.wait_count(1)
    assert (m.topic, m.payload, m.qos) == (crash_topic, b'{"state": "lost"}', 1)
    # Will.retain defaults to True: a later subscriber still finds it
    (kept,) = peer(crash_topic).wait_count(1)
    assert (kept.payload, kept.retain) == (b'{"state": "lost"}', True)

    watcher2 = peer(clean_topic)
    c2, _ = make_lean(
        "lean-will-2", broker.settings, will=mqtt5.Will(clean_topic, b"lost", retain=False)
    )
    c2.connect()
    c2.disconnect()
    assert not c2.connected
    # Two round trips through the broker after the DISCONNECT: a Will would be out by now.
    watcher2.send(clean_topic, b"marker-1")
    watcher2.send(clean_topic, b"marker-2")
    watcher2.wait_count(2)
    assert watcher2.payloads() == [b"marker-1", b"marker-2"]


def test_more_qos1_messages_than_the_brokers_receive_maximum(
    broker: Mosquitto, make_lean: MakeLean, peer: Callable[[str], Peer]
) -> None:
    """The test broker's Receive Maximum is 1000 (max_inflight_messages), so 1,100 in one
    flush only go out as PUBACKs come back; all arrive, in order, and are acknowledged."""
    t = topic_for("rmax")
    watcher = peer(t)
    c, _ = make_lean("lean-rmax", broker.settings)
    c.connect()
    pids = [c.publish(t, f"{i}", qos=1) for i in range(1100)]
    assert len(set(pids)) == 1100
    c.flush()
    assert not any(c.acked(p) for p in pids)
    pump_until(c, lambda: all(c.acked(p) for p in pids), timeout=10)
    got = watcher.wait_count(1100)
    assert [m.payload for m in got] == [f"{i}".encode() for i in range(1100)]


def test_qos1_published_while_the_broker_is_down_goes_after_connect(
    broker: Mosquitto, make_lean: MakeLean, peer: Callable[[str], Peer]
) -> None:
    t = topic_for("outage")
    c, seen = make_lean("lean-outage", broker.settings, clean_start=False, session_expiry=60)
    c.connect()
    before = c.publish(t, b"before", qos=1)
    pump_until(c, lambda: c.acked(before))
    broker.stop()
    pump_until(c, lambda: not c.connected)
    assert seen.drops == ["the broker closed the connection"]
    pids = [c.publish(t, f"during-{i}", qos=1) for i in range(20)]
    assert c.publish(t, b"qos0-dropped", qos=0) == 0
    assert not c.has_output and not any(c.acked(p) for p in pids)
    with pytest.raises(ConnectionRefusedError):
        c.connect()
    assert not c.connected and not any(c.acked(p) for p in pids)
    broker.start()  # same port, no persistence: a new broker
    watcher = peer(t)
    c.connect()
    assert seen.connects == [False, False]
    pump_until(c, lambda: all(c.acked(p) for p in pids))
    marker = c.publish(t, b"marker", qos=1)
    pump_until(c, lambda: c.acked(marker))
    got = watcher.wait_count(21)
    assert [m.payload for m in got] == [f"during-{i}".encode() for i in range(20)] + [b"marker"]


def test_the_session_survives_a_persistent_broker_restart(
    tmp_path: Path, make_lean: MakeLean
) -> None:
    mq = Mosquitto(tmp_path / "pbroker", persistent=True).start()
    try:
        t = topic_for("persist")
        c, seen = make_lean("lean-persist", mq.settings, clean_start=False, session_expiry=300)
        c.connect()
        c.subscribe([(t, 1)])
        c.flush()
        await_subscription(c, seen, t)
        mq.stop()  # SIGTERM: mosquitto saves its sessions
        pump_until(c, lambda: not c.connected)
        pids = [c.publish(t, f"while-down-{i}", qos=1) for i in range(5)]
        mq.start()
        seen.msgs.clear()
        c.connect()
        assert seen.connects == [False, True]  # the broker remembered us
        # delivered through the subscription the broker kept: no subscribe() this time
        pump_until(c, lambda: all(c.acked(p) for p in pids) and len(seen.msgs) >= 5)
        assert seen.payloads() == [f"while-down-{i}".encode() for i in range(5)]
    finally:
        mq.stop()


def test_a_large_message_goes_through(broker: Mosquitto, make_lean: MakeLean) -> None:
    t = topic_for("large")
    c, seen = make_lean("lean-large", broker.settings)
    c.connect()
    c.subscribe([(f"{t}/#", 1)])
    c.flush()
    await_subscription(c, seen, f"{t}/r")
    seen.msgs.clear()
    big = bytes(range(256)) * 6000  # 1.5 MB, under the broker's 2 MiB limit
    pids = [c.publish(f"{t}/big", big, qos=1)] + [
        c.publish(f"{t}/small", f"s{i}", qos=1) for i in range(3)
    ]
    pump_until(c, lambda: len(seen.msgs) >= 4 and all(c.acked(p) for p in pids))
    assert [len(m.payload) for m in seen.msgs] == [len(big), 2, 2, 2]
    assert seen.msgs[0].payload == big
    assert seen.payloads(f"{t}/small") == [b"s0", b"s1", b"s2"]


def test_tls_with_the_halls_ca_and_refusal_of_an_unknown_ca(
    tmp_path: Path, make_lean: MakeLean
) -> None:
    tls = issue_tls(tmp_path / "tls", "127.0.0.1")
    tls_port = free_port()
    mq = Mosquitto(tmp_path / "tlsbroker", tls=tls, tls_port=tls_port).start()
    try:
        secure = BrokerSettings(host="127.0.0.1", port=tls_port, tls_ca=tls["ca"])
        c, seen = make_lean("lean-tls", secure)
        c.connect()
        assert c.connected
        t = topic_for("tls")
        c.subscribe([(t, 1)])
        c.flush()
        await_subscription(c, seen, t)
        seen.msgs.clear()
        big = b"\x5a" * 700_000
        pids = [c.publish(t, big, qos=1)] + [c.publish(t, f"{i}", qos=1) for i in range(100)]
        pump_until(c, lambda: len(seen.msgs) >= 101 and all(c.acked(p) for p in pids))
        assert seen.msgs[0].payload == big
        assert seen.payloads()[1:] == [f"{i}".encode() for i in range(100)]

        other = tmp_path / "other"
        other.mkdir()
        stranger = BrokerSettings(
            host="127.0.0.1", port=tls_port, tls_ca=issue_tls(other, "127.0.0.1")["ca"]
        )
        c2, seen2 = make_lean("lean-tls-2", stranger)
        with pytest.raises(ssl.SSLCertVerificationError):
            c2.connect()
        assert not c2.connected and seen2.connects == []
    finally:
        mq.stop()


def test_wrong_password_is_refused_with_a_reason(auth_broker: Any, make_lean: MakeLean) -> None:
    mq, _cfg, creds = auth_broker
    bad = BrokerSettings(host=mq.bind, port=mq.port, username="k01", password="not-it")
    c, seen = make_lean("intruder", bad)
    with pytest.raises(ConnectRefused, match="broker refused intruder: not authorized"):
        c.connect()
    assert not c.connected and seen.connects == []
    good = BrokerSettings(host=mq.bind, port=mq.port, username="k01", password=creds["k01"])
    c2, seen2 = make_lean("k01", good)
    c2.connect()
    assert c2.connected and seen2.connects == [False]


def test_acl_refusals_are_reported_not_swallowed(
    auth_broker: Any, make_lean: MakeLean, caplog: pytest.LogCaptureFixture
) -> None:
    mq, cfg, creds = auth_broker
    topics = Topics(cfg.hall.id)

    def login(user: str) -> BrokerSettings:
        return BrokerSettings(host=mq.bind, port=mq.port, username=user, password=creds[user])

    ctl, heard = make_lean("ctl", login(CONTROLLER_USER))
    ctl.connect()
    ctl.subscribe([(topics.requests_filter, 1)])
    ctl.flush()
    k01, _ = make_lean("k01", login("k01"))
    k01.connect()
    mine = topics.request("k01", "ticket.issue")
    # the controller's subscription is in place once it hears its own probe
    await_subscription(ctl, heard, mine)
    caplog.set_level(logging.WARNING, logger="hall_contract.lean")
    forged = k01.publish(topics.request("k02", "ticket.issue"), b"forged", qos=1)
    own = k01.publish(mine, b"honest", qos=1)
    # "acked" means the broker answered, not that it took the message: the refusal is
    # only in the log
    pump_until(k01, lambda: k01.acked(forged) and k01.acked(own))
    assert f"broker rejected message {forged}: reason 0x87" in caplog.text
    assert f"broker rejected message {own}:" not in caplog.text
    pump_until(ctl, heard.has(b"honest"))
    assert heard.payloads() == [b"honest"]  # the forged request never arrived
    # eavesdropping: mosquitto grants the subscription but delivers nothing through it
    k01.subscribe([(topics.reply("k02"), 1), (topics.reply("k01"), 1)])
    k01.flush()
    ears: list[bytes] = []
    k01.on_message = lambda m: ears.append(m.payload)

    def replies_to_both() -> bool:  # until k01's own arrives (its subscription is live)
        ctl.publish(topics.reply("k02"), b"secret")
        ctl.publish(topics.reply("k01"), b"yours")
        ctl.flush()
        return b"yours" in ears

    pump_until(k01, replies_to_both)
    assert b"secret" not in ears  # sent before each "yours", so it would be here by now


def test_an_unreachable_broker_raises_oserror(make_lean: MakeLean) -> None:
    c, seen = make_lean("nobody-home", BrokerSettings(host="127.0.0.1", port=free_port()))
    with pytest.raises(ConnectionRefusedError):
        c.connect()
    assert not c.connected and seen.connects == [] and seen.drops == []
    assert c.pump(0.01) == 0


# ================================================================== scripted broker
JUNK = [
    pytest.param(bytes.fromhex("f0ffffffff7f"), "longer than 4 bytes", id="5-byte-length"),
    pytest.param(bytes.fromhex("62020001"), "unexpected packet type 0x62", id="pubrel"),
    pytest.param(bytes.fromhex("340700017400010078"), "QoS 2", id="qos2-publish"),
    pytest.param(bytes.fromhex("3006000174020501"), "unknown property", id="bad-property"),
]


@pytest.mark.parametrize(("junk", "why"), JUNK)
def test_garbage_from_the_broker_closes_the_connection_quietly(
    fake_broker: Callable[..., FakeBroker],
    make_lean: MakeLean,
    caplog: pytest.LogCaptureFixture,
    junk: bytes,
    why: str,
) -> None:
    hung_up: list[bool] = []

    def script(w: Wire) -> None:
        w.expect(mqtt5.CONNECT)
        w.send(CONNACK_OK)
        assert w.publish().topic == "go"  # so the junk is not read together with CONNACK
        w.send(junk)
        hung_up.append(w.rest() == [])

    fb = fake_broker(script)
    c, seen = make_lean("victim", fb.settings)
    c.connect()
    c.publish("go", b"")
    c.flush()
    pump_until(c, lambda: not c.connected, flush=False)  # pump() raises nothing
    assert len(seen.drops) == 1
    assert seen.drops[0].startswith("protocol error: ") and why in seen.drops[0]
    assert "broker sent a malformed packet" in caplog.text
    fb.wait_finished()
    assert hung_up == [True]
    assert c.pump(0.01) == 0 and seen.msgs == []


@pytest.mark.parametrize(
    ("reason", "text"),
    [
        (0x87, "not authorized"),
        (0x86, "bad user name or password"),
        (0x8A, "banned"),
        (0x9C, "reason 0x9c"),
    ],
)
def test_a_refusing_connack_raises_connect_refused(
    fake_broker: Callable[..., FakeBroker], make_lean: MakeLean, reason: int, text: str
) -> None:
    hung_up: list[bool] = []

    def script(w: Wire) -> None:
        w.expect(mqtt5.CONNECT)
        w.send(bytes((0x20, 3, 0, reason, 0)))
        hung_up.append(w.rest() == [])

    fb = fake_broker(script)
    c, seen = make_lean("refused-1", fb.settings)
    with pytest.raises(ConnectRefused, match=f"^broker refused refused-1: {text}$"):
        c.connect()
    assert not c.connected and seen.connects == []
    fb.wait_finished()
    assert hung_up == [True]  # the socket was closed, not leaked


def test_a_first_packet_that_is_not_connack_is_a_protocol_error(
    fake_broker: Callable[..., FakeBroker], make_lean: MakeLean
) -> None:
    def pingresp_first(w: Wire) -> None:
        w.expect(mqtt5.CONNECT)
        w.send(PINGRESP)
        assert w.rest() == []

    def hang_up_at_once(w: Wire) -> None:
        w.expect(mqtt5.CONNECT)
        w.hang_up()

    fb = fake_broker(pingresp_first, hang_up_at_once)
    c, seen = make_lean("confused", fb.settings)
    with pytest.raises(mqtt5.ProtocolError, match="first packet was not CONNACK"):
        c.connect()
    with pytest.raises(ConnectionError, match="closed the connection during CONNECT"):
        c.connect()
    assert not c.connected and seen.connects == []
    fb.wait_finished(2)


def test_a_disconnect_from_the_broker_is_reported_with_its_reason(
    fake_broker: Callable[..., FakeBroker], make_lean: MakeLean
) -> None:
    def script(w: Wire) -> None:
        w.expect(mqtt5.CONNECT)
        w.send(CONNACK_OK)
        w.publish()
        body = b"\x8b" + props_of(PacketTypes.DISCONNECT, ReasonString="shutting down").pack()
        w.send(b"\xe0" + mqtt5.varint(len(body)) + body)
        assert w.rest() == []

    fb = fake_broker(script)
    c, seen = make_lean("told-off", fb.settings)
    c.connect()
    c.publish("go", b"")
    pump_until(c, lambda: not c.connected)
    assert seen.drops == ["broker disconnected us: reason 0x8b shutting down"]
    fb.wait_finished()


def test_subscribe_on_the_wire_and_a_refused_filter_is_logged(
    fake_broker: Callable[..., FakeBroker],
    make_lean: MakeLean,
    caplog: pytest.LogCaptureFixture,
) -> None:
    subscribes: list[tuple[int, list[tuple[str, int]], str]] = []

    def script(w: Wire) -> None:
        w.expect(mqtt5.CONNECT)
        w.send(CONNACK_OK)
        subscribes.append(decode_subscribe(w.expect(mqtt5.SUBSCRIBE)))
        w.send(bytes.fromhex("9005") + subscribes[0][0].to_bytes(2, "big") + b"\x00\x01\x80")
        assert w.rest() == [mqtt5.DISCONNECT]

    fb = fake_broker(script)
    c, _ = make_lean("subscriber", fb.settings)
    c.subscribe([("ignored/while/disconnected", 1)])  # nothing to send it on: dropped
    assert not c.has_output
    c.connect()
    c.subscribe([("hall/mini/t/+/req/+", 1), ("hall/other/#", 1)])
    pump_until(c, lambda: "broker refused a subscription: reason 0x80" in caplog.text)
    c.disconnect()
    fb.wait_finished()
    (pid, filters, props) = subscribes[0]
    assert pid > 0 and props == "[]"
    assert filters == [("hall/mini/t/+/req/+", 1), ("hall/other/#", 1)]


def test_receive_maximum_from_connack_limits_what_is_in_flight(
    fake_broker: Callable[..., FakeBroker], make_lean: MakeLean
) -> None:
    first_batch: list[bytes] = []
    order: list[bytes] = []
    tail: list[int] = []

    def script(w: Wire) -> None:
        w.expect(mqtt5.CONNECT)
        w.send(connack(props=props_of(PacketTypes.CONNACK, ReceiveMaximum=2)))
        unacked: list[int] = []
        while (p := w.publish()).qos == 1:  # all the client sends before the QoS 0 marker
            first_batch.append(p.payload)
            unacked.append(p.packet_id)
        order.extend(first_batch)
        while len(order) < 5:  # each PUBACK lets exactly one more out
            w.send(mqtt5.puback(unacked.pop(0)))
            p = w.publish()
            assert not p.dup
            order.append(p.payload)
            unacked.append(p.packet_id)
        w.send(b"".join(mqtt5.puback(pid) for pid in unacked))
        tail.extend(w.rest())

    fb = fake_broker(script)
    c, _ = make_lean("flow", fb.settings)
    c.connect()
    pids = [c.publish("q", f"m{i}", qos=1) for i in range(5)]
    c.publish("q", b"marker", qos=0)
    c.flush()
    pump_until(c, lambda: all(c.acked(p) for p in pids))
    c.disconnect()
    fb.wait_finished()
    assert first_batch == [b"m0", b"m1"]  # not m2..m4: the broker allowed two in flight
    assert order == [b"m0", b"m1", b"m2", b"m3", b"m4"]
    assert tail == [mqtt5.DISCONNECT]


def test_unacknowledged_qos1_is_sent_again_after_reconnect(
    fake_broker: Callable[..., FakeBroker], make_lean: MakeLean
) -> None:
    connects: list[dict[str, Any]] = []
    rounds: list[list[tuple[int, bytes, bool]]] = []

    def take(w: Wire, n: int) -> list[Any]:
        got = [w.publish() for _ in range(n)]
        rounds.append([(p.packet_id, p.payload, p.dup) for p in got])
        return got

    def conn1(w: Wire) -> None:
        connects.append(decode_connect(w.expect(mqtt5.CONNECT)))
        w.send(CONNACK_OK)
        got = take(w, 3)
        assert w.publish().qos == 0  # the marker: nothing else was sent
        w.send(mqtt5.puback(got[0].packet_id))  # only the first is acknowledged
        w.hang_up()

    def conn2(w: Wire) -> None:  # the broker kept the session
        connects.append(decode_connect(w.expect(mqtt5.CONNECT)))
        w.send(bytes.fromhex("2003010000"))
        got = take(w, 2)
        w.send(mqtt5.puback(got[0].packet_id))
        w.hang_up()

    def conn3(w: Wire) -> None:  # the broker lost it
        connects.append(decode_connect(w.expect(mqtt5.CONNECT)))
        w.send(CONNACK_OK)
        got = take(w, 1)
        w.send(mqtt5.puback(got[0].packet_id))
        assert w.rest() == [mqtt5.DISCONNECT]

    fb = fake_broker(conn1, conn2, conn3)
    c, seen = make_lean("resender", fb.settings, clean_start=False, session_expiry=60)
    c.connect()
    a, b, d = (c.publish("r", x, qos=1) for x in (b"a", b"b", b"d"))
    c.publish("r", b"marker")
    pump_until(c, lambda: not c.connected)
    assert (c.acked(a), c.acked(b), c.acked(d)) == (True, False, False)
    c.connect()
    pump_until(c, lambda: not c.connected)
    assert (c.acked(b), c.acked(d)) == (True, False)
    c.connect()
    pump_until(c, lambda: c.acked(d))
    c.disconnect()
    fb.wait_finished(3)
    assert seen.connects == [False, True, False]
    assert seen.drops == ["the broker closed the connection"] * 2
    assert [(x["clean_start"], x["session_expiry"], x["client_id"]) for x in connects] == [
        (False, 60, "resender")
    ] * 3
    assert rounds[:2] == [
        [(a, b"a", False), (b, b"b", False), (d, b"d", False)],
        [(b, b"b", True), (d, b"d", True)],  # same ids, marked DUP: the session is the same
    ]
    # a new session: sent again with the same id (its DUP flag: see the test below)
    assert [(pid, payload) for pid, payload, _dup in rounds[2]] == [(d, b"d")]


def _first_send_before_any_connect(make: Callable[..., FakeBroker], lean: MakeLean) -> bool:
    """Published before the first connect; the broker has the session (the process
    restarted): the one and only send of it."""
    dups: list[bool] = []

    def script(w: Wire) -> None:
        w.expect(mqtt5.CONNECT)
        w.send(bytes.fromhex("2003010000"))
        p = w.publish()
        dups.append(p.dup)
        w.send(mqtt5.puback(p.packet_id))
        assert w.rest() == [mqtt5.DISCONNECT]

    fb = make(script)
    c, _ = lean("fresh-process", fb.settings, clean_start=False)
    pid = c.publish("t", b"first ever", qos=1)
    c.connect()
    pump_until(c, lambda: c.acked(pid))
    c.disconnect()
    fb.wait_finished()
    return dups[0]


def _resend_into_a_new_session(make: Callable[..., FakeBroker], lean: MakeLean) -> bool:
    """Sent, resent (DUP) into the kept session, then the broker loses the session: the
    code means to send it "as a new message" (lean.py, connect())."""
    dups: list[bool] = []

    def unacked(session_present: int) -> Script:
        def script(w: Wire) -> None:
            w.expect(mqtt5.CONNECT)
            w.send(bytes((0x20, 3, session_present, 0, 0)))
            dups.append(w.publish().dup)
            w.hang_up()

        return script

    def last(w: Wire) -> None:
        w.expect(mqtt5.CONNECT)
        w.send(CONNACK_OK)  # session lost
        p = w.publish()
        dups.append(p.dup)
        w.send(mqtt5.puback(p.packet_id))
        assert w.rest() == [mqtt5.DISCONNECT]

    fb = make(unacked(0), unacked(1), last)
    c, _ = lean("survivor", fb.settings, clean_start=False)
    c.connect()
    pid = c.publish("t", b"m", qos=1)
    for _ in range(2):
        pump_until(c, lambda: not c.connected)
        c.connect()
    pump_until(c, lambda: c.acked(pid))
    c.disconnect()
    fb.wait_finished(3)
    assert dups[:2] == [False, True]
    return dups[2]


@pytest.mark.parametrize("scenario", [_first_send_before_any_connect, _resend_into_a_new_session])
def test_dup_is_set_only_on_a_redelivery_in_the_same_session(
    fake_broker: Callable[..., FakeBroker],
    make_lean: MakeLean,
    scenario: Callable[[Callable[..., FakeBroker], MakeLean], bool],
) -> None:
    assert scenario(fake_broker, make_lean) is False  # §3.3.1.1: DUP 0 on a first attempt


def test_keepalive_pings_and_gives_up_without_pingresp(
    fake_broker: Callable[..., FakeBroker], make_lean: MakeLean
) -> None:
    """The broker's Server Keep Alive (1 s) overrides the client's (60 s): a PINGREQ after
    0.75 s of silence; when no PINGRESP comes within the keepalive, the client hangs up."""
    keepalive: list[int] = []
    pings: list[int] = []

    def script(w: Wire) -> None:
        keepalive.append(decode_connect(w.expect(mqtt5.CONNECT))["keepalive"])
        w.send(connack(props=props_of(PacketTypes.CONNACK, ServerKeepAlive=1)))
        assert w.read() == PINGREQ
        pings.append(1)
        w.send(PINGRESP)
        assert w.read() == PINGREQ
        pings.append(2)  # not answered
        assert w.rest() == []

    fb = fake_broker(script)
    settings = fb.settings
    settings.keepalive = 60
    c, seen = make_lean("pinger", settings)
    c.connect()
    pump_until(c, lambda: not c.connected)
    assert seen.drops == ["no PINGRESP from the broker"]
    fb.wait_finished()
    assert keepalive == [60] and pings == [1, 2]


def test_a_keepalive_ping_does_not_acknowledge_an_unflushed_message(
    fake_broker: Callable[..., FakeBroker], make_lean: MakeLean
) -> None:
    before_ping: list[int] = []
    ping_seen = threading.Event()
    after: list[int] = []

    def script(w: Wire) -> None:
        w.expect(mqtt5.CONNECT)
        w.send(
            connack(props=props_of(PacketTypes.CONNACK, ServerKeepAlive=1))
            + mqtt5.publish("hall/mini/t/k01/req/ticket.issue", b"r1", qos=1, packet_id=7)
        )
        while (frame := w.read()) is not None and frame != PINGREQ:
            before_ping.append(frame[0] & 0xF0)
        ping_seen.set()
        w.send(PINGRESP)
        after.extend(w.rest())

    fb = fake_broker(script)
    c, seen = make_lean("controller-like", fb.settings)
    c.connect()
    # The condition under test is time itself: 0.75 x keepalive in which the client wrote
    # nothing (a quiet hall), so the pump that reads the request also finds a ping due.
    time.sleep(0.8)
    c.pump(0)
    assert seen.payloads() == [b"r1"]
    assert ping_seen.wait(5)
    assert before_ping == []  # the request is not committed: its PUBACK must wait
    c.flush()  # "committed"
    c.disconnect()
    fb.wait_finished()
    assert after == [mqtt5.PUBACK, mqtt5.DISCONNECT]


# ------------------------------------------------------------------ codec vs paho, on the wire
def test_paho_publish_bytes_decode_with_our_parser(
    fake_broker: Callable[..., FakeBroker],
) -> None:
    frames: list[bytes] = []
    paho_connect: list[dict[str, Any]] = []

    def script(w: Wire) -> None:
        paho_connect.append(decode_connect(w.expect(mqtt5.CONNECT)))
        w.send(CONNACK_OK)
        frame = w.expect(mqtt5.PUBLISH)
        frames.append(frame)
        w.send(mqtt5.puback(decode_publish(*split_frame(frame)).packet_id))
        w.rest()

    fb = fake_broker(script)
    p = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="paho-pub", protocol=mqtt.MQTTv5)
    p.connect(fb.settings.host, fb.settings.port)
    p.loop_start()
    try:
        props = props_of(
            PacketTypes.PUBLISH,
            ResponseTopic="大厅/t/k01/reply",
            CorrelationData=b"\xffid-1",
            MessageExpiryInterval=120,
        )
        info = p.publish("大厅/t/k01/req/取号", "身份证换领".encode(), 1, True, props)
        info.wait_for_publish(5)
        assert info.is_published()
    finally:
        p.disconnect()  # the loop thread writes DISCONNECT and closes the socket
        p.loop_stop()
    fb.wait_finished()
    assert paho_connect[0]["client_id"] == "paho-pub" and paho_connect[0]["version"] == 5
    assert Parser().feed(frames[0]) == [
        Publish(
            "大厅/t/k01/req/取号",
            "身份证换领".encode(),
            qos=1,
            retain=True,
            packet_id=info.mid,
            response_topic="大厅/t/k01/reply",
            correlation=b"\xffid-1",
            expiry=120,
        )
    ]


def test_our_publish_bytes_are_read_by_paho(fake_broker: Callable[..., FakeBroker]) -> None:
    acks: list[bytes] = []

    def script(w: Wire) -> None:
        w.expect(mqtt5.CONNECT)
        w.send(
            CONNACK_OK
            + mqtt5.publish(
                "大厅/叫号",
                "A001 → 3号窗口".encode(),
                qos=1,
                packet_id=77,
                response_topic="r/1",
                correlation=b"\x00\x01",
                expiry=9,
            )
        )
        acks.append(w.expect(mqtt5.PUBACK))
        w.rest()

    fb = fake_broker(script)
    got: list[mqtt.MQTTMessage] = []
    arrived = threading.Event()

    def on_message(client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        got.append(msg)
        arrived.set()

    p = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="paho-sub", protocol=mqtt.MQTTv5)
    p.on_message = on_message
    p.connect(fb.settings.host, fb.settings.port)
    p.loop_start()
    try:
        assert arrived.wait(5)
    finally:
        p.disconnect()  # the loop thread writes DISCONNECT and closes the socket
        p.loop_stop()
    fb.wait_finished()
    (m,) = got
    assert (m.topic, m.payload, m.qos, m.mid, m.retain) == (
        "大厅/叫号",
        "A001 → 3号窗口".encode(),
        1,
        77,
        False,
    )
    assert prop(m, "ResponseTopic") == "r/1"
    assert prop(m, "CorrelationData") == b"\x00\x01"
    assert prop(m, "MessageExpiryInterval") == 9
    assert Parser().feed(acks[0]) == [Ack(mqtt5.PUBACK, 77, b"\x00")]
