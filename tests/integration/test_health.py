"""/healthz, /readyz and /metrics of the ingest service, over its real HTTP port."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from energy_core.registry import Registry
from energy_testing import services as local_services
from ingest.service import IngestService
from tests.helpers import ingest_settings, running_ingest

pytestmark = pytest.mark.integration


async def test_health_ready_and_metrics_answer_once_subscribed(isolated, tmp_path):
    async with running_ingest(ingest_settings(isolated, tmp_path)) as service:
        base = f"http://127.0.0.1:{service.health.port}"
        async with httpx.AsyncClient(base_url=base) as http:
            health, ready, metrics, missing = await asyncio.gather(
                http.get("/healthz"), http.get("/readyz"), http.get("/metrics"), http.get("/nope")
            )
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    assert metrics.status_code == 200
    assert "ingest_messages_received_total 0.0" in metrics.text
    assert 'ingest_dead_letters_total{reason="invalid_json"} 0.0' in metrics.text
    assert "ingest_spool_bytes 0.0" in metrics.text
    assert missing.status_code == 404


async def test_not_ready_while_the_broker_is_unreachable(isolated, tmp_path):
    closed_port = local_services.free_port()
    settings = ingest_settings(isolated, tmp_path, mqtt_url=f"mqtt://127.0.0.1:{closed_port}")
    async with IngestService(settings, Registry.empty()) as service:
        task = asyncio.create_task(service.run(install_signal_handlers=False))
        try:
            async with asyncio.timeout(30):
                await service.health.serving.wait()
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.health.port}") as http:
                health, ready = await asyncio.gather(http.get("/healthz"), http.get("/readyz"))
            assert health.status_code == 200
            assert (ready.status_code, ready.json()) == (
                503,
                {"status": "not_ready", "reasons": ["mqtt: not subscribed"]},
            )
        finally:
            service.stop()
            async with asyncio.timeout(30):
                await task


async def test_healthz_fails_naming_the_task_once_a_core_task_has_ended(isolated, tmp_path):
    async with running_ingest(ingest_settings(isolated, tmp_path)) as service:
        base = f"http://127.0.0.1:{service.health.port}"
        async with httpx.AsyncClient(base_url=base) as http:
            assert (await http.get("/healthz")).status_code == 200
            [drainer] = [task for task in service._core_tasks if task.get_name() == "spool-drainer"]
            drainer.cancel()
            await asyncio.gather(drainer, return_exceptions=True)
            health = await http.get("/healthz")
    assert (health.status_code, health.json()) == (
        503,
        {"status": "failing", "reasons": ["task spool-drainer ended"]},
    )
