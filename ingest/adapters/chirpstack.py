"""ChirpStack v4 uplink events (MQTT integration, JSON marshaler).

Topic ``application/{application_id}/device/{dev_eui}/event/up``. The device is
``deviceInfo.devEui`` (the topic's DevEUI when the payload lacks it), the time is ``time``
(absent when no gateway gave one: then the receive time is used), the values are the numbers
in ``object``, the output of the device profile's codec. Nested objects are flattened as
``outer/inner``; strings and booleans are left out. The protobuf marshaler is not supported:
its messages are dead-lettered as invalid JSON.
"""

from __future__ import annotations

from energy_core.errors import PayloadError, Reason
from energy_core.schema import Message, RawReading
from ingest.adapters.common import decoded_values, json_object, level_after, optional_time, reading
from ingest.adapters.identity import TopicBinding


class ChirpStackAdapter:
    """Reads ChirpStack v4 ``event/up`` messages."""

    name = "chirpstack"
    binding: TopicBinding = "relay"

    def parse(self, message: Message) -> list[RawReading]:
        event = json_object(message.payload, "an uplink event")
        info = event.get("deviceInfo")
        dev_eui = info.get("devEui") if isinstance(info, dict) else None
        if dev_eui is None:
            dev_eui = level_after(message.topic, "device")
        if not isinstance(dev_eui, str) or not dev_eui:
            raise PayloadError(Reason.SCHEMA, "uplink has no deviceInfo.devEui")
        ts_ns = optional_time(event.get("time"), "time")
        values = decoded_values(
            event.get("object"),
            missing="uplink has no decoded 'object' (is a codec configured?)",
            where="decoded 'object'",
        )
        return [reading([dev_eui], ts_ns, values)]
