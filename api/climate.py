"""The climate contract's view (issue 16): emissions per owner and city-wide per year against a path.

For each scope (the city, and each owner the key may see) and each accounting method, the
local calendar years' kg CO2e by carrier (from the across-site roll-ups ``emissions_total`` and
``energy_total``), the baseline year's total and the target path of ``CLIMATE_TARGETS_FILE``
(energy_core/climate.py). The factor behind each carrier's figure, its source, and whether it
is a stand-in (``placeholder``) come with the answer, so a number built on a placeholder never
appears without the flag. Location- and market-based figures are never added up.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from pydantic import BaseModel, Field

from api.energy import yearly_totals
from api.errors import bad_request
from api.influxql import tag_equals
from api.state import ApiState
from api.timerange import LOCAL, TimeRange, now_ns, to_ns
from energy_core.climate import ClimateTargets
from energy_core.factors import EmissionFactors
from energy_core.registry import Registry
from energy_core.rollups import EMISSIONS_TOTAL, ENERGY_TOTAL
from energy_core.schema import CARRIER_DISTRICT_HEAT, CARRIER_ELECTRICITY, DeviceKind, Measurement

MIN_YEAR, MAX_YEAR, MAX_YEARS = 1990, 2100, 50
_KIND_CARRIER = {
    DeviceKind.HEAT_METER: CARRIER_DISTRICT_HEAT,
    DeviceKind.ELECTRICITY_METER: CARRIER_ELECTRICITY,
}


class CarrierYear(BaseModel):
    carrier: str
    co2e_kg: float
    kwh: float | None = Field(description="the carrier's energy that year (both methods share it)")
    placeholder: bool = Field(description="the factor behind this figure is a stand-in value")


class YearOut(BaseModel):
    year: int
    complete: bool = Field(description="false for the current (unfinished) year")
    co2e_kg: float
    target_kg: float | None = Field(description="the path's value for the year; null before the baseline")
    on_track: bool | None = Field(description="co2e_kg ≤ target_kg for a complete year; null otherwise")
    placeholder: bool = Field(description="some of the year's figure rests on a placeholder factor")
    by_carrier: list[CarrierYear]


class PathOut(BaseModel):
    owner: str | None = Field(description="null: the city (every owner's sites)")
    name: str
    method: str
    baseline_year: int
    target_year: int
    target_reduction_pct: float
    baseline_kg: float | None = Field(description="the baseline year's total; null without data for it")
    years: list[YearOut]


class FactorOut(BaseModel):
    year: int
    carrier: str
    area: str
    method: str
    g_co2e_per_kwh: float | None = Field(description="in force on 1 July; null: an hourly series")
    source: str
    placeholder: bool


class ClimateOut(BaseModel):
    source: str = Field(description="the contract the targets come from (CLIMATE_TARGETS_FILE)")
    placeholder: bool = Field(description="some figure below rests on a placeholder factor")
    from_year: int
    to_year: int
    paths: list[PathOut]
    factors: list[FactorOut]


def _year_start_ns(year: int) -> int:
    return to_ns(dt.datetime(year, 1, 1))  # naive: Europe/Stockholm local time


def _areas(registry: Registry, factors: EmissionFactors) -> set[tuple[str, str]]:
    """(carrier, area) of every metered site: what the stored emissions were computed with."""
    found: set[tuple[str, str]] = set()
    for device in registry.devices.values():
        carrier = _KIND_CARRIER.get(device.kind)
        if carrier is not None:
            found.add((carrier, factors.area_for(carrier, registry.sites[device.site].network)))
    return found


def factor_notes(
    registry: Registry, factors: EmissionFactors, years: range
) -> tuple[list[FactorOut], dict[tuple[int, str, str], bool]]:
    """The factors behind the years' figures, and (year, carrier, method) → placeholder."""
    notes: list[FactorOut] = []
    flags: dict[tuple[int, str, str], bool] = defaultdict(bool)
    for year in years:
        mid = to_ns(dt.datetime(year, 7, 1))
        for carrier, area in sorted(_areas(registry, factors)):
            for method in factors.methods(carrier, area):
                note = factors.note(carrier, area, method, mid)
                if note is None:
                    continue
                notes.append(FactorOut(year=year, **note._asdict()))
                flags[(year, carrier, method)] |= note.placeholder
    return notes, flags


async def climate_view(
    state: ApiState,
    factors: EmissionFactors,
    targets: ClimateTargets,
    owner_scope: str | None,
    from_year: int | None,
    to_year: int | None,
) -> ClimateOut:
    """The paths of the city (operators only) and of each owner in scope, per method."""
    now = now_ns()
    this_year = dt.datetime.fromtimestamp(now / 1e9, LOCAL).year
    owners = [o for o in state.registry.owners.values() if owner_scope in (None, o.id)]
    contracts = {o.id: targets.for_owner(o.id) for o in owners}
    first = (
        from_year if from_year is not None else min(c.baseline_year for c in (targets, *contracts.values()))
    )
    last = to_year if to_year is not None else this_year
    if not (MIN_YEAR <= first <= last <= MAX_YEAR) or last - first + 1 > MAX_YEARS:
        raise bad_request(
            "bad_years",
            f"from_year ≤ to_year within {MIN_YEAR}–{MAX_YEAR}, at most {MAX_YEARS} years",
        )
    read_from = min(first, targets.baseline_year, *(c.baseline_year for c in contracts.values()))
    window = TimeRange(_year_start_ns(read_from), min(now, _year_start_ns(last + 1)))
    if window.end_ns <= window.start_ns:
        raise bad_request("bad_years", "the years asked for have not begun")
    condition = "" if owner_scope is None else tag_equals("owner", owner_scope)
    kg = await yearly_totals(
        state.influx,
        state.sources,
        Measurement.EMISSIONS,
        "co2e_kg",
        condition,
        window,
        ("owner", "carrier", "method"),
        EMISSIONS_TOTAL,
    )
    kwh = await yearly_totals(
        state.influx,
        state.sources,
        Measurement.ENERGY,
        "kwh",
        condition,
        window,
        ("owner", "carrier"),
        ENERGY_TOTAL,
    )
    notes, flags = factor_notes(state.registry, factors, range(first, last + 1))
    _, baseline_flags = factor_notes(state.registry, factors, range(read_from, first))
    flags.update(baseline_flags)
    known = {o.id for o in owners}
    methods = sorted({m for (_, (_, _, m)) in kg} | {m for (_, _, m) in flags})
    scopes: list[tuple[str | None, str]] = [(o.id, o.name) for o in owners]
    if owner_scope is None:
        scopes.insert(0, (None, "Borlänge (all owners)"))
    paths = []
    for owner, name in scopes:
        contract = targets.for_owner(owner)
        members = known if owner is None else {owner}
        for method in methods:
            per_year: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
            energy: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
            for (year, (o, carrier, m)), value in kg.items():
                if o in members and m == method:
                    per_year[year][carrier] += value
            for (year, (o, carrier)), value in kwh.items():
                if o in members:
                    energy[year][carrier] += value
            baseline = per_year.get(contract.baseline_year)
            baseline_kg = sum(baseline.values()) if baseline else None
            years = []
            for year in range(first, last + 1):
                carriers = per_year.get(year, {})
                total = sum(carriers.values())
                target = None if baseline_kg is None else contract.target_kg(baseline_kg, year)
                complete = year < this_year
                years.append(
                    YearOut(
                        year=year,
                        complete=complete,
                        co2e_kg=round(total, 3),
                        target_kg=None if target is None else round(target, 3),
                        on_track=None if target is None or not complete else total <= target + 1e-9,
                        placeholder=any(flags.get((year, c, method), False) for c in carriers),
                        by_carrier=[
                            CarrierYear(
                                carrier=c,
                                co2e_kg=round(v, 3),
                                kwh=round(energy[year][c], 3) if c in energy.get(year, {}) else None,
                                placeholder=flags.get((year, c, method), False),
                            )
                            for c, v in sorted(carriers.items())
                        ],
                    )
                )
            paths.append(
                PathOut(
                    owner=owner,
                    name=name,
                    method=method,
                    baseline_year=contract.baseline_year,
                    target_year=contract.target_year,
                    target_reduction_pct=contract.target_reduction_pct,
                    baseline_kg=None if baseline_kg is None else round(baseline_kg, 3),
                    years=years,
                )
            )
    return ClimateOut(
        source=targets.source,
        placeholder=any(y.placeholder for p in paths for y in p.years),
        from_year=first,
        to_year=last,
        paths=paths,
        factors=notes,
    )
