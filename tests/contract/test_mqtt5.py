"""hall_contract.mqtt5: the MQTT 5 codec, checked against the standard and against paho.

Pure: no sockets. The parser reads what a broker sends a client (PUBLISH, PUBACK, SUBACK,
CONNACK, PINGRESP, DISCONNECT); CONNACK, SUBACK and DISCONNECT are built by hand here.
paho-mqtt's own property and variable-byte-integer code is the independent second opinion.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties, VariableByteIntegers

from hall_contract import mqtt5
from hall_contract.mqtt5 import Ack, Connack, Parser, ProtocolError, Publish, Simple

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------ an independent decoder
# Written from the standard, with paho doing the properties: shared with test_lean's
# scripted broker, which reads what LeanClient sends with it.
def read_varint(b: bytes, pos: int) -> tuple[int, int]:
    value, used = VariableByteIntegers.decode(b[pos:])
    return int(value), pos + int(used)


def split_frame(frame: bytes) -> tuple[int, bytes]:
    """First byte and body of exactly one packet."""
    length, pos = read_varint(frame, 1)
    assert len(frame) == pos + length, "remaining length does not match the packet"
    return frame[0], frame[pos:]


def read_str(b: bytes, pos: int) -> tuple[bytes, int]:
    n = int.from_bytes(b[pos : pos + 2], "big")
    assert pos + 2 + n <= len(b), "string runs past the packet"
    return b[pos + 2 : pos + 2 + n], pos + 2 + n


def read_props(kind: int, b: bytes, pos: int) -> tuple[Properties, int]:
    props = Properties(kind)
    _, used = props.unpack(b[pos:])
    return props, pos + int(used)


@dataclass
class SeenPublish:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    dup: bool
    packet_id: int
    response_topic: str | None
    correlation: bytes | None
    expiry: int | None


def decode_publish(first: int, body: bytes) -> SeenPublish:
    assert first & 0xF0 == mqtt5.PUBLISH
    qos = (first >> 1) & 3
    topic, pos = read_str(body, 0)
    pid = 0
    if qos:
        pid, pos = int.from_bytes(body[pos : pos + 2], "big"), pos + 2
    props, pos = read_props(PacketTypes.PUBLISH, body, pos)
    return SeenPublish(
        topic.decode(),
        body[pos:],
        qos,
        bool(first & 1),
        bool(first & 8),
        pid,
        getattr(props, "ResponseTopic", None),
        getattr(props, "CorrelationData", None),
        getattr(props, "MessageExpiryInterval", None),
    )


def decode_connect(frame: bytes) -> dict[str, Any]:
    first, b = split_frame(frame)
    assert first == mqtt5.CONNECT
    name, pos = read_str(b, 0)
    version, flags = b[pos], b[pos + 1]
    keepalive = int.from_bytes(b[pos + 2 : pos + 4], "big")
    props, pos = read_props(PacketTypes.CONNECT, b, pos + 4)
    client_id, pos = read_str(b, pos)
    out: dict[str, Any] = {
        "protocol": name,
        "version": version,
        "reserved": flags & 1,
        "clean_start": bool(flags & 0x02),
        "keepalive": keepalive,
        "session_expiry": getattr(props, "SessionExpiryInterval", None),
        "receive_maximum": getattr(props, "ReceiveMaximum", None),
        "client_id": client_id.decode(),
        "will": None,
        "username": None,
        "password": None,
    }
    if flags & 0x04:
        will_props, pos = read_props(PacketTypes.WILLMESSAGE, b, pos)
        topic, pos = read_str(b, pos)
        payload, pos = read_str(b, pos)
        out["will"] = {
            "topic": topic.decode(),
            "payload": payload,
            "qos": (flags >> 3) & 3,
            "retain": bool(flags & 0x20),
            "props": str(will_props),
        }
    else:
        assert flags & 0x38 == 0, "Will QoS/retain set without a Will"
    if flags & 0x80:
        user, pos = read_str(b, pos)
        out["username"] = user.decode()
    if flags & 0x40:
        pw, pos = read_str(b, pos)
        out["password"] = pw.decode()
    assert pos == len(b), "bytes left over after the CONNECT payload"
    return out


def decode_subscribe(frame: bytes) -> tuple[int, list[tuple[str, int]], str]:
    first, b = split_frame(frame)
    assert first == 0x82  # SUBSCRIBE with its mandatory reserved bits 0010
    pid = int.from_bytes(b[:2], "big")
    props, pos = read_props(PacketTypes.SUBSCRIBE, b, 2)
    filters = []
    while pos < len(b):
        f, pos = read_str(b, pos)
        filters.append((f.decode(), b[pos]))
        pos += 1
    return pid, filters, str(props)


def connack(
    *, session_present: bool = False, reason: int = 0, props: Properties | None = None
) -> bytes:
    packed = props.pack() if props is not None else b"\x00"
    body = bytes((1 if session_present else 0, reason)) + packed
    return bytes((mqtt5.CONNACK,)) + mqtt5.varint(len(body)) + body


def feed_all(data: bytes) -> list[mqtt5.Packet]:
    p = Parser()
    out = p.feed(data)
    assert p.buffered == 0
    return out


# ------------------------------------------------------------ variable byte integers
SPEC_VARINTS = [
    (0, "00"),
    (127, "7f"),
    (128, "8001"),
    (16_383, "ff7f"),
    (16_384, "808001"),
    (2_097_151, "ffff7f"),
    (2_097_152, "80808001"),
    (268_435_455, "ffffff7f"),
]


@pytest.mark.parametrize(("n", "hexed"), SPEC_VARINTS)
def test_varint_matches_the_examples_in_the_standard(n: int, hexed: str) -> None:
    assert mqtt5.varint(n) == bytes.fromhex(hexed)
    assert mqtt5.varint(n) == VariableByteIntegers.encode(n)


@pytest.mark.parametrize("n", [-1, 268_435_456, 2**32])
def test_varint_out_of_range_is_refused(n: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        mqtt5.varint(n)


@FAST
@given(st.integers(0, 268_435_455))
def test_varint_agrees_with_paho_both_ways(n: int) -> None:
    enc = mqtt5.varint(n)
    assert enc == VariableByteIntegers.encode(n)
    assert VariableByteIntegers.decode(enc) == (n, len(enc))


@pytest.mark.parametrize("length", [4, 127, 128, 16_383, 16_384, 2_097_151])
def test_parser_reads_remaining_lengths_of_every_size(length: int) -> None:
    """A PUBLISH whose remaining length takes 1 to 3 bytes: nothing comes out until the
    last byte of the body is in, then exactly that packet."""
    payload = b"x" * (length - 4)  # topic "t" (3 bytes) + empty properties (1 byte)
    frame = mqtt5.publish("t", payload)
    assert frame[1:].startswith(mqtt5.varint(length))
    p = Parser()
    assert p.feed(frame[:-1]) == []
    assert p.buffered == len(frame) - 1
    assert p.feed(frame[-1:]) == [Publish("t", payload)]
    assert p.buffered == 0


# ------------------------------------------------------------ PUBLISH round trips
ROUND_TRIPS = [
    pytest.param(dict(topic="hall/mini/calls", payload=b"{}"), id="qos0-plain"),
    pytest.param(dict(topic="a", payload=b"", retain=True), id="qos0-retain-empty"),
    pytest.param(
        dict(topic="hall/mini/t/k01/req/ticket.issue", payload=b"{}", qos=1, packet_id=1),
        id="qos1-first-id",
    ),
    pytest.param(
        dict(topic="x", payload=b"\x00\xff", qos=1, packet_id=65535, dup=True), id="qos1-dup"
    ),
    pytest.param(
        dict(
            topic="hall/mini/t/k01/req/ticket.issue",
            payload=b'{"service": "id_card_renew"}',
            qos=1,
            packet_id=4242,
            response_topic="hall/mini/t/k01/reply",
            correlation=b"\x00\x01corr\xff",
            expiry=30,
        ),
        id="request-with-reply-properties",
    ),
    pytest.param(
        dict(
            topic="大厅/叫号/窗口3",
            payload="请 A001 号到 3 号窗口办理".encode(),
            qos=1,
            packet_id=7,
            retain=True,
            response_topic="大厅/回复/自助机01",
            correlation="编号-1".encode(),
            expiry=4_294_967_295,
        ),
        id="chinese-topic-and-payload",
    ),
    pytest.param(
        dict(topic="t", payload=b"p", response_topic="", correlation=b"", expiry=0),
        id="empty-properties-values",
    ),
]


@pytest.mark.parametrize("fields", ROUND_TRIPS)
def test_publish_encodes_and_decodes_to_the_same_message(fields: dict[str, Any]) -> None:
    expected = Publish(**fields)
    args = dict(fields)
    frame = mqtt5.publish(args.pop("topic"), args.pop("payload"), **args)
    assert feed_all(frame) == [expected]
    # and paho's property decoder reads the same properties out of our bytes
    seen = decode_publish(*split_frame(frame))
    assert (seen.topic, seen.payload, seen.qos, seen.retain, seen.dup, seen.packet_id) == (
        expected.topic,
        expected.payload,
        expected.qos,
        expected.retain,
        expected.dup,
        expected.packet_id,
    )
    assert seen.response_topic == expected.response_topic
    assert seen.correlation == expected.correlation
    assert seen.expiry == expected.expiry


def test_set_dup_marks_only_the_dup_flag() -> None:
    frame = mqtt5.publish("t", b"p", qos=1, packet_id=9, retain=True, correlation=b"c")
    again = mqtt5.set_dup(frame)
    assert again[0] == frame[0] | 0x08 and again[1:] == frame[1:]
    assert feed_all(again) == [
        Publish("t", b"p", qos=1, retain=True, dup=True, packet_id=9, correlation=b"c")
    ]


# MQTT strings: UTF-8 without U+0000 and surrogates (§1.5.4); paho refuses them otherwise.
mqtt_chars = st.characters(codec="utf-8", exclude_characters="\x00")
topics = st.text(mqtt_chars, min_size=1, max_size=40)


@st.composite
def publishes(draw: st.DrawFn) -> Publish:
    qos = draw(st.sampled_from([0, 1]))
    return Publish(
        topic=draw(topics),
        payload=draw(st.binary(max_size=64)),
        qos=qos,
        retain=draw(st.booleans()),
        dup=draw(st.booleans()) if qos else False,
        packet_id=draw(st.integers(1, 65535)) if qos else 0,
        response_topic=draw(st.none() | st.text(mqtt_chars, max_size=30)),
        correlation=draw(st.none() | st.binary(max_size=30)),
        expiry=draw(st.none() | st.integers(0, 2**32 - 1)),
    )


def encode(p: Publish) -> bytes:
    return mqtt5.publish(
        p.topic,
        p.payload,
        qos=p.qos,
        retain=p.retain,
        packet_id=p.packet_id,
        dup=p.dup,
        response_topic=p.response_topic,
        correlation=p.correlation,
        expiry=p.expiry,
    )


@FAST
@given(publishes())
def test_any_publish_round_trips_and_paho_reads_its_properties(msg: Publish) -> None:
    frame = encode(msg)
    assert feed_all(frame) == [msg]
    seen = decode_publish(*split_frame(frame))
    assert seen == SeenPublish(**vars(msg))


@FAST
@given(publishes())
def test_a_publish_whose_properties_paho_packed_decodes_the_same(msg: Publish) -> None:
    """paho's encoder for the properties (its own order and layout), our decoder."""
    props = Properties(PacketTypes.PUBLISH)
    if msg.response_topic is not None:
        props.ResponseTopic = msg.response_topic
    if msg.correlation is not None:
        props.CorrelationData = msg.correlation
    if msg.expiry is not None:
        props.MessageExpiryInterval = msg.expiry
    t = msg.topic.encode()
    body = len(t).to_bytes(2, "big") + t
    if msg.qos:
        body += msg.packet_id.to_bytes(2, "big")
    body += props.pack() + msg.payload
    first = mqtt5.PUBLISH | msg.qos << 1 | (8 if msg.dup else 0) | (1 if msg.retain else 0)
    assert feed_all(bytes((first,)) + VariableByteIntegers.encode(len(body)) + body) == [msg]


def test_user_properties_are_skipped_and_the_rest_still_read() -> None:
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = [("trace", "abc"), ("区", "东")]
    props.ResponseTopic = "r"
    props.ContentType = "application/json"
    body = b"\x00\x01t" + props.pack() + b"payload"
    frame = bytes((mqtt5.PUBLISH,)) + mqtt5.varint(len(body)) + body
    assert feed_all(frame) == [Publish("t", b"payload", response_topic="r")]


# ------------------------------------------------------------ the client's packets, read by paho
def test_connect_with_everything_reads_back_field_by_field() -> None:
    frame = mqtt5.connect(
        "大厅-controller",
        keepalive=15,
        clean_start=False,
        session_expiry=3600,
        receive_maximum=10,
        will=mqtt5.Will("hall/mini/controller/state", b'{"state": "lost"}'),
        username="controller",
        password="s3cret-口令",
    )
    assert decode_connect(frame) == {
        "protocol": b"MQTT",
        "version": 5,
        "reserved": 0,
        "clean_start": False,
        "keepalive": 15,
        "session_expiry": 3600,
        "receive_maximum": 10,
        "client_id": "大厅-controller",
        "will": {
            "topic": "hall/mini/controller/state",
            "payload": b'{"state": "lost"}',
            "qos": 1,
            "retain": True,
            "props": "[]",
        },
        "username": "controller",
        "password": "s3cret-口令",
    }


def test_minimal_connect_leaves_out_defaults() -> None:
    frame = mqtt5.connect("k01", keepalive=0, clean_start=True)
    assert decode_connect(frame) == {
        "protocol": b"MQTT",
        "version": 5,
        "reserved": 0,
        "clean_start": True,
        "keepalive": 0,
        "session_expiry": None,  # 0 is the default: not sent
        "receive_maximum": None,  # 65535 is the default: not sent
        "client_id": "k01",
        "will": None,
        "username": None,
        "password": None,
    }
    # the whole packet, byte for byte, as §3.1 lays it out
    assert frame == bytes.fromhex("1010 00044d515454 05 02 0000 00 0003") + b"k01"


def test_connect_will_qos0_not_retained_and_username_only() -> None:
    frame = mqtt5.connect(
        "c", keepalive=60, clean_start=True, will=mqtt5.Will("w", b"", 0, False), username="u"
    )
    got = decode_connect(frame)
    assert got["will"] == {"topic": "w", "payload": b"", "qos": 0, "retain": False, "props": "[]"}
    assert (got["username"], got["password"]) == ("u", None)


def test_subscribe_reads_back() -> None:
    frame = mqtt5.subscribe(513, [("hall/mini/t/+/req/#", 1), ("大厅/#", 0)])
    assert decode_subscribe(frame) == (513, [("hall/mini/t/+/req/#", 1), ("大厅/#", 0)], "[]")


def test_fixed_packets_are_the_standards_bytes() -> None:
    assert mqtt5.puback(0x1234) == bytes.fromhex("40021234")
    assert mqtt5.PINGREQ_PACKET.hex() == "c000"
    assert mqtt5.DISCONNECT_PACKET.hex() == "e000"


def test_strings_longer_than_65535_bytes_are_refused() -> None:
    with pytest.raises(ValueError, match="65535"):
        mqtt5.publish("t", b"", response_topic="r" * 65536)
    with pytest.raises(ValueError, match="65535"):
        mqtt5.connect("c" * 65536, keepalive=0, clean_start=True)


def test_a_topic_longer_than_65535_bytes_is_refused_like_other_strings() -> None:
    with pytest.raises(ValueError, match="65535"):
        mqtt5.publish("t" * 65536, b"")


# ------------------------------------------------------------ the broker's other packets
def test_connack_plain_and_with_session() -> None:
    assert feed_all(bytes.fromhex("2003000000")) == [Connack(False, 0, {})]
    assert feed_all(bytes.fromhex("2003010000")) == [Connack(True, 0, {})]
    assert feed_all(bytes.fromhex("20020087")) == [Connack(False, 0x87, {})]


def test_connack_properties_packed_by_paho() -> None:
    props = Properties(PacketTypes.CONNACK)
    props.ReceiveMaximum = 2
    props.ServerKeepAlive = 30
    props.ReasonString = "欢迎"
    props.AssignedClientIdentifier = "auto-1"
    props.MaximumPacketSize = 2_097_152
    props.RetainAvailable = 1
    props.TopicAliasMaximum = 5
    props.UserProperty = ("a", "b")
    assert feed_all(connack(session_present=True, props=props)) == [
        Connack(
            True,
            0,
            {
                mqtt5.RECEIVE_MAXIMUM: 2,
                mqtt5.SERVER_KEEP_ALIVE: 30,
                mqtt5.REASON_STRING: "欢迎",
                0x12: "auto-1",
                0x27: 2_097_152,
                0x25: 1,
                0x22: 5,
            },
        )
    ]


def test_puback_and_suback() -> None:
    assert feed_all(bytes.fromhex("4002002a")) == [Ack(mqtt5.PUBACK, 42, b"\x00")]
    assert feed_all(bytes.fromhex("4003002a87")) == [Ack(mqtt5.PUBACK, 42, b"\x87")]
    props = Properties(PacketTypes.PUBACK)
    props.ReasonString = "no"
    body = b"\x00\x2a\x87" + props.pack()
    assert feed_all(b"\x40" + mqtt5.varint(len(body)) + body) == [Ack(mqtt5.PUBACK, 42, b"\x87")]
    # SUBACK: packet id, properties, one reason code per filter
    assert feed_all(bytes.fromhex("9005 0102 00 0180")) == [Ack(mqtt5.SUBACK, 258, b"\x01\x80")]
    props = Properties(PacketTypes.SUBACK)
    props.ReasonString = "partly"
    body = b"\x01\x02" + props.pack() + b"\x00\x01"
    assert feed_all(b"\x90" + mqtt5.varint(len(body)) + body) == [
        Ack(mqtt5.SUBACK, 258, b"\x00\x01")
    ]


def test_pingresp_and_disconnect() -> None:
    assert feed_all(bytes.fromhex("d000")) == [Simple(mqtt5.PINGRESP)]
    assert feed_all(bytes.fromhex("e000")) == [Simple(mqtt5.DISCONNECT, 0, None)]
    assert feed_all(bytes.fromhex("e0018b")) == [Simple(mqtt5.DISCONNECT, 0x8B, None)]
    props = Properties(PacketTypes.DISCONNECT)
    props.ReasonString = "server shutting down"
    body = b"\x8b" + props.pack()
    assert feed_all(b"\xe0" + mqtt5.varint(len(body)) + body) == [
        Simple(mqtt5.DISCONNECT, 0x8B, "server shutting down")
    ]


# ------------------------------------------------------------ streaming
def _suback(pid: int, reasons: bytes) -> bytes:
    body = pid.to_bytes(2, "big") + b"\x00" + reasons
    return b"\x90" + mqtt5.varint(len(body)) + body


STREAM = b"".join(
    [
        bytes.fromhex("2006010003210002"),  # CONNACK, session present, receive maximum 2
        _suback(1, b"\x01"),
        mqtt5.publish("大厅/a", "中文".encode(), qos=1, packet_id=2, correlation=b"c", expiry=9),
        mqtt5.puback(3),
        mqtt5.publish("b", b"x" * 300, response_topic="r"),  # a 2-byte remaining length
        bytes.fromhex("d000"),
        bytes.fromhex("e0018b"),
    ]
)


def test_a_stream_split_at_every_byte_gives_the_same_packets() -> None:
    whole = feed_all(STREAM)
    assert [type(p).__name__ for p in whole] == [
        "Connack",
        "Ack",
        "Publish",
        "Ack",
        "Publish",
        "Simple",
        "Simple",
    ]
    assert whole[0] == Connack(True, 0, {mqtt5.RECEIVE_MAXIMUM: 2})
    for cut in range(len(STREAM) + 1):
        p = Parser()
        assert p.feed(STREAM[:cut]) + p.feed(STREAM[cut:]) == whole, f"cut at {cut}"
        assert p.buffered == 0
    p = Parser()
    one_by_one = [pkt for i in range(len(STREAM)) for pkt in p.feed(STREAM[i : i + 1])]
    assert one_by_one == whole


broker_packets = st.one_of(
    publishes().map(encode),
    st.integers(1, 65535).map(mqtt5.puback),
    st.builds(_suback, st.integers(1, 65535), st.sampled_from([b"\x00", b"\x01", b"\x80"])),
    st.just(bytes.fromhex("2003000000")),
    st.just(bytes.fromhex("d000")),
    st.just(bytes.fromhex("e0018b")),
)


@FAST
@given(st.lists(broker_packets, min_size=1, max_size=6), st.data())
def test_any_stream_cut_anywhere_decodes_the_same(frames: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(frames)
    whole = feed_all(stream)
    assert len(whole) == len(frames)
    for cut in range(len(stream) + 1):
        p = Parser()
        assert p.feed(stream[:cut]) + p.feed(stream[cut:]) == whole
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    p = Parser()
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    assert [pkt for piece in pieces for pkt in p.feed(piece)] == whole
    assert p.buffered == 0


# ------------------------------------------------------------ malformed input
MALFORMED = [
    pytest.param("3080808080", "longer than 4 bytes", id="5-byte-remaining-length"),
    pytest.param("3080808080017f", "longer than 4 bytes", id="5-byte-remaining-length-full"),
    pytest.param(
        "300a 000174 8080808001 00 00", "longer than 4 bytes", id="5-byte-property-length"
    ),
    pytest.param("3006 000174 05 0200", "run past", id="property-length-past-packet"),
    pytest.param("3008 000174 04 0800 0561", "mismatch", id="string-property-cut"),
    pytest.param("3006 000174 02 0200", "malformed", id="four-byte-property-cut"),
    pytest.param("3006 000174 02 0501", "unknown property 0x05", id="unknown-property"),
    pytest.param("3006 000174 02 7f00", "unknown property 0x7f", id="unknown-property-7f"),
    pytest.param("3407 000174 0001 00 78", "QoS 2", id="qos2-publish"),
    pytest.param("3607 000174 0001 00 78", "QoS", id="qos3-publish"),
    pytest.param("3005 0002 fffe 00", "malformed", id="topic-not-utf8"),
    pytest.param("3001 00", "malformed", id="topic-length-cut"),
    pytest.param("300300 0574", "run past", id="topic-longer-than-packet"),
    pytest.param("400100", "malformed", id="puback-too-short"),
    pytest.param("200100", "malformed", id="connack-too-short"),
    pytest.param("9002 0001", "run past", id="suback-without-properties"),
    pytest.param("0000", "unexpected packet type 0x00", id="type-0-reserved"),
    pytest.param("1000", "unexpected packet type 0x10", id="connect-from-broker"),
    pytest.param("50020001", "unexpected packet type 0x50", id="pubrec"),
    pytest.param("62020001", "unexpected packet type 0x62", id="pubrel"),
    pytest.param("c000", "unexpected packet type 0xc0", id="pingreq-from-broker"),
    pytest.param("f000", "unexpected packet type 0xf0", id="auth"),
]


@pytest.mark.parametrize(("hexed", "match"), MALFORMED)
def test_malformed_packets_raise_protocol_error(hexed: str, match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        Parser().feed(bytes.fromhex(hexed.replace(" ", "")))


def test_oversize_packet_is_refused_before_its_body_arrives() -> None:
    header = b"\x30" + mqtt5.varint(mqtt5.MAX_PACKET + 1)
    with pytest.raises(ProtocolError, match="over the limit"):
        Parser().feed(header)
    # the limit itself is fine: the parser waits for the body
    p = Parser()
    assert p.feed(b"\x30" + mqtt5.varint(mqtt5.MAX_PACKET)) == []


def test_packets_of_an_earlier_feed_are_out_before_a_later_error() -> None:
    p = Parser()
    assert p.feed(mqtt5.puback(1)) == [Ack(mqtt5.PUBACK, 1)]
    with pytest.raises(ProtocolError):
        p.feed(bytes.fromhex("f000"))


def test_a_cut_off_varint_property_is_malformed() -> None:
    # PUBLISH topic "a", properties length 1 holding only the id 0x0B (Subscription
    # Identifier) and none of its value: §2.2.2.2 makes this a Malformed Packet.
    with pytest.raises(ProtocolError):
        Parser().feed(bytes.fromhex("3005 000161 010b".replace(" ", "")))


@FAST
@given(st.lists(st.binary(max_size=40), max_size=6))
def test_arbitrary_bytes_give_packets_or_protocol_error_only(chunks: list[bytes]) -> None:
    p = Parser()
    try:
        for c in chunks:
            for pkt in p.feed(c):
                assert isinstance(pkt, Connack | Publish | Ack | Simple)
    except ProtocolError:
        pass


@FAST
@given(st.lists(broker_packets, min_size=1, max_size=4), st.data())
def test_corrupted_valid_streams_give_packets_or_protocol_error_only(
    frames: list[bytes], data: st.DataObject
) -> None:
    stream = bytearray(b"".join(frames))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(stream) - 1))
        stream[i] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        del stream[data.draw(st.integers(0, len(stream) - 1)) :]
    p = Parser()
    try:
        out = p.feed(bytes(stream))
    except ProtocolError:
        return
    assert all(isinstance(pkt, Connack | Publish | Ack | Simple) for pkt in out)


def test_publish_dataclass_equality_is_field_by_field() -> None:
    """The round-trip tests rely on this: one differing field makes them unequal."""
    base = Publish("t", b"p", 1, False, False, 3, "r", b"c", 5)
    changes: list[dict[str, Any]] = [
        {"topic": "u"},
        {"payload": b"q"},
        {"qos": 0},
        {"retain": True},
        {"dup": True},
        {"packet_id": 4},
        {"response_topic": None},
        {"correlation": None},
        {"expiry": None},
    ]
    for change in changes:
        assert replace(base, **change) != base
