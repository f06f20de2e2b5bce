"""Helpers shared by integration tests: run ingest in-process, poll with a deadline."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from ingest.config import IngestSettings
from ingest.registry import Registry
from ingest.service import IngestService
from tests.conftest import local_services

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


class IngestProcess:
    """``python -m ingest`` as a child process, configured through its environment (as in production)."""

    def __init__(self, settings_env: dict[str, str], log_path: Path) -> None:
        self.env = {**os.environ, **settings_env}
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @staticmethod
    def env_for(isolated: Any, data_dir: Path, **overrides: str) -> dict[str, str]:
        env = {
            "MQTT_URL": isolated.services.mqtt_url,
            "MQTT_TOPIC_PREFIX": isolated.prefix,
            "INFLUX_URL": isolated.services.influx_url,
            "INFLUX_DB": isolated.db,
            "INGEST_CLIENT_ID": f"ingest-{isolated.db}",
            "INGEST_DATA_DIR": str(data_dir),
            "INGEST_HTTP_PORT": "0",
            "INGEST_UNKNOWN_DEVICES": "accept",
        }
        env.update(overrides)
        return env

    def start(self) -> None:
        """Start it; it is SIGKILLed if the test run dies and stopped when the test ends (conftest)."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.proc = local_services.track(
                subprocess.Popen(
                    [sys.executable, "-m", "ingest"],
                    env=self.env,
                    stderr=log,
                    cwd=ROOT,
                    preexec_fn=local_services.child_preexec(signal.SIGKILL),
                )
            )

    def stop(self) -> None:
        """Kill it if it still runs (for ``finally``: whatever the test did, nothing outlives it)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")[self._log_offset :]

    async def wait_subscribed(self, deadline_s: float = 30.0) -> None:
        ok = await eventually(lambda: '"mqtt_subscribed"' in self.log_text(), deadline_s=deadline_s)
        assert ok, f"ingest did not subscribe:\n{self.log_text()[-3000:]}"

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def terminate(self, deadline_s: float = 30.0) -> int:
        """SIGTERM and wait; returns the exit code (raises if it does not exit in time)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=deadline_s)
