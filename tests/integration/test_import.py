"""History import against real InfluxDB: a CSV of a few meters gives the same raw points, energy
and emissions as live ingest on the same readings; bad rows become dead letters with their row
number; importing twice changes nothing; a mapping file with a Swedish export (decimal comma)."""

from __future__ import annotations

import io
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from energy_core import lineprotocol
from energy_core.deadletters import DeadLetterStore
from energy_core.factors import EmissionFactors
from energy_core.influx import InfluxClient
from energy_core.registry import AssetFile, Registry
from energy_core.schema import Point, RawReading
from energy_core.timeutil import HOUR_NS, NS
from energy_testing.world import Isolation
from ingest.adapters import DEFAULT_VENDOR_MAPS
from ingest.config import IngestSettings
from ingest.derive.deriver import Deriver
from ingest.importer.runner import import_command
from ingest.normalise import Normaliser
from tests.helpers import ingest_settings

pytestmark = pytest.mark.integration

STEP_NS = 15 * 60 * NS
MEASUREMENTS = ("district_heating", "electricity", "energy", "emissions")
HEADER = "device,ts,energy[MWh],volume[m3],flow[m3/h],supply_temp[°C],return_temp[°C],energy_import[kWh]"

REGISTRY = Registry(
    AssetFile.model_validate(
        {
            "owners": [{"id": "tunabyggen", "name": "Tunabyggen"}],
            "sites": [
                {"id": "s1", "name": "S1", "owner": "tunabyggen", "network": "borlange-dh"},
                {"id": "s2", "name": "S2", "owner": "tunabyggen"},
            ],
            "devices": [
                {"id": "hm-1", "site": "s1", "kind": "heat_meter", "external_ids": ["73500123"]},
                {"id": "hm-2", "site": "s2", "kind": "heat_meter"},
                {"id": "em-1", "site": "s2", "kind": "electricity_meter"},
            ],
        }
    )
)


def start_ns() -> int:
    """Three days ago, on the hour: inside the raw retention, never in the future."""
    return (time.time_ns() // HOUR_NS - 72) * HOUR_NS


def iso(ts_ns: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts_ns / NS, tz=dt.UTC).isoformat()


def fleet_rows(t0: int, steps: int) -> list[tuple[str, int, list[str]]]:
    """(device key, ts, the value cells in HEADER's order after ts) in time order per device.

    hm-1 is named by its external id and has flow and temperatures (thermal power is derived);
    registers rise by multiples of 1/4 kWh written in MWh.
    """
    rows = []
    for i in range(steps):
        ts = t0 + i * STEP_NS
        rows.append(
            (
                "73500123",
                ts,
                [
                    f"{(40_000 + 2.5 * i + (i % 3) * 0.25) / 1000:g}",
                    f"{100 + i * 0.05:g}",
                    f"{1.2 + (i % 4) * 0.1:g}",
                    "75.5",
                    f"{40 + i % 5:g}",
                    "",
                ],
            )
        )
        rows.append(("hm-2", ts, [f"{(7_000 + 1.25 * i) / 1000:g}", "", "", "", "", ""]))
        if i % 4 == 0:
            rows.append(("em-1", ts, ["", "", "", "", "", f"{500 + 3.5 * (i // 4):g}"]))
    return rows


def write_csv(path: Path, header: str, lines: Iterable[str]) -> Path:
    path.write_text(header + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def csv_lines(rows: list[tuple[str, int, list[str]]]) -> list[str]:
    return [",".join([device, iso(ts), *cells]) for device, ts, cells in rows]


def readings(rows: list[tuple[str, int, list[str]]]) -> list[RawReading]:
    """The same rows as live readings (values and units as the header gives them)."""
    names = [("energy", "MWh"), ("volume", "m3"), ("flow", "m3/h"), ("supply_temp", "°C"),
             ("return_temp", "°C"), ("energy_import", "kWh")]  # fmt: skip
    out = []
    for device, ts, cells in rows:
        values = {q: (float(c), u) for (q, u), c in zip(names, cells, strict=True) if c}
        out.append(RawReading(device, ts, values))
    return out


def live_points(raw: list[RawReading]) -> list[Point]:
    """What live ingest makes of these readings, in this order: normalised points and derived ones."""
    normaliser = Normaliser(REGISTRY, max_age_ns=2**62, vendor_maps=DEFAULT_VENDOR_MAPS)
    deriver = Deriver(EmissionFactors.load())
    points: list[Point] = []
    for reading in raw:
        normalised = normaliser.normalise([reading], time.time_ns())
        assert normalised.rejections == []
        points.extend(normalised.points)
        points.extend(deriver.derive(normalised.devices))
    return points


Key = tuple[str, tuple[tuple[str, str], ...], int]


def keyed(points: Iterable[Point]) -> dict[Key, dict[str, float]]:
    return {(p.measurement, p.tags, p.ts_ns): dict(p.fields) for p in points}


async def stored(
    influx: InfluxClient, measurements: Iterable[str] = MEASUREMENTS, rp: str = ""
) -> dict[Key, Any]:
    out: dict[Key, Any] = {}
    for measurement in measurements:
        source = f'"{rp}"."{measurement}"' if rp else f'"{measurement}"'
        results = await influx.query(f"SELECT * FROM {source} GROUP BY *")  # noqa: S608 (test's own names)
        for series in results[0].get("series", []) if results else []:
            tags = tuple(sorted((k, v) for k, v in (series.get("tags") or {}).items() if v))
            columns = series["columns"]
            for row in series["values"]:
                fields = {c: v for c, v in zip(columns[1:], row[1:], strict=True) if v is not None}
                out[(measurement, tags, int(row[0]))] = fields
    return out


def settings_for(isolated: Isolation, data_dir: Path) -> IngestSettings:
    return ingest_settings(isolated, data_dir, ingest_unknown_devices="reject")


async def run_import(
    settings: IngestSettings,
    *paths: Path,
    mapping: Path | None = None,
    factors: EmissionFactors | None = None,
) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = await import_command(
        settings,
        REGISTRY,
        factors or EmissionFactors.load(),
        list(paths),
        mapping_path=mapping,
        stream=err,
        out=out,
    )
    return code, out.getvalue() + err.getvalue()


async def test_a_csv_of_a_few_meters_stores_what_live_ingest_stores_for_the_same_readings_seam_included(
    isolated: Isolation, tmp_path: Path
) -> None:
    t0 = start_ns()
    rows = fleet_rows(t0, 96)  # a day of 15-minute readings
    live_tail = [r for r in rows if r[1] >= t0 + 88 * STEP_NS]  # already stored by live ingest
    history = [r for r in rows if r[1] < t0 + 88 * STEP_NS]
    async with InfluxClient(isolated.services.influx_url, isolated.db) as influx:
        await influx.ensure_database()
        await influx.write(lineprotocol.encode_batch(live_points(readings(live_tail))))
        code, output = await run_import(
            settings_for(isolated, tmp_path), write_csv(tmp_path / "history.csv", HEADER, csv_lines(history))
        )
        assert code == 0, output
        got = await stored(influx)
        expected = keyed(live_points(readings(rows)))  # the whole day through live ingest, in order
        raw = {k: v for k, v in expected.items() if k[0] in ("district_heating", "electricity")}
        assert {k: v for k, v in got.items() if k in raw} == raw
        assert set(got) == set(expected)  # the seam's energy recomputed at the first live reading, not added
        for key, fields in expected.items():
            assert got[key] == pytest.approx(fields, rel=1e-12), key
        assert any("power_kw" in f for k, f in got.items() if k[0] == "district_heating")  # thermal power
        # The roll-ups of the days hold the same energy as the raw intervals.
        daily = await influx.query('SELECT sum("kwh") FROM "rollup_1d"."energy" WHERE "device" = \'hm-1\'')
        raw_sum = sum(
            f["kwh"] for k, f in expected.items() if k[0] == "energy" and ("device", "hm-1") in k[1]
        )
        assert daily[0]["series"][0]["values"][0][1] == pytest.approx(raw_sum)
        # And the daily analysis of the imported days: substation KPIs of the heat meters' sites.
        kpis = await influx.query('SELECT "heat_kwh", "site" FROM "rollup_1d"."substation_kpi"')
        heat = [row[1] for row in kpis[0]["series"][0]["values"] if row[2] == "s1" and row[1] is not None]
        assert heat, output
        assert sum(heat) == pytest.approx(raw_sum, rel=1e-9)  # last − first register, split at midnight
    assert "rows read" in output
    assert "rows/s" in output
    assert "analyse: " in output


async def test_bad_rows_are_dead_lettered_with_their_row_number_and_importing_twice_changes_nothing(
    isolated: Isolation, tmp_path: Path
) -> None:
    t0 = start_ns()
    good = csv_lines(fleet_rows(t0, 8))
    bad = [
        f"nobody,{iso(t0)},1,,,,,",  # row 2 + len(good): an unknown device
        f"hm-2,{iso(t0 + HOUR_NS * 3)},12;5,,,,,",  # not a number
        "hm-2,2025-10-26T02:30:00,7.1,,,,,",  # the repeated hour of autumn, without an offset
        f"hm-2,{iso(t0)},7",  # too few columns
        f"hm-2,{iso(t0 + HOUR_NS * 4)},7.2,,,0.0,,",  # a broken sensor's 0.00 °C (implausible)
        "hm-2," + "9" * 5000,  # longer than a row may be
    ]
    path = write_csv(tmp_path / "meters 2024.csv", HEADER, [*good, *bad])
    settings = settings_for(isolated, tmp_path / "data")
    first_bad = 2 + len(good)
    async with InfluxClient(isolated.services.influx_url, isolated.db) as influx:
        code, output = await run_import(settings, path)
        assert code == 0, output
        after_first = await stored(influx, (*MEASUREMENTS, "rollup_1d"))
        rolled = await stored(influx, ("energy", "district_heating"), rp="rollup_1d")
        store = DeadLetterStore(settings.ingest_data_dir / "dead_letters.sqlite")
        try:
            letters, _ = store.page(limit=100)
            assert [(letter.reason.value, letter.detail.split(":")[0]) for letter in letters] == [
                ("unknown_device", f"meters 2024.csv row {first_bad}"),
                ("schema", f"meters 2024.csv row {first_bad + 1}"),
                ("schema", f"meters 2024.csv row {first_bad + 2}"),
                ("schema", f"meters 2024.csv row {first_bad + 3}"),
                ("implausible_value", f"meters 2024.csv row {first_bad + 4}"),
                ("payload_too_large", f"meters 2024.csv row {first_bad + 5}"),
            ]
            assert "ambiguous" in letters[2].detail
            assert letters[0].payload == bad[0].encode()
            assert letters[0].topic == "import/meters_2024.csv"
            assert "6 dead-lettered" in output
            # The same file again: the same points, the same energy, no second set of letters.
            code, output = await run_import(settings, path)
            assert code == 0, output
            assert await stored(influx, (*MEASUREMENTS, "rollup_1d")) == after_first
            assert await stored(influx, ("energy", "district_heating"), rp="rollup_1d") == rolled
            assert store.counts() == {
                "unknown_device": 1,
                "schema": 3,
                "implausible_value": 1,
                "payload_too_large": 1,
            }
            assert "6 of them already dead-lettered" in output
        finally:
            store.close()
    # hm-1: 7 intervals; hm-2: 7 and one to the row whose temperature was refused (its register is
    # stored, as live ingest stores the plausible values of a reading); em-1: 1.
    assert len([k for k in after_first if k[0] == "energy"]) == 7 + 8 + 1


async def test_a_swedish_export_imports_through_a_mapping_file_with_decimal_commas_and_local_times(
    isolated: Isolation, tmp_path: Path
) -> None:
    import datetime as dt

    from energy_core.timeutil import STOCKHOLM

    day = (dt.datetime.now(tz=STOCKHOLM) - dt.timedelta(days=2)).date()
    local = [dt.datetime(day.year, day.month, day.day, h, tzinfo=STOCKHOLM) for h in (6, 7, 8)]
    body = "\ufeffMätare;Tidpunkt;Energi (MWh);Flöde;Kommentar\n" + "".join(
        f"73500123;{moment.replace(tzinfo=None).isoformat(sep=' ')};{12 + i},5;1,25;ok\n"
        for i, moment in enumerate(local)
    )
    path = tmp_path / "export.csv"
    path.write_bytes(body.encode())
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        "device: Mätare\nts: Tidpunkt\ncolumns:\n"
        "  Energi (MWh): {quantity: energy, unit: MWh}\n  Flöde: {quantity: flow}\n",
        encoding="utf-8",
    )
    async with InfluxClient(isolated.services.influx_url, isolated.db) as influx:
        code, output = await run_import(settings_for(isolated, tmp_path), path, mapping=mapping)
        assert code == 0, output
        got = await stored(influx, ("district_heating", "energy"))
    heat = {k[2]: f for k, f in got.items() if k[0] == "district_heating"}
    utc = [int(moment.timestamp()) * NS for moment in local]
    assert heat == {
        utc[0]: {"energy_kwh": 12_500.0, "flow_m3h": 1.25},
        utc[1]: {"energy_kwh": 13_500.0, "flow_m3h": 1.25},
        utc[2]: {"energy_kwh": 14_500.0, "flow_m3h": 1.25},
    }
    assert {k[2]: f["kwh"] for k, f in got.items() if k[0] == "energy"} == {utc[1]: 1000.0, utc[2]: 1000.0}


async def test_a_file_with_an_unknown_column_is_refused_before_anything_is_written(
    isolated: Isolation, tmp_path: Path
) -> None:
    good = write_csv(tmp_path / "a.csv", HEADER, csv_lines(fleet_rows(start_ns(), 2)))
    wrong = write_csv(tmp_path / "b.csv", "device,ts,energy[MWh],colour", ["hm-2,2026-01-01T00:00Z,1,red"])
    async with InfluxClient(isolated.services.influx_url, isolated.db) as influx:
        await influx.ensure_database()
        code, output = await run_import(settings_for(isolated, tmp_path), good, wrong)
        assert code == 2
        assert "'colour'" in output
        assert "nothing was imported" in output
        assert await stored(influx) == {}


async def test_imported_electricity_gets_its_emissions_from_an_electricity_maps_hourly_export(
    isolated: Isolation, tmp_path: Path
) -> None:
    import datetime as dt

    t0 = start_ns()
    hours = [dt.datetime.fromtimestamp((t0 + h * HOUR_NS) / NS, tz=dt.UTC) for h in range(4)]
    (tmp_path / "se3.csv").write_text(
        "Datetime (UTC),Country,Zone Name,Zone Id,Carbon Intensity gCO₂eq/kWh (direct),"
        "Carbon Intensity gCO₂eq/kWh (LCA),Low Carbon Percentage,Renewable Percentage,Data Source,"
        "Data Estimated,Data Estimation Method\n"
        + "".join(
            f"{moment:%Y-%m-%d %H:%M:%S},Sweden,Central Sweden,SE-SE3,{10 * (h + 1)},99,98,70,x,false,\n"
            for h, moment in enumerate(hours)
        ),
        encoding="utf-8",
    )
    factors_file = tmp_path / "factors.yaml"
    factors_file.write_text(
        "version: t\ndefaults: {district_heat: borlange-dh, electricity: SE3}\nhourly:\n"
        "  - {carrier: electricity, zone: SE3, method: location, csv: se3.csv, format: electricitymaps,"
        " source: Electricity Maps}\n",
        encoding="utf-8",
    )
    # Readings at half past each hour, 10 kWh apart: each interval is half in one hour, half in the next.
    lines = [f"em-1,{iso(t0 + HOUR_NS // 2 + k * HOUR_NS)},,,,,,{1000 + 10 * k}" for k in range(4)]
    path = write_csv(tmp_path / "el.csv", HEADER, lines)
    async with InfluxClient(isolated.services.influx_url, isolated.db) as influx:
        code, output = await run_import(
            settings_for(isolated, tmp_path), path, factors=EmissionFactors.load(factors_file)
        )
        assert code == 0, output
        got = await stored(influx, ("emissions",))
    co2 = {k[2]: f["co2e_kg"] for k, f in got.items()}
    # Hand-computed: 10 kWh × (½ × 10 + ½ × 20) g/kWh = 150 g; then 250 g; then 350 g.
    assert co2 == pytest.approx(
        {t0 + HOUR_NS // 2 + k * HOUR_NS: grams / 1000 for k, grams in ((1, 150), (2, 250), (3, 350))}
    )
    assert sorted(f["factor_g_per_kwh"] for f in got.values()) == pytest.approx([15.0, 25.0, 35.0])
