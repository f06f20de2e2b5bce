"""Cost of the derive step on the hot path (thermal power, interval energy, emissions) and of its commit.

    uv run python -m bench.bench_derive [--devices 10000] [--readings 100000]

Prints µs per message through Pipeline.process with and without the deriver, and the time to
persist one batch of register history (5,000 readings) to SQLite.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import orjson

from bench.common import command_line
from energy_core.factors import EmissionFactors
from energy_core.registry import AssetFile, Registry
from energy_core.schema import Message
from energy_core.timeutil import NS
from ingest.adapters import Router, default_routes
from ingest.derive.deriver import Deriver
from ingest.derive.energy import EnergyState
from ingest.derive.state import EnergyStore
from ingest.normalise import Normaliser
from ingest.pipeline import Pipeline


def registry(devices: int) -> Registry:
    return Registry(
        AssetFile.model_validate(
            {
                "owners": [{"id": "o", "name": "O"}],
                "sites": [
                    {"id": f"s{i}", "name": "S", "owner": "o", "network": "borlange-dh"}
                    for i in range(devices)
                ],
                "devices": [{"id": f"hm-{i}", "site": f"s{i}", "kind": "heat_meter"} for i in range(devices)],
            }
        )
    )


def messages(devices: int, readings: int) -> list[Message]:
    start = int(time.time()) - 86400
    out = []
    for n in range(readings):
        device, step = n % devices, n // devices
        values = {"energy": 1000.0 + step * 1.5, "flow": 3.6, "supply_temp": 85.0, "return_temp": 45.0}
        payload = orjson.dumps({"ts": start + step * 10, "values": values})
        out.append(Message(f"energy/v1/hm-{device}", payload, (start + 86400) * NS))
    return out


def run(pipeline: Pipeline, batch: list[Message]) -> tuple[float, int]:
    points = 0
    started = time.perf_counter()
    for message in batch:
        points += len(pipeline.process(message).points)
    return time.perf_counter() - started, points


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--readings", type=int, default=100_000)
    args = parser.parse_args()
    reg = registry(args.devices)
    batch = messages(args.devices, args.readings)
    router = Router(default_routes("energy"))
    bare, bare_points = run(Pipeline(router, Normaliser(reg)), batch)
    deriver = Deriver(EmissionFactors.load(), EnergyState())
    derived, derived_points = run(Pipeline(router, Normaliser(reg), deriver=deriver), batch)
    n = len(batch)
    print(f"pipeline without deriver: {bare / n * 1e6:.1f} µs/message ({bare_points} points)")
    print(f"pipeline with deriver:    {derived / n * 1e6:.1f} µs/message ({derived_points} points)")
    print(f"derive step alone:        {(derived - bare) / n * 1e6:.1f} µs/message")

    with tempfile.TemporaryDirectory() as tmp:
        store = EnergyStore(Path(tmp) / "energy.sqlite")
        state = EnergyState()
        for k, message in enumerate(batch[:5000]):
            state.observe(f"hm-{k}\x1fdistrict_heat", message.received_ns, float(k))
        state.take_changes()
        for k in range(5000):  # a steady-state batch: one new reading per series
            state.observe(f"hm-{k}\x1fdistrict_heat", batch[0].received_ns + NS, float(k) + 1)
        changes = state.take_changes()
        started = time.perf_counter()
        asyncio.run(store.save(changes))
        print(f"persist 5,000 readings:   {(time.perf_counter() - started) * 1000:.1f} ms per batch commit")
        store.close()


if __name__ == "__main__":
    main()
