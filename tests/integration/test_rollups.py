"""Roll-ups against a real InfluxDB: values equal the raw computations, DST days, late data, idempotence,
an InfluxDB outage, the across-site totals, the rebuild command and the service end to end."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from energy_core import lineprotocol, rollups
from energy_core.influx import InfluxClient
from energy_core.registry import AssetFile, Registry
from energy_core.rollups import RP_1D, RP_1H, ZONE
from energy_core.schema import Point
from energy_core.timeutil import HOUR_NS
from energy_testing import services as local_services
from energy_testing.world import Isolation, Services
from ingest.rollup import RollupMaintainer
from ingest.rollup.cli import rollup_command
from ingest.rollup.store import DirtyStore
from simulators.publisher import Publisher
from tests.helpers import eventually, ingest_settings, running_ingest

pytestmark = pytest.mark.integration

NS = 1_000_000_000
STEP_NS = 15 * 60 * NS
DAY = dt.date(2026, 11, 10)
SPRING = dt.date(2026, 3, 29)  # 23 hours in Stockholm
AUTUMN = dt.date(2026, 10, 25)  # 25 hours

DH_TAGS = {
    "d1": (("device", "d1"), ("network", "n1"), ("owner", "o1"), ("site", "s1")),
    "d2": (("device", "d2"), ("owner", "o1"), ("site", "s2")),  # no network: totals read it as ""
}


def heat_points(day: dt.date) -> list[Point]:
    """Two heat meters every 15 minutes over local ``day``: gauges, registers, an info code."""
    start, end = rollups.day_bounds(day)
    points = []
    for n, (device, tags) in enumerate(DH_TAGS.items()):
        for i, ts in enumerate(range(start, end, STEP_NS)):
            fields = {
                "power_kw": 10.0 * (n + 1) + (i % 7) * 1.25 - (i % 3) * 0.5,
                "energy_kwh": 1000.0 * (n + 1) + 2.5 * i,
                "supply_temp_c": 70.0 + (i % 5),
                "info_code": float(i % 4 == 0) * (n + 1),
            }
            if device == "d1" and i % 2:
                fields["flow_m3h"] = 1.0 + i / 100  # only every second reading carries flow
            points.append(Point("district_heating", tags, fields, ts))
    return points


def energy_points(day: dt.date) -> list[Point]:
    """Interval energy and emissions of both meters, one point per 15 minutes (timestamp = interval end)."""
    start, end = rollups.day_bounds(day)
    points = []
    for n, tags in enumerate(DH_TAGS.values()):
        for i, ts in enumerate(range(start + STEP_NS, end + STEP_NS, STEP_NS)):
            kwh = 2.5 + (i % 4) * 0.25 + n
            energy_tags = tuple(sorted((*tags, ("carrier", "district_heat"))))
            points.append(Point("energy", energy_tags, {"kwh": kwh}, ts))
            for method, factor in (("location", 54.9), ("market", 120.0)):
                emission_tags = tuple(sorted((*energy_tags, ("method", method))))
                fields = {"co2e_kg": kwh * factor / 1000, "factor_g_per_kwh": factor}
                points.append(Point("emissions", emission_tags, fields, ts))
    return points


def lines_of(points: list[Point]) -> list[str]:
    return [lineprotocol.encode(p) for p in points]


async def write(influx: InfluxClient, points: list[Point]) -> list[str]:
    lines = lines_of(points)
    await influx.ensure_database()
    await influx.write("\n".join(lines).encode())
    return lines


async def rows(
    influx: InfluxClient, rp: str, measurement: str
) -> dict[tuple[tuple[str, str], ...], list[dict[str, Any]]]:
    """Every roll-up point of ``measurement`` in ``rp``, per series (tags without empty values)."""
    results = await influx.query(f"SELECT * FROM {rollups.qualified(influx.db, rp, measurement)} GROUP BY *")  # noqa: S608
    out: dict[tuple[tuple[str, str], ...], list[dict[str, Any]]] = {}
    for series in results[0].get("series") or ():
        tags = tuple(sorted((k, v) for k, v in (series.get("tags") or {}).items() if v))
        out[tags] = [dict(zip(series["columns"], row, strict=True)) for row in series["values"]]
    return out


def expected_buckets(points: list[Point], bucket_of) -> dict[tuple[Any, int], dict[str, list[float]]]:
    """Raw values per (series tags, bucket start) and field, in time order."""
    out: dict[tuple[Any, int], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for p in sorted(points, key=lambda p: p.ts_ns):
        for f, v in p.fields.items():
            out[(p.tags, bucket_of(p.ts_ns))][f].append(v)
    return out


def assert_rollup_row_matches(measurement: str, row: dict[str, Any], raw: dict[str, list[float]]) -> None:
    for f in rollups.GAUGE_FIELDS[measurement]:
        values = raw.get(f, [])
        if not values:
            assert row.get(f"{f}_count") is None
            continue
        assert row[f"{f}_count"] == len(values)
        assert row[f"{f}_sum"] == pytest.approx(math.fsum(values))
        assert row[f"{f}_min"] == min(values)
        assert row[f"{f}_max"] == max(values)
        assert row[f"{f}_mean"] == pytest.approx(math.fsum(values) / len(values))
    for f in rollups.REGISTER_FIELDS[measurement]:
        if f not in raw:
            assert row.get(f"{f}_last") is None
            continue
        assert row[f"{f}_last"] == raw[f][-1]
        assert row[f"{f}_first"] == raw[f][0]
    for f in rollups.CODE_FIELDS_OF[measurement]:
        assert row[f"{f}_last"] == raw[f][-1]
        assert row[f"{f}_max"] == max(raw[f])
    for f in rollups.SUM_FIELDS[measurement]:
        assert row[f] == pytest.approx(math.fsum(raw[f]))
        assert row["count"] == len(raw[f])


def maintainer(influx: InfluxClient, **kwargs: Any) -> RollupMaintainer:
    return RollupMaintainer(influx, CollectorRegistry(), delay_s=0.0, **kwargs)


def local_day_start(ts_ns: int) -> int:
    return rollups.day_bounds(rollups.local_day_of(ts_ns))[0]


async def test_hourly_and_daily_roll_ups_equal_the_raw_sums_counts_extremes_means_and_last_registers(
    isolated: Isolation,
) -> None:
    points = heat_points(DAY) + energy_points(DAY)
    async with InfluxClient(isolated.services.influx_url, isolated.db, timeout_s=60.0) as influx:
        lines = await write(influx, points)
        rolling = maintainer(influx)
        await rolling.written(lines)
        report = await rolling.run_round()
        assert report.hours >= 24 * 3
        assert len(rolling.dirty) == 0

        for rp, bucket_of in ((RP_1H, rollups.hour_of), (RP_1D, local_day_start)):
            for measurement in ("district_heating", "energy", "emissions"):
                raw = expected_buckets([p for p in points if p.measurement == measurement], bucket_of)
                stored = await rows(influx, rp, measurement)
                seen = 0
                for (tags, bucket), values in raw.items():
                    series = {r["time"]: r for r in stored[tags]}
                    assert_rollup_row_matches(measurement, series[bucket], values)
                    seen += 1
                assert seen == sum(len(v) for v in stored.values()), f"{rp} {measurement}: extra rows"

        # A mean over several buckets stays exact: sum of sums over sum of counts, from rollup_1h.
        day_start, day_end = rollups.day_bounds(DAY)
        mean = rollups.read("district_heating", "power_kw", "mean", 86400 * NS, db=influx.db)
        from_rollup = await influx.query(
            f"SELECT {mean.expression} FROM {rollups.qualified(influx.db, RP_1H, 'district_heating')}"  # noqa: S608
            f" WHERE time >= {day_start} AND time < {day_end}"
        )
        raw_mean = await influx.query(
            f'SELECT mean("power_kw") FROM "district_heating" WHERE time >= {day_start} AND time < {day_end}'  # noqa: S608
        )
        assert from_rollup[0]["series"][0]["values"][0][1] == pytest.approx(
            raw_mean[0]["series"][0]["values"][0][1]
        )


@pytest.mark.parametrize(("day", "hours"), [(SPRING, 23), (AUTUMN, 25)])
async def test_dst_days_have_23_or_25_hours_in_the_daily_roll_up(
    isolated: Isolation, day: dt.date, hours: int
) -> None:
    points = heat_points(day) + energy_points(day)
    async with InfluxClient(isolated.services.influx_url, isolated.db, timeout_s=60.0) as influx:
        await write(influx, points)
        rolling = maintainer(influx)
        await rolling.mark_range(*rollups.day_bounds(day))
        await rolling.run_round()
        daily = await rows(influx, RP_1D, "district_heating")
        start, _ = rollups.day_bounds(day)
        for tags in DH_TAGS.values():
            (row,) = [r for r in daily[tags] if r["time"] == start]
            assert row["power_kw_count"] == hours * 4
            assert (
                row["energy_kwh_first"] == points[[p.tags for p in points].index(tags)].fields["energy_kwh"]
            )
        hourly = await rows(influx, RP_1H, "district_heating")
        assert len([r for r in hourly[DH_TAGS["d1"]] if rollups.local_day_of(r["time"]) == day]) == hours
        # The day's energy equals the raw local-day sum (InfluxDB's own tz() bucketing of raw).
        raw = await influx.query(
            f'SELECT sum("kwh") FROM "energy" WHERE time >= {start} AND time < {start + 26 * HOUR_NS}'  # noqa: S608
            f" GROUP BY time(1d) tz('{rollups.ZONE_NAME}')"
        )
        raw_by_day = {int(t): v for t, v in raw[0]["series"][0]["values"] if v is not None}
        total = await rows(influx, RP_1D, rollups.ENERGY_TOTAL)
        day_total = sum(r["kwh"] for series in total.values() for r in series if r["time"] == start)
        assert day_total == pytest.approx(raw_by_day[start])


async def test_late_data_re_rolls_its_bucket_and_rolling_again_changes_nothing(isolated: Isolation) -> None:
    points = heat_points(DAY)
    async with InfluxClient(isolated.services.influx_url, isolated.db, timeout_s=60.0) as influx:
        await write(influx, points)
        rolling = maintainer(influx)
        await rolling.mark_range(*rollups.day_bounds(DAY), measurements=["district_heating"])
        await rolling.run_round()
        before_1h = await rows(influx, RP_1H, "district_heating")
        before_1d = await rows(influx, RP_1D, "district_heating")

        # Idempotent: rolling the same buckets again writes the same points.
        await rolling.mark_range(*rollups.day_bounds(DAY), measurements=["district_heating"])
        await rolling.run_round()
        assert await rows(influx, RP_1H, "district_heating") == before_1h
        assert await rows(influx, RP_1D, "district_heating") == before_1d

        # A late reading (a gateway resending) lands in an hour rolled long ago.
        start, _ = rollups.day_bounds(DAY)
        late_ts = start + 5 * HOUR_NS + 7 * 60 * NS
        late = Point("district_heating", DH_TAGS["d1"], {"power_kw": 999.0}, late_ts)
        await rolling.written(await write(influx, [late]))
        await rolling.run_round()
        hour = {r["time"]: r for r in (await rows(influx, RP_1H, "district_heating"))[DH_TAGS["d1"]]}
        previous = {r["time"]: r for r in before_1h[DH_TAGS["d1"]]}[rollups.hour_of(late_ts)]
        assert hour[rollups.hour_of(late_ts)]["power_kw_count"] == previous["power_kw_count"] + 1
        assert hour[rollups.hour_of(late_ts)]["power_kw_max"] == 999.0
        day_row = (await rows(influx, RP_1D, "district_heating"))[DH_TAGS["d1"]][0]
        assert day_row["power_kw_max"] == 999.0
        assert day_row["power_kw_sum"] == pytest.approx(before_1d[DH_TAGS["d1"]][0]["power_kw_sum"] + 999.0)


async def test_across_site_totals_sum_every_series_by_owner_network_carrier_and_method(
    isolated: Isolation,
) -> None:
    points = energy_points(DAY)
    async with InfluxClient(isolated.services.influx_url, isolated.db, timeout_s=60.0) as influx:
        await rolling_written(influx, points)
        energy = await rows(influx, RP_1D, rollups.ENERGY_TOTAL)
        emissions = await rows(influx, RP_1H, rollups.EMISSIONS_TOTAL)
    day_start = rollups.day_bounds(DAY)[0]
    expected: dict[tuple[tuple[str, str], ...], float] = defaultdict(float)
    for p in points:
        if p.measurement == "energy" and local_day_start(p.ts_ns) == day_start:
            tags = dict(p.tags)
            key = tuple(sorted((k, tags[k]) for k in ("owner", "network", "carrier") if k in tags))
            expected[key] += p.fields["kwh"]
    assert {
        k: sum(r["kwh"] for r in v if r["time"] == day_start) for k, v in energy.items()
    } == pytest.approx(dict(expected))
    # The site without a network is its own total, with no network tag.
    assert (("carrier", "district_heat"), ("owner", "o1")) in energy
    hourly_co2 = sum(r["co2e_kg"] for k, v in emissions.items() if ("method", "market") in k for r in v)
    raw_co2 = sum(p.fields["co2e_kg"] for p in points if dict(p.tags).get("method") == "market")
    assert hourly_co2 == pytest.approx(raw_co2)


async def rolling_written(influx: InfluxClient, points: list[Point]) -> RollupMaintainer:
    rolling = maintainer(influx)
    await rolling.written(await write(influx, points))
    await rolling.run_round()
    return rolling


async def test_influxdb_down_keeps_the_dirty_buckets_and_rolls_them_when_it_returns(tmp_path: Path) -> None:
    influx_dir = tmp_path / "influx"
    running, proc = local_services.start_influxd(influx_dir)
    try:
        async with InfluxClient(running.url, "outage", timeout_s=60.0) as influx:
            lines = await write(influx, heat_points(DAY))
            store = DirtyStore(tmp_path / "rollups.sqlite")
            registry = CollectorRegistry()
            rolling = RollupMaintainer(influx, registry, delay_s=0.0, store=store)
            await rolling.written(lines)
            dirty = len(rolling.dirty)
            assert dirty == 24

            local_services.stop_pid(proc.pid)
            report = await rolling.run_round()
            assert report.points == 0
            assert len(rolling.dirty) == dirty, "a failed round must keep every bucket"
            assert registry.get_sample_value("ingest_rollup_failures_total", {"reason": "unavailable"}) == 1
            assert len(store.load()) == dirty, "and keep them on disk"
            assert registry.get_sample_value("ingest_rollup_dirty_buckets") == dirty
            assert (registry.get_sample_value("ingest_rollup_lag_seconds") or 0.0) > 0.0

            running, proc = local_services.start_influxd(influx_dir, running.port)
            report = await rolling.run_round()
            assert report.hours == dirty
            assert len(rolling.dirty) == 0
            assert store.load() == []
            assert registry.get_sample_value("ingest_rollup_buckets_total", {"rp": RP_1H}) == dirty
            assert registry.get_sample_value("ingest_rollup_lag_seconds") == 0.0
            assert registry.get_sample_value("ingest_rollup_dirty_buckets") == 0.0
            hourly = await rows(influx, RP_1H, "district_heating")
            assert sum(len(v) for v in hourly.values()) == 2 * 24
            store.close()
    finally:
        local_services.stop_pid(proc.pid)


async def test_dirty_buckets_left_on_disk_are_rolled_after_a_restart(
    isolated: Isolation, tmp_path: Path
) -> None:
    async with InfluxClient(isolated.services.influx_url, isolated.db, timeout_s=60.0) as influx:
        lines = await write(influx, heat_points(DAY))
        first = RollupMaintainer(
            influx, CollectorRegistry(), delay_s=3600.0, store=DirtyStore(tmp_path / "r.sqlite")
        )
        await first.written(lines)
        await first.aclose()  # a crash before the delay passed: nothing rolled yet
        second = RollupMaintainer(
            influx, CollectorRegistry(), delay_s=0.0, store=DirtyStore(tmp_path / "r.sqlite")
        )
        assert len(second.dirty) == 24
        await second.run_round()
        await second.aclose()
        hourly = await rows(influx, RP_1H, "district_heating")
        assert sum(len(v) for v in hourly.values()) == 2 * 24


async def test_the_rollup_command_rebuilds_local_days_and_prints_a_summary(
    isolated: Isolation, tmp_path: Path
) -> None:
    async with InfluxClient(isolated.services.influx_url, isolated.db, timeout_s=60.0) as influx:
        await write(influx, heat_points(SPRING) + energy_points(SPRING))
    settings = ingest_settings(isolated, tmp_path / "data")
    out = io.StringIO()
    start = dt.datetime(2026, 3, 29, tzinfo=ZONE)
    code = await rollup_command(settings, start, start, stream=io.StringIO(), out=out)
    assert code == 0
    assert out.getvalue().startswith("rollup: 1 days (2026-03-29 to 2026-03-29, Europe/Stockholm), ")
    assert "hourly and 6 daily buckets" in out.getvalue()
    async with InfluxClient(isolated.services.influx_url, isolated.db, timeout_s=60.0) as influx:
        daily = await rows(influx, RP_1D, "district_heating")
    assert daily[DH_TAGS["d2"]][0]["power_kw_count"] == 23 * 4


async def test_the_rollup_command_exits_1_when_influxdb_is_down(tmp_path: Path) -> None:
    services = Services("mqtt://127.0.0.1:1", f"http://127.0.0.1:{local_services.free_port()}", tmp_path)
    settings = ingest_settings(Isolation("p", "nowhere", services), tmp_path / "data")
    err = io.StringIO()
    start = dt.datetime(2026, 3, 29, tzinfo=ZONE)
    assert await rollup_command(settings, start, start, stream=err, out=io.StringIO()) == 1
    assert err.getvalue().startswith("rollup: InfluxDB failed")


REGISTRY = Registry(
    AssetFile.model_validate(
        {
            "owners": [{"id": "o1", "name": "Owner 1"}],
            "sites": [{"id": "s1", "name": "Site 1", "owner": "o1", "network": "borlange"}],
            "devices": [{"id": "hm-r1", "site": "s1", "kind": "heat_meter"}],
        }
    )
)


async def test_the_service_maintains_roll_ups_of_what_it_ingests_over_mqtt(
    isolated: Isolation, tmp_path: Path
) -> None:
    settings = ingest_settings(isolated, tmp_path / "data", ingest_rollup_delay_s=0.2)
    now_s = int(dt.datetime.now(dt.UTC).timestamp())
    t0 = now_s - now_s % 3600 - 2 * 3600  # two hours ago, on an hour
    readings = [
        (t0 + i * 600, {"energy": 5000.0 + 10 * i, "power": 20.0 + i, "supply_temp": 75.0}) for i in range(12)
    ]
    messages = [
        (f"{isolated.prefix}/v1/hm-r1", orjson.dumps({"ts": ts, "values": values})) for ts, values in readings
    ]
    async with running_ingest(settings, REGISTRY) as service:
        assert service.rollups is not None
        with Publisher(isolated.services.mqtt_url) as publisher:
            await asyncio.to_thread(publisher.publish_many, messages)

        def rolled() -> list[list[object]]:
            source = rollups.qualified(isolated.db, RP_1H, "district_heating")
            got = isolated.query(f'SELECT "power_kw_count", "power_kw_mean", "energy_kwh_last" FROM {source}')  # noqa: S608
            return got if sum(int(r[1]) for r in got if r[1] is not None) == 12 else []

        hourly = await eventually(rolled, deadline_s=60)
        assert [int(r[0]) // NS for r in hourly] == [t0, t0 + 3600]
        assert [r[3] for r in hourly] == [5050.0, 5110.0]
        assert [r[2] for r in hourly] == [pytest.approx(22.5), pytest.approx(28.5)]

        def energy_rolled() -> float:
            got = isolated.query(f'SELECT sum("kwh") FROM "{isolated.db}"."rollup_1h"."energy_total"')  # noqa: S608
            return float(got[0][1]) if got and got[0][1] is not None and got[0][1] >= 109.999 else 0.0

        assert await eventually(energy_rolled, deadline_s=60) == pytest.approx(110.0)

        def hours_counted() -> float:  # counted once the round's last local day is written
            return (
                service.metrics.registry.get_sample_value("ingest_rollup_buckets_total", {"rp": RP_1H}) or 0
            )

        assert await eventually(hours_counted, deadline_s=60) > 0
        policies = isolated.query(f'SHOW RETENTION POLICIES ON "{isolated.db}"')
        assert {str(p[0]): str(p[1]) for p in policies} == {
            "autogen": "10320h0m0s",
            "rollup_1h": "87840h0m0s",
            "rollup_1d": "87840h0m0s",
        }


async def test_the_energy_follower_maintains_the_roll_ups_of_replicas_with_energy_off(
    isolated: Isolation, tmp_path: Path
) -> None:
    from energy_core.factors import EmissionFactors
    from ingest.derive.follow import EnergyFollower

    now_ns = dt.datetime.now(dt.UTC).timestamp() * NS
    start = int(now_ns) - int(now_ns) % HOUR_NS - HOUR_NS  # the last hour and the current one
    tags = DH_TAGS["d1"]
    readings = [
        Point("district_heating", tags, {"energy_kwh": 100.0 + 5 * i, "power_kw": 30.0}, start + i * 600 * NS)
        for i in range(6)
    ]
    settings = ingest_settings(isolated, tmp_path / "data", ingest_energy="off")
    async with InfluxClient(isolated.services.influx_url, isolated.db, timeout_s=60.0) as influx:
        await write(influx, readings)  # as the replicas would, without marking anything
        follower = EnergyFollower(influx, EmissionFactors.load(None))
        follower.rollups = RollupMaintainer.for_settings(
            settings, follower.metrics.registry, role="follower", influx=influx
        )
        assert follower.rollups is not None
        assert (
            RollupMaintainer.for_settings(settings, CollectorRegistry(), role="service", influx=influx)
            is None
        )
        await follower.run_once()
        hourly = await rows(influx, RP_1H, "district_heating")
        assert hourly[tags][0]["power_kw_count"] == 6
        assert hourly[tags][0]["energy_kwh_last"] == 125.0
        energy = await rows(influx, RP_1H, rollups.ENERGY_TOTAL)
        assert sum(r["kwh"] for v in energy.values() for r in v) == pytest.approx(25.0)


async def test_without_admin_rights_the_refused_retention_policies_are_logged_once_and_buckets_wait(
    tmp_path: Path,
) -> None:
    import httpx
    from structlog.testing import capture_logs

    running, proc = local_services.start_influxd(tmp_path / "influx-auth", auth_enabled=True)
    try:

        def admin(q: str, *, first: bool = False) -> None:
            auth = None if first else ("admin", "admin-pw")
            httpx.post(f"{running.url}/query", data={"q": q}, auth=auth, timeout=30).raise_for_status()

        # With no user yet, InfluxDB 1.x lets exactly this statement through unauthenticated.
        admin("CREATE USER admin WITH PASSWORD 'admin-pw' WITH ALL PRIVILEGES", first=True)
        admin('CREATE DATABASE "refused"')
        admin("CREATE USER writer WITH PASSWORD 'writer-pw'")
        admin('GRANT ALL ON "refused" TO "writer"')
        async with InfluxClient(
            running.url, "refused", username="writer", password="writer-pw", timeout_s=60.0
        ) as influx:
            lines = await write(influx, heat_points(DAY))
            registry = CollectorRegistry()
            rolling = RollupMaintainer(influx, registry, delay_s=0.0)
            with capture_logs() as logs:
                await rolling.prepare()
                await rolling.written(lines)
                await rolling.run_round()
                await rolling.run_round()
            refused = [e for e in logs if e["event"] == "retention_policies_refused"]
            assert len(refused) == 1
            assert len(rolling.dirty) == 24, "the buckets wait for the policies"
            assert registry.get_sample_value("ingest_rollup_failures_total", {"reason": "unavailable"}) == 2

            # An admin creates the policies: the waiting buckets are rolled.
            admin(rollups.create_rollup_policy("refused", RP_1H, 3660))
            admin(rollups.create_rollup_policy("refused", RP_1D, 3660))
            await rolling.run_round()
            assert len(rolling.dirty) == 0
    finally:
        local_services.stop_pid(proc.pid)


async def test_a_rebuild_of_several_days_rolls_each_local_day_across_the_autumn_change(
    isolated: Isolation, tmp_path: Path
) -> None:
    before = AUTUMN - dt.timedelta(days=1)
    after = AUTUMN + dt.timedelta(days=1)
    points = heat_points(before) + heat_points(AUTUMN) + heat_points(after)
    async with InfluxClient(isolated.services.influx_url, isolated.db, timeout_s=60.0) as influx:
        await write(influx, points)
    settings = ingest_settings(isolated, tmp_path / "data")
    out = io.StringIO()
    start = dt.datetime(before.year, before.month, before.day, tzinfo=ZONE)
    end = dt.datetime(after.year, after.month, after.day, 12, tzinfo=ZONE)
    assert await rollup_command(settings, start, end, stream=io.StringIO(), out=out) == 0
    assert "3 days (2026-10-24 to 2026-10-26" in out.getvalue()
    assert f"{(24 + 25 + 24) * 6:,} hourly and 18 daily buckets" in out.getvalue()
    async with InfluxClient(isolated.services.influx_url, isolated.db, timeout_s=60.0) as influx:
        daily = await rows(influx, RP_1D, "district_heating")
    counts = {rollups.local_day_of(r["time"]): r["power_kw_count"] for r in daily[DH_TAGS["d1"]]}
    assert counts == {before: 96, AUTUMN: 100, after: 96}


async def test_readings_spooled_while_influxdb_is_down_are_rolled_up_once_it_returns(
    isolated: Isolation, tmp_path: Path
) -> None:
    influx_dir = tmp_path / "influx"
    running, proc = local_services.start_influxd(influx_dir)
    port = running.port
    local_services.stop_pid(proc.pid)  # down from the start: the service spools
    settings = ingest_settings(isolated, tmp_path / "data", influx_url=running.url, ingest_rollup_delay_s=0.2)
    now_s = int(dt.datetime.now(dt.UTC).timestamp())
    t0 = now_s - now_s % 3600 - 3600
    messages = [
        (f"{isolated.prefix}/v1/hm-r1", orjson.dumps({"ts": t0 + i * 300, "values": {"power": 10.0 + i}}))
        for i in range(6)
    ]
    services = Services(isolated.services.mqtt_url, running.url, tmp_path)
    tracker = Isolation(isolated.prefix, isolated.db, services)
    try:
        async with running_ingest(settings, REGISTRY) as service:
            with Publisher(isolated.services.mqtt_url) as publisher:
                await asyncio.to_thread(publisher.publish_many, messages)
            assert await eventually(lambda: service.spool.batches > 0, deadline_s=60)
            running, proc = local_services.start_influxd(influx_dir, port)

            def rolled() -> list[list[object]]:
                try:
                    source = rollups.qualified(isolated.db, RP_1H, "district_heating")
                    got = tracker.query(f'SELECT "power_kw_count", "power_kw_sum" FROM {source}')  # noqa: S608
                except AssertionError:  # the policy is not created yet
                    return []
                return got if got and got[0][1] == 6 else []

            hourly = await eventually(rolled, deadline_s=90)
            assert hourly, "the spooled readings were never rolled up"
            assert hourly[0][2] == pytest.approx(sum(10.0 + i for i in range(6)))
            assert await eventually(lambda: service.spool.empty, deadline_s=60)
    finally:
        local_services.stop_pid(proc.pid)
