"""Settings of the API process (SPEC §3)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from ingest.config import InfluxSettings, MqttSettings


class ApiSettings(MqttSettings, InfluxSettings):
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=0, le=65535)
    api_keys_file: Path | None = None
    assets_file: Path | None = None
    emission_factors_file: Path | None = None
    ingest_data_dir: Path = Path("var/ingest")
