"""Bad input is dead-lettered with the right reason, counted, listable and replayable."""

from __future__ import annotations

import asyncio
import itertools
import re
import time

import httpx
import orjson
import pytest

from energy_core.errors import Reason
from energy_core.registry import AssetFile, Registry
from energy_core.replay import replay
from simulators.publisher import Publisher
from tests.helpers import eventually, ingest_settings, running_ingest, sample

pytestmark = pytest.mark.integration

METERS = [f"hm-{i}" for i in range(10)]


def registry(devices: list[str]) -> Registry:
    return Registry(
        AssetFile.model_validate(
            {
                "owners": [{"id": "borlange-energi", "name": "Borlänge Energi"}],
                "sites": [{"id": "s1", "name": "Substation 1", "owner": "borlange-energi", "network": "bdh"}],
                "devices": [{"id": d, "site": "s1", "kind": "heat_meter"} for d in devices],
            }
        )
    )


def bad_message(prefix: str, reason: Reason, ts: float) -> tuple[str, bytes]:
    topic = f"{prefix}/v1/{METERS[0]}"
    body: object
    match reason:
        case Reason.INVALID_JSON:
            return topic, b'{"ts": 1, "values": {'
        case Reason.SCHEMA:
            body = {"ts": ts, "values": {}}
        case Reason.UNKNOWN_UNIT:
            body = {"ts": ts, "values": {"energy": {"value": 1.0, "unit": "furlong"}}}
        case Reason.UNKNOWN_DEVICE:
            return f"{prefix}/v1/ghost-meter", orjson.dumps({"ts": ts, "values": {"energy": 5.0}})
        case Reason.TIMESTAMP_OUT_OF_RANGE:
            body = {"ts": time.time() + 3600, "values": {"energy": 1.0}}
        case Reason.IMPLAUSIBLE_VALUE:
            body = {"ts": ts, "values": {"supply_temp": 185.0, "return_temp": 40.0}}
        case Reason.PAYLOAD_TOO_LARGE:
            return topic, orjson.dumps({"ts": ts, "values": {"energy": 1.0}, "pad": "x" * 4096})
        case _:
            raise AssertionError(reason)
    return topic, orjson.dumps(body)


REASONS = [
    Reason.INVALID_JSON,
    Reason.SCHEMA,
    Reason.UNKNOWN_UNIT,
    Reason.UNKNOWN_DEVICE,
    Reason.TIMESTAMP_OUT_OF_RANGE,
    Reason.IMPLAUSIBLE_VALUE,
    Reason.PAYLOAD_TOO_LARGE,
]


def scrape(port: int) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    return {
        m.group(1): float(m.group(2))
        for m in re.finditer(r'^ingest_dead_letters_total\{reason="(\w+)"\} (\S+)$', text, re.MULTILINE)
    }


async def test_ten_percent_malformed_stream_good_stored_bad_dead_lettered_metrics_agree(isolated, tmp_path):
    start = time.time() - 3600
    messages: list[tuple[str, bytes]] = []
    expected: dict[str, int] = {}
    good = 0
    reasons = itertools.cycle(REASONS)
    for i in range(2800):
        ts = start + i
        if i % 10 == 9:
            reason = next(reasons)
            messages.append(bad_message(isolated.prefix, reason, ts))
            expected[reason.value] = expected.get(reason.value, 0) + 1
        else:
            meter = METERS[i % len(METERS)]
            messages.append(
                (f"{isolated.prefix}/v1/{meter}", orjson.dumps({"ts": ts, "values": {"energy": i}}))
            )
            good += 1

    settings = ingest_settings(
        isolated, tmp_path, ingest_unknown_devices="reject", ingest_max_payload_bytes=2048
    )
    async with running_ingest(settings, registry(METERS)) as service:
        with Publisher(isolated.services.mqtt_url) as publisher:
            await asyncio.to_thread(publisher.publish_many, messages)
        assert await eventually(lambda: sample(service, "ingest_messages_acked_total") == len(messages))

        assert isolated.count("district_heating", "energy_kwh") == good
        assert service.dead_letters.counts() == expected
        scraped = await asyncio.to_thread(scrape, service.health.port)
        assert {k: v for k, v in scraped.items() if v} == expected
        assert isolated.count("district_heating", "return_temp_c") == expected[Reason.IMPLAUSIBLE_VALUE]

        letters = service.dead_letters.list(reason=Reason.UNKNOWN_DEVICE.value, limit=1000)
        assert len(letters) == expected[Reason.UNKNOWN_DEVICE]
        assert all(letter.topic.endswith("/ghost-meter") for letter in letters)
        assert all("ghost-meter" in letter.detail for letter in letters)


async def test_dead_letters_replay_after_the_device_is_registered(isolated, tmp_path):
    topic = f"{isolated.prefix}/v1/late-meter"
    ts = time.time() - 60
    messages = [(topic, orjson.dumps({"ts": ts + i, "values": {"energy": 100.0 + i}})) for i in range(20)]
    settings = ingest_settings(isolated, tmp_path, ingest_unknown_devices="reject")

    async with running_ingest(settings, registry(METERS)) as service:
        with Publisher(isolated.services.mqtt_url) as publisher:
            await asyncio.to_thread(publisher.publish_many, messages)
        assert await eventually(lambda: service.dead_letters.counts().get("unknown_device") == 20)
    assert isolated.count("district_heating", "energy_kwh") == 0

    async with running_ingest(settings, registry([*METERS, "late-meter"])) as service:
        report = await replay(service.dead_letters, settings, service.influx)
        assert (report.selected, len(report.replayed), report.skipped) == (20, 20, [])
        assert await eventually(lambda: isolated.count("district_heating", "energy_kwh") == 20)
        assert service.dead_letters.list(pending_only=True) == []
