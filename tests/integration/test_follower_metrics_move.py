"""Every metric the energy follower declares (``ingest energy --follow --metrics-port``,
ingest/derive/follow.py) moves in a representative run against the real InfluxDB: two passes over
registers that hold an implausible jump."""

from __future__ import annotations

from pathlib import Path

import pytest

from energy_core.factors import EmissionFactors
from energy_core.influx import InfluxClient
from ingest.config import IngestSettings
from ingest.derive.follow import EnergyFollower, FollowerMetrics
from ingest.derive.plausible import energy_limits
from tests.integration.test_implausible_energy import NS, READINGS, REGISTRY, T0

pytestmark = pytest.mark.integration

Samples = dict[tuple[str, str, tuple[tuple[str, str], ...]], float]


def samples_of(metrics: FollowerMetrics) -> Samples:
    return {
        (family.name, sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in metrics.registry.collect()
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


async def test_every_declared_follower_metric_moves_over_two_passes_with_an_implausible_jump(
    isolated, tmp_path: Path
) -> None:
    tags = "device=hm-1,network=borlange-dh,owner=borlange-energi,site=villa-1"
    lines = "\n".join(f"district_heating,{tags} energy_kwh={kwh} {(T0 + s) * NS}" for s, kwh in READINGS)
    baseline = samples_of(FollowerMetrics())
    limits = energy_limits(IngestSettings(influx_url=isolated.services.influx_url), REGISTRY)
    async with InfluxClient(isolated.services.influx_url, isolated.db) as influx:
        await influx.ensure_database()
        await influx.write(lines)
        follower = EnergyFollower(influx, EmissionFactors.load(), window_ns=3600 * NS, limits=limits)
        snapshots = []
        for _ in range(2):
            await follower.run_once(now_ns=(T0 + 1800) * NS)
            snapshots.append(samples_of(follower.metrics))

    declared = {family.name for family in FollowerMetrics().registry.collect()}
    moved = {key[0] for snapshot in snapshots for key, v in snapshot.items() if v != baseline.get(key)}
    assert declared - moved == set(), "declared metrics that never moved"
    assert follower.metrics.registry.get_sample_value("ingest_energy_follow_passes_total") == 2
    assert follower.metrics.registry.get_sample_value("ingest_energy_implausible_intervals_total") == 1
