"""Helpers shared by integration tests: run ingest in-process, poll with a deadline."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from energy_core.registry import Registry
from energy_testing.ingest import IngestProcess as _PluginIngestProcess
from ingest.config import IngestSettings
from ingest.service import IngestService

ROOT = Path(__file__).resolve().parent.parent


def ingest_settings(isolated: Any, data_dir: Path, **overrides: Any) -> IngestSettings:
    values: dict[str, Any] = {
        "mqtt_url": isolated.services.mqtt_url,
        "mqtt_topic_prefix": isolated.prefix,
        "influx_url": isolated.services.influx_url,
        "influx_db": isolated.db,
        "ingest_client_id": f"ingest-{isolated.db}",
        "ingest_data_dir": data_dir,
        "ingest_http_port": 0,
        "ingest_unknown_devices": "accept",
    }
    values.update(overrides)
    return IngestSettings(**values)


@contextlib.asynccontextmanager
async def running_ingest(
    settings: IngestSettings, registry: Registry | None = None
) -> AsyncIterator[IngestService]:
    """Run the ingest service in this event loop until the block ends, then stop it cleanly."""
    async with IngestService(settings, registry or Registry.empty()) as service:
        task = asyncio.create_task(service.run(install_signal_handlers=False), name="ingest-under-test")
        try:
            async with asyncio.timeout(30):
                await service.consumer.subscribed.wait()
            yield service
        finally:
            service.stop()
            async with asyncio.timeout(60):
                await task


def sample(service: IngestService, name: str, **labels: str) -> float:
    """The current value of one of the service's Prometheus samples (0 when absent)."""
    return service.metrics.registry.get_sample_value(name, labels) or 0.0


async def eventually(check: Callable[[], Any], *, deadline_s: float = 60.0, interval: float = 0.2) -> Any:
    """Poll ``check`` (sync) until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + deadline_s
    while True:
        value = await asyncio.to_thread(check)
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(interval)


class IngestProcess(_PluginIngestProcess):
    """``python -m ingest`` as a child process (the plugin's), run from the repository."""

    def __init__(self, settings_env: dict[str, str], log_path: Path) -> None:
        super().__init__(settings_env, log_path, cwd=ROOT)
