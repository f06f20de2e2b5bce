"""Response and request bodies of the API, one model per use."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from energy_core.errors import Reason
from energy_core.schema import DeviceKind


class Problem(BaseModel):
    parameter: str
    problem: str


class ErrorOut(BaseModel):
    """Every error answer: a stable code, a sentence for people, and per-parameter problems on 422."""

    error: str
    message: str
    problems: list[Problem] | None = None


class OwnerOut(BaseModel):
    id: str
    name: str


class SiteOut(BaseModel):
    id: str
    name: str
    owner: str
    address: str
    floor_area_m2: float | None
    network: str | None
    latitude: float | None
    longitude: float | None


class DeviceOut(BaseModel):
    id: str
    site: str
    kind: DeviceKind
    external_ids: list[str]


class Reading(BaseModel):
    """One stored point: its measurement, device, time and fields (units in the field names)."""

    measurement: str
    device: str
    site: str
    time: dt.datetime
    fields: dict[str, float]


class SiteLatestOut(BaseModel):
    site: str
    readings: list[Reading] = Field(description="the newest point of each device of the site")


class DeviceLatestOut(BaseModel):
    device: str
    reading: Reading | None = Field(description="null when the device has not reported yet")


class SeriesPoint(BaseModel):
    time: dt.datetime = Field(description="Europe/Stockholm local time with offset")
    value: float | None = Field(description="the first requested field (the single-field shape)")
    values: dict[str, float | None] = Field(
        description="every requested field by name; null where this point lacks that field"
    )


class DeviceSeries(BaseModel):
    device: str
    points: list[SeriesPoint]


class SeriesOut(BaseModel):
    site: str
    measurement: str
    field: str = Field(description="the first requested field, whose values are the points' `value`")
    fields: list[str] = Field(description="every requested field, in the order asked, duplicates dropped")
    start: dt.datetime
    end: dt.datetime
    every: str | None
    aggregate: str | None = Field(description="null for raw points; mean when every came without one")
    series: list[DeviceSeries]


class EnergyBucket(BaseModel):
    start: dt.datetime = Field(description="bucket start, in Europe/Stockholm local time")
    carrier: str
    kwh: float
    kwh_per_m2: float | None = Field(description="null when the site has no floor area")


class EnergyOut(BaseModel):
    site: str
    every: Literal["hour", "day", "month"]
    start: dt.datetime
    end: dt.datetime
    floor_area_m2: float | None
    buckets: list[EnergyBucket]


class EmissionsBucket(BaseModel):
    start: dt.datetime = Field(description="bucket start, in Europe/Stockholm local time")
    carrier: str
    method: str
    co2e_kg: float


class EmissionsOut(BaseModel):
    site: str | None = Field(description="null: every site the key may see")
    every: Literal["day", "month", "year"]
    start: dt.datetime
    end: dt.datetime
    buckets: list[EmissionsBucket]


class OverviewOut(BaseModel):
    """The district-heating network right now, over heat meters that reported recently."""

    total_heat_load_mw: float
    mean_supply_temp_c: float | None = Field(description="flow-weighted over the meters' newest readings")
    mean_return_temp_c: float | None = Field(description="flow-weighted over the meters' newest readings")
    mean_delta_t_k: float | None = Field(description="mean supply minus mean return: the flow-weighted ΔT")
    emission_rate_kg_per_h: float | None = Field(
        description="Σ power_kW × location-based factor / 1000; null when no factor is configured"
    )
    devices_reporting: int
    devices_registered: int
    newest_reading_at: dt.datetime | None
    age_s: float | None = Field(description="seconds since the newest reading")
    computed_at: dt.datetime


class DeadLetterOut(BaseModel):
    id: int
    received_at: dt.datetime
    topic: str = Field(description="the MQTT topic it came on (empty for a `line` letter)")
    kind: Literal["message", "line"] = Field(
        description="`message`: replayed by republishing to its topic; `line`: a line-protocol point, "
        "replayed by writing it to InfluxDB again"
    )
    reason: Reason
    detail: str
    device: str | None
    payload: str = Field(description="the stored payload as text (undecodable bytes replaced)")
    payload_bytes: int | None = Field(description="length of the whole payload as received")
    payload_sha256: str | None = Field(description="hex SHA-256 of the whole payload as received")
    truncated: bool = Field(description="the payload was cut on storing: this letter cannot be replayed")
    replayed_at: dt.datetime | None


class DeadLettersOut(BaseModel):
    counts: dict[str, int]
    items: list[DeadLetterOut]
    next: int | None = Field(description="`after_id` of the next page; null on the last page")


LetterId = Annotated[int, Field(ge=1, le=2**63 - 1)]


class ReplayIn(BaseModel):
    ids: list[LetterId] | None = Field(
        default=None, max_length=1000, description="exactly these letters (at most 1000)"
    )
    reason: Reason | None = Field(default=None, description="only letters with this reason")
    after_id: int = Field(default=0, ge=0, le=2**63 - 1, description="without ids: pending after this id")
    limit: int = Field(default=1000, ge=1, le=1000, description="without ids: at most this many letters")


class ReplaySkipped(BaseModel):
    id: int
    reason: str = Field(description="why it was not replayed (not_found, already_replayed, truncated, …)")


class ReplayOut(BaseModel):
    selected: int = Field(description="letters asked for (ids) or selected (pending)")
    replayed: int = Field(description="letters delivered, and so marked replayed")
    skipped: list[ReplaySkipped] = Field(description="the others, each with its reason; still pending")


# Buildings (issue 16): weather-normalised performance, portfolio ranking, monthly reports.


class PeriodKpis(BaseModel):
    """A building's (or a portfolio's) KPIs over local days ``start`` … ``end`` (exclusive), summed
    from the daily ``building_kpi`` points; every figure is null when the period holds no day."""

    start: dt.date = Field(description="first local day (Europe/Stockholm)")
    end: dt.date = Field(description="the local day after the last one")
    days: int = Field(description="days with a building_kpi point")
    coverage: float = Field(description="days / calendar days of the period (0–1)")
    heat_kwh: float | None
    heat_normalised_kwh: float | None = Field(
        description="Σbase + (Σheat − Σbase) · Σnormal_degree_days / Σdegree_days (graddagskorrigering)"
    )
    base_kwh: float | None = Field(description="the weather-independent part of heat_kwh")
    electricity_kwh: float | None
    degree_days: float | None
    normal_degree_days: float | None
    kwh_per_m2: float | None = Field(description="(heat + electricity) / Atemp; null without a floor area")
    kwh_per_m2_normalised: float | None = Field(description="(normalised heat + electricity) / Atemp")
    heat_kwh_per_m2: float | None
    heat_kwh_per_m2_normalised: float | None
    comfort_low_h: float | None = Field(description="indoor hours below the comfort band")
    comfort_high_h: float | None = Field(description="indoor hours above the comfort band")
    co2_high_h: float | None = Field(description="indoor hours with CO₂ above the limit")
    indoor_hours: float | None = Field(description="hours with indoor readings")


class ChangeOut(BaseModel):
    """Year-on-year change of kWh (heat + electricity), in percent of the 12 months before; null
    unless both periods hold at least 90 % of their days and the earlier one used energy."""

    actual_pct: float | None
    normalised_pct: float | None


class SignatureOut(BaseModel):
    """The energy signature fitted on the period's days: mean load (heat_kwh/24) vs outdoor °C."""

    base_kw: float
    slope_kw_per_k: float
    balance_c: float
    r2: float
    residual_kw: float
    days: int


class BuildingPerformance(BaseModel):
    rank: int | None = Field(default=None, description="1 = first in the requested order (ranking only)")
    site: str
    name: str
    owner: str
    floor_area_m2: float | None = Field(description="the registry's floor area, taken as Atemp")
    current: PeriodKpis = Field(description="the 12 months before `end`")
    previous: PeriodKpis = Field(description="the 12 months before those")
    change: ChangeOut
    signature: SignatureOut | None = Field(
        default=None, description="null with fewer than 7 days or no heating signature (ranking: not fitted)"
    )


class PortfolioTotals(BaseModel):
    """Σ kWh / Σ m² over the buildings with a floor area and KPI days (the others are listed apart);
    normalised heat is each building's own normalised heat, summed."""

    buildings: int
    floor_area_m2: float
    heat_kwh: float
    heat_normalised_kwh: float
    electricity_kwh: float
    kwh_per_m2: float | None
    kwh_per_m2_normalised: float | None
    change: ChangeOut = Field(description="over the buildings whose own change is given")
    change_buildings: int = Field(description="how many buildings the change is over")
    without_floor_area: list[str] = Field(description="sites left out of Σ m²: no floor area or no days")


class OwnerPerformanceOut(BaseModel):
    owner: str
    name: str
    end: dt.date
    sort: str
    order: Literal["desc", "asc"]
    totals: PortfolioTotals
    buildings: list[BuildingPerformance]


class ReportBuilding(BaseModel):
    site: str
    name: str
    floor_area_m2: float | None
    kpis: PeriodKpis
    co2e_kg_location: float | None
    co2e_kg_market: float | None
    placeholder: bool = Field(default=False, description="its emissions rest on a placeholder factor")


class ReportFactor(BaseModel):
    """An emission factor behind the report's kg CO2e, in force in the middle of the month."""

    carrier: str
    area: str
    method: str
    g_co2e_per_kwh: float | None = Field(description="null: an hourly series")
    source: str
    placeholder: bool = Field(description="a stand-in value: replace it before reporting")


class ReportDay(BaseModel):
    date: dt.date
    heat_kwh: float
    electricity_kwh: float


class ReportOut(BaseModel):
    """A month of one owner's buildings (or of one building)."""

    owner: str
    owner_name: str
    site: str | None = Field(description="null: the owner's report")
    month: str = Field(description="YYYY-MM, a Europe/Stockholm local month")
    start: dt.date
    end: dt.date
    partial: bool = Field(description="the month has not ended yet")
    totals: PeriodKpis = Field(description="the buildings with a floor area make up kWh/m²")
    emissions: list[EmissionsBucket] = Field(description="kg CO2e of the month by carrier and method")
    factors: list[ReportFactor] = Field(default=[], description="the factors behind the emissions")
    placeholder: bool = Field(default=False, description="some emissions rest on a placeholder factor")
    buildings: list[ReportBuilding]
    worst: list[str] = Field(description="the buildings with the highest normalised kWh/m², worst first")
    days: list[ReportDay] = Field(description="the buildings' energy per local day")


# -- substations and faults (issue 15; api/substations.py) ------------------------------------


class SubstationKpis(BaseModel):
    """A period's KPIs of one substation, aggregated from its days (energy_core/analysis.py):
    sums, volume-weighted temperatures, max peak; null where no day holds the field."""

    heat_kwh: float | None
    volume_m3: float | None
    delta_t_k: float | None = Field(description="volume-weighted ΔT: Σ(ΔT·V) / ΣV over the days")
    return_temp_c: float | None = Field(description="volume-weighted")
    supply_temp_c: float | None = Field(description="volume-weighted")
    specific_flow_m3_per_mwh: float | None = Field(description="ΣV / (Σheat / 1000)")
    excess_flow_m3: float | None = Field(description="volume beyond what the heat needs at the target ΔT")
    peak_load_kw: float | None = Field(description="the largest hourly mean load of the days")
    outdoor_temp_c: float | None = Field(description="mean of the days' mean outdoor temperatures")
    hours: float | None
    readings: float | None
    from_registers: float | None = Field(description="share of the days computed from register deltas")
    signature_base_kw: float | None = Field(description="the latest day's energy signature")
    signature_slope_kw_per_k: float | None
    signature_balance_c: float | None
    signature_r2: float | None
    signature_expected_kwh: float | None = Field(description="Σ of what the signature expected")


class SubstationRow(BaseModel):
    rank: int
    site: str
    name: str
    address: str
    owner: str
    network: str | None
    days: int = Field(description="analysed days in the period")
    kpis: SubstationKpis
    open_faults: list[str] = Field(description="codes of the site's open fault episodes, now")


class SubstationsOut(BaseModel):
    period: Literal["day", "week", "month"] | None = Field(description="null when start/end were given")
    start: dt.datetime = Field(description="first local midnight of the period")
    end: dt.datetime = Field(description="exclusive")
    sort: str
    order: Literal["asc", "desc"]
    total: int = Field(description="substations matching the filters, on every page")
    rows: list[SubstationRow]
    next_cursor: int | None = Field(description="`cursor` of the next page; null on the last page")


class KpiBucket(BaseModel):
    start: dt.datetime = Field(description="local midnight starting the day, ISO week or month")
    days: int
    kpis: SubstationKpis


class SiteKpisOut(BaseModel):
    site: str
    every: Literal["day", "week", "month"]
    start: dt.datetime
    end: dt.datetime
    buckets: list[KpiBucket]


class FaultEpisodeOut(BaseModel):
    """Consecutive active days of one (site, fault code)."""

    site: str
    name: str
    address: str
    owner: str
    network: str | None
    code: str
    title: str
    severity: str
    start: dt.datetime = Field(description="since_s of its first day: when the condition began")
    end: dt.datetime | None = Field(description="the end of its last active day; null while open")
    open: bool
    days: int = Field(description="active days in the episode (within the range read)")
    last_day: dt.date = Field(description="its latest active local day, whose evidence is shown")
    value: float | None = Field(description="the number that triggered the rule, in the rule's unit")
    threshold: float | None
    unit: str
    text: str = Field(description="one sentence of evidence")


class FaultsOut(BaseModel):
    state: Literal["open", "all"]
    start: dt.datetime
    end: dt.datetime
    total: int
    episodes: list[FaultEpisodeOut]
    next_cursor: int | None


class TrendPoint(BaseModel):
    time: dt.datetime = Field(description="bucket start (UTC)")
    heat_load_kw: float = Field(description="Σ of the meters' mean power in the bucket")
    supply_temp_c: float | None = Field(description="flow-weighted")
    return_temp_c: float | None = Field(description="flow-weighted")
    meters: int = Field(description="meters with a value in (or carried into) the bucket")


class TrendOut(BaseModel):
    start: dt.datetime
    end: dt.datetime
    every_s: int
    points: list[TrendPoint]
