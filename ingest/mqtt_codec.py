"""MQTT 3.1.1 / 5 wire codec for the ingest consumer: pure functions over bytes, no I/O.

Hand-written on purpose (the allowed hot-path exception): paho-mqtt reads each packet with
~3 ``recv`` calls and builds a property object and an ``MQTTMessage`` per PUBLISH; splitting
the byte stream in bulk here and skipping PUBLISH properties by their length drains a
persistent session several times faster (bench/bench_ingest.py prints both rates).
Only what a QoS 1 subscriber needs is here: CONNECT, CONNACK, SUBSCRIBE, SUBACK, PUBLISH
(decode), PUBACK/PUBREC/PUBREL/PUBCOMP, PINGREQ/PINGRESP and DISCONNECT.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from energy_core.errors import ProtocolError

# Control packet types (the high nibble of the fixed header's first byte).
CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = range(8, 16)

MQTT_311, MQTT_5 = 4, 5  # protocol levels in CONNECT
MAX_VARINT = 268_435_455  # the largest Remaining Length MQTT can express (4 bytes)
DEFAULT_MAX_PACKET_BYTES = 16 * 1024 * 1024

# MQTT 5 property identifiers we write or read.
PROP_SESSION_EXPIRY = 0x11
PROP_SERVER_KEEP_ALIVE = 0x13
PROP_REASON_STRING = 0x1F
PROP_RECEIVE_MAXIMUM = 0x21
PROP_MAXIMUM_PACKET_SIZE = 0x27

# Wire size of each property's value, by identifier (MQTT 5 §2.2.2.2); "v" = varint,
# "s" = UTF-8 string or binary data (2-byte length prefix), "p" = string pair.
_PROPERTY_KINDS: dict[int, int | str] = {
    0x01: 1, 0x02: 4, 0x03: "s", 0x08: "s", 0x09: "s", 0x0B: "v", 0x11: 4, 0x12: "s",
    0x13: 2, 0x15: "s", 0x16: "s", 0x17: 1, 0x18: 4, 0x19: 1, 0x1A: "s", 0x1C: "s",
    0x1F: "s", 0x21: 2, 0x22: 2, 0x23: 2, 0x24: 1, 0x25: 1, 0x26: "p", 0x27: 4,
    0x28: 1, 0x29: 1, 0x2A: 1,
}  # fmt: skip

Properties = dict[int, int | bytes | tuple[bytes, bytes]]  # v5 properties by identifier

PINGREQ_PACKET = b"\xc0\x00"
DISCONNECT_PACKET = b"\xe0\x00"  # v5: reason 0 and no properties may be omitted, so both versions match

# CONNACK codes meaning "not this protocol version": v3.1.1 return code 1, v5 reason 0x84.
V5_REFUSED_CODES = frozenset({0x01, 0x84})


class MalformedPacket(ProtocolError, ValueError):
    """Raised when the broker sends bytes that are not a valid MQTT packet."""


class PacketTooLarge(ProtocolError, ValueError):
    """Raised when a packet's Remaining Length exceeds the reader's limit.

    ``size`` is the announced Remaining Length in bytes.
    """

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"packet of {size} bytes exceeds the {limit} byte limit")
        self.size = size
        self.limit = limit


# -- primitives ---------------------------------------------------------------------------


def encode_varint(value: int) -> bytes:
    """MQTT Variable Byte Integer: 7 bits a byte, least significant first, top bit = more."""
    if not 0 <= value <= MAX_VARINT:
        raise ValueError(f"varint out of range: {value}")
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(buf: bytes | bytearray, pos: int) -> tuple[int, int] | None:
    """Value and the position after it; None when ``buf`` ends inside the integer."""
    value = shift = 0
    for i in range(4):
        if pos + i >= len(buf):
            return None
        byte = buf[pos + i]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos + i + 1
        shift += 7
    raise MalformedPacket("variable byte integer longer than 4 bytes")


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">H", len(raw)) + raw


def _binary(raw: bytes) -> bytes:
    return struct.pack(">H", len(raw)) + raw


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes((first_byte,)) + encode_varint(len(body)) + body


# -- encoders (client → broker) -------------------------------------------------------


def encode_connect(
    client_id: str,
    keepalive_s: int,
    *,
    protocol: int = MQTT_5,
    username: str | None = None,
    password: str | None = None,
    session_expiry_s: int = 0,
    receive_maximum: int = 65_535,
    max_packet_bytes: int = DEFAULT_MAX_PACKET_BYTES,
) -> bytes:
    """CONNECT with Clean Start / Clean Session off: the broker keeps our queue between connections."""
    flags = (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
    header = _string("MQTT") + struct.pack(">BBH", protocol, flags, keepalive_s)
    if protocol == MQTT_5:
        props = struct.pack(
            ">BIBHBI",
            PROP_SESSION_EXPIRY,
            session_expiry_s,
            PROP_RECEIVE_MAXIMUM,
            receive_maximum,
            PROP_MAXIMUM_PACKET_SIZE,
            max_packet_bytes,
        )
        header += encode_varint(len(props)) + props
    payload = _string(client_id)
    if username is not None:
        payload += _string(username)
    if password is not None:
        payload += _binary(password.encode())
    return _packet(CONNECT << 4, header + payload)


def encode_subscribe(
    packet_id: int, topic_filters: Iterable[str], *, protocol: int = MQTT_5, qos: int = 1
) -> bytes:
    """SUBSCRIBE every filter at ``qos`` (v5 options: no-local off, retain handling 0)."""
    body = struct.pack(">H", packet_id) + (b"\x00" if protocol == MQTT_5 else b"")
    for topic_filter in topic_filters:
        body += _string(topic_filter) + bytes((qos,))
    return _packet((SUBSCRIBE << 4) | 0x02, body)


def encode_acks(packet_type: int, packet_ids: list[int]) -> bytes:
    """PUBACKs (or PUBRECs/PUBCOMPs) for many packet ids as one buffer for one write.

    Each is 4 bytes (type, length 2, id): the v5 reason code 0 with no properties may be
    omitted, so the same bytes serve both protocol versions. Packing them as big-endian
    32-bit words is one C call for the whole batch.
    """
    head = ((packet_type << 4) | (0x02 if packet_type == PUBREL else 0)) << 24 | 0x02 << 16
    return struct.pack(f">{len(packet_ids)}I", *[head | packet_id for packet_id in packet_ids])


def encode_publish(
    topic: str,
    payload: bytes,
    *,
    qos: int = 0,
    packet_id: int = 0,
    dup: bool = False,
    protocol: int = MQTT_5,
    properties: bytes = b"",
) -> bytes:
    """PUBLISH (broker → client direction, for tests and tools); ``properties`` are raw v5 bytes."""
    body = _string(topic)
    if qos:
        body += struct.pack(">H", packet_id)
    if protocol == MQTT_5:
        body += encode_varint(len(properties)) + properties
    return _packet((PUBLISH << 4) | (0x08 if dup else 0) | (qos << 1), body + payload)


# -- decoders (broker → client) -----------------------------------------------------------


class PacketReader:
    """Splits a byte stream into whole packets, however the stream was chunked.

    ``feed`` returns ``(first_byte, body)`` for every packet completed by the new bytes and
    keeps the tail of an incomplete one. A packet announcing more than ``max_packet_bytes``
    raises PacketTooLarge as soon as its header is readable, before its body is buffered.
    """

    __slots__ = ("_pending", "max_packet_bytes")

    def __init__(self, max_packet_bytes: int = DEFAULT_MAX_PACKET_BYTES) -> None:
        self.max_packet_bytes = max_packet_bytes
        self._pending = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Append ``data``; return the packets it completed, in stream order."""
        pending = self._pending
        if pending:
            pending += data
            buf: bytes | bytearray = pending
        else:
            buf = data  # the common case: a chunk that starts on a packet boundary, no copy
        packets: list[tuple[int, bytes]] = []
        pos, end_of_data, limit = 0, len(buf), self.max_packet_bytes
        while end_of_data - pos >= 2:
            length = buf[pos + 1]
            if length < 0x80:  # one-byte Remaining Length: every packet under 128 bytes
                start = pos + 2
            else:
                decoded = decode_varint(buf, pos + 1)
                if decoded is None:
                    break
                length, start = decoded
            if length > limit:
                raise PacketTooLarge(length, limit)
            end = start + length
            if end > end_of_data:
                break
            packets.append((buf[pos], bytes(buf[start:end])))
            pos = end
        if pending:
            del pending[:pos]
        elif pos < end_of_data:
            pending += buf[pos:]
        return packets


def skip_properties(body: bytes, pos: int) -> int:
    """The position after an MQTT 5 property section that starts at ``pos``."""
    decoded = decode_varint(body, pos)
    if decoded is None:
        raise MalformedPacket("truncated property length")
    length, start = decoded
    if start + length > len(body):
        raise MalformedPacket("property section longer than the packet")
    return start + length


def parse_properties(raw: bytes) -> Properties:
    """Every property in a property section's bytes (last one wins for repeated ids)."""
    props: Properties = {}
    pos = 0
    try:
        while pos < len(raw):
            decoded = decode_varint(raw, pos)
            if decoded is None:
                raise MalformedPacket("truncated property identifier")
            prop_id, pos = decoded
            kind = _PROPERTY_KINDS.get(prop_id)
            if kind is None:
                raise MalformedPacket(f"unknown property 0x{prop_id:02x}")
            if isinstance(kind, int):
                if pos + kind > len(raw):
                    raise MalformedPacket("truncated property value")
                props[prop_id] = int.from_bytes(raw[pos : pos + kind], "big")
                pos += kind
            elif kind == "v":
                value = decode_varint(raw, pos)
                if value is None:
                    raise MalformedPacket("truncated property varint")
                props[prop_id], pos = value
            elif kind == "s":
                props[prop_id], pos = _read_binary(raw, pos)
            else:
                key, pos = _read_binary(raw, pos)
                value_bytes, pos = _read_binary(raw, pos)
                props[prop_id] = (key, value_bytes)
    except IndexError:
        raise MalformedPacket("truncated property section") from None
    return props


def _read_binary(raw: bytes, pos: int) -> tuple[bytes, int]:
    length = int.from_bytes(raw[pos : pos + 2], "big")
    end = pos + 2 + length
    if pos + 2 > len(raw) or end > len(raw):
        raise MalformedPacket("truncated string")
    return raw[pos + 2 : end], end


def decode_publish(first_byte: int, body: bytes, protocol: int) -> tuple[str, bytes, int, int]:
    """Topic, payload, QoS and packet id (0 for QoS 0) of a PUBLISH body.

    v5 properties are skipped by length: we announce no Topic Alias Maximum, so the broker
    may not use aliases and an empty topic name is a protocol error.
    """
    qos = (first_byte >> 1) & 0x03
    if qos == 3:
        raise MalformedPacket("PUBLISH with QoS 3")
    topic_end = 2 + ((body[0] << 8) | body[1]) if len(body) >= 2 else 0
    if topic_end == 2 or topic_end > len(body):
        raise MalformedPacket("PUBLISH without a valid topic name")
    try:
        topic = body[2:topic_end].decode()
    except UnicodeDecodeError:
        raise MalformedPacket("topic name is not UTF-8") from None
    pos = topic_end
    packet_id = 0
    if qos:
        if pos + 2 > len(body):
            raise MalformedPacket("PUBLISH without a packet identifier")
        packet_id = (body[pos] << 8) | body[pos + 1]
        pos += 2
    if protocol == MQTT_5:
        if pos < len(body) and body[pos] == 0:  # the usual: no properties
            pos += 1
        else:
            pos = skip_properties(body, pos)
    return topic, body[pos:], qos, packet_id


def decode_connack(body: bytes, protocol: int) -> tuple[bool, int, Properties]:
    """Session-present flag, reason/return code and (v5) properties of a CONNACK.

    A v3.1.1-only broker answers a v5 CONNECT with a 2-byte CONNACK (return code 1), so a
    v5 CONNACK without a property section is accepted too.
    """
    if len(body) < 2:
        raise MalformedPacket("CONNACK shorter than 2 bytes")
    props: Properties = {}
    if protocol == MQTT_5 and len(body) > 2:
        end = skip_properties(body, 2)
        decoded = decode_varint(body, 2)
        assert decoded is not None  # skip_properties has checked it
        props = parse_properties(body[decoded[1] : end])
    return bool(body[0] & 0x01), body[1], props


def decode_suback(body: bytes, protocol: int) -> tuple[int, list[int]]:
    """Packet id and the per-filter reason codes (granted QoS, or ≥ 0x80 for a failure)."""
    if len(body) < 3:
        raise MalformedPacket("SUBACK too short")
    pos = skip_properties(body, 2) if protocol == MQTT_5 else 2
    return (body[0] << 8) | body[1], list(body[pos:])


def decode_packet_id(body: bytes) -> int:
    """The packet identifier that starts PUBREL (and other ack) bodies."""
    if len(body) < 2:
        raise MalformedPacket("packet identifier missing")
    return (body[0] << 8) | body[1]


def decode_disconnect_reason(body: bytes) -> int:
    """A v5 DISCONNECT's reason code (0 when omitted, and always for v3.1.1)."""
    return body[0] if body else 0


def v5_refused(protocol: int, connack_code: int | None, accepted_v5_before: bool) -> bool:
    """Whether to retry with MQTT 3.1.1 after this v5 connection attempt.

    ``connack_code`` is None when the broker closed the connection before any CONNACK,
    which is how some v3.1.1-only brokers answer a v5 CONNECT. That is only taken as a
    refusal if this broker has never accepted v5 from us (otherwise it is a broker restart
    or a network cut, and downgrading would be wrong).
    """
    if protocol != MQTT_5:
        return False
    if connack_code is None:
        return not accepted_v5_before
    return connack_code in V5_REFUSED_CODES
