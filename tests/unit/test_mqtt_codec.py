"""The hand-written MQTT codec: varints, packet encode/decode, stream splitting, fallback decision."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest import mqtt_codec as codec

# -- varints ------------------------------------------------------------------------------

VARINT_EDGES = [
    (0, b"\x00"),
    (127, b"\x7f"),
    (128, b"\x80\x01"),
    (16_383, b"\xff\x7f"),
    (16_384, b"\x80\x80\x01"),
    (2_097_151, b"\xff\xff\x7f"),
    (2_097_152, b"\x80\x80\x80\x01"),
    (268_435_455, b"\xff\xff\xff\x7f"),
]


@pytest.mark.parametrize(("value", "wire"), VARINT_EDGES)
def test_varint_edges_encode_to_the_spec_bytes_and_back(value: int, wire: bytes) -> None:
    assert codec.encode_varint(value) == wire
    assert codec.decode_varint(wire, 0) == (value, len(wire))


@pytest.mark.parametrize("value", [-1, 268_435_456])
def test_varint_out_of_range_is_refused(value: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        codec.encode_varint(value)


def test_varint_of_five_bytes_is_malformed() -> None:
    with pytest.raises(codec.MalformedPacket):
        codec.decode_varint(b"\xff\xff\xff\xff\x01", 0)


@pytest.mark.parametrize("wire", [b"", b"\x80", b"\xff\xff", b"\xff\xff\xff"])
def test_truncated_varint_means_need_more_bytes(wire: bytes) -> None:
    assert codec.decode_varint(wire, 0) is None


@given(st.integers(0, codec.MAX_VARINT), st.binary(max_size=4))
def test_varint_round_trips_at_any_offset(value: int, prefix: bytes) -> None:
    wire = prefix + codec.encode_varint(value) + b"tail"
    assert codec.decode_varint(wire, len(prefix)) == (value, len(wire) - 4)


# -- packets ------------------------------------------------------------------------------

topics = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), min_size=1, max_size=40
)
payloads = st.binary(max_size=600)  # crosses the 128-byte one-byte-length boundary
packet_ids = st.integers(1, 65_535)
v5_props = st.sampled_from(
    [b"", b"\x01\x01", b"\x02\x00\x00\x0e\x10", b"\x03\x00\x10application/json", b"\x26\x00\x01k\x00\x01v"]
)


@st.composite
def publishes(draw: st.DrawFn) -> tuple[str, bytes, int, int, int, bytes]:
    qos = draw(st.sampled_from([0, 1, 2]))
    protocol = draw(st.sampled_from([codec.MQTT_5, codec.MQTT_311]))
    properties = draw(v5_props) if protocol == codec.MQTT_5 else b""
    return draw(topics), draw(payloads), qos, draw(packet_ids) if qos else 0, protocol, properties


@given(publishes(), st.booleans())
def test_publish_round_trips_in_both_protocol_versions(
    publish: tuple[str, bytes, int, int, int, bytes], dup: bool
) -> None:
    topic, payload, qos, packet_id, protocol, properties = publish
    wire = codec.encode_publish(
        topic, payload, qos=qos, packet_id=packet_id, dup=dup, protocol=protocol, properties=properties
    )
    [(first_byte, body)] = codec.PacketReader().feed(wire)
    assert first_byte >> 4 == codec.PUBLISH
    assert bool(first_byte & 0x08) == dup
    assert codec.decode_publish(first_byte, body, protocol) == (topic, payload, qos, packet_id)


def test_publish_without_topic_name_is_malformed_since_we_allow_no_topic_aliases() -> None:
    body = b"\x00\x00" + b"\x00\x01" + b"\x03\x23\x00\x01" + b"payload"  # topic alias 1
    with pytest.raises(codec.MalformedPacket, match="topic"):
        codec.decode_publish(0x32, body, codec.MQTT_5)


def test_publish_with_property_length_past_the_packet_is_malformed() -> None:
    body = b"\x00\x01t" + b"\x00\x07" + b"\x10\x01"
    with pytest.raises(codec.MalformedPacket):
        codec.decode_publish(0x32, body, codec.MQTT_5)


def test_connect_v5_carries_clean_start_off_session_expiry_receive_maximum_and_credentials() -> None:
    wire = codec.encode_connect(
        "ingest-1", 30, username="ingest", password="pw:1", session_expiry_s=604_800, receive_maximum=65_535
    )
    [(first_byte, body)] = codec.PacketReader().feed(wire)
    assert first_byte == 0x10
    assert body[:7] == b"\x00\x04MQTT\x05"
    flags = body[7]
    assert flags == 0xC0  # username + password, clean start off, no will
    assert struct.unpack(">H", body[8:10]) == (30,)
    props_end = codec.skip_properties(body, 10)
    props = codec.parse_properties(body[11:props_end])
    assert props[codec.PROP_SESSION_EXPIRY] == 604_800
    assert props[codec.PROP_RECEIVE_MAXIMUM] == 65_535
    assert props[codec.PROP_MAXIMUM_PACKET_SIZE] == codec.DEFAULT_MAX_PACKET_BYTES
    assert body[props_end:] == b"\x00\x08ingest-1" + b"\x00\x06ingest" + b"\x00\x04pw:1"


def test_connect_311_has_clean_session_off_and_no_properties() -> None:
    wire = codec.encode_connect("c", 60, protocol=codec.MQTT_311)
    assert wire == b"\x10\x0d\x00\x04MQTT\x04\x00\x00\x3c\x00\x01c"


@pytest.mark.parametrize(
    ("protocol", "wire"),
    [
        (codec.MQTT_5, b"\x82\x0c\x00\x07\x00\x00\x06$share\x01"),
        (codec.MQTT_311, b"\x82\x0b\x00\x07\x00\x06$share\x01"),
    ],
)
def test_subscribe_asks_qos_1_for_each_filter(protocol: int, wire: bytes) -> None:
    assert codec.encode_subscribe(7, ["$share"], protocol=protocol) == wire


def test_acks_for_a_batch_are_four_bytes_each_in_one_buffer() -> None:
    assert codec.encode_acks(codec.PUBACK, [1, 0x1234, 65_535]) == (
        b"\x40\x02\x00\x01" + b"\x40\x02\x12\x34" + b"\x40\x02\xff\xff"
    )
    assert codec.encode_acks(codec.PUBREC, [9]) == b"\x50\x02\x00\x09"
    assert codec.encode_acks(codec.PUBCOMP, [9]) == b"\x70\x02\x00\x09"


def test_connack_v5_with_properties_and_v311_short_form() -> None:
    v5 = b"\x01\x00" + b"\x03" + b"\x13\x00\x3c"  # session present, success, server keep alive 60
    assert codec.decode_connack(v5, codec.MQTT_5) == (True, 0, {codec.PROP_SERVER_KEEP_ALIVE: 60})
    assert codec.decode_connack(b"\x00\x01", codec.MQTT_5) == (False, 1, {})  # v3-only broker's answer
    assert codec.decode_connack(b"\x00\x00", codec.MQTT_311) == (False, 0, {})


def test_suback_reason_codes_in_both_versions() -> None:
    assert codec.decode_suback(b"\x00\x01\x00\x01\x87", codec.MQTT_5) == (1, [0x01, 0x87])
    assert codec.decode_suback(b"\x00\x01\x01\x80", codec.MQTT_311) == (1, [0x01, 0x80])


def test_unknown_property_is_malformed() -> None:
    with pytest.raises(codec.MalformedPacket, match="unknown property"):
        codec.parse_properties(b"\x7f\x00")


# -- stream splitting -----------------------------------------------------------------------

control_packets = st.sampled_from(
    [
        b"\xd0\x00",  # PINGRESP
        b"\x20\x03\x00\x00\x00",  # CONNACK v5
        b"\x90\x04\x00\x01\x00\x01",  # SUBACK v5
        b"\x62\x02\x00\x05",  # PUBREL
        b"\xe0\x01\x8e",  # DISCONNECT session taken over
    ]
)
stream_packets = st.lists(
    st.one_of(
        control_packets,
        publishes().map(
            lambda p: codec.encode_publish(
                p[0], p[1], qos=p[2], packet_id=p[3], protocol=p[4], properties=p[5]
            )
        ),
        st.binary(min_size=120, max_size=20_000).map(
            lambda b: codec.encode_publish("big", b, qos=1, packet_id=1)
        ),
    ),
    max_size=30,
)


def split_packet(wire: bytes) -> tuple[int, bytes]:
    length, start = codec.decode_varint(wire, 1) or (0, 0)
    assert start + length == len(wire)
    return wire[0], wire[start:]


@settings(max_examples=200, deadline=None)
@given(stream_packets, st.data())
def test_a_stream_cut_at_arbitrary_bytes_yields_the_same_packets(
    packets: list[bytes], data: st.DataObject
) -> None:
    stream = b"".join(packets)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=40)))
    reader = codec.PacketReader()
    out: list[tuple[int, bytes]] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        out.extend(reader.feed(stream[start:end]))
    assert out == [split_packet(p) for p in packets]
    assert reader.feed(b"") == []


def test_oversized_packet_is_refused_from_its_header_alone() -> None:
    reader = codec.PacketReader(max_packet_bytes=1000)
    header = b"\x30" + codec.encode_varint(1001)
    with pytest.raises(codec.PacketTooLarge) as refused:
        reader.feed(header)  # no body bytes yet: nothing of it gets buffered
    assert refused.value.size == 1001


def test_packet_of_exactly_the_limit_is_accepted() -> None:
    wire = codec.encode_publish("t", b"x" * (1000 - 4), protocol=codec.MQTT_311)
    assert len(codec.PacketReader(max_packet_bytes=1000).feed(wire)) == 1


# -- the 3.1.1 fallback decision ----------------------------------------------------------------
# Mosquitto 2 cannot be made to refuse MQTT 5, so the decision is tested here on its inputs:
# the CONNACK code the broker sent (None when it closed the connection without one).


@pytest.mark.parametrize(
    ("protocol", "connack_code", "accepted_v5_before", "fall_back"),
    [
        (codec.MQTT_5, 0x84, False, True),  # v5 "unsupported protocol version"
        (codec.MQTT_5, 0x01, False, True),  # v3-only broker's "unacceptable protocol version"
        (codec.MQTT_5, None, False, True),  # closed right after a v5 CONNECT, never accepted v5
        (codec.MQTT_5, None, True, False),  # this broker did speak v5: a restart, not a refusal
        (codec.MQTT_5, 0x84, True, True),  # an explicit refusal always counts
        (codec.MQTT_5, 0x86, False, False),  # bad credentials: not a version problem
        (codec.MQTT_5, 0x87, False, False),  # not authorised
        (codec.MQTT_311, 0x01, False, False),  # already on 3.1.1: nothing lower to try
        (codec.MQTT_311, None, False, False),
    ],
)
def test_fallback_to_311_only_when_the_broker_refuses_v5(
    protocol: int, connack_code: int | None, accepted_v5_before: bool, fall_back: bool
) -> None:
    assert codec.v5_refused(protocol, connack_code, accepted_v5_before) is fall_back
