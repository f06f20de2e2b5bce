"""A broker that says "session taken over" (MQTT 5 reason 0x8E) is believed at once."""

from __future__ import annotations

from structlog.testing import capture_logs

from ingest import mqtt_codec as codec
from ingest.mqtt import SESSION_TAKEN_OVER, MqttConsumer


async def test_a_disconnect_with_reason_session_taken_over_is_said_once_and_backs_off() -> None:
    consumer = MqttConsumer("mqtt://127.0.0.1:1", "ingest-host", ["energy/#"], lambda m, t: None)
    with capture_logs() as logs:
        for generation in (1, 2):
            connection = consumer._make_connection(generation, codec.MQTT_5)
            connection.data_received(bytes((codec.DISCONNECT << 4, 1, SESSION_TAKEN_OVER)))
            consumer._session_ended(connection, lived_s=3600.0)  # long-lived: the reason alone decides
    told = [entry for entry in logs if entry["event"] == "mqtt_session_taken_over"]
    assert len(told) == 1
    assert told[0]["log_level"] == "error"
    assert told[0]["client_id"] == "ingest-host"
    assert "0x8E" in told[0]["evidence"]
    assert "INGEST_CLIENT_ID" in told[0]["fix"]
    assert told[0]["backoff_s"] == 60.0
    assert consumer._taken_over
    assert consumer.takeovers == 2
