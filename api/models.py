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
