"""Services refuse to start while a secret still holds a placeholder from deploy/.env.example."""

from __future__ import annotations

import pytest

from api.settings import ApiSettings
from energy_core.errors import ConfigError
from energy_core.settings import load
from ingest.config import IngestSettings

BASE = {"INFLUX_URL": "http://influxdb:8086"}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key in ("MQTT_URL", "INFLUX_PASSWORD", "INFLUX_TOKEN", "INFLUX_USERNAME"):
        monkeypatch.delenv(key, raising=False)
    for key, value in BASE.items():
        monkeypatch.setenv(key, value)
    return monkeypatch


@pytest.mark.parametrize("settings_class", [IngestSettings, ApiSettings])
@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("INFLUX_PASSWORD", "change-me"),
        ("INFLUX_PASSWORD", "CHANGE-ME-influx-writer"),
        ("INFLUX_TOKEN", "changeme"),
        ("INFLUX_TOKEN", "<change-me>"),
        ("MQTT_URL", "mqtt://ingest:change-me@mosquitto:1883"),
        ("MQTT_URL", "mqtts://ingest:replace_me@broker.example:8883"),
    ],
)
def test_placeholder_secret_is_refused_with_one_line_naming_the_key(
    env: pytest.MonkeyPatch, settings_class: type[IngestSettings] | type[ApiSettings], key: str, value: str
) -> None:
    env.setenv(key, value)
    with pytest.raises(ConfigError) as caught:
        load(settings_class)
    message = str(caught.value)
    assert message.startswith(f"{key} ")
    assert "placeholder" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("INFLUX_PASSWORD", "q7Vd0-change-me-not"),  # contains the words, is not the placeholder
        ("INFLUX_TOKEN", "exchange-merit-token"),
        ("MQTT_URL", "mqtt://ingest:s3cr3t-Xy@mosquitto:1883"),
        ("MQTT_URL", "mqtt://mosquitto:1883"),  # no credentials at all (local development)
    ],
)
def test_real_secrets_are_accepted(env: pytest.MonkeyPatch, key: str, value: str) -> None:
    env.setenv(key, value)
    settings = load(IngestSettings)
    assert settings.influx_url == "http://influxdb:8086"
