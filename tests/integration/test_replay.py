"""Replaying dead letters is honest: a letter is marked replayed only once it was really
delivered (a PUBACK with a success code, or a 2xx from InfluxDB), and a point InfluxDB refuses
while the spool drains keeps the topic and payload of the message it came from."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid

import orjson
import pytest

from energy_core.deadletters import STORED_PAYLOAD_MAX, DeadLetter
from energy_core.errors import Reason
from energy_core.influx import InfluxClient
from energy_core.replay import replay
from energy_core.schema import Message
from ingest.spool import Spool
from tests.helpers import ROOT, IngestProcess, eventually, ingest_settings, running_ingest

pytestmark = pytest.mark.integration

NS = 1_000_000_000


async def poison_energy_field(influx: InfluxClient, ts_ns: int) -> None:
    """Make ``district_heating.energy_kwh`` a string field in the shard around ``ts_ns``: InfluxDB
    then refuses (400, field type conflict) every float written to it there."""
    await influx.ensure_database()
    await influx.write(f'district_heating,device=poison energy_kwh="text" {ts_ns}'.encode())


async def test_a_point_refused_while_the_spool_drains_is_dead_lettered_with_its_message_and_replays(
    isolated, tmp_path
):
    settings = ingest_settings(isolated, tmp_path)
    ts = time.time() - 120
    refused = Message(
        f"{isolated.prefix}/v1/hm-late",
        orjson.dumps({"ts": ts, "values": {"energy": 5.0}}),
        time.time_ns(),
    )
    accepted = Message(f"{isolated.prefix}/v1/in-1", b'{"values": {"x": 1}}', time.time_ns())
    async with InfluxClient.from_settings(settings) as influx:
        await poison_energy_field(influx, int(ts * NS) - NS)
    spool = Spool(tmp_path / "spool.sqlite", 1 << 20)
    try:  # what ingest spooled while InfluxDB was away, with the message of each line
        lines = [
            f"district_heating,device=hm-late energy_kwh=5 {int(ts * NS)}",
            f"indoor,device=in-1 temp_c=21.5 {int(ts * NS)}",
        ]
        await spool.append("\n".join(lines).encode(), 2, [refused, accepted])
    finally:
        spool.close()

    async with running_ingest(settings) as service:
        assert await eventually(lambda: service.spool.empty and service.dead_letters.counts())
        (letter,) = service.dead_letters.list()
        assert (letter.reason, letter.kind) == (Reason.REJECTED_BY_DB, "message")
        assert (letter.topic, letter.payload, letter.received_ns) == (
            refused.topic,
            refused.payload,
            refused.received_ns,
        )
        assert isolated.count("indoor", "temp_c") == 1

        isolated.query("DROP MEASUREMENT district_heating")  # the operator fixes the conflict
        report = await replay(service.dead_letters, settings, service.influx)

        assert (report.selected, report.replayed, report.skipped) == (1, [letter.id], [])
        assert await eventually(lambda: isolated.count("district_heating", "energy_kwh") == 1)
        assert service.dead_letters.list(pending_only=True) == []


async def test_a_line_from_a_batch_spooled_without_origins_is_replayed_by_writing_it_again(
    isolated, tmp_path
):
    settings = ingest_settings(isolated, tmp_path)
    ts_ns = int((time.time() - 120) * NS)
    line = f"district_heating,device=hm-old energy_kwh=7 {ts_ns}"
    async with InfluxClient.from_settings(settings) as influx:
        await poison_energy_field(influx, ts_ns - NS)
    spool = Spool(tmp_path / "spool.sqlite", 1 << 20)
    try:  # as an older version spooled it: lines only
        await spool.append(line.encode(), 1)
    finally:
        spool.close()

    async with running_ingest(settings) as service:
        assert await eventually(lambda: service.spool.empty and service.dead_letters.counts())
        (letter,) = service.dead_letters.list()
        assert (letter.kind, letter.payload, letter.reason) == ("line", line.encode(), Reason.REJECTED_BY_DB)

        still_refused = await replay(service.dead_letters, settings, service.influx)
        assert still_refused.replayed == []
        ((skipped_id, why),) = still_refused.skipped
        assert skipped_id == letter.id
        assert why.startswith("influx_write_failed")
        assert "conflict" in why
        assert [d.id for d in service.dead_letters.list(pending_only=True)] == [letter.id]

        isolated.query("DROP MEASUREMENT district_heating")
        fixed = await replay(service.dead_letters, settings, service.influx)
        assert (fixed.selected, fixed.replayed, fixed.skipped) == (1, [letter.id], [])
        assert isolated.count("district_heating", "energy_kwh") == 1
        assert service.dead_letters.list(pending_only=True) == []


async def test_replay_marks_only_the_letters_delivered_and_says_why_for_each_other(isolated, tmp_path):
    settings = ingest_settings(isolated, tmp_path)
    topic = f"{isolated.prefix}/v1/hm-r"
    now = time.time_ns()
    good = orjson.dumps({"ts": time.time() - 60, "values": {"energy": 11.0}})
    huge = orjson.dumps({"ts": time.time() - 60, "values": {"energy": 12.0}, "pad": "x" * STORED_PAYLOAD_MAX})
    nobody = f"nobody-listens/{uuid.uuid4().hex}"
    async with running_ingest(settings) as service:
        store = service.dead_letters
        await store.add_many(
            [
                DeadLetter(topic, good, Reason.UNKNOWN_DEVICE, "fixed since", now),
                DeadLetter(topic, huge, Reason.PAYLOAD_TOO_LARGE, "too big", now),
                DeadLetter("", b"district_heating x=1", Reason.REJECTED_BY_DB, "old letter", now),
                DeadLetter(nobody, good, Reason.UNKNOWN_DEVICE, "no subscriber", now),
            ]
        )
        delivered, truncated, no_topic, unheard = store.list()
        assert truncated.truncated

        report = await replay(store, settings, service.influx)

        assert report.selected == 4
        assert report.replayed == [delivered.id]
        why = dict(report.skipped)
        assert why.keys() == {truncated.id, no_topic.id, unheard.id}
        assert why[truncated.id].startswith("truncated")
        assert why[no_topic.id] == "no_topic"
        assert why[unheard.id] == "no_matching_subscribers"
        assert [d.id for d in store.list(pending_only=True)] == [truncated.id, no_topic.id, unheard.id]
        assert await eventually(lambda: isolated.count("district_heating", "energy_kwh") == 1)

        again = await replay(store, settings, service.influx, ids=[delivered.id, 2**62])
        assert again.replayed == []
        assert dict(again.skipped) == {delivered.id: "already_replayed", 2**62: "not_found"}


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ingest", "deadletters", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_cli_replay_marks_only_what_was_delivered_exits_1_on_skips_and_list_pages_on(
    isolated, tmp_path
):
    settings = ingest_settings(isolated, tmp_path)
    env = {**os.environ, **IngestProcess.env_for(isolated, tmp_path)}
    topic = f"{isolated.prefix}/v1/hm-cli"
    good = orjson.dumps({"ts": time.time() - 60, "values": {"energy": 3.0}})
    huge = b"x" * (STORED_PAYLOAD_MAX + 1)
    async with running_ingest(settings) as service:
        now = time.time_ns()
        await service.dead_letters.add_many(
            [
                DeadLetter(topic, good, Reason.UNKNOWN_DEVICE, "late", now),
                DeadLetter(topic, huge, Reason.PAYLOAD_TOO_LARGE, "big", now),
            ]
        )
        delivered, truncated = service.dead_letters.list()

        replayed = await asyncio.to_thread(run_cli, env, "replay")
        page = await asyncio.to_thread(run_cli, env, "list", "--limit", "1")
        bad_ids = await asyncio.to_thread(run_cli, env, "replay", "--ids", str(2**63))

        assert replayed.returncode == 1, replayed.stderr
        assert f"skipped {truncated.id}\ttruncated" in replayed.stdout
        assert "replayed 1 of 2 dead letters" in replayed.stdout
        assert [d.id for d in service.dead_letters.list(pending_only=True)] == [truncated.id]
        assert await eventually(lambda: isolated.count("district_heating", "energy_kwh") == 1)
        assert page.returncode == 0, page.stderr
        header, row, *_ = page.stdout.splitlines()
        assert header.startswith("id\treceived\tkind\treason\ttopic")
        assert row.startswith(f"{delivered.id}\t")
        assert row.split("\t")[2:5] == ["message", "unknown_device", topic]
        assert page.stdout.rstrip().endswith(f"next: --after-id {delivered.id}")
        assert bad_ids.returncode == 2
        assert "--ids" in bad_ids.stderr
