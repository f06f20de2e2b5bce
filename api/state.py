"""What the API holds while it runs, opened by the lifespan and handed to requests (no globals)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TypedDict

import structlog
from fastapi import FastAPI

from api.auth import KeyRing
from api.emissions import FactorSource, LocationFactors
from api.livefeed import LiveFeed
from api.metrics import ApiMetrics
from api.settings import ApiSettings
from api.sources import SourcePolicy
from energy_core.climate import ClimateTargets
from energy_core.deadletters import DeadLetterStore
from energy_core.errors import ConfigError
from energy_core.factors import EmissionFactors
from energy_core.influx import InfluxClient
from energy_core.registry import Registry

log = structlog.get_logger("api")


@dataclass(frozen=True, slots=True)
class Resources:
    """Everything read from configuration files; loaded once, before serving."""

    keys: KeyRing
    registry: Registry
    factors: FactorSource
    emission_factors: EmissionFactors  # the same file, every method and the factors' notes
    climate: ClimateTargets  # CLIMATE_TARGETS_FILE: the baseline year and the target path


@dataclass(frozen=True, slots=True)
class ApiState:
    settings: ApiSettings
    resources: Resources
    influx: InfluxClient
    dead_letters: DeadLetterStore
    feed: LiveFeed

    @property
    def registry(self) -> Registry:
        return self.resources.registry

    @property
    def sources(self) -> SourcePolicy:
        """Which storage answers which part of a range (roll-ups, raw, raw retention)."""
        return SourcePolicy(
            rollups=self.settings.api_rollups,
            rollup_delay_s=self.settings.ingest_rollup_delay_s,
            raw_retention_days=self.settings.ingest_raw_retention_days,
        )


class LifespanState(TypedDict):
    api: ApiState


def load_resources(settings: ApiSettings) -> Resources:
    """Read the key file, the registry and the emission factors; a mistake raises ConfigError."""
    if settings.api_keys_file is None:
        raise ConfigError("API_KEYS_FILE is required but not set")
    emission_factors = EmissionFactors.load(settings.emission_factors_file)
    return Resources(
        keys=KeyRing.load(settings.api_keys_file),
        registry=Registry.load(settings.assets_file) if settings.assets_file else Registry.empty(),
        factors=LocationFactors(emission_factors),
        emission_factors=emission_factors,
        climate=ClimateTargets.load(settings.climate_targets_file),
    )


def lifespan_for(
    settings: ApiSettings, resources: Resources | None = None, metrics: ApiMetrics | None = None
) -> Callable[[FastAPI], AbstractAsyncContextManager[LifespanState]]:
    """The app's lifespan: open InfluxDB and the dead-letter store, start the live feed's poller
    in the one TaskGroup, yield them as typed state."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[LifespanState]:
        loaded = resources or load_resources(settings)
        dead_letters = DeadLetterStore(settings.ingest_data_dir / "dead_letters.sqlite")
        try:
            async with InfluxClient.from_settings(settings) as influx, asyncio.TaskGroup() as tasks:
                feed = LiveFeed(
                    influx,
                    loaded.registry,
                    loaded.factors,
                    metrics or ApiMetrics(),
                    interval_s=settings.api_stream_interval_s,
                    fresh_window_s=settings.api_fresh_window_s,
                    streams_per_key=settings.api_streams_per_key,
                )
                tasks.create_task(feed.run(), name="live-feed")
                log.info(
                    "api_started",
                    keys=len(loaded.keys.entries),
                    sites=len(loaded.registry.sites),
                    influx_db=settings.influx_db,
                )
                try:
                    yield {"api": ApiState(settings, loaded, influx, dead_letters, feed)}
                finally:
                    feed.close()  # the poller returns and every open stream ends
        finally:
            dead_letters.close()

    return lifespan
