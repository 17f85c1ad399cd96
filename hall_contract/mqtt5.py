"""The MQTT 5 packets the hall's busy processes exchange, encoded and decoded (pure).

Bytes in, typed packets out; no sockets here (``hall_contract.lean`` does the I/O).
This covers the client side of MQTT 5.0 (OASIS standard, 2019) that the controller
uses: CONNECT (Will, session expiry, receive maximum, username and password), CONNACK,
PUBLISH at QoS 0/1 with response topic, correlation data and message expiry, PUBACK,
SUBSCRIBE/SUBACK, PINGREQ/PINGRESP and DISCONNECT. Why not paho: see ``lean.py``.

Anything malformed raises ``ProtocolError``: the connection is dropped and made again,
which is what the standard asks of a client that receives a malformed packet.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

CONNECT, CONNACK, PUBLISH, PUBACK = 0x10, 0x20, 0x30, 0x40
SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 0x80, 0x90, 0xC0, 0xD0, 0xE0

#: Largest packet accepted from the broker (ours is configured for 2 MiB).
MAX_PACKET = 4 * 1024 * 1024

# Property identifiers (MQTT 5.0 §2.2.2.2) and their wire types.
MESSAGE_EXPIRY, RESPONSE_TOPIC, CORRELATION_DATA = 0x02, 0x08, 0x09
SESSION_EXPIRY, SERVER_KEEP_ALIVE, RECEIVE_MAXIMUM, REASON_STRING = 0x11, 0x13, 0x21, 0x1F
_BYTE = {0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A}
_TWO = {0x13, 0x21, 0x22, 0x23}
_FOUR = {0x02, 0x11, 0x18, 0x27}
_VARINT = {0x0B}
_STRING = {0x03, 0x08, 0x12, 0x15, 0x1A, 0x1C, 0x1F}
_BINARY = {0x09, 0x16}
_PAIR = {0x26}

_H = struct.Struct("!H")
_I = struct.Struct("!I")


class ProtocolError(ValueError):
    """The bytes from the broker break the MQTT 5 standard."""


# ----------------------------------------------------------------------------- encoding
def varint(n: int) -> bytes:
    if not 0 <= n <= 268_435_455:
        raise ValueError(f"variable byte integer out of range: {n}")
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def _str(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    if len(b) > 0xFFFF:
        raise ValueError("string longer than 65535 bytes")
    return _H.pack(len(b)) + b


def _packet(first: int, body: bytes) -> bytes:
    return bytes((first,)) + varint(len(body)) + body


def _props(raw: bytes) -> bytes:
    return varint(len(raw)) + raw


@dataclass(frozen=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


def connect(
    client_id: str,
    *,
    keepalive: int,
    clean_start: bool,
    session_expiry: int = 0,
    receive_maximum: int = 65535,
    will: Will | None = None,
    username: str | None = None,
    password: str | None = None,
) -> bytes:
    flags = 0x02 if clean_start else 0
    if will is not None:
        flags |= 0x04 | (will.qos << 3) | (0x20 if will.retain else 0)
    if username is not None:
        flags |= 0x80
    if password is not None:
        flags |= 0x40
    props = b""
    if session_expiry:
        props += bytes((SESSION_EXPIRY,)) + _I.pack(session_expiry)
    if receive_maximum != 65535:
        props += bytes((RECEIVE_MAXIMUM,)) + _H.pack(receive_maximum)
    body = _str("MQTT") + bytes((5, flags)) + _H.pack(keepalive) + _props(props)
    body += _str(client_id)
    if will is not None:
        body += _props(b"") + _str(will.topic) + _str(will.payload)
    if username is not None:
        body += _str(username)
    if password is not None:
        body += _str(password)
    return _packet(CONNECT, body)


def publish(
    topic: str,
    payload: bytes,
    *,
    qos: int = 0,
    retain: bool = False,
    packet_id: int = 0,
    dup: bool = False,
    response_topic: str | None = None,
    correlation: bytes | None = None,
    expiry: int | None = None,
) -> bytes:
    first = PUBLISH | (qos << 1) | (1 if retain else 0) | (0x08 if dup else 0)
    var = _str(topic)
    if qos:
        var += _H.pack(packet_id)
    props = b""
    if expiry is not None:
        props += bytes((MESSAGE_EXPIRY,)) + _I.pack(expiry)
    if response_topic is not None:
        props += bytes((RESPONSE_TOPIC,)) + _str(response_topic)
    if correlation is not None:
        props += bytes((CORRELATION_DATA,)) + _str(correlation)
    return _packet(first, var + _props(props) + payload)


def set_dup(packet: bytes) -> bytes:
    """The same PUBLISH, marked as a redelivery."""
    return bytes((packet[0] | 0x08,)) + packet[1:]


def puback(packet_id: int) -> bytes:
    # Reason "success" and no properties may be left out (§3.4.2.1): 4 bytes.
    return bytes((PUBACK, 2)) + _H.pack(packet_id)


def subscribe(packet_id: int, filters: list[tuple[str, int]]) -> bytes:
    body = _H.pack(packet_id) + _props(b"")
    for f, qos in filters:
        body += _str(f) + bytes((qos,))
    return _packet(SUBSCRIBE | 0x02, body)


PINGREQ_PACKET = bytes((PINGREQ, 0))
#: Normal disconnection (reason 0): the broker discards the Will.
DISCONNECT_PACKET = bytes((DISCONNECT, 0))


# ----------------------------------------------------------------------------- decoding
@dataclass
class Connack:
    session_present: bool
    reason: int
    props: dict[int, object] = field(default_factory=dict)


@dataclass
class Publish:
    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    dup: bool = False
    packet_id: int = 0
    response_topic: str | None = None
    correlation: bytes | None = None
    expiry: int | None = None


@dataclass
class Ack:
    """PUBACK or SUBACK: the packet id and its reason code(s)."""

    kind: int
    packet_id: int
    reasons: bytes = b"\x00"


@dataclass
class Simple:
    """PINGRESP, or a DISCONNECT from the broker with its reason."""

    kind: int
    reason: int = 0
    text: str | None = None


Packet = Connack | Publish | Ack | Simple


def _read_varint(buf: bytes | bytearray, pos: int) -> tuple[int, int]:
    n = shift = 0
    for i in range(4):
        if pos + i >= len(buf):
            return -1, pos  # incomplete
        b = buf[pos + i]
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, pos + i + 1
        shift += 7
    raise ProtocolError("variable byte integer longer than 4 bytes")


def _read_props(b: bytes, pos: int) -> tuple[dict[int, object], int]:
    n, pos = _read_varint(b, pos)
    if n < 0 or pos + n > len(b):
        raise ProtocolError("properties run past the packet")
    end, props = pos + n, {}
    while pos < end:
        pid = b[pos]
        pos += 1
        value: object
        if pid in _BYTE:
            value, pos = b[pos], pos + 1
        elif pid in _TWO:
            (value,), pos = _H.unpack_from(b, pos), pos + 2
        elif pid in _FOUR:
            (value,), pos = _I.unpack_from(b, pos), pos + 4
        elif pid in _VARINT:
            value, pos = _read_varint(b, pos)
            if value < 0:
                raise ProtocolError("property value cut off")
        elif pid in _STRING or pid in _BINARY:
            (ln,) = _H.unpack_from(b, pos)
            raw, pos = b[pos + 2 : pos + 2 + ln], pos + 2 + ln
            value = raw.decode("utf-8", "replace") if pid in _STRING else raw
        elif pid in _PAIR:
            for _ in range(2):
                (ln,) = _H.unpack_from(b, pos)
                pos += 2 + ln
            continue  # user properties: not used by the hall
        else:
            raise ProtocolError(f"unknown property 0x{pid:02x}")
        props[pid] = value
    if pos != end:
        raise ProtocolError("property length mismatch")
    return props, end


def _decode(first: int, b: bytes) -> Packet:
    kind = first & 0xF0
    try:
        if kind == PUBLISH:
            qos = (first >> 1) & 3
            if qos > 1:
                raise ProtocolError("QoS 2 PUBLISH (the hall subscribes at QoS 1 at most)")
            (tl,) = _H.unpack_from(b, 0)
            topic = b[2 : 2 + tl].decode()
            pos = 2 + tl
            pid = 0
            if qos:
                (pid,) = _H.unpack_from(b, pos)
                pos += 2
            if pos < len(b) and b[pos] == 0:  # no properties: the common case
                props: dict[int, object] = {}
                pos += 1
            else:
                props, pos = _read_props(b, pos)
            rt, cd, ex = (
                props.get(RESPONSE_TOPIC),
                props.get(CORRELATION_DATA),
                props.get(MESSAGE_EXPIRY),
            )
            return Publish(
                topic,
                b[pos:],
                qos,
                bool(first & 1),
                bool(first & 0x08),
                pid,
                rt if isinstance(rt, str) else None,
                cd if isinstance(cd, bytes) else None,
                ex if isinstance(ex, int) else None,
            )
        if kind == PUBACK:
            (pid,) = _H.unpack_from(b, 0)
            return Ack(PUBACK, pid, b[2:3] or b"\x00")
        if kind == SUBACK:
            (pid,) = _H.unpack_from(b, 0)
            pos = _read_props(b, 2)[1]
            return Ack(SUBACK, pid, b[pos:])
        if kind == CONNACK:
            props, _pos = _read_props(b, 2) if len(b) > 2 else ({}, 2)
            return Connack(bool(b[0] & 1), b[1], props)
        if kind == PINGRESP:
            return Simple(PINGRESP)
        if kind == DISCONNECT:
            reason = b[0] if b else 0
            props = _read_props(b, 1)[0] if len(b) > 1 else {}
            text = props.get(REASON_STRING)
            return Simple(DISCONNECT, reason, text if isinstance(text, str) else None)
    except (struct.error, IndexError, UnicodeDecodeError) as err:
        raise ProtocolError(f"malformed packet 0x{first:02x}: {err}") from err
    raise ProtocolError(f"unexpected packet type 0x{first:02x} from the broker")


class Parser:
    """Feed bytes as they arrive; get every packet they complete."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Packet]:
        buf = self._buf
        buf += data
        out: list[Packet] = []
        pos = 0
        n = len(buf)
        while n - pos >= 2:
            length, start = _read_varint(buf, pos + 1)
            if length < 0:
                break
            if length > MAX_PACKET:
                raise ProtocolError(f"packet of {length} bytes is over the limit")
            end = start + length
            if end > n:
                break
            out.append(_decode(buf[pos], bytes(buf[start:end])))
            pos = end
        if pos:
            del buf[:pos]
        return out

    @property
    def buffered(self) -> int:
        return len(self._buf)
