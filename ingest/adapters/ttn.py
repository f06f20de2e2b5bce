"""The Things Stack v3 uplink messages (MQTT server, ``v3/{app}@{tenant}/devices/{device}/up``).

Device: ``end_device_ids.dev_eui`` when present, with ``end_device_ids.device_id`` as an
alternative key, so a device registered under either its DevEUI or its TTS device id
resolves (the Normaliser tries ``RawReading.alt_keys`` when the first key is unknown).
Time: ``uplink_message.received_at`` (network server), else the top-level ``received_at``,
else the receive time. Values: the numbers in ``uplink_message.decoded_payload``.
The Things Stack leaves out fields whose value is zero or empty (protobuf JSON), so every
field may be missing; only ``decoded_payload`` is required.
"""

from __future__ import annotations

from energy_core.errors import PayloadError, Reason
from energy_core.schema import Message, RawReading
from ingest.adapters.common import level_after, load_json, numeric_values, parse_rfc3339
from ingest.adapters.identity import TopicBinding


class TheThingsStackAdapter:
    """Reads The Things Stack v3 ``up`` messages."""

    name = "ttn"
    binding: TopicBinding = "relay"

    def parse(self, message: Message) -> list[RawReading]:
        doc = load_json(message.payload)
        if not isinstance(doc, dict):
            raise PayloadError(Reason.SCHEMA, "an uplink message must be a JSON object")
        ids = doc.get("end_device_ids")
        ids = ids if isinstance(ids, dict) else {}
        keys = [
            key
            for key in (ids.get("dev_eui"), ids.get("device_id"), level_after(message.topic, "devices"))
            if isinstance(key, str) and key
        ]
        if not keys:
            raise PayloadError(Reason.SCHEMA, "uplink has no end_device_ids")
        uplink = doc.get("uplink_message")
        if not isinstance(uplink, dict):
            raise PayloadError(Reason.SCHEMA, "message has no 'uplink_message'")
        decoded = uplink.get("decoded_payload")
        if not isinstance(decoded, dict):
            raise PayloadError(Reason.SCHEMA, "uplink has no 'decoded_payload' (is a formatter set?)")
        values = numeric_values(decoded)
        if not values:
            raise PayloadError(Reason.SCHEMA, "'decoded_payload' holds no numbers")
        time = uplink.get("received_at", doc.get("received_at"))
        if time is not None and not isinstance(time, str):
            raise PayloadError(Reason.SCHEMA, "'received_at' must be an RFC 3339 string")
        ts_ns = None if time is None else parse_rfc3339(time)
        alt_keys = tuple(dict.fromkeys(k for k in keys[1:] if k.lower() != keys[0].lower()))
        return [RawReading(keys[0], ts_ns, {key: (value, None) for key, value in values.items()}, alt_keys)]
