"""energy_core.settings.mqtt_endpoint: an MQTT_URL as named parts, and the paho client built from them."""

from __future__ import annotations

from paho.mqtt.enums import MQTTProtocolVersion

from energy_core.mqttclient import paho_client
from energy_core.settings import MqttEndpoint, mqtt_endpoint


def test_an_mqtt_url_is_split_into_named_parts_with_the_credentials_decoded():
    endpoint = mqtt_endpoint("mqtts://ingest:p%40ss%2Fw0rd@broker.example:8884")
    assert endpoint == MqttEndpoint("broker.example", 8884, True, "ingest", "p@ss/w0rd")
    assert (endpoint.host, endpoint.port, endpoint.tls) == ("broker.example", 8884, True)
    assert (endpoint.username, endpoint.password) == ("ingest", "p@ss/w0rd")


def test_the_port_defaults_by_scheme_and_a_url_without_credentials_has_none():
    assert mqtt_endpoint("mqtt://10.0.0.5") == MqttEndpoint("10.0.0.5", 1883, False, None, None)
    assert mqtt_endpoint("mqtts://broker") == MqttEndpoint("broker", 8883, True, None, None)


def test_the_shared_paho_client_speaks_the_protocol_asked_for_with_the_urls_credentials():
    v311 = paho_client(mqtt_endpoint("mqtt://sim:secret@127.0.0.1:1883"), "sim-1", clean_session=False)
    assert v311.protocol == MQTTProtocolVersion.MQTTv311
    assert (v311.username, v311.password) == ("sim", "secret")
    v5 = paho_client(mqtt_endpoint("mqtt://127.0.0.1"), "replay", mqtt5=True)
    assert v5.protocol == MQTTProtocolVersion.MQTTv5
    assert v5.username is None
