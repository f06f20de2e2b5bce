"""Ingest keeps its promise when what it writes to fails: InfluxDB refusing it, a store failing or
damaged, reading held longer than a keepalive. Nothing is dead-lettered or acknowledged that was
not really stored, and the service stays up and says why it is not ready.

Against real services: an InfluxDB with ``auth-enabled = true`` of this module's own (the
session's has no auth), the session's Mosquitto.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from structlog.testing import capture_logs

from energy_testing import services as local_services
from energy_testing.world import Isolation
from ingest.mqtt import MqttConsumer
from ingest.service import IngestService
from simulators.heat import HeatMeter, native_stream
from simulators.publisher import Publisher
from tests.helpers import IngestProcess, eventually, ingest_settings, running_ingest, sample

pytestmark = pytest.mark.integration

ADMIN = ("admin", "admin-pw")


@dataclass
class AuthInflux:
    url: str

    def q(self, statement: str, db: str | None = None) -> list[list[Any]]:
        """InfluxQL as the admin; returns the first series' values (or [])."""
        params = {"q": statement, **({"db": db} if db else {})}
        r = httpx.post(f"{self.url}/query", data=params, auth=ADMIN, timeout=30)
        r.raise_for_status()
        result = r.json()["results"][0]
        assert "error" not in result, result
        series = result.get("series", [])
        return series[0]["values"] if series else []

    def stored(self, db: str) -> int:
        rows = self.q('SELECT count("energy_kwh") FROM "district_heating"', db)
        return int(rows[0][1]) if rows and rows[0][1] is not None else 0


@pytest.fixture(scope="module")
def auth_influx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthInflux]:
    running, proc = local_services.start_influxd(tmp_path_factory.mktemp("influx-auth"), auth_enabled=True)
    try:
        influx = AuthInflux(running.url)
        # With no user yet, InfluxDB 1.x lets exactly this statement through unauthenticated.
        httpx.post(
            f"{influx.url}/query",
            data={"q": f"CREATE USER {ADMIN[0]} WITH PASSWORD '{ADMIN[1]}' WITH ALL PRIVILEGES"},
            timeout=30,
        ).raise_for_status()
        yield influx
    finally:
        local_services.stop_pid(proc.pid)


def ingest_user(influx: AuthInflux, isolated: Isolation) -> tuple[str, str]:
    """The test's database and a non-admin user (as in production) allowed to write to it."""
    user, password = f"u_{isolated.db}", "ingest-pw"
    influx.q(f'CREATE DATABASE "{isolated.db}"')
    influx.q(f"CREATE USER \"{user}\" WITH PASSWORD '{password}'")
    influx.q(f'GRANT ALL ON "{isolated.db}" TO "{user}"')
    return user, password


def stored(isolated: Isolation) -> int:
    """Readings in the test's database of the session's (unauthenticated) InfluxDB."""
    rows = isolated.query('SELECT count("energy_kwh") FROM "district_heating"')
    return int(rows[0][1]) if rows and rows[0][1] is not None else 0  # type: ignore[call-overload]


def heat_stream(prefix: str, n: int, start: float, meters: int = 20) -> list[tuple[str, bytes]]:
    fleet = [HeatMeter(f"hm-{i:03d}", design_load_kw=80 + i) for i in range(meters)]
    return list(native_stream(fleet, start, 10.0, n, prefix=prefix))


async def publish(url: str, messages: list[tuple[str, bytes]]) -> None:
    def run() -> None:
        with Publisher(url, client_id=f"pub-{time.monotonic_ns()}", persistent=True) as publisher:
            publisher.publish_many(messages)

    await asyncio.to_thread(run)


async def readyz(service: IngestService) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.health.port}") as http:
        r = await http.get("/readyz")
    return r.status_code, orjson.loads(r.content)


async def healthz(service: IngestService) -> int:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.health.port}") as http:
        return (await http.get("/healthz")).status_code


async def not_ready_with(service: IngestService, fragment: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        status, body = await readyz(service)
        if status == 503 and any(fragment in reason for reason in body.get("reasons", [])):
            return body
        return None

    deadline = time.monotonic() + 60
    while (body := await check()) is None:
        assert time.monotonic() < deadline, f"readyz never reported {fragment!r}: {await readyz(service)}"
        await asyncio.sleep(0.2)
    return body


# -- InfluxDB refusing the writes -----------------------------------------------------------


@pytest.mark.parametrize(
    ("revoke", "restore", "status"),
    [
        ("SET PASSWORD FOR \"{user}\" = 'changed-by-ops'", "SET PASSWORD FOR \"{user}\" = '{password}'", 401),
        ('REVOKE ALL ON "{db}" FROM "{user}"', 'GRANT ALL ON "{db}" TO "{user}"', 403),
    ],
    ids=["password-changed", "grant-revoked"],
)
async def test_influxdb_refusing_the_credentials_spools_and_dead_letters_nothing_and_loses_nothing(
    auth_influx: AuthInflux, isolated: Isolation, tmp_path: Path, revoke: str, restore: str, status: int
) -> None:
    user, password = ingest_user(auth_influx, isolated)
    names = {"user": user, "password": password, "db": isolated.db}
    settings = ingest_settings(
        isolated, tmp_path, influx_url=auth_influx.url, influx_username=user, influx_password=password
    )
    messages = heat_stream(isolated.prefix, 400, time.time() - 3600)
    before, during = messages[:200], messages[200:]
    with capture_logs() as logs:
        async with running_ingest(settings) as service:
            await publish(isolated.services.mqtt_url, before)
            assert await eventually(lambda: auth_influx.stored(isolated.db) == 200, deadline_s=60)
            assert sample(service, "ingest_influx_up") == 1

            auth_influx.q(revoke.format(**names))
            await publish(isolated.services.mqtt_url, during)
            body = await not_ready_with(service, f"influx: refused writes ({status})")
            assert await eventually(lambda: sample(service, "ingest_points_spooled_total") >= 200)
            assert sample(service, "ingest_influx_up") == 0
            assert await healthz(service) == 200  # waiting for an operator is not a crash
            assert service.dead_letters.counts() == {}
            assert sample(service, "ingest_dead_letters_total", reason="rejected_by_db") == 0

            auth_influx.q(restore.format(**names))
            assert await eventually(lambda: auth_influx.stored(isolated.db) == 400, deadline_s=90)
            assert await eventually(lambda: service.spool.empty, deadline_s=30)
            assert (await readyz(service))[0] == 200
            assert sample(service, "ingest_influx_up") == 1
            assert await eventually(lambda: sample(service, "ingest_messages_acked_total") == 400)
            assert service.dead_letters.counts() == {}
    refused = [e for e in logs if e["event"] == "influx_write_refused"]
    assert refused, body
    assert {(e["log_level"], e["status"]) for e in refused} == {("error", status)}


# -- damaged and failing stores -------------------------------------------------------------


def quarantined(data_dir: Path, store: str) -> list[Path]:
    return sorted(data_dir.glob(f"{store}.sqlite.corrupt-*"))


@pytest.mark.parametrize("store", ["spool", "dead_letters", "energy", "rollups", "heal"])
async def test_a_damaged_store_file_is_moved_aside_at_start_and_ingest_runs(
    isolated: Isolation, tmp_path: Path, store: str
) -> None:
    damaged = tmp_path / f"{store}.sqlite"
    garbage = b"this is not an SQLite database " * 200
    damaged.write_bytes(garbage)
    with capture_logs() as logs:
        async with running_ingest(ingest_settings(isolated, tmp_path)) as service:
            assert sample(service, "ingest_store_quarantined_total", store=store) == 1
            messages = heat_stream(isolated.prefix, 20, time.time() - 600)
            await publish(isolated.services.mqtt_url, messages)
            assert await eventually(lambda: stored(isolated) == 20)
            assert (await readyz(service))[0] == 200
    [moved] = quarantined(tmp_path, store)
    assert moved.read_bytes() == garbage
    [line] = [e for e in logs if e["event"] == "store_quarantined"]
    assert (line["log_level"], line["store"], line["moved_to"]) == ("error", store, str(moved))


async def test_a_spool_damaged_inside_its_pages_is_moved_aside_too(
    isolated: Isolation, tmp_path: Path
) -> None:
    path = tmp_path / "spool.sqlite"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE batches (id INTEGER PRIMARY KEY AUTOINCREMENT, body BLOB NOT NULL, points INTEGER)"
    )
    db.executemany("INSERT INTO batches (body, points) VALUES (?, 1)", [(b"x" * 3000,) for _ in range(50)])
    db.commit()
    db.close()
    raw = bytearray(path.read_bytes())
    raw[4096 * 3 : 4096 * 6] = b"\xa5" * (4096 * 3)  # pages 4-6: the table's b-tree, not the header
    path.write_bytes(bytes(raw))
    async with running_ingest(ingest_settings(isolated, tmp_path)) as service:
        assert sample(service, "ingest_store_quarantined_total", store="spool") == 1
        assert service.spool.empty
    assert len(quarantined(tmp_path, "spool")) == 1


async def test_an_unusable_data_dir_at_start_is_one_line_naming_it_and_exit_code_2(
    isolated: Isolation, tmp_path: Path
) -> None:
    not_a_dir = tmp_path / "a-file"
    not_a_dir.write_text("")
    log = tmp_path / "ingest.log"
    ingest = IngestProcess(IngestProcess.env_for(isolated, not_a_dir / "data"), log)
    ingest.start()
    assert ingest.proc is not None
    try:
        code = ingest.proc.wait(timeout=60)
    finally:
        if ingest.proc.poll() is None:
            ingest.proc.kill()
            ingest.proc.wait()
    text = log.read_text()
    assert code == 2, text
    assert "Traceback" not in text
    [line] = [line for line in text.splitlines() if "INGEST_DATA_DIR" in line]
    assert line.startswith(f"data directory error: INGEST_DATA_DIR={not_a_dir / 'data'}:"), text


async def test_a_spool_that_cannot_be_written_keeps_ingest_up_unacked_and_not_ready_until_it_can(
    auth_influx: AuthInflux, isolated: Isolation, tmp_path: Path
) -> None:
    """While the spool's writes fail (here: another process holds its write lock, so every write
    fails with "database is locked", as a full disk fails with "database or disk is full"),
    nothing is acknowledged; once it can be written, everything is spooled, acked and drained."""
    user, password = ingest_user(auth_influx, isolated)
    auth_influx.q(f"SET PASSWORD FOR \"{user}\" = 'not-yet'")  # InfluxDB refuses: batches go to the spool
    settings = ingest_settings(
        isolated, tmp_path, influx_url=auth_influx.url, influx_username=user, influx_password=password
    )
    messages = heat_stream(isolated.prefix, 100, time.time() - 3600)
    async with running_ingest(settings) as service:
        blocker = sqlite3.connect(tmp_path / "spool.sqlite", isolation_level=None)
        try:
            blocker.execute("BEGIN EXCLUSIVE")
            await publish(isolated.services.mqtt_url, messages)
            await not_ready_with(service, "spool: cannot write")
            assert await eventually(
                lambda: sample(service, "ingest_store_write_errors_total", store="spool") >= 2, deadline_s=60
            )
            assert await eventually(lambda: sample(service, "ingest_messages_received_total") == 100)
            assert sample(service, "ingest_messages_acked_total") == 0
            assert service.spool.empty
            assert await healthz(service) == 200
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert await eventually(lambda: sample(service, "ingest_messages_acked_total") == 100, deadline_s=60)
        assert service.spool.batches > 0
        body = await not_ready_with(service, "influx: refused writes (401)")
        assert not any(reason.startswith("spool") for reason in body["reasons"]), body

        auth_influx.q(f"SET PASSWORD FOR \"{user}\" = '{password}'")
        assert await eventually(lambda: auth_influx.stored(isolated.db) == 100, deadline_s=90)
        assert await eventually(lambda: service.spool.empty, deadline_s=30)
        assert (await readyz(service))[0] == 200
        assert service.dead_letters.counts() == {}


# -- keepalive while reading is held ------------------------------------------------------------


async def test_a_consumer_paused_for_many_keepalives_keeps_its_connection(isolated: Isolation) -> None:
    keepalive_s = 4
    received: list[bytes] = []
    client_id = f"paused-{isolated.db}"
    topic = f"{isolated.prefix}/held"
    consumer = MqttConsumer(
        isolated.services.mqtt_url,
        client_id,
        [topic],
        lambda message, token: received.append(message.payload),
        keepalive_s=keepalive_s,
        silence_timeout_s=3600,
    )
    task = asyncio.create_task(consumer.run(), name="consumer-under-test")
    try:
        async with asyncio.timeout(30):
            await consumer.subscribed.wait()
        connection = consumer._connection
        consumer.pause()
        # The hold itself is the behaviour under test: Mosquitto drops a client it hears nothing
        # from for 1.5 keepalives (6 s); without pings while paused that happened after ~12 s.
        await asyncio.sleep(5 * keepalive_s)
        consumer.resume()
        await publish(isolated.services.mqtt_url, [(topic, b"still here")])
        assert await eventually(lambda: received == [b"still here"], deadline_s=30)
        assert consumer.generation == 1
        assert consumer._connection is connection
        assert not connection.closed.is_set()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    broker_log = (isolated.services.root / "mosquitto" / "mosquitto.log").read_text(errors="replace")
    assert f"Client {client_id} has exceeded timeout" not in broker_log


# -- every declared metric moves ------------------------------------------------------------


def metric_values(registry: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (family.name, tuple(sorted(s.labels.items()))): s.value
        for family in registry.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    }


async def test_every_declared_ingest_metric_moves_through_a_scenario(
    auth_influx: AuthInflux, isolated: Isolation, tmp_path: Path
) -> None:
    """A damaged store, a stream with backpressure, bad payloads while the dead-letter store is
    locked (then dropped by its age bound), InfluxDB refusing the writes (spool) and then taking
    them again, and a stop."""
    from ingest.metrics import IngestMetrics

    baseline = metric_values(IngestMetrics().registry)
    snapshots: list[dict[tuple[str, tuple[tuple[str, str], ...]], float]] = []
    (tmp_path / "energy.sqlite").write_bytes(b"\x00garbage" * 100)
    user, password = ingest_user(auth_influx, isolated)
    settings = ingest_settings(
        isolated,
        tmp_path,
        influx_url=auth_influx.url,
        influx_username=user,
        influx_password=password,
        ingest_batch_size=10,
        ingest_batch_max_age_ms=1000,
        ingest_deadletter_max_age_days=1e-9,  # ~86 µs: every letter is past the age bound at once
    )
    messages = heat_stream(isolated.prefix, 150, time.time() - 3600)
    bad_topic = messages[0][0]
    async with running_ingest(settings) as service:
        snap = lambda: snapshots.append(metric_values(service.metrics.registry))  # noqa: E731
        assert sample(service, "ingest_mqtt_connected") == 1
        snap()
        await publish(isolated.services.mqtt_url, messages[:100])
        assert await eventually(lambda: auth_influx.stored(isolated.db) == 100, deadline_s=60)
        assert await eventually(lambda: sample(service, "ingest_messages_acked_total") == 100)
        snap()

        blocker = sqlite3.connect(tmp_path / "dead_letters.sqlite", isolation_level=None)
        try:
            blocker.execute("BEGIN EXCLUSIVE")
            await publish(isolated.services.mqtt_url, [(bad_topic, b"{not json")] * 10)
            assert await eventually(
                lambda: sample(service, "ingest_store_write_errors_total", store="dead_letters") >= 1
            )
            snap()
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert await eventually(
            lambda: sample(service, "ingest_dead_letters_total", reason="invalid_json") == 10
        )
        assert await eventually(
            lambda: sample(service, "ingest_dead_letters_dropped_total", reason="age") == 10
        )

        auth_influx.q(f"SET PASSWORD FOR \"{user}\" = 'revoked'")
        await publish(isolated.services.mqtt_url, messages[100:])
        assert await eventually(lambda: sample(service, "ingest_spool_bytes") > 0)
        assert sample(service, "ingest_influx_up") == 0
        snap()
        auth_influx.q(f"SET PASSWORD FOR \"{user}\" = '{password}'")
        assert await eventually(lambda: auth_influx.stored(isolated.db) == 150, deadline_s=90)
        assert await eventually(lambda: sample(service, "ingest_spool_bytes") == 0)
        snap()
    assert sample(service, "ingest_mqtt_connected") == 0
    snapshots.append(metric_values(service.metrics.registry))

    families = {name for name, _ in baseline}
    moved = {
        key[0] for snapshot in snapshots for key, value in snapshot.items() if value != baseline.get(key)
    }
    assert families - moved == set(), "declared metrics that never moved"


async def test_an_energy_history_that_cannot_be_written_holds_the_acks_and_loses_no_reading(
    isolated: Isolation, tmp_path: Path
) -> None:
    """The register history must be durable before the acks; a failed save is retried with the
    same changes (not dropped), so after recovery the history holds every meter's last reading."""
    messages = heat_stream(isolated.prefix, 20, time.time() - 600, meters=10)
    last_ts = {orjson.loads(payload)["ts"] for _, payload in messages[-10:]}
    async with running_ingest(ingest_settings(isolated, tmp_path)) as service:
        blocker = sqlite3.connect(tmp_path / "energy.sqlite", isolation_level=None)
        try:
            blocker.execute("BEGIN EXCLUSIVE")
            await publish(isolated.services.mqtt_url, messages)
            await not_ready_with(service, "energy: cannot write")
            assert await eventually(lambda: sample(service, "ingest_messages_received_total") == 20)
            assert sample(service, "ingest_messages_acked_total") == 0
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert await eventually(lambda: sample(service, "ingest_messages_acked_total") == 20, deadline_s=60)
        assert (await readyz(service))[0] == 200
    history = sqlite3.connect(tmp_path / "energy.sqlite")
    try:
        latest = history.execute("SELECT series, MAX(ts_ns) FROM registers GROUP BY series").fetchall()
    finally:
        history.close()
    assert len(latest) == 10
    assert {round(ts_ns / 1e9, 3) for _, ts_ns in latest} == {round(float(ts), 3) for ts in last_ts}


async def test_a_missing_database_ingest_may_not_create_spools_until_an_admin_creates_it(
    auth_influx: AuthInflux, isolated: Isolation, tmp_path: Path
) -> None:
    user, password = ingest_user(auth_influx, isolated)
    auth_influx.q(f'DROP DATABASE "{isolated.db}"')  # and with it the user's grant
    settings = ingest_settings(
        isolated, tmp_path, influx_url=auth_influx.url, influx_username=user, influx_password=password
    )
    messages = heat_stream(isolated.prefix, 50, time.time() - 600)
    async with running_ingest(settings) as service:
        await publish(isolated.services.mqtt_url, messages)
        await not_ready_with(service, "influx: refused writes (404)")
        assert await eventually(lambda: sample(service, "ingest_messages_acked_total") == 50)
        assert service.dead_letters.counts() == {}
        auth_influx.q(f'CREATE DATABASE "{isolated.db}"')
        auth_influx.q(f'GRANT ALL ON "{isolated.db}" TO "{user}"')
        assert await eventually(lambda: auth_influx.stored(isolated.db) == 50, deadline_s=90)
        assert await eventually(lambda: service.spool.empty, deadline_s=30)
        assert service.dead_letters.counts() == {}
