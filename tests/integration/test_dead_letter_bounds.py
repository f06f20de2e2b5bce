"""The running service keeps its dead letters within INGEST_DEADLETTER_MAX_BYTES: huge payloads
are stored cut (with the length and SHA-256 of the whole), the oldest letters go first, and
every drop is counted in ``ingest_dead_letters_dropped_total``."""

from __future__ import annotations

import asyncio
import hashlib
import re

import httpx
import pytest

from energy_core.deadletters import STORED_PAYLOAD_MAX
from energy_core.errors import Reason
from simulators.publisher import Publisher
from tests.helpers import eventually, ingest_settings, running_ingest, sample

pytestmark = pytest.mark.integration

MESSAGES = 24
BOUND = 1024 * 1024


def dropped_by_bytes(port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    match = re.search(r'^ingest_dead_letters_dropped_total\{reason="bytes"\} (\S+)$', text, re.MULTILINE)
    assert match, "the metric is exported"
    return float(match.group(1))


async def test_oversized_messages_fill_the_store_to_its_bound_and_the_oldest_drops_are_counted(
    isolated, tmp_path
):
    settings = ingest_settings(
        isolated, tmp_path, ingest_max_payload_bytes=64 * 1024, ingest_deadletter_max_bytes=BOUND
    )
    topic = f"{isolated.prefix}/v1/hm-big"
    payloads = [f'{{"n": {i:02d}, "pad": "'.encode() + b"x" * 70_000 + b'"}' for i in range(MESSAGES)]
    async with running_ingest(settings) as service:
        with Publisher(isolated.services.mqtt_url) as publisher:
            await asyncio.to_thread(publisher.publish_many, [(topic, p) for p in payloads])
        assert await eventually(lambda: sample(service, "ingest_messages_acked_total") == MESSAGES)

        kept = service.dead_letters.list(limit=1000)
        dropped = sample(service, "ingest_dead_letters_dropped_total", reason="bytes")
        scraped = await asyncio.to_thread(dropped_by_bytes, service.health.port)
        stored = service.dead_letters.stored_bytes()

    assert 0 < len(kept) < MESSAGES
    assert dropped == scraped == MESSAGES - len(kept)
    assert stored <= BOUND
    assert sample(service, "ingest_dead_letters_total", reason=Reason.PAYLOAD_TOO_LARGE.value) == MESSAGES
    whole = payloads[MESSAGES - len(kept) :]  # the newest survive, in order
    assert [d.payload_sha256 for d in kept] == [hashlib.sha256(p).hexdigest() for p in whole]
    assert all(d.truncated and len(d.payload) == STORED_PAYLOAD_MAX for d in kept)
    assert [d.payload_bytes for d in kept] == [len(p) for p in whole]
