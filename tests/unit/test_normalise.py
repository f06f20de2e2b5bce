"""Normalisation: registry resolution, field maps, units, plausibility, time bounds."""

from __future__ import annotations

import pytest

from energy_core.errors import Reason
from energy_core.registry import AssetFile, Registry
from energy_core.schema import RawReading
from ingest.normalise import NS, Normaliser

NOW = 1_795_622_400 * NS


def registry(devices: list[dict[str, object]]) -> Registry:
    return Registry(
        AssetFile.model_validate(
            {
                "owners": [{"id": "o", "name": "Owner"}],
                "sites": [{"id": "s", "name": "Site", "owner": "o", "network": "bdh"}],
                "devices": [{"site": "s", **d} for d in devices],
            }
        )
    )


def normalise(devices: list[dict[str, object]], values: dict[str, tuple[float, str | None]], **kw: object):
    normaliser = Normaliser(registry(devices), **kw)  # type: ignore[arg-type]
    return normaliser.normalise([RawReading("d1", NOW, values)], NOW)


def test_a_devices_field_map_comes_before_quantity_names():
    weather = [{"id": "d1", "kind": "weather_station", "field_map": {"temperature": "outdoor_temp"}}]
    out = normalise(weather, {"temperature": (-7.5, "Cel")})
    assert [(p.measurement, p.fields) for p in out.points] == [("weather", {"outdoor_temp_c": -7.5})]
    swapped = [
        {
            "id": "d1",
            "kind": "heat_meter",
            "field_map": {"supply_temp": "return_temp", "return_temp": "supply_temp"},
        }
    ]
    out = normalise(swapped, {"supply_temp": (40.0, None), "return_temp": (80.0, None)})
    assert out.points[0].fields == {"supply_temp_c": 80.0, "return_temp_c": 40.0, "delta_t_k": 40.0}


def test_a_quantity_of_another_kind_is_a_schema_dead_letter():
    out = normalise([{"id": "d1", "kind": "heat_meter"}], {"co2": (800.0, None)})
    assert out.points == []
    assert [r.reason for r in out.rejections] == [Reason.SCHEMA]


def test_units_convert_and_registered_tags_are_applied():
    out = normalise([{"id": "d1", "kind": "heat_meter"}], {"energy": (7.173, "MWh"), "power": (2200.0, "W")})
    (point,) = out.points
    assert point.fields == {"energy_kwh": pytest.approx(7173.0), "power_kw": pytest.approx(2.2)}
    assert dict(point.tags) == {"device": "d1", "site": "s", "owner": "o", "network": "bdh"}


@pytest.mark.parametrize("bad", [0.0, 185.0, float("nan"), float("inf")])
def test_broken_sensor_values_are_dead_lettered_and_the_good_fields_kept(bad):
    out = normalise([{"id": "d1", "kind": "heat_meter"}], {"supply_temp": (bad, None), "energy": (5.0, None)})
    assert out.points[0].fields == {"energy_kwh": 5.0}
    assert [r.reason for r in out.rejections] == [Reason.IMPLAUSIBLE_VALUE]


def test_timestamps_beyond_five_minutes_ahead_or_older_than_max_age_are_rejected():
    normaliser = Normaliser(registry([{"id": "d1", "kind": "heat_meter"}]), max_age_ns=86400 * NS)
    readings = [
        RawReading("d1", NOW + 301 * NS, {"energy": (1.0, None)}),
        RawReading("d1", NOW + 299 * NS, {"energy": (2.0, None)}),
        RawReading("d1", NOW - 86401 * NS, {"energy": (3.0, None)}),
    ]
    out = normaliser.normalise(readings, NOW)
    assert [p.fields["energy_kwh"] for p in out.points] == [2.0]
    assert [r.reason for r in out.rejections] == [Reason.TIMESTAMP_OUT_OF_RANGE] * 2


def test_unknown_devices_are_rejected_unless_commissioning_mode_accepts_them_as_unassigned():
    reading = [RawReading("ghost", NOW, {"energy_import": (1.0, None), "power": (2.0, None)})]
    rejected = Normaliser(Registry.empty()).normalise(reading, NOW)
    assert [r.reason for r in rejected.rejections] == [Reason.UNKNOWN_DEVICE]
    accepted = Normaliser(Registry.empty(), unknown_devices="accept").normalise(reading, NOW)
    (point,) = accepted.points
    assert point.measurement == "electricity"
    assert dict(point.tags)["owner"] == "unassigned"
