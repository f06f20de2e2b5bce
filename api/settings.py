"""Settings of the API process (SPEC §3). Built in ``main()``/tests, never at import time."""

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
    # How often the SSE stream polls InfluxDB for new points; 1 s matches the live page's needs.
    api_stream_interval_s: float = Field(default=1.0, gt=0, le=60)
    # Readings older than this do not count towards the network overview (a silent meter's last
    # power value must not inflate the heat load forever).
    api_fresh_window_s: float = Field(default=900.0, gt=0)
