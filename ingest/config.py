"""Configuration shared by every component (SPEC §3), 12-factor style.

Environment variables win; a ``.env`` file (or the file named by ``ENERGY_ENV_FILE``) may
provide the same keys. Each component loads only the settings class it needs, in its
``main()``: nothing is read at import time.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import unquote, urlsplit

from pydantic import Field, FilePath, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ingest.errors import ConfigError

_S = TypeVar("_S", bound=BaseSettings)

# What deploy/.env.example ships instead of secrets ("change-me", "changeme", "<change-me>",
# "replace-me-…"): a stack started from an unedited copy must refuse to run.
_PLACEHOLDER = re.compile(r"^<?\s*(change|replace)[-_ ]?me\b", re.IGNORECASE)


class _Base(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=os.environ.get("ENERGY_ENV_FILE", ".env"), extra="ignore", frozen=True
    )


class MqttSettings(_Base):
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    mqtt_topic_prefix: str = "energy"
    mqtt_ca_file: FilePath | None = None  # CA bundle for mqtts:// brokers with a private CA

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError("must look like mqtt://user:pass@host:1883 or mqtts://host:8883")
        _ = parts.port  # raises ValueError on a malformed port
        return value

    @field_validator("mqtt_topic_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not value or any(c in value for c in "+#\0") or value.startswith("/") or value.endswith("/"):
            raise ValueError("must be a plain topic level path without wildcards or outer slashes")
        return value


class InfluxSettings(_Base):
    influx_url: str
    influx_db: str = "energy"
    influx_token: SecretStr | None = None
    influx_username: str | None = None
    influx_password: SecretStr | None = None

    @field_validator("influx_url")
    @classmethod
    def _influx_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL such as http://127.0.0.1:8086")
        _ = parts.port
        return value.rstrip("/")

    @field_validator("influx_db")
    @classmethod
    def _db(cls, value: str) -> str:
        if not value or not all(c.isalnum() or c in "_-" for c in value):
            raise ValueError("must be letters, digits, '_' or '-'")
        return value


class IngestSettings(MqttSettings, InfluxSettings):
    assets_file: Path | None = None
    emission_factors_file: Path | None = None
    ingest_unknown_devices: Literal["reject", "accept"] = "reject"
    ingest_client_id: str = Field(default_factory=lambda: f"ingest-{os.uname().nodename}")
    ingest_shared_group: str | None = None
    # Interval energy and emissions: "live" derives them here from this process's register
    # history (one ingest process, or a broker that sends each device to one member); "off"
    # leaves them to `python -m ingest energy --follow` (round-robin shared groups; docs/emissions.md).
    ingest_energy: Literal["live", "off"] = "live"
    ingest_data_dir: Path = Path("var/ingest")
    ingest_batch_size: int = Field(default=5000, ge=1, le=100_000)
    ingest_batch_max_age_ms: int = Field(default=200, ge=1, le=60_000)
    ingest_spool_max_bytes: int = Field(default=1 << 30, ge=4096)
    ingest_max_age_days: float = Field(default=400.0, gt=0)
    ingest_max_payload_bytes: int = Field(default=256 * 1024, ge=64)
    ingest_http_host: str = "127.0.0.1"
    ingest_http_port: int = Field(default=9108, ge=0, le=65535)
    ingest_silence_timeout_s: float = Field(default=300.0, gt=0)
    ingest_shutdown_timeout_s: float = Field(default=10.0, gt=0)
    # Topic filters per payload adapter, overriding the defaults: "senml=senml/#;ttn=v3/+/devices/+/up".
    ingest_routes: str = ""
    # Dead letters: the store's bounds (oldest dropped first, counted in ingest_dead_letters_dropped_total).
    ingest_deadletter_max_bytes: int = Field(default=256 * 1024 * 1024, ge=1024 * 1024)
    ingest_deadletter_max_age_days: float = Field(default=30.0, gt=0, le=3650)
    # Plausible interval energy (docs/emissions.md): an interval above limit × elapsed + resolution is
    # dead-lettered as implausible_energy, not booked. Defaults: ingest/derive/plausible.py.
    ingest_max_power_kw_district_heat: float = Field(default=10_000.0, gt=0)
    ingest_max_power_kw_electricity: float = Field(default=2_000.0, gt=0)
    ingest_max_heat_w_per_m2: float = Field(default=250.0, gt=0)
    ingest_energy_resolution_kwh: float = Field(default=10.0, ge=0)

    @field_validator("ingest_routes")
    @classmethod
    def _routes(cls, value: str) -> str:
        from ingest.adapters import parse_routes  # here, not at the top: adapters load protobuf

        parse_routes(value)
        return value


class AssetsSettings(_Base):
    """Only ``ASSETS_FILE``: for commands that check names against the registry (``api keys add``)."""

    assets_file: Path | None = None


class DataDirSettings(_Base):
    """Only ``INGEST_DATA_DIR``: for commands that read the local stores (``deadletters list``)."""

    ingest_data_dir: Path = Path("var/ingest")


def load(cls: type[_S]) -> _S:
    """Build a settings object, turning pydantic's report into one line that names the key.

    Also refuses secrets that are still a placeholder from ``deploy/.env.example``.
    """
    try:
        settings = cls()
    except ValidationError as exc:
        error = exc.errors()[0]
        key = str(error["loc"][0]).upper() if error["loc"] else "?"
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "missing":
            raise ConfigError(f"{key} is required but not set") from None
        raise ConfigError(f"{key} is invalid: {message}") from None
    refuse_placeholder_secrets(settings)
    return settings


def refuse_placeholder_secrets(settings: BaseSettings) -> None:
    """Raise ConfigError naming the first secret (INFLUX_PASSWORD, INFLUX_TOKEN, MQTT_URL's
    password) that still holds a placeholder such as ``change-me``. The value is never echoed."""
    secrets: dict[str, str | None] = {}
    for key in ("influx_password", "influx_token"):
        value = getattr(settings, key, None)
        secrets[key] = value.get_secret_value() if isinstance(value, SecretStr) else None
    if isinstance(url := getattr(settings, "mqtt_url", None), str):
        secrets["mqtt_url"] = mqtt_endpoint(url)[4]
    for key, secret in secrets.items():
        if secret is not None and _PLACEHOLDER.match(secret.strip()):
            raise ConfigError(
                f"{key.upper()} still holds a placeholder secret (like 'change-me'): set a real one"
            )


def mqtt_endpoint(url: str) -> tuple[str, int, bool, str | None, str | None]:
    """Split an ``MQTT_URL`` into host, port, tls, username and password."""
    parts = urlsplit(url)
    tls = parts.scheme == "mqtts"
    port = parts.port or (8883 if tls else 1883)
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return parts.hostname or "127.0.0.1", port, tls, username, password
