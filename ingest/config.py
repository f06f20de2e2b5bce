"""The ingest service's settings (the shared ones live in :mod:`energy_core.settings`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from energy_core.settings import InfluxSettings, MqttSettings


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
    # Healing energy after a back-fill (ingest/derive/heal.py, docs/emissions.md): late register
    # readings are recomputed from InfluxDB once no more came for that meter for this long.
    ingest_heal_delay_s: float = Field(default=60.0, ge=0, le=86_400)
    # With INGEST_ENERGY=off: readings older than this when they arrive are healed here (the
    # follower's window does not reach them); keep it below the follower's window minus --every.
    ingest_heal_older_than_s: float = Field(default=3600.0, gt=0)

    # Roll-ups and retention (issue 14, docs/rollups.md). "auto": the service maintains the roll-ups
    # with INGEST_ENERGY=live, the energy follower with INGEST_ENERGY=off; "on"/"off" force it.
    ingest_rollup: Literal["auto", "on", "off"] = "auto"
    ingest_rollup_delay_s: float = Field(default=60.0, ge=0, le=86400)
    ingest_raw_retention_days: float = Field(default=430.0, ge=0)  # 0 = infinite
    ingest_rollup_retention_days: float = Field(default=3660.0, ge=0)  # 0 = infinite
    # Substation fault rules (issue 15, docs/substations.md): thresholds YAML; None = shipped defaults.
    ingest_fault_thresholds_file: Path | None = None
    # The daily analysis (issues 15, 16; ingest/analysis/runner.py). "auto": wherever the roll-ups are
    # maintained; "on": in the service regardless; "off": nowhere. Today is re-analysed every interval.
    ingest_analysis: Literal["auto", "on", "off"] = "auto"
    ingest_analysis_interval_s: float = Field(default=120.0, gt=0, le=86400)
    ingest_analysis_window_days: int = Field(default=28, ge=7, le=366)  # the trailing window (signature)

    @field_validator("ingest_raw_retention_days")
    @classmethod
    def _raw_retention(cls, value: float, info: ValidationInfo) -> float:
        max_age = info.data.get("ingest_max_age_days")
        if value and max_age is not None and value < max_age:
            # InfluxDB would drop accepted points older than the policy ("beyond retention").
            raise ValueError(f"must be 0 (infinite) or at least INGEST_MAX_AGE_DAYS ({max_age:g})")
        return value

    @field_validator("ingest_routes")
    @classmethod
    def _routes(cls, value: str) -> str:
        from ingest.adapters import parse_routes  # here, not at the top: adapters load protobuf

        parse_routes(value)
        return value
