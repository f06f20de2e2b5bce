"""Configuration shared by every component (SPEC §3), 12-factor style.

Environment variables win; a ``.env`` file (or the file named by ``ENERGY_ENV_FILE``) may
provide the same keys. Each component loads only the settings class it needs, in its
``main()``, through :func:`load`: nothing is read at import time, and the env file is looked up
when ``load()`` runs (so a test's ``monkeypatch.setenv("ENERGY_ENV_FILE", …)`` takes effect).
A settings class built directly (``IngestSettings(...)``, as tests do) reads the environment
but no env file, so a developer's ``.env`` never leaks into them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import NamedTuple, TypeVar
from urllib.parse import unquote, urlsplit

from pydantic import FilePath, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from energy_core.errors import ConfigError

_S = TypeVar("_S", bound=BaseSettings)

# What deploy/.env.example ships instead of secrets ("change-me", "changeme", "<change-me>",
# "replace-me-…"): a stack started from an unedited copy must refuse to run.
_PLACEHOLDER = re.compile(r"^<?\s*(change|replace)[-_ ]?me\b", re.IGNORECASE)


class _Base(BaseSettings):
    # No env_file here: it would be fixed at import. load() names it when it builds the settings.
    model_config = SettingsConfigDict(extra="ignore", frozen=True)


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


class AssetsSettings(_Base):
    """Only ``ASSETS_FILE``: for commands that check names against the registry (``api keys add``)."""

    assets_file: Path | None = None


class DataDirSettings(_Base):
    """Only ``INGEST_DATA_DIR``: for commands that read the local stores (``deadletters list``)."""

    ingest_data_dir: Path = Path("var/ingest")


def env_file() -> Path:
    """The env file :func:`load` reads: ``ENERGY_ENV_FILE`` as set now, else ``.env`` (in the working
    directory). A file that does not exist provides nothing."""
    return Path(os.environ.get("ENERGY_ENV_FILE", ".env"))


def load(cls: type[_S]) -> _S:
    """Build a settings object from the environment and :func:`env_file`, turning pydantic's report
    into one line that names the key.

    Also refuses secrets that are still a placeholder from ``deploy/.env.example``.
    """
    try:
        settings = cls(_env_file=env_file())
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
        secrets["mqtt_url"] = mqtt_endpoint(url).password
    for key, secret in secrets.items():
        if secret is not None and _PLACEHOLDER.match(secret.strip()):
            raise ConfigError(
                f"{key.upper()} still holds a placeholder secret (like 'change-me'): set a real one"
            )


class MqttEndpoint(NamedTuple):
    """Where an ``MQTT_URL`` points: host, port, TLS (``mqtts://``) and the credentials it carries."""

    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None


def mqtt_endpoint(url: str) -> MqttEndpoint:
    """Split an ``MQTT_URL``; the port defaults to 8883 for ``mqtts://``, else 1883."""
    parts = urlsplit(url)
    tls = parts.scheme == "mqtts"
    return MqttEndpoint(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or (8883 if tls else 1883),
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )
