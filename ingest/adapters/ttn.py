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
from ingest.adapters.common import (
    decoded_values,
    device_keys,
    json_object,
    level_after,
    optional_time,
    reading,
)
from ingest.adapters.identity import TopicBinding


class TheThingsStackAdapter:
    """Reads The Things Stack v3 ``up`` messages."""

    name = "ttn"
    binding: TopicBinding = "relay"

    def parse(self, message: Message) -> list[RawReading]:
        doc = json_object(message.payload, "an uplink message")
        ids = doc.get("end_device_ids")
        ids = ids if isinstance(ids, dict) else {}
        keys = device_keys(ids.get("dev_eui"), ids.get("device_id"), level_after(message.topic, "devices"))
        if not keys:
            raise PayloadError(Reason.SCHEMA, "uplink has no end_device_ids")
        uplink = doc.get("uplink_message")
        if not isinstance(uplink, dict):
            raise PayloadError(Reason.SCHEMA, "message has no 'uplink_message'")
        values = decoded_values(
            uplink.get("decoded_payload"),
            missing="uplink has no 'decoded_payload' (is a formatter set?)",
            where="'decoded_payload'",
        )
        ts_ns = optional_time(uplink.get("received_at", doc.get("received_at")), "received_at")
        return [reading(keys, ts_ns, values)]
