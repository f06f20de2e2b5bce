"""Settings of the API process (SPEC §3). Built in ``main()``/tests, never at import time."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from energy_core.settings import InfluxSettings, MqttSettings


class ApiSettings(MqttSettings, InfluxSettings):
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=0, le=65535)
    api_keys_file: Path | None = None
    assets_file: Path | None = None
    emission_factors_file: Path | None = None
    # The climate contract's baseline year and target path (energy_core/climate.py); None: shipped.
    climate_targets_file: Path | None = None
    ingest_data_dir: Path = Path("var/ingest")
    # How often the SSE stream polls InfluxDB for new points; 1 s matches the live page's needs.
    api_stream_interval_s: float = Field(default=1.0, gt=0, le=60)
    # Readings older than this do not count towards the network overview (a silent meter's last
    # power value must not inflate the heat load forever).
    api_fresh_window_s: float = Field(default=900.0, gt=0)
    # Exhaustion bounds (issue 12). A request body above this is refused with 413 before it is read
    # whole; the only bodies the API takes are small JSON documents (a dead-letter replay selection).
    api_max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # A connection must deliver its request line and headers within this many seconds (slowloris).
    api_header_timeout_s: float = Field(default=10.0, gt=0, le=300)
    # Idle keep-alive connections are closed after this many seconds.
    api_keep_alive_s: int = Field(default=5, ge=1, le=300)
    # Open connections (SSE streams included) above this get 503 at once instead of queueing.
    api_max_connections: int = Field(default=1000, ge=1)
    # Concurrent SSE streams one API key may hold; one more gets 429.
    api_streams_per_key: int = Field(default=5, ge=1)
    # How far back a stream may resume with Last-Event-ID; older cursors start from the last minute.
    api_stream_resume_max_s: float = Field(default=600.0, gt=0)
    # Roll-ups (issue 14): buckets of an hour or more read rollup_1h/rollup_1d (api/sources.py);
    # false reads raw points only (e.g. until `python -m ingest rollup` has filled an upgraded
    # database's history).
    api_rollups: bool = True
    # Ingest's keys, read by the API too: how far the roll-ups may lag raw writes (the newest hour
    # is read raw while they may), and how long raw points are kept (older raw ranges are a 400).
    ingest_rollup_delay_s: float = Field(default=60.0, ge=0, le=86400)
    ingest_raw_retention_days: float = Field(default=430.0, ge=0)  # 0 = infinite
